"""Ingestion: holdings CSV and Tiingo responses into the bronze object store, untouched.

Incremental mode fetches each ticker from ``lookback`` sessions before its watermark (the last
session already fetched) so vendor corrections of recent bars are picked up; backfill mode fetches
an explicit date range. Dividends and splits need no special re-fetch: downstream models derive
returns and adjusted prices from the raw close, dividend and split fields, which a later event
never rewrites (see docs/design_notes.md).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo

from ingestion import bronze, calendar
from ingestion.holdings import HoldingRow, normalize_ticker, parse_holdings
from ingestion.object_store import ObjectStore, read_bytes_from
from ingestion.settings import BENCHMARK_TICKER, Settings
from ingestion.tiingo_client import (
    TiingoClient,
    TiingoResponse,
    TiingoUnavailableError,
    session_date,
)

log = logging.getLogger(__name__)
NEW_YORK = ZoneInfo("America/New_York")


@dataclass
class HoldingsIngest:
    key: str
    newly_stored: bool
    rows: list[HoldingRow]

    @property
    def rejected(self) -> list[HoldingRow]:
        return [row for row in self.rows if not row.is_valid]


@dataclass
class IngestSummary:
    holdings: HoldingsIngest
    tickers: list[str]
    price_rows: int = 0
    objects_written: int = 0
    first_session: date | None = None
    last_session: date | None = None
    not_found: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)


def ingest_holdings(settings: Settings, store: ObjectStore, run_id: str) -> HoldingsIngest:
    """Store the holdings file in bronze (once per distinct content) and validate its rows."""
    data = read_bytes_from(settings.portfolios, s3_endpoint_url=settings.s3_endpoint_url)
    rows = parse_holdings(data)
    digest = bronze.sha256_hex(data)
    existing = bronze.holdings_already_stored(store, digest)
    if existing:
        return HoldingsIngest(key=existing, newly_stored=False, rows=rows)
    fetched_at = datetime.now(UTC)
    key = bronze.holdings_key(fetched_at, digest, PurePosixPath(settings.portfolios).name)
    meta = bronze.BronzeMeta(
        object_type="holdings",
        source=settings.portfolios,
        params={},
        http_status=200,
        content_type="text/csv",
        fetched_at=fetched_at.isoformat(),
        run_id=run_id,
        sha256=digest,
    )
    bronze.write_object(store, key, data, meta)
    return HoldingsIngest(key=key, newly_stored=True, rows=rows)


def ticker_universe(rows: list[HoldingRow], extra: tuple[str, ...]) -> list[str]:
    """Every ticker of a valid holding, plus the benchmark and any configured extras."""
    tickers = {normalize_ticker(row.ticker) for row in rows if row.is_valid}
    tickers.update(normalize_ticker(t) for t in extra)
    tickers.add(BENCHMARK_TICKER)
    return sorted(tickers)


def latest_session_today() -> date:
    return calendar.last_session_on_or_before(datetime.now(NEW_YORK).date())


def default_history_start(settings: Settings, rows: list[HoldingRow]) -> date:
    if settings.history_start:
        return settings.history_start
    inceptions = [date.fromisoformat(r.inception_date.strip()) for r in rows if r.is_valid]
    return min(inceptions) if inceptions else latest_session_today()


def store_response(store: ObjectStore, key: str, response: TiingoResponse, run_id: str) -> None:
    meta = bronze.BronzeMeta(
        object_type=response.endpoint,
        source=response.path,
        params=dict(response.params),
        http_status=response.http_status,
        content_type=response.content_type,
        fetched_at=response.fetched_at.isoformat(),
        run_id=run_id,
        sha256=bronze.sha256_hex(response.body),
        ticker=response.ticker,
    )
    bronze.write_object(store, key, response.body, meta)


def ingest(
    settings: Settings,
    client: TiingoClient,
    store: ObjectStore,
    *,
    start: date | None = None,
    end: date | None = None,
    on_ticker_done: Callable[[str, int], None] | None = None,
    on_universe: Callable[[list[str]], None] | None = None,
) -> IngestSummary:
    """Fetch holdings, prices and metadata into bronze.

    With ``start``/``end`` this is a backfill of that range; without, it is incremental from each
    ticker's watermark (minus the lookback) to the latest session. Authentication, quota and
    rate-limit errors stop the run (they would fail for every ticker); a ticker the vendor does
    not know, or one that stays unavailable after retries, is recorded and the run goes on.
    """
    run_id = settings.run_id
    holdings = ingest_holdings(settings, store, run_id)
    tickers = ticker_universe(holdings.rows, settings.extra_tickers)
    summary = IngestSummary(holdings=holdings, tickers=tickers)
    if on_universe:
        on_universe(tickers)
    watermarks = bronze.read_watermarks(store)
    incremental_end = end or latest_session_today()
    first_fetch_start = start or default_history_start(settings, holdings.rows)

    def fetch_start(ticker: str) -> date:
        if start is not None:
            return start
        if ticker in watermarks:
            # A run for a past session (an Airflow backfill) re-reads only up to that session,
            # and the lookback never reaches before the history the holdings need.
            since = min(watermarks[ticker], incremental_end)
            lookback_start = calendar.sessions_back(since, settings.lookback_sessions)
            return max(lookback_start, first_fetch_start)
        return first_fetch_start

    # Requests run on worker threads; bronze, the summary and the watermarks are written here,
    # one ticker after the other in universe order, with a bounded number of answers waiting.
    pool = ThreadPoolExecutor(max_workers=settings.fetch_workers, thread_name_prefix="tiingo")
    waiting: deque[tuple[str, date, Future[_Fetched]]] = deque()
    queued = iter(tickers)
    try:
        while True:
            while len(waiting) < 2 * settings.fetch_workers and (ticker := next(queued, None)):
                ticker_start = fetch_start(ticker)
                future = pool.submit(_fetch, client, ticker, ticker_start, incremental_end)
                waiting.append((ticker, ticker_start, future))
            if not waiting:
                break
            ticker, ticker_start, future = waiting.popleft()
            fetched = future.result()
            rows = _store_ticker(
                store, run_id, ticker, ticker_start, incremental_end, fetched, summary, watermarks
            )
            if on_ticker_done:
                on_ticker_done(ticker, rows)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        # Keep what was fetched even when a fatal error stops the run part-way.
        bronze.write_watermarks(store, watermarks)
    return summary


@dataclass(frozen=True)
class _Fetched:
    prices: TiingoResponse | None = None
    metadata: TiingoResponse | None = None
    unavailable: str | None = None  # why, when the vendor stayed unavailable after retries


def _fetch(client: TiingoClient, ticker: str, start: date, end: date) -> _Fetched:
    try:
        return _Fetched(client.daily_prices(ticker, start, end), client.ticker_metadata(ticker))
    except TiingoUnavailableError as error:
        return _Fetched(unavailable=str(error))


def _store_ticker(
    store: ObjectStore,
    run_id: str,
    ticker: str,
    start: date,
    end: date,
    fetched: _Fetched,
    summary: IngestSummary,
    watermarks: dict[str, date],
) -> int:
    if fetched.prices is None or fetched.metadata is None:
        log.warning("%s: vendor unavailable after retries: %s", ticker, fetched.unavailable)
        summary.unavailable[ticker] = fetched.unavailable or "unavailable"
        return 0
    prices, metadata = fetched.prices, fetched.metadata

    store_response(
        store, bronze.price_key(ticker, prices.fetched_at, run_id, start, end), prices, run_id
    )
    store_response(
        store, bronze.metadata_key(ticker, metadata.fetched_at, run_id), metadata, run_id
    )
    summary.objects_written += 2
    if prices.not_found:
        summary.not_found.append(ticker)
        return 0

    sessions = [session_date(bar["date"]) for bar in prices.json()]
    if sessions:
        summary.price_rows += len(sessions)
        first, last = min(sessions), max(sessions)
        summary.first_session = min(filter(None, [summary.first_session, first]))
        summary.last_session = max(filter(None, [summary.last_session, last]))
        watermarks[ticker] = max(last, watermarks.get(ticker, last))
    return len(sessions)
