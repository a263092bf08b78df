"""Transform step: ``dbt build`` on the configured target, in-process through dbt's Python API."""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingestion.settings import DBT_PROJECT_DIR, Settings

# The run id stamped on dbt's rows (macro pipeline_run_id). An environment variable rather than a
# dbt var: a var that changes on every run makes dbt re-parse the whole project each time.
RUN_ID_VARIABLE = "EQUITY_PIPELINE_RUN_ID"

# Allocations between two collections of Python's youngest generation while dbt runs (Python's
# default is 700); see fewer_garbage_collections.
DBT_GC_THRESHOLD = 100_000


class TransformError(RuntimeError):
    """dbt could not run, or some models or tests failed."""


@dataclass(frozen=True)
class TransformResult:
    success: bool
    counts: dict[str, int]  # dbt node status -> how many nodes ended with it
    seeds_and_views_run: int  # how many of the nodes run were seeds or view models


def dbt_environment(settings: Settings) -> dict[str, str]:
    """Environment the dbt profile reads (profiles.yml uses env_var)."""
    return {
        "EQUITY_DUCKDB_PATH": str(settings.duckdb_path),
        "DO_NOT_TRACK": "1",
    }


def artifacts_dir(settings: Settings) -> Path:
    """dbt's target and log folders for this data folder."""
    return settings.data_dir.resolve() / "dbt"


def dbt_args(
    settings: Settings,
    command: str,
    extra: tuple[str, ...] = (),
    dbt_vars: Mapping[str, str] | None = None,
) -> list[str]:
    """dbt's arguments; the run id goes through the environment (see ``run_dbt``)."""
    artifacts = artifacts_dir(settings)
    return [
        *command.split(),  # "build", or a two-word command such as "docs generate"
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target", settings.target,
        "--target-path", str(artifacts / "target"),
        "--log-path", str(artifacts / "logs"),
        *(["--vars", json.dumps(dict(dbt_vars))] if dbt_vars else []),
        *extra,
    ]  # fmt: skip


def run_dbt(
    settings: Settings,
    command: str = "build",
    extra: tuple[str, ...] = (),
    dbt_vars: Mapping[str, str] | None = None,
    *,
    write_manifest: bool = True,
) -> TransformResult:
    """Runs one dbt command in this process.

    ``write_manifest=False`` runs it with ``--no-write-json``: dbt then writes no manifest,
    which costs a daily build 0.26 s twice at the benchmark's scale, and this function writes
    the command's ``run_results.json`` itself, so the target folder still tells what the last
    command did.
    """
    # dbt's profile reads these through env_var(); they must be in this process's environment.
    os.environ.update(dbt_environment(settings))
    os.environ[RUN_ID_VARIABLE] = settings.run_id
    # Imported here: dbt takes about two seconds to import, which every `--help` would pay.
    from dbt.cli.main import dbtRunner

    no_json = () if write_manifest else ("--no-write-json",)
    try:
        with fewer_garbage_collections():
            result = dbtRunner().invoke(dbt_args(settings, command, (*no_json, *extra), dbt_vars))
    finally:
        close_duckdb_database()
    if result.exception is not None:
        raise TransformError(f"dbt {command} could not run: {result.exception}")
    if not write_manifest and hasattr(result.result, "write"):  # as dbt itself tests it
        result.result.write(str(artifacts_dir(settings) / "target" / "run_results.json"))
    node_results = getattr(result.result, "results", None) or []
    counts: dict[str, int] = {}
    for node_result in node_results:
        status = str(node_result.status)
        counts[status] = counts.get(status, 0) + 1
    return TransformResult(
        success=bool(result.success),
        counts=counts,
        seeds_and_views_run=sum(1 for r in node_results if is_seed_or_view(r)),
    )


def is_seed_or_view(node_result: Any) -> bool:
    """The result of a seed or a view model: what a daily build leaves out when nothing changed
    (selectors.yml). A run-operation's results carry no node."""
    node = getattr(node_result, "node", None)
    if node is None:
        return False
    if node.resource_type == "seed":
        return True
    return node.resource_type == "model" and node.config.materialized == "view"


@contextmanager
def fewer_garbage_collections() -> Iterator[None]:
    """Runs Python's cyclic garbage collector less often for the duration of a dbt command.

    dbt holds its manifest, some 250,000 objects, for the whole command and allocates quickly
    while it renders nodes. Under Python's default thresholds the collector ran about 550 times
    in a daily build of the 10-year benchmark warehouse, a few of them full collections of 0.15
    to 0.23 s each: 0.45 to 0.75 s in all (``gc.callbacks``), holding the interpreter lock that
    dbt's two threads need. With this threshold it runs about 3 times; cycles are still
    collected, and the thresholds are restored afterwards.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(DBT_GC_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def close_duckdb_database() -> None:
    """Closes the DuckDB database dbt-duckdb keeps open for the life of the process.

    The profile sets ``keep_open: true`` so that a dbt command does not close and reopen the
    file between nodes; the next step in this process (a load, a read-only report, an Airflow
    task under ``dag.test()``) must find the file free. dbt-duckdb has no public call for this,
    so this reaches its connection manager's environment; a test pins it
    (tests/test_dbt_project.py).
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None
