"""Ingestion into bronze and the idempotent raw load, against the real sample Tiingo server."""

from __future__ import annotations

import itertools
import logging
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pytest

from ingestion import bronze, calendar, load, pipeline
from ingestion.ingest import ingest
from ingestion.loaders.duckdb_loader import DuckDBLoader
from ingestion.object_store import LocalObjectStore
from ingestion.settings import Settings
from ingestion.tiingo_client import RetryPolicy, TiingoAuthError, TiingoClient

BACKFILL = (date(2024, 11, 1), date(2024, 12, 31))


def raw_count(settings, table: str, where: str = "true") -> int:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        return con.execute(f"select count(*) from raw.{table} where {where}").fetchone()[0]


def expected_price_rows(server, tickers: list[str], start: date, end: date) -> int:
    return sum(
        1
        for ticker in tickers
        for bar in server.market.bars(ticker, server.as_of)
        if start <= bar.date <= end
    )


def test_backfill_lands_every_bar_in_bronze_and_raw_with_a_reconciled_load(sample_api):
    server, settings = sample_api
    summary = pipeline.run_ingest(settings, start=BACKFILL[0], end=BACKFILL[1])
    expected = expected_price_rows(server, summary.tickers, *BACKFILL)
    assert summary.price_rows == expected > 500
    assert "SPY" in summary.tickers

    load = pipeline.run_load(settings)
    assert load.reconciled
    assert load.failed == {}
    assert load.objects_loaded == summary.objects_written + 1  # + the holdings file
    assert raw_count(settings, "tiingo_daily_prices") == expected
    assert raw_count(settings, "tiingo_ticker_metadata") == len(summary.tickers)
    assert raw_count(settings, "load_ledger") == load.objects_loaded
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        bronze_rows, inserted, reconciled = con.execute(
            "select bronze_rows, rows_inserted, reconciled from raw.load_runs"
        ).fetchone()
    assert (bronze_rows, inserted, reconciled) == (load.bronze_rows, load.rows_inserted, True)


def test_loading_twice_adds_nothing(sample_api):
    _, settings = sample_api
    pipeline.run_ingest(settings, start=BACKFILL[0], end=BACKFILL[1])
    first = pipeline.run_load(settings)
    rows_before = raw_count(settings, "tiingo_daily_prices")

    second = pipeline.run_load(replace(settings, run_id="second-load"))
    assert second.objects_loaded == 0
    assert second.objects_already_loaded == first.objects_loaded
    assert raw_count(settings, "tiingo_daily_prices") == rows_before


def test_incremental_rerun_rereads_the_lookback_and_adds_no_raw_rows(sample_api):
    server, settings = sample_api
    pipeline.run_ingest(settings, start=BACKFILL[0], end=BACKFILL[1])
    pipeline.run_load(settings)
    rows_before = raw_count(settings, "tiingo_daily_prices")

    rerun = replace(settings, run_id="incremental")
    summary = pipeline.run_ingest(rerun)
    load = pipeline.run_load(rerun)

    lookback_start = calendar.sessions_back(server.as_of, settings.lookback_sessions)
    spy_requests = [r.path for r in server.requests_log if "/SPY/prices" in r.path]
    assert f"startDate={lookback_start.isoformat()}" in spy_requests[-1]
    assert summary.price_rows == expected_price_rows(
        server, summary.tickers, lookback_start, server.as_of
    )
    assert load.rows_inserted == 0 and load.rows_unchanged == load.bronze_rows
    assert raw_count(settings, "tiingo_daily_prices") == rows_before


def test_an_incremental_run_for_a_past_session_rereads_only_up_to_that_session(sample_api):
    """An Airflow run for an earlier session (a backfill run after later ones) fetches that
    session's lookback, not from the newer watermark."""
    server, settings = sample_api
    pipeline.run_ingest(settings, start=BACKFILL[0], end=BACKFILL[1])
    past_session = date(2024, 12, 2)

    pipeline.run_ingest(replace(settings, run_id="past-session"), end=past_session)

    lookback_start = calendar.sessions_back(past_session, settings.lookback_sessions)
    spy_request = [r.path for r in server.requests_log if "/SPY/prices" in r.path][-1]
    assert f"startDate={lookback_start.isoformat()}" in spy_request
    assert f"endDate={past_session.isoformat()}" in spy_request
    # The watermark stays at the newest session fetched.
    store = LocalObjectStore(Path(settings.bronze_location))
    assert bronze.read_watermarks(store)["SPY"] == BACKFILL[1]


def test_a_vendor_correction_in_the_lookback_becomes_a_new_raw_version(sample_api):
    server, settings = sample_api
    pipeline.run_ingest(settings, start=BACKFILL[0], end=BACKFILL[1])
    pipeline.run_load(settings)
    corrected_day = calendar.sessions_back(server.as_of, 2)
    old_close = next(
        b.close for b in server.market.bars("AAPL", server.as_of) if b.date == corrected_day
    )
    server.market.correct_close("AAPL", corrected_day, round(old_close * 1.01, 2))

    rerun = replace(settings, run_id="after-correction")
    pipeline.run_ingest(rerun)
    load = pipeline.run_load(rerun)

    assert load.rows_inserted >= 1
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        versions = con.execute(
            "select close from raw.tiingo_daily_prices where ticker = 'AAPL' "
            "and substr(date, 1, 10) = ? order by fetched_at",
            [corrected_day.isoformat()],
        ).fetchall()
    assert [v for (v,) in versions] == [old_close, round(old_close * 1.01, 2)]


def test_objects_loaded_together_give_the_versions_of_loading_them_in_order(
    sample_api, tmp_path, monkeypatch
):
    server, settings = sample_api
    pipeline.run_ingest(settings, start=BACKFILL[0], end=BACKFILL[1])
    pipeline.run_ingest(replace(settings, run_id="same-lookback"))
    corrected_day = calendar.sessions_back(server.as_of, 2)
    old_close = next(
        b.close for b in server.market.bars("AAPL", server.as_of) if b.date == corrected_day
    )
    server.market.correct_close("AAPL", corrected_day, round(old_close * 1.01, 2))
    pipeline.run_ingest(replace(settings, run_id="after-correction"))
    # Three fetches of the same bars wait in bronze: one load takes them in batches, another
    # (a copy of bronze) one object at a time.
    one_by_one = Settings(data_dir=tmp_path / "one_by_one")
    shutil.copytree(settings.bronze_location, one_by_one.bronze_location)

    batched = pipeline.run_load(settings)
    monkeypatch.setattr(load, "MAX_BATCH_ROWS", 1)
    in_order = pipeline.run_load(one_by_one)

    assert batched.objects_loaded == in_order.objects_loaded > 3 * 48
    assert (batched.rows_inserted, batched.rows_unchanged) == (
        in_order.rows_inserted,
        in_order.rows_unchanged,
    )
    assert batched.rows_unchanged > 0
    versions = (
        "select ticker, date, close, adj_close, div_cash, bronze_key from raw.tiingo_daily_prices"
    )
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        batched_rows = sorted(con.execute(versions).fetchall())
    with duckdb.connect(str(one_by_one.duckdb_path), read_only=True) as con:
        in_order_rows = sorted(con.execute(versions).fetchall())
    assert batched_rows == in_order_rows
    aapl = [
        row[2] for row in batched_rows if row[0] == "AAPL" and row[1][:10] == str(corrected_day)
    ]
    assert aapl == [old_close, round(old_close * 1.01, 2)]


def crash_at_ledger_row(monkeypatch: pytest.MonkeyPatch, crashing_row: int) -> None:
    """The loader's ``crashing_row``-th ledger row raises, after its object's rows went in;
    every other ledger row is written as usual, so a second load resumes."""
    original = DuckDBLoader._insert_ledger
    calls = itertools.count(1)

    def insert_ledger(self, *args, **kwargs):
        if next(calls) == crashing_row:
            raise RuntimeError("simulated crash after the rows were inserted")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DuckDBLoader, "_insert_ledger", insert_ledger)


def test_a_crash_mid_load_leaves_no_half_loaded_object(sample_api, monkeypatch):
    _, settings = sample_api
    summary = pipeline.run_ingest(settings, start=BACKFILL[0], end=BACKFILL[1])
    # One object per batch, so the crash comes between committed batches.
    monkeypatch.setattr(load, "MAX_BATCH_ROWS", 1)
    crash_at_ledger_row(monkeypatch, 5)
    with pytest.raises(RuntimeError, match="simulated crash"):
        pipeline.run_load(settings)
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        ledger = con.execute("select count(*) from raw.load_ledger").fetchone()[0]
        orphans = con.execute(
            "select count(*) from raw.tiingo_daily_prices "
            "where bronze_key not in (select bronze_key from raw.load_ledger)"
        ).fetchone()[0]
    assert (ledger, orphans) == (4, 0)

    resumed = pipeline.run_load(replace(settings, run_id="resumed"))
    assert resumed.reconciled and resumed.failed == {}
    assert raw_count(settings, "load_ledger") == 4 + resumed.objects_loaded
    assert raw_count(settings, "tiingo_daily_prices") == summary.price_rows


def test_a_crash_mid_batch_rolls_the_whole_batch_back(sample_api, monkeypatch):
    _, settings = sample_api
    summary = pipeline.run_ingest(settings, start=BACKFILL[0], end=BACKFILL[1])
    crash_at_ledger_row(monkeypatch, 3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        pipeline.run_load(settings)
    # The sample's backfill is one batch: nothing of it stays, rows or ledger.
    assert raw_count(settings, "load_ledger") == 0
    assert raw_count(settings, "tiingo_daily_prices") == 0

    resumed = pipeline.run_load(replace(settings, run_id="resumed"))
    assert resumed.reconciled and resumed.failed == {}
    assert resumed.objects_loaded == raw_count(settings, "load_ledger") > 2
    assert raw_count(settings, "tiingo_daily_prices") == summary.price_rows


def test_an_unknown_ticker_is_recorded_as_rejected_and_the_run_goes_on(sample_api):
    _, settings = sample_api
    settings = replace(settings, extra_tickers=("ZZZZ",))
    summary = pipeline.run_ingest(settings, start=BACKFILL[0], end=BACKFILL[1])
    assert summary.not_found == ["ZZZZ"]
    assert summary.price_rows > 500
    pipeline.run_load(settings)
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        errors = con.execute(
            "select ticker, endpoint, http_status, detail from raw.tiingo_fetch_errors order by endpoint"
        ).fetchall()
    assert errors == [
        ("ZZZZ", "daily_prices", 404, "Error: Ticker 'ZZZZ' not found"),
        ("ZZZZ", "ticker_metadata", 404, "Not found."),
    ]


def test_bad_credentials_stop_the_run_with_a_message_naming_the_variable(sample_api):
    _, settings = sample_api
    wrong = settings.with_tiingo(base_url=settings.tiingo_base_url, api_key="0" * 40)
    with pytest.raises(TiingoAuthError, match="TIINGO_API_KEY"):
        pipeline.run_ingest(wrong, start=BACKFILL[0], end=BACKFILL[1])


def test_the_token_never_reaches_a_url_a_bronze_object_or_a_log(sample_api, caplog):
    server, settings = sample_api
    token = settings.tiingo_api_key
    with caplog.at_level(logging.DEBUG):
        pipeline.run_ingest(settings, start=BACKFILL[0], end=BACKFILL[1])
        pipeline.run_load(settings)
    assert server.requests_log, "the server saw no requests"
    assert all(token not in r.path for r in server.requests_log)
    assert all(r.headers.get("Authorization") == f"Token {token}" for r in server.requests_log)
    store = LocalObjectStore(Path(settings.bronze_location))
    keys = store.list()
    assert len(keys) > 60
    assert all(token.encode() not in store.get(key) for key in keys)
    assert token not in caplog.text
    assert token not in repr(settings)


def test_holdings_rejects_are_kept_in_raw_with_their_reason(sample_api, tmp_path):
    _, settings = sample_api
    csv = tmp_path / "holdings.csv"
    csv.write_text(
        "portfolio_id,portfolio_name,ticker,shares,inception_date\n"
        "P9,Test,AAPL,10,2024-11-04\n"
        "P9,Test,MSFT,-5,2024-11-04\n"
        "P9,Test,A$PL,3,2024-11-04\n"
        "P9,Test,JNJ,abc,2024-11-04\n"
    )
    settings = replace(settings, portfolios=str(csv))
    summary = pipeline.run_ingest(settings, start=BACKFILL[0], end=BACKFILL[1])
    assert summary.tickers == ["AAPL", "SPY"]
    assert [r.source_row_number for r in summary.holdings.rejected] == [2, 3, 4]
    pipeline.run_load(settings)
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        rows = con.execute(
            "select source_row_number, ticker, split_part(reject_reason, ':', 1) "
            "from raw.portfolio_holdings order by source_row_number"
        ).fetchall()
    assert rows == [
        (1, "AAPL", None),
        (2, "MSFT", "non_positive_shares"),
        (3, "A$PL", "malformed_ticker"),
        (4, "JNJ", "non_numeric_shares"),
    ]


def test_an_unchanged_holdings_file_is_stored_once(sample_api):
    _, settings = sample_api
    first = pipeline.run_ingest(settings, start=BACKFILL[0], end=BACKFILL[1])
    second = pipeline.run_ingest(
        replace(settings, run_id="again"), start=BACKFILL[0], end=BACKFILL[1]
    )
    assert first.holdings.newly_stored and not second.holdings.newly_stored
    assert second.holdings.key == first.holdings.key
    store = LocalObjectStore(Path(settings.bronze_location))
    assert len(bronze.committed_objects(store, bronze.HOLDINGS_PREFIX)) == 1


@pytest.mark.parametrize("workers", [1, 4])
def test_tickers_are_fetched_concurrently_and_written_in_universe_order(sample_api, workers):
    server, settings = sample_api
    settings = replace(settings, fetch_workers=workers)
    fast = RetryPolicy(max_attempts=2, backoff_initial=0.01, backoff_max=0.02, timeout=5.0)
    first, unavailable = "AAPL", "MSFT"
    server.inject_fault("slow", path_contains=f"/{first}/prices", delay=1.0)
    server.inject_fault("http_503", count=2, path_contains=f"/{unavailable}/prices")
    done: list[str] = []
    store = LocalObjectStore(Path(settings.bronze_location))
    with TiingoClient(settings.tiingo_api_key, settings.tiingo_base_url, policy=fast) as client:
        summary = ingest(
            settings, client, store, start=BACKFILL[0], end=BACKFILL[1],
            on_ticker_done=lambda ticker, rows: done.append(ticker),
        )  # fmt: skip

    # A worker asks for a ticker's metadata once its prices arrived: one worker waits for the
    # slow answer first, four ask for other tickers meanwhile.
    paths = [r.path.split("?")[0] for r in server.requests_log]
    first_metadata = paths.index(f"/tiingo/daily/{first}")
    asked_before = {p.split("/")[3] for p in paths[:first_metadata] if "/daily/" in p} - {first}
    assert len(asked_before) == 0 if workers == 1 else len(asked_before) >= workers - 1
    assert summary.tickers[0] == first and done == summary.tickers
    assert list(summary.unavailable) == [unavailable]
    fetched = [t for t in summary.tickers if t != unavailable]
    assert summary.price_rows == expected_price_rows(server, fetched, *BACKFILL)
    assert bronze.read_watermarks(store).keys() == set(fetched)
