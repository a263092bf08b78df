"""A private Airflow installation for the DAG tests: its own AIRFLOW_HOME with a migrated SQLite
metadata database and the one-slot DuckDB pool, the repository's dags/ folder, telemetry off."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ingestion.settings import PROJECT_ROOT

AIRFLOW = str(Path(sys.executable).parent / "airflow")

# Airflow reads its configuration when it is first imported, so this must be in the environment
# before any test module imports airflow or ingestion.orchestration. None of it affects the
# other tests (they read no AIRFLOW_ variable).
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "AIRFLOW__COSMOS__CACHE_DIR": str(AIRFLOW_HOME / "cosmos"),
    "DO_NOT_TRACK": "1",
}
os.environ.update(AIRFLOW_ENV)


def _run_airflow(*args: str, env: dict[str, str], timeout: float) -> None:
    result = subprocess.run(
        [AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"airflow {' '.join(args)} exited {result.returncode}:\n"
        f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    )


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The migrated metadata database (about 5 s) with the pool every DuckDB writer uses."""
    from ingestion.orchestration import DUCKDB_POOL

    env = {**os.environ, **AIRFLOW_ENV}
    _run_airflow("db", "migrate", env=env, timeout=120)
    _run_airflow("pools", "set", DUCKDB_POOL, "1", "one DuckDB writer", env=env, timeout=60)
    return AIRFLOW_HOME / "airflow.db"


def pytest_unconfigure(config: pytest.Config) -> None:
    # Also when no test here ran: importing Airflow already wrote logs/ into the folder.
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)
