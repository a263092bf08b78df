from __future__ import annotations

import pytest

from ingestion.holdings import HoldingRow, HoldingsFileError, normalize_ticker, parse_holdings

HEADER = "portfolio_id,portfolio_name,ticker,shares,inception_date\n"


def parse(body: str) -> list[HoldingRow]:
    return parse_holdings((HEADER + body).encode())


def reasons(rows: list[HoldingRow]) -> dict[int, str | None]:
    return {row.source_row_number: row.reject_reason for row in rows}


def codes(rows: list[HoldingRow]) -> dict[int, str | None]:
    return {
        row.source_row_number: row.reject_reason.split(":")[0] if row.reject_reason else None
        for row in rows
    }


def test_valid_file_keeps_every_value_exactly_as_written() -> None:
    rows = parse("P1,Growth,AAPL,10,2024-01-02\nP1,Growth, brk.b ,2.5,2024-01-02\n")

    assert rows == [
        HoldingRow(1, "P1", "Growth", "AAPL", "10", "2024-01-02", None),
        HoldingRow(2, "P1", "Growth", " brk.b ", "2.5", "2024-01-02", None),
    ]
    assert all(row.is_valid for row in rows)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("brk.b", "BRK-B"), ("  aapl ", "AAPL"), ("BF.B", "BF-B"), ("spy", "SPY")],
)
def test_normalize_ticker_follows_tiingo_symbology(raw: str, normalized: str) -> None:
    assert normalize_ticker(raw) == normalized


def test_missing_value_names_the_empty_fields() -> None:
    rows = parse("P1,Growth,,10,2024-01-02\nP1,Growth,MSFT,  ,\nP1,Growth,AAPL,10,2024-01-02\n")

    assert reasons(rows) == {
        1: "missing_value: empty ticker",
        2: "missing_value: empty shares, inception_date",
        3: None,
    }


def test_short_row_is_missing_its_trailing_values() -> None:
    rows = parse("P1,Growth,AAPL\n")

    assert reasons(rows) == {1: "missing_value: empty shares, inception_date"}


@pytest.mark.parametrize("ticker", ["AAPL!", "1ABC", "TOOLONGTICKER", "BRK-BBBBB", "A B", "-A"])
def test_malformed_ticker(ticker: str) -> None:
    rows = parse(f"P1,Growth,{ticker},10,2024-01-02\n")

    assert codes(rows) == {1: "malformed_ticker"}
    assert repr(ticker) in rows[0].reject_reason


@pytest.mark.parametrize("shares", ["ten", "1,000", "$10", "nan", "inf", "-inf", "1e999", "0x10"])
def test_non_numeric_shares(shares: str) -> None:
    rows = parse_holdings((HEADER + f'P1,Growth,AAPL,"{shares}",2024-01-02\n').encode())

    assert codes(rows) == {1: "non_numeric_shares"}


@pytest.mark.parametrize("shares", ["0", "-5", "0.0", "-0.25"])
def test_non_positive_shares(shares: str) -> None:
    rows = parse(f"P1,Growth,AAPL,{shares},2024-01-02\n")

    assert reasons(rows) == {1: f"non_positive_shares: {shares!r} is not greater than zero"}


@pytest.mark.parametrize("shares", ["0.5", "12.345678", "1e3", ".75", "+3"])
def test_fractional_and_scientific_shares_are_valid(shares: str) -> None:
    assert reasons(parse(f"P1,Growth,AAPL,{shares},2024-01-02\n")) == {1: None}


@pytest.mark.parametrize(
    "inception", ["2023-02-29", "2024-13-01", "02/01/2024", "20240102", "2024-1-2", "2024-01-02T00"]
)
def test_invalid_inception_date(inception: str) -> None:
    rows = parse(f"P1,Growth,AAPL,10,{inception}\n")

    assert codes(rows) == {1: "invalid_inception_date"}


def test_duplicate_row_keeps_the_first_and_rejects_later_ones() -> None:
    rows = parse(
        "P1,Growth,BRK.B,10,2024-01-02\n"
        "P1,Growth,MSFT,5,2024-01-02\n"
        "P1,Growth,brk-b,10.0,2024-01-02\n"
        "P1,Growth,BRK-B,10,2024-01-02\n"
    )

    assert reasons(rows) == {
        1: None,
        2: None,
        3: "duplicate_row: same BRK-B holding in portfolio 'P1' as row 1",
        4: "duplicate_row: same BRK-B holding in portfolio 'P1' as row 1",
    }


def test_conflicting_duplicate_rejects_every_row_of_the_pair() -> None:
    rows = parse(
        "P1,Growth,AAPL,10,2024-01-02\n"
        "P1,Growth,MSFT,5,2024-01-02\n"
        "P1,Growth,aapl,12,2024-01-02\n"
        "P1,Growth,AAPL,10,2024-01-02\n"
        "P2,Value,AAPL,12,2024-01-02\n"
    )

    detail = "AAPL in portfolio 'P1' is listed with different shares on rows 1, 3, 4"
    assert reasons(rows) == {
        1: f"conflicting_duplicate: {detail}",
        2: None,
        3: f"conflicting_duplicate: {detail}",
        4: f"conflicting_duplicate: {detail}",
        5: None,
    }


def test_inconsistent_inception_date_rejects_the_whole_portfolio() -> None:
    rows = parse(
        "P1,Growth,AAPL,10,2024-01-02\n"
        "P1,Growth,MSFT,5,2024-01-03\n"
        "P1,Growth,NVDA,5,2024-01-02\n"
        "P2,Value,AAPL,7,2024-01-03\n"
    )

    reason = (
        "inconsistent_inception_date: portfolio 'P1' has inception dates 2024-01-02 and 2024-01-03"
    )
    assert reasons(rows) == {1: reason, 2: reason, 3: reason, 4: None}


def test_inconsistent_portfolio_name_rejects_the_whole_portfolio() -> None:
    rows = parse(
        "P1,Growth,AAPL,10,2024-01-02\n"
        "P1,Growth Fund,MSFT,5,2024-01-02\n"
        "P2,Value,AAPL,7,2024-01-02\n"
    )

    reason = "inconsistent_portfolio_name: portfolio 'P1' is named 'Growth' and 'Growth Fund'"
    assert reasons(rows) == {1: reason, 2: reason, 3: None}


def test_cross_row_checks_ignore_rows_that_failed_row_checks() -> None:
    rows = parse(
        "P1,Growth,AAPL,10,2024-01-02\n"
        "P1,Growth,AAPL,-3,2024-01-02\n"  # not a conflicting duplicate: it is invalid itself
        "P1,Other,MSFT,5,not-a-date\n"  # its name and date do not count against P1
    )

    assert codes(rows) == {1: None, 2: "non_positive_shares", 3: "invalid_inception_date"}


def test_malformed_row_with_more_fields_than_the_header() -> None:
    rows = parse('P1,Growth, Inc,AAPL,10,2024-01-02\nP1,"Growth, Inc",MSFT,5,2024-01-02\n')

    assert reasons(rows)[1] == (
        "malformed_row: 6 fields but the header has 5; quote values that contain commas"
    )
    assert reasons(rows)[2] is None
    assert rows[1].portfolio_name == "Growth, Inc"


def test_empty_cells_beyond_the_header_are_ignored() -> None:
    rows = parse("P1,Growth,AAPL,10,2024-01-02,,\n")

    assert rows == [HoldingRow(1, "P1", "Growth", "AAPL", "10", "2024-01-02", None)]


def test_mixed_file_passes_good_rows_with_their_row_numbers() -> None:
    rows = parse(
        "P1,Growth,AAPL,10,2024-01-02\n"
        "P1,Growth,,10,2024-01-02\n"
        "\n"  # blank lines are not rows and are not numbered
        "P1,Growth,msft,7.5,2024-01-02\n"
        "P2,Income,T,0,2023-06-30\n"
        "P2,Income,VZ,100,2023-06-30\n"
        "P2,Income,VZ,100,2023-06-30\n"
        "P3,Tech,NVDA,3,2024-02-30\n"
        "P3,Tech,AMD,4,2024-02-29\n"
    )

    assert len(rows) == 8
    assert codes(rows) == {
        1: None,
        2: "missing_value",
        3: None,
        4: "non_positive_shares",
        5: None,
        6: "duplicate_row",
        7: "invalid_inception_date",
        8: None,
    }
    good = [(r.source_row_number, r.portfolio_id, r.ticker, r.shares) for r in rows if r.is_valid]
    assert good == [
        (1, "P1", "AAPL", "10"),
        (3, "P1", "msft", "7.5"),
        (5, "P2", "VZ", "100"),
        (8, "P3", "AMD", "4"),
    ]


def test_columns_match_case_insensitively_in_any_order_and_extras_are_ignored() -> None:
    data = (
        b" Ticker ,NOTES,Shares,Portfolio_ID,inception_date,PORTFOLIO_NAME\n"
        b"AAPL,core position,10,P1,2024-01-02,Growth\n"
    )

    assert parse_holdings(data) == [HoldingRow(1, "P1", "Growth", "AAPL", "10", "2024-01-02", None)]


def test_utf8_bom_and_crlf_line_endings_are_accepted() -> None:
    data = "\ufeff" + HEADER.replace("\n", "\r\n") + "P1,Croissance é,AAPL,10,2024-01-02\r\n"

    rows = parse_holdings(data.encode("utf-8"))

    assert rows == [HoldingRow(1, "P1", "Croissance é", "AAPL", "10", "2024-01-02", None)]


def test_missing_required_column_is_a_file_error() -> None:
    data = b"portfolio_id,portfolio_name,symbol,shares\nP1,Growth,AAPL,10\n"

    with pytest.raises(HoldingsFileError) as error:
        parse_holdings(data)

    assert str(error.value) == (
        "holdings file is missing required column(s) ticker, inception_date; "
        "found columns: 'portfolio_id', 'portfolio_name', 'symbol', 'shares'"
    )


def test_repeated_required_column_is_a_file_error() -> None:
    data = (HEADER.strip() + ",Ticker\nP1,Growth,AAPL,10,2024-01-02,MSFT\n").encode()

    with pytest.raises(HoldingsFileError, match="column\\(s\\) ticker more than once"):
        parse_holdings(data)


@pytest.mark.parametrize("data", [b"", b"\n\n", "\ufeff".encode()])
def test_empty_file_is_a_file_error(data: bytes) -> None:
    with pytest.raises(HoldingsFileError, match="holdings file is empty"):
        parse_holdings(data)


def test_header_without_data_rows_is_a_file_error() -> None:
    with pytest.raises(HoldingsFileError, match="has a header but no data rows"):
        parse_holdings(HEADER.encode() + b"\n")


def test_non_utf8_file_is_a_file_error() -> None:
    data = (HEADER + "P1,Croissance é,AAPL,10,2024-01-02\n").encode("latin-1")

    with pytest.raises(HoldingsFileError, match="not valid UTF-8 \\(line 2, byte offset 71\\)"):
        parse_holdings(data)


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (
            'P1,Growth,AAPL,10,2024-01-02\nP1,"Growth,MSFT,5,2024-01-02\nP1,Growth,T,1,2024-01-02\n',
            4,
        ),
        ('P1,Growth,AAPL,10,2024-01-02\nP1,"Growth"x,MSFT,5,2024-01-02\n', 3),
    ],
)
def test_broken_quoting_is_a_file_error_with_its_line(body: str, line: int) -> None:
    with pytest.raises(HoldingsFileError, match=f"not valid CSV at line {line}"):
        parse(body)


def test_non_utf8_offset_counts_from_the_start_of_the_file_with_a_bom() -> None:
    data = b"\xef\xbb\xbf" + HEADER.encode() + b"P1,\xe9,AAPL,10,2024-01-02\n"

    with pytest.raises(HoldingsFileError, match="\\(line 2, byte offset 63\\)"):
        parse_holdings(data)


def test_portfolio_level_reason_wins_over_duplicate_reasons() -> None:
    rows = parse(
        "P1,Growth,AAPL,10,2024-01-02\n"
        "P1,Growth,AAPL,10,2024-01-02\n"
        "P1,Growth Fund,MSFT,5,2024-01-03\n"
    )

    assert codes(rows) == {
        1: "inconsistent_portfolio_name",
        2: "inconsistent_portfolio_name",
        3: "inconsistent_portfolio_name",
    }
