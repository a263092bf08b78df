"""Airflow glue for the daily pipeline DAG (``dags/equity_analytics.py``): the task callables and
the astronomer-cosmos configuration of the dbt task group.

The callables are thin shells over ``ingestion.pipeline``, the functions the CLI runs, so a DAG
run and ``equity-analytics run`` do the same work. This is the only module of the package that
imports Airflow or Cosmos.

A run processes one partition: the NYSE session of its logical date (read in New York time), or
the ``start_date``..``end_date`` range given in the run's params (a manual backfill).
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk.exceptions import AirflowSkipException
from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

from ingestion import calendar, pipeline
from ingestion.settings import DBT_PROJECT_DIR, ConfigError, Settings
from ingestion.transform import TransformError, dbt_environment, run_dbt

log = logging.getLogger(__name__)

# Airflow serialises only pendulum time zones.
NEW_YORK = pendulum.timezone("America/New_York")
# The DAG's start: the calendar's first year, so backfills can reach any session it knows.
DAG_START = pendulum.datetime(calendar.CALENDAR_FIRST_DAY.year, 1, 1, tz=NEW_YORK)
# 21:30 New York time: after the 16:00 close and after Tiingo publishes end-of-day prices.
DAILY_CRON = "30 21 * * 1-5"
# DuckDB allows one writing process per file: every task that writes the warehouse takes this
# pool's only slot, across DAG runs and backfills. Create it with `airflow pools set`.
DUCKDB_POOL = "equity_duckdb"
DBT_PROFILE = "equity_analytics"
CHECK_TASK_ID = "check_session"
MAX_RUN_ID_LENGTH = 64  # the warehouse's run_id columns are varchar(64)


class RunIncomplete(RuntimeError):
    """Some tickers or bronze objects were not processed; the task retry processes them."""


@dataclass(frozen=True)
class Partition:
    """The sessions one DAG run processes: ``start`` to ``end``, both included."""

    start: date
    end: date
    backfill: bool  # an explicit range from the run's params, not the run's own session

    @property
    def sessions(self) -> list[date]:
        return calendar.sessions_between(self.start, self.end)

    def as_xcom(self) -> dict[str, Any]:
        """What downstream tasks read (the dbt vars); only for a partition with sessions."""
        sessions = self.sessions
        return {
            "start_date": self.start.isoformat(),
            "end_date": self.end.isoformat(),
            "first_session": sessions[0].isoformat(),
            "last_session": sessions[-1].isoformat(),
            "sessions": len(sessions),
            "backfill": self.backfill,
        }


def resolve_partition(logical_date: datetime | None, params: Mapping[str, Any]) -> Partition:
    """The run's params range if given (``end_date`` defaults to ``start_date``), else the New
    York calendar date of the logical date: the scheduled 21:30 New York run of a session has a
    UTC logical date (and ``ds``) of the next day."""
    start, end = _param_date(params, "start_date"), _param_date(params, "end_date")
    if start or end:
        if start is None:
            raise ConfigError("params: end_date is set but start_date is not; set both")
        end = end or start
        if end < start:
            raise ConfigError(f"params: end_date {end} is before start_date {start}")
        return Partition(start, end, backfill=True)
    if logical_date is None:
        raise ConfigError(
            "this run has no logical date: trigger it with a logical date, or set the params "
            "start_date (and end_date) to the sessions to process"
        )
    session = logical_date.astimezone(NEW_YORK).date()
    return Partition(session, session, backfill=False)


def _param_date(params: Mapping[str, Any], name: str) -> date | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(str(raw))
    except ValueError as error:
        raise ConfigError(f"params: {name} must be a YYYY-MM-DD date, got {raw!r}") from error


def pipeline_run_id(airflow_run_id: str, try_number: int) -> str:
    """The run id stamped on bronze, raw and dbt rows: the Airflow run id plus the task's try.

    The try makes every attempt distinct, which the load's reconciliation relies on (it counts
    the raw rows tagged with its run id). Characters other than ``[A-Za-z0-9._-]`` become ``-``
    so the id is safe in object keys.
    """
    run_id = f"{re.sub(r'[^A-Za-z0-9._-]+', '-', airflow_run_id)}.try{try_number}"
    if len(run_id) <= MAX_RUN_ID_LENGTH:
        return run_id
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:10]
    return f"{run_id[: MAX_RUN_ID_LENGTH - 11]}-{digest}"


def airflow_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment, checked for what Airflow needs: tasks run in working
    directories of their own, and Cosmos runs dbt in a temporary copy of the project."""
    settings = Settings.from_env(env)
    if not settings.data_dir.is_absolute():
        raise ConfigError(
            f"EQUITY_DATA_DIR must be an absolute path under Airflow, not {str(settings.data_dir)!r}"
        )
    return settings


def _task_settings(run_id: str, try_number: int) -> Settings:
    return replace(airflow_settings(), run_id=pipeline_run_id(run_id, try_number))


# Task callables. Airflow passes the context values their parameters are named after; a manual
# run triggered without a logical date has no `logical_date` in its context, hence the default.


def check_session(
    params: Mapping[str, Any], logical_date: datetime | None = None
) -> dict[str, Any]:
    """Skip the run (not fail it) when its partition holds no NYSE session."""
    partition = resolve_partition(logical_date, params)
    if not partition.sessions:
        raise AirflowSkipException(
            f"{partition.start}..{partition.end} holds no NYSE session (weekend or holiday): "
            "nothing to ingest or build"
        )
    log.info("Processing %s", partition.as_xcom())
    return partition.as_xcom()


def ingest_session(
    params: Mapping[str, Any], run_id: str, ti: Any, logical_date: datetime | None = None
) -> dict[str, Any]:
    """Holdings file, prices and ticker metadata into bronze.

    A session run is incremental (each ticker from its watermark minus the lookback, up to the
    session; a new ticker from the holdings' first inception date); a params range re-fetches
    exactly that range for every ticker.
    """
    partition = resolve_partition(logical_date, params)
    settings = _task_settings(run_id, ti.try_number)
    if partition.backfill:
        summary = pipeline.run_ingest(settings, start=partition.start, end=partition.end)
    else:
        summary = pipeline.run_ingest(settings, end=partition.end)
    result = {
        "run_id": settings.run_id,
        "tickers": len(summary.tickers),
        "price_rows": summary.price_rows,
        "objects_written": summary.objects_written,
        "holdings_rows": len(summary.holdings.rows),
        "holdings_rejected": len(summary.holdings.rejected),
        "tickers_not_found": summary.not_found,
    }
    log.info("Ingested %s", result)
    if summary.unavailable:
        raise RunIncomplete(
            f"{len(summary.unavailable)} tickers could not be fetched after the client's retries "
            f"({', '.join(sorted(summary.unavailable))}); the others are in bronze and the task "
            "retry fetches the rest"
        )
    return result


def load_raw(run_id: str, ti: Any) -> dict[str, Any]:
    """Bronze objects not loaded yet into the warehouse's raw schema (idempotent)."""
    settings = _task_settings(run_id, ti.try_number)
    summary = pipeline.run_load(settings)
    result = {
        "run_id": settings.run_id,
        "objects_loaded": summary.objects_loaded,
        "objects_already_loaded": summary.objects_already_loaded,
        "rows_inserted": summary.rows_inserted,
        "rows_unchanged": summary.rows_unchanged,
        "reconciled": summary.reconciled,
    }
    log.info("Loaded %s", result)
    if summary.failed:
        raise RunIncomplete(
            f"{len(summary.failed)} bronze objects could not be loaded: {summary.failed}"
        )
    if not summary.reconciled:
        raise RunIncomplete(
            f"raw load not reconciled: {summary.bronze_rows} bronze rows, "
            f"{summary.rows_inserted} inserted + {summary.rows_unchanged} unchanged"
        )
    return result


def record_gold_build(run_id: str, ti: Any) -> None:
    """Records the completed build in `audit.gold_builds`, so the next run recomputes only what
    changed after it. Cosmos runs one dbt command per model, and dbt records a build only when
    one command built the whole chain; this task runs once every dbt task has succeeded."""
    settings = _task_settings(run_id, ti.try_number)
    result = run_dbt(settings, "run-operation record_completed_gold_build")
    if not result.success:
        raise TransformError("dbt run-operation record_completed_gold_build failed")


# Cosmos configuration of the dbt task group: the project is rendered with `dbt ls` and every
# model (or seed) becomes one task running `dbt build` on it, so its tests run with it.


def warehouse_pool(settings: Settings) -> str:
    return DUCKDB_POOL if settings.target == "duckdb" else "default_pool"


def dbt_vars() -> dict[str, str]:
    """dbt vars, rendered by Airflow when each dbt task runs."""
    partition = f"ti.xcom_pull(task_ids='{CHECK_TASK_ID}')"
    return {
        "pipeline_run_id": "{{ pipeline_run_id(run_id, ti.try_number) }}",
        "session_date": "{{ " + partition + "['last_session'] }}",
        "session_start_date": "{{ " + partition + "['first_session'] }}",
        # Each test task runs after its model's task and before record_gold_build, while the
        # run's recompute plans are current (dbt docs: data_tests_scope).
        "data_tests_scope": "changed",
    }


def dbt_project_config(settings: Settings) -> ProjectConfig:
    return ProjectConfig(
        dbt_project_path=DBT_PROJECT_DIR,
        env_vars=dbt_environment(settings),
        install_dbt_deps=False,
    )


def dbt_profile_config(settings: Settings) -> ProfileConfig:
    # The repository's profiles.yml reads every connection setting (the DuckDB path, Redshift's
    # host and credentials) from environment variables.
    return ProfileConfig(
        profile_name=DBT_PROFILE,
        target_name=settings.target,
        profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml",
    )


def dbt_execution_config() -> ExecutionConfig:
    return ExecutionConfig(
        execution_mode=ExecutionMode.LOCAL,
        invocation_mode=InvocationMode.DBT_RUNNER,
        # dbt runs in-process, but Cosmos still checks that the executable exists before it
        # renders with `dbt ls`; Airflow's PATH need not include this interpreter's bin folder.
        dbt_executable_path=Path(sys.executable).parent / "dbt",
    )


def dbt_render_config() -> RenderConfig:
    return RenderConfig(
        load_method=LoadMode.DBT_LS,
        invocation_mode=InvocationMode.DBT_RUNNER,
        test_behavior=TestBehavior.BUILD,
        # As in the pipeline's daily builds: tests that only a change of code can fail run in
        # CI and with `transform --test-all-rows` (dbt docs: data_tests_scope).
        exclude=["tag:invariant"],
        # No Airflow assets per table: nothing is scheduled on them, and each costs DB writes.
        emit_datasets=False,
        # A test on two models (relationships) runs as its own task once both are built.
        should_detach_multiple_parents_tests=True,
    )


def dbt_operator_args(settings: Settings) -> dict[str, Any]:
    return {
        "vars": dbt_vars(),
        "pool": warehouse_pool(settings),
        # Each task is a dbt command on one node, so per-command overhead adds up. The commands
        # run in temporary copies of the project that Cosmos deletes, so manifest.json and
        # run_results.json are never read; and one node needs no cache of every relation in the
        # warehouse (dbt looks a relation up when it needs it).
        "dbt_cmd_global_flags": ["--no-write-json", "--no-populate-cache"],
    }
