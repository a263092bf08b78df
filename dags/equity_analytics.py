"""
# Equity analytics: daily pipeline

One Airflow DAG per environment (`equity_analytics_duckdb` locally, `equity_analytics_redshift`
in production; the target comes from `EQUITY_TARGET`). Each run processes one **partition**:
the NYSE session of its logical date, read in New York time, or the `start_date`..`end_date`
range in the run's params (a manual backfill). Scheduled at 21:30 New York time on weekdays,
after the close, for that day's session.

| task | what it does |
|---|---|
| `check_session` | Works out the partition and **skips** the run when it holds no NYSE session (weekend, holiday): every other task is then skipped too, and the run succeeds. |
| `ingest_session` | The holdings file, Tiingo daily prices and ticker metadata into the bronze store. A session run is incremental (each ticker from its watermark minus the lookback, up to the session); a params range re-fetches that range. Retries with exponential backoff. |
| `load_raw` | Bronze objects not loaded yet into the warehouse's `raw` schema (idempotent; fails unless the load reconciles). Retries with backoff. |
| `dbt.<model>_model_build`, `dbt.<seed>_seed_build` | One task per dbt model or seed (rendered by astronomer-cosmos): `dbt build` of that node, so its tests run with it. Clear a single failing model's task to retry it. |
| `dbt.<test>_test` | A test on two models (e.g. a relationship) once both are built. |
| `record_gold_build` | Once every dbt task has succeeded, records the build in `audit.gold_builds`, so the next run recomputes only what changed after it (a failed run leaves it unrecorded, and the next run recomputes the same changes). |

dbt receives the vars `pipeline_run_id`, `session_date` (the partition's last session) and
`session_start_date` (its first session). Against DuckDB every writing task takes the one slot of
the `equity_duckdb` pool, so runs and backfills never write the file at the same time.

Backfills: `airflow backfill create --dag-id equity_analytics_duckdb --from-date ... --to-date ...
--max-active-runs 1`, or trigger a run with the params `start_date`/`end_date`.
See docs/airflow.md.
"""

from datetime import timedelta

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, CronTriggerTimetable, Param
from cosmos import DbtTaskGroup

from ingestion import orchestration

settings = orchestration.airflow_settings()
ingestion_retries = {
    "retries": 3,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}

with DAG(
    dag_id=f"equity_analytics_{settings.target}",
    description="Tiingo prices and portfolio holdings -> bronze -> raw -> dbt silver and gold",
    schedule=CronTriggerTimetable(orchestration.DAILY_CRON, timezone=orchestration.NEW_YORK),
    start_date=orchestration.DAG_START,
    catchup=False,
    max_active_runs=1,
    params={
        "start_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Manual backfill: first session to process (YYYY-MM-DD).",
        ),
        "end_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Manual backfill: last session to process; defaults to start_date.",
        ),
    },
    default_args={"owner": "data-platform", "retries": 0},
    user_defined_macros={"pipeline_run_id": orchestration.pipeline_run_id},
    tags=["equity-analytics", "dbt", settings.target],
    doc_md=__doc__,
) as dag:
    check_session = PythonOperator(
        task_id=orchestration.CHECK_TASK_ID,
        python_callable=orchestration.check_session,
        doc_md=orchestration.check_session.__doc__,
    )
    ingest_session = PythonOperator(
        task_id="ingest_session",
        python_callable=orchestration.ingest_session,
        doc_md=orchestration.ingest_session.__doc__,
        execution_timeout=timedelta(hours=2),
        **ingestion_retries,
    )
    load_raw = PythonOperator(
        task_id="load_raw",
        python_callable=orchestration.load_raw,
        doc_md=orchestration.load_raw.__doc__,
        pool=orchestration.warehouse_pool(settings),
        execution_timeout=timedelta(hours=1),
        **ingestion_retries,
    )
    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=orchestration.dbt_project_config(settings),
        profile_config=orchestration.dbt_profile_config(settings),
        execution_config=orchestration.dbt_execution_config(),
        render_config=orchestration.dbt_render_config(),
        operator_args=orchestration.dbt_operator_args(settings),
    )

    record_gold_build = PythonOperator(
        task_id="record_gold_build",
        python_callable=orchestration.record_gold_build,
        doc_md=orchestration.record_gold_build.__doc__,
        pool=orchestration.warehouse_pool(settings),
    )

    check_session >> ingest_session >> load_raw >> dbt >> record_gold_build
