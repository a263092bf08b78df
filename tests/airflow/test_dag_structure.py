"""The DAG file imports cleanly and declares the graph, schedule and settings the docs promise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestion.settings import DBT_PROJECT_DIR, PROJECT_ROOT

DAG_ID = "equity_analytics_duckdb"

INGESTION_TASKS = ["check_session", "ingest_session", "load_raw"]


@pytest.fixture(scope="module")
def dagbag(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from airflow.dag_processing.dagbag import DagBag

    with pytest.MonkeyPatch.context() as env:
        env.setenv("EQUITY_DATA_DIR", str(tmp_path_factory.mktemp("dag_data")))
        env.setenv("EQUITY_TARGET", "duckdb")
        yield DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


@pytest.fixture(scope="module")
def dag(dagbag):  # type: ignore[no-untyped-def]
    return dagbag.dags[DAG_ID]


def dbt_models() -> set[str]:
    return {path.stem for path in (DBT_PROJECT_DIR / "models").rglob("*.sql")}


def test_dag_folder_imports_without_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {DAG_ID}


def test_ingestion_tasks_run_in_order_before_dbt(dag) -> None:  # type: ignore[no-untyped-def]
    tasks = dag.task_dict
    assert tasks["check_session"].upstream_task_ids == set()
    assert tasks["ingest_session"].upstream_task_ids == {"check_session"}
    assert tasks["load_raw"].upstream_task_ids == {"ingest_session"}
    dbt_tasks = [task for task_id, task in tasks.items() if task_id.startswith("dbt.")]
    roots = [task for task in dbt_tasks if not task.upstream_task_ids - {"load_raw"}]
    assert roots, "no dbt task starts after load_raw"
    assert all(task.upstream_task_ids == {"load_raw"} for task in roots)
    leaves = {
        task.task_id for task in dbt_tasks if not task.downstream_task_ids - {"record_gold_build"}
    }
    assert tasks["record_gold_build"].upstream_task_ids == leaves
    assert tasks["record_gold_build"].downstream_task_ids == set()
    assert set(tasks) == set(INGESTION_TASKS) | {task.task_id for task in dbt_tasks} | {
        "record_gold_build"
    }


def test_one_cosmos_build_task_per_dbt_model(dag) -> None:  # type: ignore[no-untyped-def]
    model_tasks = {
        task_id.removeprefix("dbt.").removesuffix("_model_build")
        for task_id in dag.task_dict
        if task_id.endswith("_model_build")
    }
    assert model_tasks == dbt_models()
    task = dag.task_dict["dbt.fact_portfolio_performance_daily_model_build"]
    assert task.base_cmd == ["build"]
    assert task.select == "fqn:equity_analytics.marts.fact_portfolio_performance_daily"


def test_dbt_tasks_depend_on_the_models_they_read(dag) -> None:  # type: ignore[no-untyped-def]
    task = dag.task_dict["dbt.fact_portfolio_performance_daily_model_build"]
    assert "dbt.int_portfolio_returns_model_build" in task.upstream_task_ids


def test_every_warehouse_writer_takes_the_one_duckdb_slot(dag) -> None:  # type: ignore[no-untyped-def]
    writers = [
        task
        for task in dag.tasks
        if task.task_id in {"load_raw", "record_gold_build"} or task.task_id.startswith("dbt.")
    ]
    assert {task.pool for task in writers} == {"equity_duckdb"}


def test_dbt_receives_the_run_id_partition_and_test_scope_as_vars(dag) -> None:  # type: ignore[no-untyped-def]
    task = dag.task_dict["dbt.fact_portfolio_performance_daily_model_build"]
    assert task.vars == {
        "pipeline_run_id": "{{ pipeline_run_id(run_id, ti.try_number) }}",
        "session_date": "{{ ti.xcom_pull(task_ids='check_session')['last_session'] }}",
        "session_start_date": "{{ ti.xcom_pull(task_ids='check_session')['first_session'] }}",
        "data_tests_scope": "changed",
    }


def test_dbt_tasks_leave_out_the_invariant_tests(dag) -> None:  # type: ignore[no-untyped-def]
    # As the pipeline's daily builds do: only a change of code can fail them, and CI runs them
    # (dbt docs: data_tests_scope). Cosmos excludes them from each model's `dbt build`.
    task = dag.task_dict["dbt.fact_portfolio_performance_daily_model_build"]
    assert "tag:invariant" in task.exclude


def test_schedule_is_weekdays_after_the_new_york_close_without_catchup(dag) -> None:  # type: ignore[no-untyped-def]
    from airflow.sdk import CronTriggerTimetable

    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == "30 21 * * 1-5"
    assert dag.timetable.timezone.name == "America/New_York"
    assert dag.catchup is False
    assert dag.max_active_runs == 1


def test_manual_runs_take_an_optional_backfill_range(dag) -> None:  # type: ignore[no-untyped-def]
    assert dag.params["start_date"] is None
    assert dag.params["end_date"] is None


def test_ingestion_tasks_retry_with_backoff_and_dbt_tasks_do_not(dag) -> None:  # type: ignore[no-untyped-def]
    for task_id in ("ingest_session", "load_raw"):
        task = dag.task_dict[task_id]
        assert task.retries == 3
        assert task.retry_exponential_backoff
    assert dag.task_dict["dbt.fact_portfolio_performance_daily_model_build"].retries == 0


def test_dag_is_documented_tagged_and_owned(dag) -> None:  # type: ignore[no-untyped-def]
    for task_id in [*INGESTION_TASKS, "record_gold_build"]:
        assert f"`{task_id}`" in dag.doc_md
        assert dag.task_dict[task_id].doc_md
    assert "equity-analytics" in dag.tags
    assert {task.owner for task in dag.tasks if not task.task_id.startswith("dbt.")} == {
        "data-platform"
    }
