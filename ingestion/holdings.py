"""Read and validate the portfolio holdings CSV.

Columns (matched case-insensitively after stripping; extra columns are ignored; a UTF-8 BOM is
accepted): ``portfolio_id, portfolio_name, ticker, shares, inception_date``.

Every data row is kept, exactly as written in the file, so it can be loaded to
``raw.portfolio_holdings`` and an analyst can see what was rejected and why. A bad row gets a
``reject_reason`` of the form ``"<code>: <detail>"``; good rows go on to the warehouse.
Problems with the file as a whole (not UTF-8, no header, a required column missing, no data
rows) raise ``HoldingsFileError`` instead, since no row of such a file can be trusted.

Reason codes. Row-level checks run first, in this order, and a row gets the first that fails:

- ``malformed_row``: the row has non-empty fields beyond the header (usually an unquoted
  comma), so its values cannot be assigned to columns.
- ``missing_value``: a required field is empty or only spaces.
- ``malformed_ticker``: after ``normalize_ticker`` it does not match
  ``^[A-Z][A-Z0-9]{0,9}(-[A-Z0-9]{1,4})?$``.
- ``non_numeric_shares``: not a plain decimal number (``12``, ``0.5``, ``1e3``); ``nan``,
  ``inf``, thousands separators and currency signs are rejected here.
- ``non_positive_shares``: zero or negative. Fractional shares are allowed.
- ``invalid_inception_date``: not an ISO ``YYYY-MM-DD`` calendar date.

Cross-row checks then consider only the rows that passed the row-level checks:

- ``inconsistent_portfolio_name``: one portfolio_id with different names; all its rows.
- ``inconsistent_inception_date``: one portfolio_id with different inception dates; all its
  rows.
- ``conflicting_duplicate``: one (portfolio_id, ticker) listed with different share counts;
  all rows of the pair, since which one is right is unknown.
- ``duplicate_row``: the same (portfolio_id, ticker, shares) as an earlier valid row; the
  first is kept and the later ones are rejected.

Validation compares stripped values, the normalized ticker and the numeric share count
(``10`` equals ``10.0``); downstream models must apply the same normalization. Whether the
vendor knows a ticker is not checked here: that needs the API and happens downstream.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

REQUIRED_COLUMNS = ("portfolio_id", "portfolio_name", "ticker", "shares", "inception_date")

TICKER_PATTERN = re.compile(r"[A-Z][A-Z0-9]{0,9}(-[A-Z0-9]{1,4})?")
# Plain decimal notation only, so every accepted value also casts to double in the warehouse.
_SHARES_PATTERN = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")


class HoldingsFileError(Exception):
    """The holdings file as a whole cannot be read."""


@dataclass(frozen=True)
class HoldingRow:
    source_row_number: int  # 1-based data row number (header and blank lines excluded)
    portfolio_id: str
    portfolio_name: str
    ticker: str
    shares: str
    inception_date: str
    reject_reason: str | None  # None when the row is valid

    @property
    def is_valid(self) -> bool:
        return self.reject_reason is None


class _CheckedRow(NamedTuple):
    """A row that passed the row-level checks, with its values normalized for comparison."""

    row_number: int
    portfolio_id: str
    portfolio_name: str
    ticker: str
    shares: float
    inception_date: date


def normalize_ticker(raw: str) -> str:
    """Tiingo's symbology: upper case, and a class suffix after "-" (BRK.B is BRK-B)."""
    return raw.strip().upper().replace(".", "-")


def parse_holdings(data: bytes) -> list[HoldingRow]:
    """Every data row of the file, in file order, each with its reject reason or None."""
    header, records = _read_csv(data)
    positions = _required_column_positions(header)

    rows: list[tuple[int, dict[str, str], str | None]] = []
    checked: list[_CheckedRow] = []
    for row_number, record in enumerate(records, start=1):
        values = {
            name: record[position] if position < len(record) else ""
            for name, position in positions.items()
        }
        # Cells beyond the header are harmless when empty (a trailing comma), not otherwise.
        if any(cell.strip() for cell in record[len(header) :]):
            reason: str | None = (
                f"malformed_row: {len(record)} fields but the header has {len(header)}; "
                "quote values that contain commas"
            )
        else:
            reason, checked_row = _check_row(row_number, values)
            if checked_row is not None:
                checked.append(checked_row)
        rows.append((row_number, values, reason))

    cross_row_reasons = _cross_row_reasons(checked)
    return [
        HoldingRow(
            source_row_number=row_number,
            reject_reason=reason or cross_row_reasons.get(row_number),
            **values,
        )
        for row_number, values, reason in rows
    ]


def _read_csv(data: bytes) -> tuple[list[str], list[list[str]]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise HoldingsFileError(
            f"holdings file is not valid UTF-8 (line {line}, "
            f"byte offset {exc.start}); save it as UTF-8 CSV"
        ) from None
    # Excel's "CSV UTF-8" starts with a byte-order mark.
    text = text.removeprefix("\ufeff")
    # strict: a stray or unclosed quote is an error, not a field that swallows the next rows.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        # csv yields an empty list for a blank line; those are not rows.
        records = [record for record in reader if record]
    except csv.Error as exc:
        raise HoldingsFileError(
            f"holdings file is not valid CSV at line {reader.line_num}: {exc}"
        ) from None
    if not records:
        raise HoldingsFileError(
            f"holdings file is empty: expected a header row with {', '.join(REQUIRED_COLUMNS)}"
        )
    header, *data_rows = records
    if not data_rows:
        raise HoldingsFileError("holdings file has a header but no data rows")
    return header, data_rows


def _required_column_positions(header: list[str]) -> dict[str, int]:
    names = [cell.strip().lower() for cell in header]
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        raise HoldingsFileError(
            f"holdings file is missing required column(s) {', '.join(missing)}; "
            f"found columns: {', '.join(repr(cell) for cell in header)}"
        )
    repeated = [column for column in REQUIRED_COLUMNS if names.count(column) > 1]
    if repeated:
        raise HoldingsFileError(
            f"holdings file has column(s) {', '.join(repeated)} more than once; keep one of each"
        )
    return {column: names.index(column) for column in REQUIRED_COLUMNS}


def _check_row(row_number: int, values: dict[str, str]) -> tuple[str | None, _CheckedRow | None]:
    stripped = {name: value.strip() for name, value in values.items()}
    empty = [name for name in REQUIRED_COLUMNS if not stripped[name]]
    if empty:
        return f"missing_value: empty {', '.join(empty)}", None

    ticker = normalize_ticker(stripped["ticker"])
    if not TICKER_PATTERN.fullmatch(ticker):
        return (
            f"malformed_ticker: {stripped['ticker']!r} is not a ticker symbol like AAPL or BRK-B",
            None,
        )

    shares_text = stripped["shares"]
    shares = float(shares_text) if _SHARES_PATTERN.fullmatch(shares_text) else math.nan
    if not math.isfinite(shares):
        return f"non_numeric_shares: {shares_text!r} is not a finite decimal number", None
    if shares <= 0:
        return f"non_positive_shares: {shares_text!r} is not greater than zero", None

    inception_text = stripped["inception_date"]
    inception = _parse_iso_date(inception_text)
    if inception is None:
        return (
            f"invalid_inception_date: {inception_text!r} is not a calendar date as YYYY-MM-DD",
            None,
        )

    return None, _CheckedRow(
        row_number=row_number,
        portfolio_id=stripped["portfolio_id"],
        portfolio_name=stripped["portfolio_name"],
        ticker=ticker,
        shares=shares,
        inception_date=inception,
    )


def _parse_iso_date(text: str) -> date | None:
    # fromisoformat alone also accepts forms like 20240102 and 2024-W01-2.
    if not _DATE_PATTERN.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:  # well-formed but not a real day, like 2023-02-29
        return None


def _cross_row_reasons(rows: list[_CheckedRow]) -> dict[int, str]:
    """Reject reasons by row number for rows that conflict with other valid rows."""
    reasons: dict[int, str] = {}

    by_portfolio: dict[str, list[_CheckedRow]] = defaultdict(list)
    for row in rows:
        by_portfolio[row.portfolio_id].append(row)
    for portfolio_id, portfolio_rows in by_portfolio.items():
        names = _distinct(row.portfolio_name for row in portfolio_rows)
        dates = _distinct(row.inception_date.isoformat() for row in portfolio_rows)
        if len(names) > 1:
            reason = (
                f"inconsistent_portfolio_name: portfolio {portfolio_id!r} is named "
                f"{' and '.join(repr(name) for name in names)}"
            )
        elif len(dates) > 1:
            reason = (
                f"inconsistent_inception_date: portfolio {portfolio_id!r} has inception dates "
                f"{' and '.join(dates)}"
            )
        else:
            continue
        for row in portfolio_rows:
            reasons[row.row_number] = reason

    by_position: dict[tuple[str, str], list[_CheckedRow]] = defaultdict(list)
    for row in rows:
        if row.row_number not in reasons:
            by_position[(row.portfolio_id, row.ticker)].append(row)
    for (portfolio_id, ticker), position_rows in by_position.items():
        row_numbers = ", ".join(str(row.row_number) for row in position_rows)
        if len({row.shares for row in position_rows}) > 1:
            for row in position_rows:
                reasons[row.row_number] = (
                    f"conflicting_duplicate: {ticker} in portfolio {portfolio_id!r} is listed "
                    f"with different shares on rows {row_numbers}"
                )
            continue
        first, *repeats = position_rows
        for row in repeats:
            reasons[row.row_number] = (
                f"duplicate_row: same {ticker} holding in portfolio {portfolio_id!r} "
                f"as row {first.row_number}"
            )
    return reasons


def _distinct(values: Iterable[str]) -> list[str]:
    """Distinct values in order of first appearance."""
    return list(dict.fromkeys(values))
