"""The warehouse's raw schema and how a bronze object becomes raw rows.

Shared by every loader (DuckDB locally, Redshift in production) so both build identical tables.
Raw keeps vendor values as received: prices and metadata become a version history (a row is
added only when a key is new or one of its vendor fields changed), holdings keep every row of
every distinct file with the reason a row failed validation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingestion.bronze import BronzeMeta
from ingestion.holdings import HoldingsFileError, parse_holdings

RAW_SCHEMA = "raw"


@dataclass(frozen=True)
class RawTable:
    name: str
    columns: tuple[tuple[str, str], ...]  # (column, portable SQL type)
    # key expressions with "{a}" where a table alias goes; empty: every incoming row is inserted
    version_key: tuple[str, ...] = ()
    # vendor fields compared to decide whether an incoming row is a new version
    compared: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def quoted_names(self) -> list[str]:
        # Quoted because raw keeps the vendor's names and some are reserved words in Redshift
        # ("open") or type names ("date").
        return [f'"{name}"' for name in self.column_names]

    @property
    def qualified(self) -> str:
        return f"{RAW_SCHEMA}.{self.name}"


_LINEAGE = (
    ("bronze_key", "varchar(1024)"),
    ("fetched_at", "timestamp"),
    ("run_id", "varchar(64)"),
    ("loaded_at", "timestamp"),
)
_PRICE_FIELDS = (
    "open", "high", "low", "close", "volume",
    "adj_open", "adj_high", "adj_low", "adj_close", "adj_volume",
    "div_cash", "split_factor",
)  # fmt: skip
_TIINGO_PRICE_NAMES = {
    "adj_open": "adjOpen",
    "adj_high": "adjHigh",
    "adj_low": "adjLow",
    "adj_close": "adjClose",
    "adj_volume": "adjVolume",
    "div_cash": "divCash",
    "split_factor": "splitFactor",
}

DAILY_PRICES = RawTable(
    name="tiingo_daily_prices",
    columns=(("ticker", "varchar(32)"), ("date", "varchar(64)"))
    + tuple((f, "double precision") for f in _PRICE_FIELDS)
    + _LINEAGE,
    version_key=("{a}ticker", 'substr({a}"date", 1, 10)'),
    compared=_PRICE_FIELDS,
)
TICKER_METADATA = RawTable(
    name="tiingo_ticker_metadata",
    columns=(
        ("ticker", "varchar(32)"),
        ("name", "varchar(512)"),
        ("exchange_code", "varchar(64)"),
        ("description", "varchar(65535)"),
        ("start_date", "varchar(32)"),
        ("end_date", "varchar(32)"),
    )
    + _LINEAGE,
    version_key=("{a}ticker",),
    compared=("name", "exchange_code", "description", "start_date", "end_date"),
)
FETCH_ERRORS = RawTable(
    name="tiingo_fetch_errors",
    columns=(
        ("ticker", "varchar(32)"),
        ("endpoint", "varchar(32)"),
        ("http_status", "integer"),
        ("detail", "varchar(4096)"),
    )
    + _LINEAGE,
    version_key=("{a}ticker", "{a}endpoint"),
    compared=("http_status", "detail"),
)
PORTFOLIO_HOLDINGS = RawTable(
    name="portfolio_holdings",
    columns=(
        ("portfolio_id", "varchar(256)"),
        ("portfolio_name", "varchar(512)"),
        ("ticker", "varchar(256)"),
        ("shares", "varchar(256)"),
        ("inception_date", "varchar(256)"),
        ("source_row_number", "integer"),
        ("reject_reason", "varchar(1024)"),
        ("file_sha256", "varchar(64)"),
    )
    + _LINEAGE,
)
LOAD_LEDGER = RawTable(
    name="load_ledger",
    columns=(
        ("bronze_key", "varchar(1024)"),
        ("object_type", "varchar(32)"),
        ("checksum", "varchar(64)"),
        ("rows_in_object", "integer"),
        ("rows_inserted", "integer"),
        ("rows_unchanged", "integer"),
        ("loaded_at", "timestamp"),
        ("run_id", "varchar(64)"),
    ),
)
LOAD_RUNS = RawTable(
    name="load_runs",
    columns=(
        ("run_id", "varchar(64)"),
        ("started_at", "timestamp"),
        ("finished_at", "timestamp"),
        ("objects_loaded", "integer"),
        ("objects_failed", "integer"),
        ("bronze_rows", "integer"),
        ("rows_inserted", "integer"),
        ("rows_unchanged", "integer"),
        ("raw_rows_tagged_with_run", "integer"),
        ("reconciled", "boolean"),
    ),
)
DATA_TABLES = (DAILY_PRICES, TICKER_METADATA, FETCH_ERRORS, PORTFOLIO_HOLDINGS)
ALL_TABLES = DATA_TABLES + (LOAD_LEDGER, LOAD_RUNS)


class BadBronzeObject(ValueError):
    """A bronze object that cannot be turned into raw rows (kept in bronze, reported)."""


@dataclass(frozen=True)
class ObjectRows:
    """The raw rows one bronze object produces, grouped by target table."""

    key: str
    meta: BronzeMeta
    rows: dict[str, list[dict[str, Any]]]

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


@dataclass
class BatchOutcome:
    """What a loader did with a batch of objects."""

    loaded: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> inserted, unchanged
    failed: dict[str, str] = field(default_factory=dict)  # key -> why it was not loaded


def create_table_sql(table: RawTable) -> str:
    columns = ",\n  ".join(f'"{name}" {sql_type}' for name, sql_type in table.columns)
    return f"create table if not exists {table.qualified} (\n  {columns}\n)"


def new_versions_sql(table: RawTable, incoming: str) -> str:
    """Insert the rows of ``incoming`` that are not identical to the current version of their key.

    Written without ``IS DISTINCT FROM`` so it runs on DuckDB and Redshift alike.
    """
    columns = ", ".join(table.quoted_names)
    if not table.version_key:
        return f"insert into {table.qualified} ({columns}) select {columns} from {incoming}"
    key_match = " and ".join(f"{k.format(a='l.')} = {k.format(a='i.')}" for k in table.version_key)
    same_values = " and ".join(
        f'(l."{c}" = i."{c}" or (l."{c}" is null and i."{c}" is null))' for c in table.compared
    )
    partition = ", ".join(k.format(a="") for k in table.version_key)
    select_i = ", ".join(f"i.{c}" for c in table.quoted_names)
    return f"""
insert into {table.qualified} ({columns})
select {select_i}
from {incoming} as i
where not exists (
    select 1
    from (
        select *, row_number() over (
            partition by {partition} order by fetched_at desc, bronze_key desc
        ) as version_rank
        from {table.qualified}
        where ticker in (select ticker from {incoming})
    ) as l
    where l.version_rank = 1 and {key_match} and {same_values}
)"""


def rows_from_object(key: str, body: bytes, meta: BronzeMeta, loaded_at: datetime) -> ObjectRows:
    lineage = {
        "bronze_key": key,
        "fetched_at": datetime.fromisoformat(meta.fetched_at).replace(tzinfo=None),
        "run_id": meta.run_id,
        "loaded_at": loaded_at,
    }
    if meta.object_type == "holdings":
        try:
            rows = _holdings_rows(body, meta, lineage)
        except HoldingsFileError as error:
            raise BadBronzeObject(f"{key}: {error}") from error
        return ObjectRows(key, meta, {PORTFOLIO_HOLDINGS.name: rows})
    if meta.http_status == 404:
        return ObjectRows(key, meta, {FETCH_ERRORS.name: [_fetch_error_row(body, meta, lineage)]})
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise BadBronzeObject(f"{key}: body is not JSON ({error})") from error
    if meta.object_type == "daily_prices":
        if not isinstance(payload, list):
            raise BadBronzeObject(f"{key}: expected a JSON array of daily bars")
        rows = [_price_row(bar, meta, lineage) for bar in payload]
        return ObjectRows(key, meta, {DAILY_PRICES.name: rows})
    if meta.object_type == "ticker_metadata":
        if not isinstance(payload, dict):
            raise BadBronzeObject(f"{key}: expected a JSON object of ticker metadata")
        return ObjectRows(key, meta, {TICKER_METADATA.name: [_metadata_row(payload, lineage)]})
    raise BadBronzeObject(f"{key}: unknown object type {meta.object_type!r}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _price_row(bar: dict[str, Any], meta: BronzeMeta, lineage: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(bar, dict):
        raise BadBronzeObject(f"{lineage['bronze_key']}: a daily bar is not a JSON object")
    row: dict[str, Any] = {"ticker": meta.ticker, "date": bar.get("date")}
    for name in _PRICE_FIELDS:
        row[name] = _number(bar.get(_TIINGO_PRICE_NAMES.get(name, name)))
    return row | lineage


def _metadata_row(payload: dict[str, Any], lineage: dict[str, Any]) -> dict[str, Any]:
    return {
        "ticker": str(payload.get("ticker", "")).upper(),
        "name": payload.get("name"),
        "exchange_code": payload.get("exchangeCode"),
        "description": payload.get("description"),
        "start_date": payload.get("startDate"),
        "end_date": payload.get("endDate"),
    } | lineage


def _fetch_error_row(body: bytes, meta: BronzeMeta, lineage: dict[str, Any]) -> dict[str, Any]:
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        detail = body.decode("utf-8", errors="replace")
    return {
        "ticker": meta.ticker,
        "endpoint": meta.object_type,
        "http_status": meta.http_status,
        "detail": str(detail)[:4096],
    } | lineage


def _holdings_rows(body: bytes, meta: BronzeMeta, lineage: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "portfolio_id": row.portfolio_id,
            "portfolio_name": row.portfolio_name,
            "ticker": row.ticker,
            "shares": row.shares,
            "inception_date": row.inception_date,
            "source_row_number": row.source_row_number,
            "reject_reason": row.reject_reason,
            "file_sha256": meta.sha256,
        }
        | lineage
        for row in parse_holdings(body)
    ]
