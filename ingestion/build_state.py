"""The manifest of the last complete daily build, kept so that the next daily build can leave out
the seeds and views it would only create again unchanged (dbt selector ``daily_build``).

dbt compares the project with this manifest (``--state``): a seed or view is left out when
neither it nor anything upstream of it changed. That holds only if the warehouse still has what
that build created, so the manifest is used only while the warehouse's last complete build
(``audit.gold_builds``) is the one that saved or kept it: a warehouse rebuilt from scratch,
restored from a copy, or built since by other means gets every node again. A build with the
state that loads no seed and creates no view keeps the manifest (``keep_state``) without dbt
writing a new one; one that does forgets it, and the build after it builds every node and
saves its own.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import redshift_connector

from ingestion.loaders.redshift_loader import Connection
from ingestion.redshift_settings import RedshiftSettings
from ingestion.settings import Settings
from ingestion.transform import artifacts_dir

MANIFEST = "manifest.json"
BUILD_RECORD = "build.json"

# audit.gold_builds (written by dbt's on-run-end hook) does not exist before the first build;
# asking information_schema first keeps the query free of errors on both warehouses.
GOLD_BUILDS_EXISTS_SQL = (
    "select count(*) from information_schema.tables "
    "where table_schema = 'audit' and table_name = 'gold_builds'"
)
# The last build, with the holdings rows there are now and those its on-run-end hook counted
# (audit.layer_row_counts). Holdings rows are only ever appended, a whole file at a time, and a
# file is stored and loaded once per distinct content, so equal counts mean the same rows.
LAST_GOLD_BUILD_SQL = """\
select
    builds.run_id,
    (select count(*) from raw.portfolio_holdings) as holdings_rows,
    counts.row_count as holdings_rows_then
from audit.gold_builds as builds
left join audit.layer_row_counts as counts
    on builds.run_id = counts.run_id
    and counts.layer = 'bronze'
    and counts.model_name = 'portfolios.portfolio_holdings'
order by builds.recorded_at desc
limit 1"""


@dataclass(frozen=True)
class LastBuild:
    """The warehouse's last complete build, as the next daily build needs it."""

    run_id: str
    holdings_changed: bool  # raw.portfolio_holdings holds other rows than at its end


def state_dir(settings: Settings) -> Path:
    return artifacts_dir(settings) / "last_build"


def last_gold_build(connection: Connection) -> LastBuild | None:
    """The last build that completed every model of the recompute chain."""
    cursor = connection.cursor()
    cursor.execute(GOLD_BUILDS_EXISTS_SQL)
    if not cursor.fetchall()[0][0]:
        return None
    cursor.execute(LAST_GOLD_BUILD_SQL)
    rows = cursor.fetchall()
    if not rows:
        return None
    run_id, holdings_rows, holdings_rows_then = rows[0]
    return LastBuild(run_id=run_id, holdings_changed=holdings_rows != holdings_rows_then)


def daily_selector(last_build: LastBuild) -> str:
    """The selector of a daily build with the state that build saved (dbt_project/selectors.yml):
    the holdings views' tests run only when a holdings file was loaded since."""
    return "daily_build" if last_build.holdings_changed else "daily_build_holdings_unchanged"


def warehouse_last_build(settings: Settings) -> LastBuild | None:
    """``last_gold_build`` of the configured warehouse (None for a DuckDB file not yet made)."""
    if settings.target == "redshift":
        connection = redshift_connector.connect(**RedshiftSettings.from_env().connect_kwargs())
    elif settings.duckdb_path.exists():
        connection = duckdb.connect(str(settings.duckdb_path), read_only=True)
    else:
        return None
    try:
        return last_gold_build(connection)
    finally:
        connection.close()


def usable_state(settings: Settings, last_build: LastBuild | None) -> Path | None:
    """The saved state's folder, if it was saved by the warehouse's last complete build."""
    folder = state_dir(settings)
    try:
        saved_by = json.loads((folder / BUILD_RECORD).read_text())["run_id"]
    except (OSError, ValueError, KeyError):
        return None
    if last_build is None or saved_by != last_build.run_id:
        return None
    return folder if (folder / MANIFEST).is_file() else None


def save_state(settings: Settings) -> None:
    """Keep the manifest of the build that just completed under this settings' run id."""
    folder = state_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    # The record is removed first and written last, so an interrupted save is never usable.
    (folder / BUILD_RECORD).unlink(missing_ok=True)
    shutil.copyfile(artifacts_dir(settings) / "target" / MANIFEST, folder / MANIFEST)
    keep_state(settings)


def keep_state(settings: Settings) -> None:
    """Keep the saved manifest as the state of the build that just completed.

    Only for a build that ran with that manifest as its state and loaded no seed and created
    no view: it left out every seed and view whose code differs in nothing from the manifest,
    so those in the warehouse are still the ones the manifest describes. Such a build need not
    write its own manifest (``run_dbt(write_manifest=False)``).
    """
    (state_dir(settings) / BUILD_RECORD).write_text(json.dumps({"run_id": settings.run_id}))


def forget_state(settings: Settings) -> None:
    (state_dir(settings) / BUILD_RECORD).unlink(missing_ok=True)
