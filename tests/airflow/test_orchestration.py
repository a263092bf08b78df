"""The task callables' own logic: which sessions a run processes, when it skips, its run id."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from ingestion.orchestration import (
    MAX_RUN_ID_LENGTH,
    Partition,
    airflow_settings,
    check_session,
    dbt_operator_args,
    dbt_profile_config,
    pipeline_run_id,
    resolve_partition,
)
from ingestion.settings import ConfigError


@pytest.mark.parametrize(
    ("logical_date", "session"),
    [
        # 21:30 New York is already the next day in UTC, in winter (EST) and summer (EDT).
        (datetime(2024, 12, 3, 2, 30, tzinfo=UTC), date(2024, 12, 2)),
        (datetime(2024, 7, 2, 1, 30, tzinfo=UTC), date(2024, 7, 1)),
        (datetime(2024, 12, 2, 15, 0, tzinfo=UTC), date(2024, 12, 2)),
    ],
)
def test_a_scheduled_run_processes_the_new_york_date_of_its_logical_date(
    logical_date: datetime, session: date
) -> None:
    assert resolve_partition(logical_date, {}) == Partition(session, session, backfill=False)


def test_params_range_overrides_the_logical_date() -> None:
    params = {"start_date": "2024-11-01", "end_date": "2024-11-29"}
    partition = resolve_partition(datetime(2024, 12, 3, 2, 30, tzinfo=UTC), params)
    assert partition == Partition(date(2024, 11, 1), date(2024, 11, 29), backfill=True)
    assert len(partition.sessions) == 20  # November 2024: 21 weekdays, Thanksgiving closed


def test_params_end_date_defaults_to_start_date() -> None:
    partition = resolve_partition(None, {"start_date": "2024-11-01", "end_date": None})
    assert partition == Partition(date(2024, 11, 1), date(2024, 11, 1), backfill=True)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"end_date": "2024-11-01"}, "end_date is set but start_date is not"),
        ({"start_date": "2024-11-05", "end_date": "2024-11-01"}, "is before start_date"),
        ({"start_date": "11/05/2024"}, "start_date must be a YYYY-MM-DD date"),
        ({}, "this run has no logical date"),
    ],
)
def test_unusable_params_fail_with_an_actionable_message(params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_partition(None, params)


def test_check_session_returns_the_partition_for_downstream_tasks() -> None:
    assert check_session({}, logical_date=datetime(2024, 12, 3, 2, 30, tzinfo=UTC)) == {
        "start_date": "2024-12-02",
        "end_date": "2024-12-02",
        "first_session": "2024-12-02",
        "last_session": "2024-12-02",
        "sessions": 1,
        "backfill": False,
    }


def test_a_backfill_range_reports_its_first_and_last_session() -> None:
    # Sunday 2024-06-30 .. Sunday 2024-07-07, with the Independence Day holiday.
    partition = check_session({"start_date": "2024-06-30", "end_date": "2024-07-07"})
    assert partition["first_session"] == "2024-07-01"
    assert partition["last_session"] == "2024-07-05"
    assert partition["sessions"] == 4


@pytest.mark.parametrize(
    ("logical_date", "params"),
    [
        (datetime(2024, 12, 26, 2, 30, tzinfo=UTC), {}),  # Christmas Day, New York time
        (datetime(2024, 12, 8, 2, 30, tzinfo=UTC), {}),  # a Saturday
        (None, {"start_date": "2024-12-28", "end_date": "2024-12-29"}),  # a weekend range
    ],
)
def test_check_session_skips_a_partition_without_sessions(
    logical_date: datetime | None, params: dict
) -> None:
    with pytest.raises(AirflowSkipException, match="holds no NYSE session"):
        check_session(params, logical_date=logical_date)


def test_run_id_keeps_the_airflow_run_id_and_try_in_a_key_safe_form() -> None:
    run_id = pipeline_run_id("scheduled__2024-12-03T02:30:00+00:00", 2)
    assert run_id == "scheduled__2024-12-03T02-30-00-00-00.try2"


def test_long_run_ids_are_shortened_but_stay_distinct() -> None:
    long_a = pipeline_run_id("manual__" + "a" * 80, 1)
    long_b = pipeline_run_id("manual__" + "a" * 79 + "b", 1)
    assert len(long_a) == len(long_b) == MAX_RUN_ID_LENGTH
    assert long_a != long_b


def test_airflow_needs_an_absolute_data_dir(tmp_path: Path) -> None:
    assert airflow_settings({"EQUITY_DATA_DIR": str(tmp_path)}).data_dir == tmp_path
    with pytest.raises(ConfigError, match="EQUITY_DATA_DIR must be an absolute path"):
        airflow_settings({"EQUITY_DATA_DIR": "data"})


@pytest.mark.parametrize(
    ("target", "pool"), [("duckdb", "equity_duckdb"), ("redshift", "default_pool")]
)
def test_dbt_target_and_pool_follow_the_configured_target(
    tmp_path: Path, target: str, pool: str
) -> None:
    settings = airflow_settings({"EQUITY_DATA_DIR": str(tmp_path), "EQUITY_TARGET": target})
    assert dbt_profile_config(settings).target_name == target
    assert dbt_operator_args(settings)["pool"] == pool


def test_a_manual_run_without_a_logical_date_binds_its_params() -> None:
    # Airflow leaves `logical_date` out of the context of such a run; the bound call must work.
    from airflow.providers.standard.operators.python import PythonOperator

    operator = PythonOperator(task_id="check_session", python_callable=check_session)
    context = {"params": {"start_date": "2024-12-09", "end_date": "2024-12-13"}}
    assert operator.determine_kwargs(context) == {"params": context["params"]}
    assert check_session(**operator.determine_kwargs(context))["sessions"] == 5
