"""The pipeline steps (ingest, load, transform) composed from settings; the CLI and the Airflow
DAG are thin shells over these functions."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import duckdb

from ingestion.build_state import (
    daily_selector,
    forget_state,
    keep_state,
    save_state,
    usable_state,
    warehouse_last_build,
)
from ingestion.ingest import IngestSummary, ingest
from ingestion.load import LoadSummary, RawLoader, load_new_objects, restore_price_range
from ingestion.loaders.duckdb_loader import DuckDBLoader
from ingestion.loaders.redshift_loader import RedshiftLoader
from ingestion.object_store import ObjectStore, open_object_store
from ingestion.redshift_settings import RedshiftSettings
from ingestion.settings import Settings
from ingestion.tiingo_client import RetryEvent, TiingoClient
from ingestion.transform import TransformResult, run_dbt


@contextmanager
def sample_market_api(settings: Settings) -> Iterator[Settings]:
    """Serve the bundled synthetic market on loopback for the duration of the block.

    The returned settings point the ordinary Tiingo client at it with a one-off token, so the
    sample path exercises exactly the production client code.
    """
    from ingestion.sample_market import SampleMarket, SampleTiingoServer

    token = secrets.token_hex(20)
    with SampleTiingoServer(SampleMarket(), token=token) as server:
        yield settings.with_tiingo(base_url=server.base_url, api_key=token)


def open_store(settings: Settings) -> ObjectStore:
    return open_object_store(settings.bronze_location, s3_endpoint_url=settings.s3_endpoint_url)


@contextmanager
def open_loader(settings: Settings) -> Iterator[RawLoader]:
    if settings.target == "redshift":
        redshift = RedshiftSettings.from_env(bronze_uri=settings.bronze_location)
        loader = RedshiftLoader.from_settings(redshift, s3_endpoint_url=settings.s3_endpoint_url)
    else:
        loader = DuckDBLoader(settings.duckdb_path)
    with loader:
        yield loader


def run_ingest(
    settings: Settings,
    *,
    start: date | None = None,
    end: date | None = None,
    on_retry: Callable[[RetryEvent], None] | None = None,
    on_ticker_done: Callable[[str, int], None] | None = None,
    on_universe: Callable[[list[str]], None] | None = None,
) -> IngestSummary:
    store = open_store(settings)
    with TiingoClient(
        settings.tiingo_api_key, settings.tiingo_base_url, on_retry=on_retry
    ) as client:
        return ingest(
            settings,
            client,
            store,
            start=start,
            end=end,
            on_ticker_done=on_ticker_done,
            on_universe=on_universe,
        )


def run_load(settings: Settings) -> LoadSummary:
    store = open_store(settings)
    with open_loader(settings) as loader:
        return load_new_objects(store, loader, settings.run_id)


def run_transform(
    settings: Settings,
    dbt_args: tuple[str, ...] = (),
    dbt_vars: Mapping[str, str] | None = None,
) -> TransformResult:
    """``dbt build`` without the unit tests, which dbt recommends running in development and CI
    only (their inputs are fixed; ``make test`` runs them). The data tests check the sessions the
    build could have changed and leave out the tests tagged ``invariant``, which only a change
    of code can fail (dbt docs: data_tests_scope), unless ``dbt_vars`` sets
    ``data_tests_scope`` to ``all``.

    A daily build of the whole project (no ``dbt_args``) also leaves out the seeds and views
    that nothing changed since the last complete build of the whole project on this warehouse
    (selector ``daily_build``; module ``build_state``), and the holdings views' tests when no
    holdings file was loaded since (``daily_build_holdings_unchanged``); ``data_tests_scope``
    ``all`` builds and tests them all.
    """
    build_vars = {"data_tests_scope": "changed", **(dbt_vars or {})}
    daily_scope = build_vars["data_tests_scope"] == "changed"
    whole_project = not dbt_args
    last_build = warehouse_last_build(settings) if whole_project and daily_scope else None
    state = usable_state(settings, last_build)
    if last_build and state:
        # The selectors leave out the invariant tests too.
        selector = daily_selector(last_build)
        selection: tuple[str, ...] = ("--selector", selector, "--state", str(state))
    elif daily_scope:
        selection = ("--exclude", "tag:invariant")
    else:
        selection = ()
    result = run_dbt(
        settings,
        "build",
        ("--exclude-resource-type", "unit_test", *selection, *dbt_args),
        build_vars,
        # A build with the state keeps it when it runs no seed and no view (below), and
        # otherwise forgets it: in neither case does it need its own manifest.
        write_manifest=state is None,
    )
    # A partial or failed build may have created seeds or views from other code than the saved
    # manifest's: the next daily build then builds them all.
    if not (whole_project and result.success):
        forget_state(settings)
    elif state is None:
        save_state(settings)
    elif result.seeds_and_views_run == 0:
        keep_state(settings)
    else:
        forget_state(settings)
    return result


@dataclass
class ReprocessSummary:
    start: date
    end: date | None
    ingest: IngestSummary | None  # only with refetch
    load: LoadSummary
    bronze_objects_read: int
    raw_rows_restored: int
    transform: TransformResult


def run_reprocess(
    settings: Settings,
    start: date,
    end: date | None = None,
    *,
    refetch: bool = False,
    on_retry: Callable[[RetryEvent], None] | None = None,
) -> ReprocessSummary:
    """Recompute every gold row from session ``start`` on, from what bronze already holds.

    Raw rows of ``start..end`` that bronze holds but raw lacks are restored (no API call, so no
    token is needed), then dbt recomputes every security and portfolio from ``start`` (var
    ``reprocess_from``): later sessions depend on it through cumulative values and windows, so
    ``end`` bounds only what is restored or re-fetched. ``refetch`` first asks the vendor for
    ``start..end`` again, which picks up corrections older than the incremental lookback.
    """
    ingest_summary = None
    if refetch:
        ingest_summary = run_ingest(settings, start=start, end=end, on_retry=on_retry)
    load_summary = run_load(settings)
    with open_loader(settings) as loader:
        objects, restored = restore_price_range(open_store(settings), loader, start, end)
    transform = run_transform(settings, dbt_vars={"reprocess_from": start.isoformat()})
    return ReprocessSummary(
        start=start,
        end=end,
        ingest=ingest_summary,
        load=load_summary,
        bronze_objects_read=objects,
        raw_rows_restored=restored,
        transform=transform,
    )


@dataclass
class WarehouseReport:
    location: str
    tickers: int = 0
    first_session: date | None = None
    last_session: date | None = None
    sessions: int = 0
    table_rows: dict[str, int] = field(default_factory=dict)  # "schema.table" -> rows
    rejects: dict[str, int] = field(default_factory=dict)  # reason -> rows


def warehouse_report(settings: Settings) -> WarehouseReport:
    """What the local warehouse holds now, layer by layer (DuckDB target only)."""
    report = WarehouseReport(location=str(settings.duckdb_path))
    if settings.target != "duckdb" or not settings.duckdb_path.exists():
        return report
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw', 'silver', 'gold', 'audit') "
            "order by case table_schema when 'raw' then 1 when 'silver' then 2 "
            "when 'gold' then 3 else 4 end, table_name"
        ).fetchall()
        for schema, table in tables:
            count = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            report.table_rows[f"{schema}.{table}"] = count
        names = {f"{s}.{t}" for s, t in tables}
        if "gold.fact_market_price_daily" in names:
            source = "gold.fact_market_price_daily"
        else:
            source = "(select ticker, cast(substr(date, 1, 10) as date) as date_day from raw.tiingo_daily_prices)"
        if "raw.tiingo_daily_prices" in names or source.startswith("gold"):
            row = con.execute(
                f"select count(distinct ticker), min(date_day), max(date_day), "
                f"count(distinct date_day) from {source}"
            ).fetchone()
            report.tickers, report.first_session, report.last_session, report.sessions = row
        rejects_table = next((n for n in names if n.endswith(".rejected_records")), None)
        if rejects_table:
            report.rejects = dict(
                con.execute(
                    f"select split_part(reject_reason, ':', 1), count(*) from {rejects_table} "
                    "group by 1 order by 2 desc"
                ).fetchall()
            )
    finally:
        con.close()
    return report
