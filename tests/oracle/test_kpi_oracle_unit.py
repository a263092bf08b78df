"""The oracle itself, on tiny cases whose KPIs are computed by hand from kpi_contract.md."""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import empyrical
import numpy as np
import pandas as pd
import pytest

from .kpi_oracle import (
    OracleInputError,
    OracleInputs,
    load_inputs,
    load_sectors,
    performance,
    portfolio_inceptions,
    positions,
    sector_performance,
    security_prices,
)

FETCHED_AT = datetime(2024, 7, 10, 22, 0)
# Real NYSE sessions; 2024-07-04 (Independence Day) is missing on purpose.
JULY_2024 = [date(2024, 7, day) for day in (1, 2, 3, 5, 8, 9, 10)]


def price(
    ticker: str,
    day: str,
    close: float | None,
    div_cash: float = 0.0,
    split_factor: float = 1.0,
    fetched_at: datetime = FETCHED_AT,
    bronze_key: str = "tiingo/daily_prices/a.json",
    date_suffix: str = "T00:00:00.000Z",
) -> dict:
    return {
        "ticker": ticker,
        "date": day + date_suffix,
        "open": close,
        "high": close,
        "low": close,
        "close": close,
        "volume": 1000.0,
        "div_cash": div_cash,
        "split_factor": split_factor,
        "bronze_key": bronze_key,
        "fetched_at": fetched_at,
    }


def holding(
    portfolio_id: str,
    ticker: str,
    shares: str,
    inception_date: str = "2024-07-01",
    reject_reason: str | None = None,
    bronze_key: str = "portfolios/holdings/a.csv",
    fetched_at: datetime = FETCHED_AT,
) -> dict:
    return {
        "portfolio_id": portfolio_id,
        "portfolio_name": f"Portfolio {portfolio_id}",
        "ticker": ticker,
        "shares": shares,
        "inception_date": inception_date,
        "reject_reason": reject_reason,
        "bronze_key": bronze_key,
        "fetched_at": fetched_at,
    }


def inputs(
    prices: list[dict], holdings: list[dict], sessions: list[date] = JULY_2024
) -> OracleInputs:
    return OracleInputs(
        prices=pd.DataFrame(prices), holdings=pd.DataFrame(holdings), sessions=sessions
    )


def closes(ticker: str, *values: float | None, sessions: list[date] = JULY_2024) -> list[dict]:
    """One plain price row per session, skipping ``None`` (a missing bar)."""
    return [
        price(ticker, day.isoformat(), value)
        for day, value in zip(sessions, values, strict=False)
        if value is not None
    ]


def rows_by_day(frame: pd.DataFrame) -> dict[date, pd.Series]:
    return {row.date_day.date(): row for _, row in frame.iterrows()}


def test_dividend_return_is_total_return_and_adjusts_earlier_closes_only() -> None:
    market = inputs(
        [
            price("AAA", "2024-07-01", 100.0),
            price("AAA", "2024-07-02", 102.0, div_cash=2.0),
            price("AAA", "2024-07-03", 103.0),
        ],
        [],
    )
    rows = rows_by_day(security_prices(market))
    assert math.isnan(rows[date(2024, 7, 1)].daily_return)
    assert rows[date(2024, 7, 2)].daily_return == pytest.approx(104.0 / 100.0 - 1, rel=1e-15)
    assert rows[date(2024, 7, 3)].daily_return == pytest.approx(103.0 / 102.0 - 1, rel=1e-15)
    assert rows[date(2024, 7, 1)].adj_close == pytest.approx(100.0 * 102.0 / 104.0, rel=1e-15)
    assert rows[date(2024, 7, 2)].adj_close == 102.0
    assert rows[date(2024, 7, 3)].adj_close == 103.0


def test_dividend_is_reinvested_in_the_position() -> None:
    market = inputs(
        [
            price("AAA", "2024-07-01", 100.0),
            price("AAA", "2024-07-02", 102.0, div_cash=2.0),
            price("AAA", "2024-07-03", 103.0),
        ],
        [holding("P", "AAA", "10")],
    )
    rows = rows_by_day(positions(market))
    assert rows[date(2024, 7, 1)].market_value == 1000.0
    assert math.isnan(rows[date(2024, 7, 1)].security_daily_return)
    assert math.isnan(rows[date(2024, 7, 1)].contribution_to_return)
    assert rows[date(2024, 7, 2)].security_daily_return == pytest.approx(0.04, rel=1e-14)
    assert rows[date(2024, 7, 2)].market_value == pytest.approx(1040.0, rel=1e-15)
    assert rows[date(2024, 7, 2)].shares == pytest.approx(1040.0 / 102.0, rel=1e-15)
    assert rows[date(2024, 7, 3)].market_value == pytest.approx(1040.0 * 103.0 / 102.0, rel=1e-15)
    assert rows[date(2024, 7, 3)].close_price == 103.0


def test_split_keeps_value_and_multiplies_effective_shares() -> None:
    market = inputs(
        [
            price("BBB", "2024-07-01", 100.0),
            price("BBB", "2024-07-02", 51.0, split_factor=2.0),
        ],
        [holding("P", "BBB", "10")],
    )
    market_rows = rows_by_day(security_prices(market))
    assert market_rows[date(2024, 7, 2)].daily_return == pytest.approx(0.02, rel=1e-14)
    assert market_rows[date(2024, 7, 1)].adj_close == 50.0
    position = rows_by_day(positions(market))[date(2024, 7, 2)]
    assert position.market_value == pytest.approx(1020.0, rel=1e-15)
    assert position.shares == pytest.approx(20.0, rel=1e-15)


def test_dividend_and_split_on_the_same_row() -> None:
    market = inputs(
        [
            price("CCC", "2024-07-01", 100.0),
            price("CCC", "2024-07-02", 49.0, div_cash=1.0, split_factor=2.0),
        ],
        [],
    )
    rows = rows_by_day(security_prices(market))
    assert rows[date(2024, 7, 2)].daily_return == pytest.approx(0.0, abs=1e-15)
    assert rows[date(2024, 7, 1)].adj_close == pytest.approx(100.0 * 49.0 / 50.0 / 2.0, rel=1e-15)


def test_missing_price_carries_the_position_and_flags_it_stale() -> None:
    market = inputs(
        closes("AAA", 50.0, None, 55.0) + closes("BBB", 10.0, 10.0, 10.0),
        [holding("P", "AAA", "2"), holding("P", "BBB", "10")],
    )
    market_rows = security_prices(market)
    aaa = rows_by_day(market_rows[market_rows["ticker"] == "AAA"])
    assert date(2024, 7, 2) not in aaa
    assert aaa[date(2024, 7, 3)].daily_return == pytest.approx(0.1, rel=1e-14)

    valued = positions(market)
    rows = rows_by_day(valued[valued["ticker"] == "AAA"])
    stale = rows[date(2024, 7, 2)]
    assert stale.is_price_stale
    assert (stale.close_price, stale.market_value, stale.shares) == (50.0, 100.0, 2.0)
    assert stale.security_daily_return == 0.0
    assert stale.contribution_to_return == 0.0
    fresh = rows[date(2024, 7, 3)]
    assert not fresh.is_price_stale
    assert fresh.market_value == pytest.approx(110.0, rel=1e-15)
    # c = MV_{t-1} * r / V_{t-1} = 100 * 0.1 / 200
    assert fresh.contribution_to_return == pytest.approx(0.05, rel=1e-14)
    assert fresh.weight == pytest.approx(110.0 / 210.0, rel=1e-15)


def test_positions_run_to_the_latest_session_with_any_price_even_when_stale() -> None:
    market = inputs(
        closes("AAA", 50.0, 51.0) + closes("BBB", 10.0, 11.0, 12.0, 13.0),
        [holding("P", "AAA", "1")],
    )
    rows = rows_by_day(positions(market))
    assert sorted(rows) == JULY_2024[:4]
    assert [rows[day].is_price_stale for day in JULY_2024[:4]] == [False, False, True, True]
    assert rows[date(2024, 7, 5)].market_value == 51.0


def test_contributions_sum_to_the_portfolio_return_and_weights_to_one() -> None:
    market = inputs(
        closes("AAA", 50.0, 52.0, 49.0) + closes("BBB", 10.0, 9.5, 9.9),
        [holding("P", "AAA", "3"), holding("P", "BBB", "7.5")],
    )
    valued = positions(market)
    daily = valued.groupby("date_day")[["weight", "contribution_to_return"]].sum(min_count=1)
    returns = performance(market).set_index("date_day")["daily_return"]
    assert np.allclose(daily["weight"], 1.0, rtol=0, atol=1e-15)
    assert math.isnan(daily["contribution_to_return"].iloc[0])
    assert np.allclose(daily["contribution_to_return"].iloc[1:], returns.iloc[1:], rtol=1e-13)
    # V: 3*50 + 7.5*10 = 225, then 3*52 + 7.5*9.5 = 227.25
    assert returns.iloc[1] == pytest.approx(227.25 / 225.0 - 1, rel=1e-13)


def test_sector_return_is_its_contributions_over_its_prior_weight(tmp_path: Path) -> None:
    master = tmp_path / "security_master.csv"
    master.write_text("ticker,sector\nAAA,Tech\nbbb,Tech\nCCC,Energy\n")
    market = inputs(
        closes("AAA", 50.0, 52.0) + closes("BBB", 10.0, 9.5) + closes("CCC", 20.0, 21.0),
        [holding("P", "AAA", "3"), holding("P", "BBB", "7.5"), holding("P", "CCC", "5")],
    )
    sectors = sector_performance(market, load_sectors(master)).set_index(["sector", "date_day"])
    tech_start, tech_next = sectors.loc["Tech", "2024-07-01"], sectors.loc["Tech", "2024-07-02"]
    assert tech_start.sector_weight == pytest.approx(225.0 / 325.0, rel=1e-15)
    assert math.isnan(tech_start.sector_daily_return)
    # (3 * 52 + 7.5 * 9.5) / (3 * 50 + 7.5 * 10) - 1
    assert tech_next.sector_daily_return == pytest.approx(0.01, rel=1e-12)
    assert tech_next.sector_weight == pytest.approx(227.25 / 332.25, rel=1e-15)
    assert sectors.loc[("Energy", "2024-07-02"), "sector_daily_return"] == pytest.approx(
        0.05, rel=1e-12
    )


def test_inception_on_a_holiday_starts_on_the_next_session() -> None:
    market = inputs(
        closes("AAA", 10.0, 11.0, 12.0, 13.0, 14.0)
        + closes("SPY", 500.0, 501.0, 502.0, 503.0, 504.0),
        [holding("P", "AAA", "5", inception_date="2024-07-04")],
    )
    perf = performance(market)
    first = perf.iloc[0]
    assert first.date_day.date() == date(2024, 7, 5)
    assert first.portfolio_value == 65.0
    assert first.cumulative_return == 0.0
    assert math.isnan(first.daily_return) and math.isnan(first.benchmark_daily_return)
    assert first.benchmark_cumulative_return == 0.0
    second = perf.iloc[1]
    assert second.daily_return == pytest.approx(14.0 / 13.0 - 1, rel=1e-14)
    assert second.benchmark_daily_return == pytest.approx(504.0 / 503.0 - 1, rel=1e-14)
    assert second.benchmark_cumulative_return == pytest.approx(504.0 / 503.0 - 1, rel=1e-14)
    position = positions(market).iloc[0]
    assert math.isnan(position.security_daily_return)  # AAA moved on t0, the position did not
    inception = portfolio_inceptions(market)
    assert inception["inception_date"].dt.date.tolist() == [date(2024, 7, 5)]


def test_holding_without_a_price_on_its_inception_session_is_excluded() -> None:
    market = inputs(
        closes("AAA", None, 11.0, 12.0) + closes("BBB", 5.0, 5.0, 5.0),
        [holding("P", "AAA", "1"), holding("P", "BBB", "1")],
    )
    assert set(positions(market)["ticker"]) == {"BBB"}


def test_drawdown_counts_inception_as_a_peak_and_max_drawdown_is_running_worst() -> None:
    market = inputs(closes("AAA", 100.0, 90.0, 110.0, 99.0, 105.0), [holding("P", "AAA", "1")])
    perf = performance(market)
    expected_drawdown = [0.0, -0.1, 0.0, 99.0 / 110.0 - 1, 105.0 / 110.0 - 1]
    assert perf["drawdown"].tolist() == pytest.approx(expected_drawdown, rel=1e-14, abs=1e-15)
    assert perf["max_drawdown"].tolist() == pytest.approx([0.0, -0.1, -0.1, -0.1, -0.1], rel=1e-14)
    returns = perf["daily_return"].iloc[1:]
    assert perf["max_drawdown"].iloc[-1] == pytest.approx(
        empyrical.max_drawdown(returns), rel=1e-12
    )


def _daily_sessions(count: int) -> list[date]:
    return [date(2020, 1, 1) + timedelta(days=offset) for offset in range(count)]


def test_rolling_windows_are_null_until_full_then_match_hand_statistics() -> None:
    sessions = _daily_sessions(300)
    rng = np.random.default_rng(7)
    market_moves = rng.normal(0, 0.01, len(sessions))
    spy = 400.0 * np.cumprod(1 + market_moves)
    stock = 50.0 * np.cumprod(1 + 1.3 * market_moves + rng.normal(0, 0.005, len(sessions)))
    market = inputs(
        closes("SPY", *spy, sessions=sessions) + closes("AAA", *stock, sessions=sessions),
        [holding("P", "AAA", "4", inception_date=sessions[0].isoformat())],
        sessions=sessions,
    )
    perf = performance(market)
    returns = perf["daily_return"].tolist()
    spy_returns = perf["benchmark_daily_return"].tolist()
    for window in (21, 63, 252):
        column = perf[f"volatility_{window}d"]
        assert column.iloc[:window].isna().all()
        for row in (window, len(perf) - 1):
            expected = statistics.stdev(returns[row - window + 1 : row + 1]) * math.sqrt(252)
            assert column.iloc[row] == pytest.approx(expected, rel=1e-12)
    for window in (63, 252):
        column = perf[f"beta_{window}d"]
        assert column.iloc[:window].isna().all()
        for row in (window, len(perf) - 1):
            y = returns[row - window + 1 : row + 1]
            x = spy_returns[row - window + 1 : row + 1]
            expected = statistics.covariance(y, x) / statistics.variance(x)
            assert column.iloc[row] == pytest.approx(expected, rel=1e-12)
            assert column.iloc[row] == pytest.approx(
                empyrical.beta(np.array(y), np.array(x)), rel=1e-12
            )


def test_missing_benchmark_price_nulls_its_return_and_the_betas_that_need_it() -> None:
    sessions = _daily_sessions(80)
    spy = [400.0 + (day % 7) for day in range(80)]
    spy[10] = None
    market = inputs(
        closes("SPY", *spy, sessions=sessions)
        + closes("AAA", *[50.0 + (day % 5) for day in range(80)], sessions=sessions),
        [holding("P", "AAA", "1", inception_date=sessions[0].isoformat())],
        sessions=sessions,
    )
    perf = performance(market)
    assert math.isnan(perf["benchmark_daily_return"].iloc[10])
    assert perf["benchmark_daily_return"].iloc[11] == pytest.approx(spy[11] / spy[9] - 1, rel=1e-14)
    assert perf["benchmark_cumulative_return"].iloc[10] == pytest.approx(
        spy[9] / spy[0] - 1, rel=1e-14
    )
    assert perf["benchmark_cumulative_return"].iloc[11] == pytest.approx(
        spy[11] / spy[0] - 1, rel=1e-13
    )
    beta = perf["beta_63d"]
    assert beta.iloc[: 10 + 63].isna().all()
    assert not math.isnan(beta.iloc[10 + 63])


def test_latest_ingestion_wins_per_ticker_and_session() -> None:
    later = FETCHED_AT + timedelta(hours=1)
    market = inputs(
        [
            price("AAA", "2024-07-01", 100.0),
            price("AAA", "2024-07-02", 110.0),
            price("AAA", "2024-07-02", 120.0, fetched_at=later, date_suffix="T00:00:00+00:00"),
            # Same fetch time: the larger bronze key wins.
            price("AAA", "2024-07-03", 130.0, fetched_at=later, bronze_key="k1"),
            price("AAA", "2024-07-03", 135.0, fetched_at=later, bronze_key="k2"),
            # A superseding bad version leaves the session without a price.
            price("AAA", "2024-07-05", 140.0),
            price("AAA", "2024-07-05", 0.0, fetched_at=later),
        ],
        [],
    )
    rows = rows_by_day(security_prices(market))
    assert sorted(rows) == JULY_2024[:3]
    assert (rows[date(2024, 7, 2)].close, rows[date(2024, 7, 3)].close) == (120.0, 135.0)


@pytest.mark.parametrize(
    "bad_row",
    [
        price("AAA", "2024-07-04", 101.0),  # Independence Day: not a session
        price("AAA", "2024-07-02", None),
        price("AAA", "2024-07-02", -1.0),
        price("AAA", "2024-07-02", 101.0, split_factor=0.0),
        price("AAA", "2024-07-02", 101.0, split_factor=float("nan")),
        price("AAA", "2024-07-02", 101.0, div_cash=-0.5),
    ],
)
def test_unusable_price_rows_are_excluded(bad_row: dict) -> None:
    market = inputs([price("AAA", "2024-07-01", 100.0), bad_row], [])
    assert security_prices(market)["date_day"].dt.date.tolist() == [date(2024, 7, 1)]


def test_only_accepted_rows_of_the_latest_holdings_file_count() -> None:
    newer = FETCHED_AT + timedelta(days=1)
    market = inputs(
        closes("AAA", 10.0, 11.0) + closes("BRK-B", 400.0, 401.0) + closes("CCC", 1.0, 1.0),
        [
            holding("OLD", "AAA", "1"),
            holding("P", " brk.b ", "2.5", bronze_key="b", fetched_at=newer),
            holding("P", "AAA", "3", bronze_key="b", fetched_at=newer),
            holding(
                "P",
                "CCC",
                "-1",
                reject_reason="non_positive_shares",
                bronze_key="b",
                fetched_at=newer,
            ),
        ],
    )
    valued = positions(market)
    assert set(zip(valued["portfolio_id"], valued["ticker"], strict=True)) == {
        ("P", "BRK-B"),
        ("P", "AAA"),
    }
    first_day = valued[valued["date_day"] == "2024-07-01"].set_index("ticker")
    assert first_day.loc["BRK-B", "market_value"] == 1000.0


def test_conflicting_accepted_holdings_are_refused() -> None:
    market = inputs(
        closes("AAA", 10.0),
        [holding("P", "AAA", "1"), holding("P", "aaa", "2")],
    )
    with pytest.raises(OracleInputError, match="two accepted rows"):
        positions(market)


def test_load_inputs_reads_raw_tables_and_calendar_sessions(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("create schema raw")
        connection.execute(
            "create table raw.tiingo_daily_prices as select 'AAA' as ticker, "
            "'2024-07-01T00:00:00.000Z' as date, 1.0 as open, 1.0 as high, 1.0 as low, "
            "10.0::double as close, 5.0 as volume, 0.0 as div_cash, 1.0 as split_factor, "
            "'k' as bronze_key, timestamp '2024-07-01 22:00' as fetched_at"
        )
        connection.execute(
            "create table raw.portfolio_holdings as select 'P' as portfolio_id, "
            "'Name' as portfolio_name, 'aaa' as ticker, '3' as shares, "
            "'2024-06-29' as inception_date, null::varchar as reject_reason, "
            "'h' as bronze_key, timestamp '2024-07-01 22:00' as fetched_at"
        )
    calendar = tmp_path / "nyse_calendar.csv"
    calendar.write_text(
        "date_day,is_trading_day\n2024-06-29,false\n2024-06-30,false\n2024-07-01,true\n"
    )
    loaded = load_inputs(warehouse, calendar)
    assert loaded.sessions == [date(2024, 7, 1)]
    assert positions(loaded)["market_value"].tolist() == [30.0]
