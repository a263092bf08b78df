"""The Redshift loader end to end: bronze in S3 (moto's server on loopback), COPY files written
to S3 and read back by a stand-in cluster, raw tables compared with the DuckDB loader's."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import boto3
import duckdb
import pytest
import redshift_connector

from ingestion import bronze, calendar, pipeline
from ingestion.load import LoadSummary, load_new_objects, restore_price_range
from ingestion.loaders.duckdb_loader import DuckDBLoader
from ingestion.loaders.raw_tables import ALL_TABLES, DAILY_PRICES, LOAD_LEDGER
from ingestion.loaders.redshift_loader import CopyRejected, RedshiftLoader, RedshiftLoadError
from ingestion.object_store import LocalObjectStore, S3ObjectStore
from ingestion.sample_market import SampleMarket, SampleTiingoServer
from ingestion.settings import ConfigError, Settings
from redshift.conftest import BAR, COPY_ROLE, LOADED_AT, REGION, make_bucket, price_object
from redshift.fake_redshift import FakeRedshift, load_error_message

WINDOW = (date(2024, 12, 2), date(2024, 12, 31))


def staging_store(bucket: str, endpoint: str) -> S3ObjectStore:
    return S3ObjectStore(
        bucket, "lake/bronze/_staging/copy", endpoint_url=endpoint, region_name=REGION
    )


def redshift_loader(cluster: FakeRedshift, bucket: str, endpoint: str) -> RedshiftLoader:
    return RedshiftLoader(cluster.connect, staging_store(bucket, endpoint), COPY_ROLE)


def table_rows(con, table, exclude=("loaded_at",)) -> list[tuple]:
    columns = [c for c in table.column_names if c not in exclude]
    return sorted(
        con.execute(f"select {', '.join(columns)} from {table.qualified}").fetchall(),
        key=repr,
    )


@pytest.fixture(scope="module")
def new_york_time():
    """The process time zone set to New York: session dates must not move with it."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def ingest_into_s3(api_settings: Settings, bucket: str, endpoint: str) -> Settings:
    """The sample market ingested into an S3 bronze bucket, as production holds it."""
    settings = replace(
        api_settings, bronze_uri=f"s3://{bucket}/lake/bronze", s3_endpoint_url=endpoint
    )
    pipeline.run_ingest(settings, start=WINDOW[0], end=WINDOW[1])
    return settings


@dataclass(frozen=True)
class FirstLoad:
    store: S3ObjectStore
    cluster: FakeRedshift
    bucket: str
    summary: LoadSummary
    duckdb_summary: LoadSummary
    duckdb_path: Path


@pytest.fixture(scope="module")
def first_load(s3_server, tmp_path_factory, new_york_time) -> Iterator[FirstLoad]:
    """One month of the sample market loaded by the Redshift loader and, for comparison, by
    the DuckDB loader from the same S3 bronze (a first load: every object is new)."""
    bucket = make_bucket(s3_server)
    data_dir = tmp_path_factory.mktemp("redshift_first_load")
    token = secrets.token_hex(20)
    with SampleTiingoServer(SampleMarket(), token=token) as server:
        api_settings = Settings(data_dir=data_dir).with_tiingo(
            base_url=server.base_url, api_key=token
        )
        settings = ingest_into_s3(api_settings, bucket, s3_server)
    store = pipeline.open_store(settings)
    cluster = FakeRedshift(s3_server, REGION)
    with redshift_loader(cluster, bucket, s3_server) as loader:
        summary = load_new_objects(store, loader, "load-1")
    with DuckDBLoader(data_dir / "warehouse.duckdb") as duck:
        duckdb_summary = load_new_objects(store, duck, "load-1")
    yield FirstLoad(store, cluster, bucket, summary, duckdb_summary, data_dir / "warehouse.duckdb")


def test_redshift_load_gives_the_same_raw_tables_as_the_duckdb_load(first_load):
    summary, expected = first_load.summary, first_load.duckdb_summary

    assert summary.failed == {} and summary.reconciled
    assert summary.objects_loaded == expected.objects_loaded > 20
    assert summary.bronze_rows == expected.bronze_rows > 400
    assert (summary.rows_inserted, summary.rows_unchanged) == (expected.rows_inserted, 0)
    with duckdb.connect(str(first_load.duckdb_path), read_only=True) as con:
        for table in ALL_TABLES:
            if table.name != "load_runs":
                assert table_rows(first_load.cluster.db, table) == table_rows(con, table), (
                    table.name
                )


def test_vendor_dates_arrive_as_the_exact_strings_bronze_holds(first_load):
    store, cluster = first_load.store, first_load.cluster
    key = next(k for k in bronze.committed_objects(store, bronze.PRICES_PREFIX) if "AAPL" in k)
    vendor_dates = sorted(bar["date"] for bar in json.loads(store.get(key)))

    raw_dates = cluster.query(
        f"select date from raw.tiingo_daily_prices where bronze_key = '{key}' order by date"
    )

    assert [d for (d,) in raw_dates] == vendor_dates
    assert vendor_dates[0].startswith("2024-12-02T00:00:00")
    assert len(vendor_dates) == len(calendar.sessions_between(*WINDOW))


def test_each_object_is_copied_merged_and_ledgered_in_one_transaction(first_load):
    cluster = first_load.cluster

    copies = [sql for sql in cluster.statements if sql.startswith("copy ")]
    assert len(copies) == first_load.summary.objects_loaded
    # Between two commits: delete staging, COPY, count, merge, ledger row (in that order).
    log = [(kind, sql.split()[0] if sql else "") for kind, sql in cluster.log]
    first_copy = log.index(("execute", "copy"))
    start = max(i for i in range(first_copy) if log[i][0] == "commit") + 1
    end = log.index(("commit", ""), first_copy)
    statements = [sql for _, sql in cluster.log[start:end]]
    assert [s.split()[0] for s in statements] == [
        "delete", "copy", "select", "select", "insert", "select", "insert",
    ]  # fmt: skip
    assert statements[-1].startswith(f"insert into {LOAD_LEDGER.qualified}")
    assert ("rollback", "") not in cluster.log


def test_copy_files_in_s3_are_complete_and_every_manifest_entry_exists(first_load, s3_server):
    staging = staging_store(first_load.bucket, s3_server)
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name=REGION)

    manifests = [k for k in staging.list("load-1/") if k.endswith(".manifest")]
    assert len(manifests) == first_load.summary.objects_loaded
    staged_rows = 0
    for key in manifests:
        entries = json.loads(staging.get(key))["entries"]
        assert [e["mandatory"] for e in entries] == [True]
        data_bucket, _, data_key = entries[0]["url"].removeprefix("s3://").partition("/")
        body = s3.get_object(Bucket=data_bucket, Key=data_key)["Body"].read()
        staged_rows += len(body.decode().splitlines())
    assert staged_rows == first_load.summary.bronze_rows
    jsonpaths = json.loads(staging.get("load-1/jsonpaths/tiingo_daily_prices.jsonpaths"))
    assert jsonpaths["jsonpaths"][:2] == ["$['ticker']", "$['date']"]
    # The staging files sit beside bronze but outside every folder the loader lists.
    assert bronze.committed_objects(first_load.store, "_staging/") == []


def test_a_rerun_loads_nothing_and_a_correction_becomes_one_new_version(
    sample_api, cluster, bucket, s3_server, tmp_path
):
    server, api_settings = sample_api
    holdings = tmp_path / "one_holding.csv"  # AAPL and the benchmark keep this test quick
    holdings.write_text(
        "portfolio_id,portfolio_name,ticker,shares,inception_date\nP1,One,AAPL,10,2024-12-02\n"
    )
    settings = ingest_into_s3(replace(api_settings, portfolios=str(holdings)), bucket, s3_server)
    store = pipeline.open_store(settings)
    with redshift_loader(cluster, bucket, s3_server) as loader:
        first = load_new_objects(store, loader, "load-1")
    with redshift_loader(cluster, bucket, s3_server) as loader:
        again = load_new_objects(store, loader, "load-2")
    assert first.objects_loaded == 5  # holdings + prices and metadata of AAPL and SPY
    assert again.objects_loaded == 0 and again.objects_already_loaded == 5

    corrected_day = calendar.sessions_back(server.as_of, 2)
    old_close = next(
        b.close for b in server.market.bars("AAPL", server.as_of) if b.date == corrected_day
    )
    server.market.correct_close("AAPL", corrected_day, round(old_close * 1.01, 2))
    pipeline.run_ingest(replace(settings, run_id="after-correction"))
    with redshift_loader(cluster, bucket, s3_server) as loader:
        load = load_new_objects(store, loader, "load-3")

    assert load.reconciled and load.objects_loaded == 4
    assert (load.rows_inserted, load.rows_unchanged) == (1, load.bronze_rows - 1)
    versions = cluster.query(
        "select close from raw.tiingo_daily_prices where ticker = 'AAPL' "
        f"and substr(date, 1, 10) = '{corrected_day.isoformat()}' order by fetched_at"
    )
    assert [v for (v,) in versions] == [old_close, round(old_close * 1.01, 2)]


def test_reprocess_restores_lost_raw_prices_from_s3_bronze_through_copy(
    sample_api, cluster, bucket, s3_server, tmp_path
):
    server, api_settings = sample_api
    holdings = tmp_path / "one_holding.csv"
    holdings.write_text(
        "portfolio_id,portfolio_name,ticker,shares,inception_date\nP1,One,AAPL,10,2024-12-02\n"
    )
    settings = ingest_into_s3(replace(api_settings, portfolios=str(holdings)), bucket, s3_server)
    store = pipeline.open_store(settings)
    with redshift_loader(cluster, bucket, s3_server) as loader:
        load_new_objects(store, loader, "load-1")
    prices_sql = "select ticker, date, close from raw.tiingo_daily_prices order by ticker, date"
    loaded = cluster.query(prices_sql)
    lost = (date(2024, 12, 9), date(2024, 12, 13))  # five sessions of AAPL and SPY
    cluster.query(
        "delete from raw.tiingo_daily_prices "
        f"where substr(date, 1, 10) between '{lost[0]}' and '{lost[1]}'"
    )

    with redshift_loader(cluster, bucket, s3_server) as loader:
        _, restored = restore_price_range(store, loader, *lost)
        _, restored_again = restore_price_range(store, loader, *lost)

    assert (restored, restored_again) == (10, 0)
    assert cluster.query(prices_sql) == loaded


@pytest.fixture
def bronze_store(bucket, s3_server) -> S3ObjectStore:
    return S3ObjectStore(bucket, "lake/bronze", endpoint_url=s3_server, region_name=REGION)


def reject_copies_of(cluster: FakeRedshift, ticker: str) -> None:
    """Make COPY fail the way Redshift does on bad data, for the data files of one ticker."""

    def failure(data_url: str, body: bytes) -> Exception | None:
        if f'"ticker": "{ticker}"'.encode() not in body:
            return None
        cluster.load_errors[data_url] = [
            (data_url, 1, "close", 1207, "Invalid digit, Value 'x', Pos 0, Type: Double")
        ]
        return redshift_connector.ProgrammingError(
            load_error_message("raw_staging_tiingo_daily_prices")
        )

    cluster.copy_failure = failure


def test_rejected_rows_are_reported_from_sys_load_error_detail_and_nothing_is_kept(
    cluster, bronze_store, bucket, s3_server
):
    bad = price_object(bronze_store, "AAPL", [BAR])
    good = price_object(bronze_store, "MSFT", [BAR])
    reject_copies_of(cluster, "AAPL")
    with redshift_loader(cluster, bucket, s3_server) as loader:
        with pytest.raises(CopyRejected) as rejected:
            loader.load_object(bad, "load-1", LOADED_AT)
        inserted, unchanged = loader.load_object(good, "load-1", LOADED_AT)
        keys = loader.loaded_keys()

    message = str(rejected.value)
    assert message.startswith(f"{bad.key}: COPY into raw_staging_tiingo_daily_prices rejected")
    assert (
        "line 1, column close: Invalid digit, Value 'x', Pos 0, Type: Double (error 1207)"
        in message
    )
    assert ("rollback", "") in cluster.log
    assert keys == {good.key} and (inserted, unchanged) == (1, 0)
    assert cluster.query(f"select ticker from {DAILY_PRICES.qualified}") == [("MSFT",)]


def test_a_copy_failure_that_is_not_about_the_data_stops_the_load_with_advice(
    cluster, bronze_store, bucket, s3_server
):
    batch = price_object(bronze_store, "AAPL", [BAR])
    cluster.copy_failure = lambda url, body: redshift_connector.ProgrammingError(
        {"S": "ERROR", "C": "XX000", "M": "S3ServiceException:Access Denied,Status 403"}
    )
    with redshift_loader(cluster, bucket, s3_server) as loader:
        with pytest.raises(RedshiftLoadError) as failed:
            loader.load_object(batch, "load-1", LOADED_AT)
        assert loader.loaded_keys() == set()

    assert "Access Denied" in str(failed.value)
    assert COPY_ROLE in str(failed.value) and ".manifest" in str(failed.value)


def test_a_rejected_object_appears_in_the_load_summary_and_the_rest_loads(
    cluster, bronze_store, bucket, s3_server
):
    bad = price_object(bronze_store, "AAPL", [BAR])
    price_object(bronze_store, "MSFT", [BAR])
    reject_copies_of(cluster, "AAPL")
    with redshift_loader(cluster, bucket, s3_server) as loader:
        summary = load_new_objects(bronze_store, loader, "load-1")

    assert "Invalid digit" in summary.failed[bad.key]
    assert summary.objects_loaded == 1


def test_open_loader_builds_the_redshift_loader_from_the_environment(
    cluster, bucket, s3_server, monkeypatch, tmp_path
):
    for name, value in {
        "REDSHIFT_HOST": "example.abc123.us-east-1.redshift.amazonaws.com",
        "REDSHIFT_DATABASE": "analytics",
        "REDSHIFT_USER": "loader",
        "REDSHIFT_PASSWORD": "not-a-real-password",
        "REDSHIFT_COPY_IAM_ROLE": COPY_ROLE,
    }.items():
        monkeypatch.setenv(name, value)
    connect_calls = []

    def connect(**kwargs):
        connect_calls.append(kwargs)
        return cluster.connect()

    monkeypatch.setattr(redshift_connector, "connect", connect)
    settings = Settings(
        data_dir=tmp_path,
        target="redshift",
        bronze_uri=f"s3://{bucket}/lake/bronze",
        s3_endpoint_url=s3_server,
    )

    with pipeline.open_loader(settings) as loader:
        assert isinstance(loader, RedshiftLoader)
        assert loader.staging.uri("x") == f"s3://{bucket}/lake/bronze/_staging/copy/x"
        assert loader.loaded_keys() == set()
    assert connect_calls[0]["host"] == "example.abc123.us-east-1.redshift.amazonaws.com"
    assert connect_calls[0]["database"] == "analytics"
    assert ("close", "") in cluster.log


def test_open_loader_for_redshift_needs_an_s3_bronze_and_connection_settings(monkeypatch, tmp_path):
    for name in ("REDSHIFT_HOST", "REDSHIFT_DATABASE", "REDSHIFT_USER", "EQUITY_BRONZE_URI"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(data_dir=tmp_path, target="redshift")

    with pytest.raises(ConfigError, match="REDSHIFT_HOST"):
        with pipeline.open_loader(settings):
            pass
    assert not Path(tmp_path / "warehouse.duckdb").exists()


def test_the_loader_refuses_a_local_staging_folder(cluster, tmp_path):
    with pytest.raises(ConfigError, match="must be s3://"):
        RedshiftLoader(cluster.connect, LocalObjectStore(tmp_path), COPY_ROLE)

    assert cluster.connections == 0
