from __future__ import annotations

import csv
import math
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from ingestion.calendar import first_session_on_or_after, is_session
from ingestion.sample_market import (
    BENCHMARK_TICKER,
    GICS_SECTORS,
    UNIVERSE,
    AdjustedBar,
    Bar,
    MissingBarError,
    SampleMarket,
    UnknownTickerError,
)
from ingestion.sample_market.universe import security_master_rows

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def market() -> SampleMarket:
    return SampleMarket()


def _bar_on(market: SampleMarket, ticker: str, day: date):
    return next(bar for bar in market.bars(ticker) if bar.date == day)


def _events(market: SampleMarket, ticker: str) -> list[date]:
    return [bar.date for bar in market.bars(ticker) if bar.div_cash or bar.split_factor != 1]


def test_same_seed_gives_identical_market_and_other_seed_differs() -> None:
    first, second, other = SampleMarket(), SampleMarket(), SampleMarket(seed=7)
    for ticker in first.tickers:
        assert first.bars(ticker) == second.bars(ticker)
    assert first.bars("AAPL") != other.bars("AAPL")


def test_default_market_is_pinned_to_known_values(market: SampleMarket) -> None:
    # Changing the model, the universe parameters or numpy's generators moves these numbers;
    # update them deliberately, since downstream golden tests use the default sample.
    assert market.bars("SPY")[-1] == Bar(
        date(2024, 12, 31), 504.37, 506.87, 499.93, 504.73, 87555810, 0.0, 1.0
    )
    assert market.bars("NVDA")[-1].close == 30.1
    assert market.bars("O")[-1].close == 69.85


def test_generation_of_the_whole_market_takes_under_a_second() -> None:
    started = time.perf_counter()
    SampleMarket()
    assert time.perf_counter() - started < 1.0


def test_universe_covers_all_eleven_gics_sectors_with_real_tickers() -> None:
    stocks = [spec for spec in UNIVERSE if not spec.is_benchmark]
    per_sector = Counter(spec.sector for spec in stocks)
    assert len(stocks) >= 30
    assert set(per_sector) == set(GICS_SECTORS)
    assert len(GICS_SECTORS) == 11
    assert min(per_sector.values()) >= 2
    assert [spec.ticker for spec in UNIVERSE if spec.is_benchmark] == [BENCHMARK_TICKER]
    assert {spec.exchange for spec in UNIVERSE} == {"NYSE", "NASDAQ", "NYSE ARCA"}


def test_security_master_seed_agrees_with_universe() -> None:
    with open(REPO_ROOT / "seeds" / "security_master.csv", encoding="utf-8", newline="") as handle:
        seed_rows = list(csv.DictReader(handle))
    assert seed_rows == security_master_rows()
    spy = next(row for row in seed_rows if row["ticker"] == "SPY")
    assert spy == {
        "ticker": "SPY",
        "security_name": "SPDR S&P 500 ETF Trust",
        "sector": "Broad Market ETF",
        "industry": "Index Fund",
        "exchange": "NYSE ARCA",
        "is_benchmark": "true",
    }
    assert sum(row["is_benchmark"] == "true" for row in seed_rows) == 1


def test_sessions_are_real_nyse_sessions(market: SampleMarket) -> None:
    sessions = market.sessions
    assert sessions[0] == date(2021, 1, 4)
    assert sessions[-1] == date(2024, 12, 31)
    assert len(sessions) == 1005
    assert all(day.weekday() < 5 and is_session(day) for day in sessions)
    for holiday in (date(2021, 7, 5), date(2022, 4, 15), date(2022, 12, 26), date(2024, 1, 15)):
        assert holiday not in sessions
    session_set = set(sessions)
    for ticker in market.tickers:
        assert {bar.date for bar in market.bars(ticker)} <= session_set


def test_raw_bars_are_well_formed(market: SampleMarket) -> None:
    for ticker in market.tickers:
        for bar in market.bars(ticker):
            assert 0 < bar.low <= min(bar.open, bar.close)
            assert max(bar.open, bar.close) <= bar.high
            for price in (bar.open, bar.high, bar.low, bar.close):
                assert round(price, 2) == price
            assert isinstance(bar.volume, int) and bar.volume > 0
            assert bar.div_cash >= 0 and bar.split_factor > 0


def test_simulated_volatility_is_realistic(market: SampleMarket) -> None:
    def annual_vol(ticker: str) -> float:
        closes = np.array([bar.adj_close for bar in market.adjusted(ticker)])
        return float(np.diff(np.log(closes)).std(ddof=1) * math.sqrt(252))

    assert 0.15 <= annual_vol("SPY") <= 0.20
    for ticker in market.tickers:
        if ticker != "SPY":
            assert 0.17 <= annual_vol(ticker) <= 0.48, ticker


def test_forward_and_reverse_splits_sit_on_their_ex_dates(market: SampleMarket) -> None:
    expected = {
        "NVDA": {date(2021, 7, 20): 4.0, date(2024, 6, 10): 10.0},
        "AMZN": {date(2022, 6, 6): 20.0},
        "GOOGL": {date(2022, 7, 18): 20.0},
        "TSLA": {date(2022, 8, 25): 3.0},
        "GE": {date(2021, 8, 2): 0.125},
    }
    for ticker in market.tickers:
        bars = market.bars(ticker)
        splits = {bar.date: bar.split_factor for bar in bars if bar.split_factor != 1.0}
        assert splits == expected.get(ticker, {}), ticker
        for day, factor in splits.items():
            i = next(i for i, bar in enumerate(bars) if bar.date == day)
            # The raw price level jumps by the split factor (give or take one day's move).
            assert 0.8 < bars[i - 1].close / (bars[i].close * factor) < 1.25


def test_dividends_are_quarterly_and_drop_the_raw_close(market: SampleMarket) -> None:
    for ticker in ("AAPL", "KO", "SPY", "O"):
        per_year = Counter(bar.date.year for bar in market.bars(ticker) if bar.div_cash > 0)
        assert per_year == {2021: 4, 2022: 4, 2023: 4, 2024: 4}, ticker
    spy_ex_dates = [bar.date for bar in market.bars("SPY") if bar.div_cash > 0]
    assert spy_ex_dates[:4] == [date(2021, 3, 19), date(2021, 6, 18), date(2021, 9, 17),
                                date(2021, 12, 17)]  # fmt: skip
    assert all(day.weekday() == 4 for day in spy_ex_dates)
    assert [bar.div_cash for bar in market.bars("AMZN") if bar.div_cash] == []
    payers = [t for t in market.tickers if any(bar.div_cash for bar in market.bars(t))]
    assert len(payers) >= 25
    # Dividend amounts are a quarter of the annual yield on the previous close.
    bars = market.bars("KO")
    for prev, bar in zip(bars, bars[1:], strict=False):
        if bar.div_cash:
            assert bar.div_cash == pytest.approx(prev.close * 0.030 / 4, abs=0.02)


def test_gehc_lists_mid_period(market: SampleMarket) -> None:
    bars = market.bars("GEHC")
    assert bars[0].date == date(2023, 1, 4)
    assert len(bars) == len([day for day in market.sessions if day >= date(2023, 1, 4)])
    assert market.metadata("GEHC", date(2022, 12, 30))["startDate"] is None
    assert market.metadata("GEHC", date(2022, 12, 30))["endDate"] is None
    assert market.metadata("GEHC")["startDate"] == "2023-01-04"


def test_realty_income_misses_exactly_four_sessions(market: SampleMarket) -> None:
    missing = set(market.sessions) - {bar.date for bar in market.bars("O")}
    assert missing == {date(2022, 3, 14), date(2022, 3, 15), date(2023, 5, 10), date(2024, 8, 21)}
    for ticker in market.tickers:
        if ticker not in ("O", "GEHC"):
            assert len(market.bars(ticker)) == len(market.sessions), ticker


def _assert_total_return_identity(rows: list[AdjustedBar]) -> None:
    for prev, row in zip(rows, rows[1:], strict=False):
        expected = (row.close + row.div_cash) * row.split_factor / prev.close
        assert math.isclose(row.adj_close / prev.adj_close, expected, rel_tol=1e-9), row.date


def test_adjusted_close_ratio_is_the_total_return_on_every_row(market: SampleMarket) -> None:
    for ticker in market.tickers:
        _assert_total_return_identity(market.adjusted(ticker))


def test_adjusted_equals_raw_on_and_after_the_last_event(market: SampleMarket) -> None:
    for ticker in market.tickers:
        last_event = _events(market, ticker)[-1] if _events(market, ticker) else date.min
        rows = market.adjusted(ticker)
        for row in rows:
            same = (row.adj_open, row.adj_high, row.adj_low, row.adj_close, row.adj_volume) == (
                row.open, row.high, row.low, row.close, row.volume)  # fmt: skip
            assert same == (row.date >= last_event), (ticker, row.date)


def test_adjusted_values_use_tiingo_factors_and_json_rounding(market: SampleMarket) -> None:
    rows = market.adjusted("NVDA", date(2021, 7, 21))
    split_day, day_before = rows[-2], rows[-3]
    assert split_day.date == date(2021, 7, 20)
    assert day_before.adj_close == round(day_before.close / 4, 10)
    assert day_before.adj_volume == day_before.volume * 4
    ge = market.adjusted("GE", date(2021, 8, 2))
    assert ge[-2].adj_close == round(ge[-2].close * 8, 10)
    assert ge[-2].adj_volume == round(ge[-2].volume * 0.125, 10)
    full = market.adjusted("NVDA", decimals=None)
    rounded = market.adjusted("NVDA")
    assert [round(row.adj_close, 10) for row in full] == [row.adj_close for row in rounded]


def test_adjustment_is_as_of_the_requested_day(market: SampleMarket) -> None:
    before = market.adjusted("NVDA", date(2021, 7, 19))
    after = market.adjusted("NVDA", date(2021, 7, 20))
    assert before[-1].adj_close == before[-1].close
    assert len(after) == len(before) + 1
    for old, new in zip(before, after, strict=False):
        assert new.adj_close == pytest.approx(old.adj_close / 4, rel=1e-12)


def test_add_dividend_rescales_only_earlier_adjusted_rows() -> None:
    market = SampleMarket()
    day = date(2024, 10, 15)
    before = market.adjusted("MSFT")
    raw_before = market.bars("MSFT")
    market.add_dividend("MSFT", day, 1.25)
    after = market.adjusted("MSFT")
    bar = _bar_on(market, "MSFT", day)
    factor = bar.close / (bar.close + 1.25)
    assert bar.div_cash == 1.25
    assert [b for b in market.bars("MSFT") if b.date != day] == [
        b for b in raw_before if b.date != day
    ]
    for old, new in zip(before, after, strict=True):
        if old.date < day:
            assert new.adj_close == pytest.approx(old.adj_close * factor, rel=1e-9)
            assert new.adj_close != old.adj_close
        elif old.date == day:
            assert (new.adj_close, new.div_cash) == (old.adj_close, old.div_cash + 1.25)
        else:
            assert new == old


def test_add_split_rescales_raw_after_and_adjusted_before() -> None:
    market = SampleMarket()
    day = date(2024, 11, 20)  # after HON's last dividend, so later factors are the split alone
    raw_before = {bar.date: bar for bar in market.bars("HON")}
    adjusted_before = market.adjusted("HON")
    market.add_split("HON", day, 2.0)
    raw_after = {bar.date: bar for bar in market.bars("HON")}
    assert raw_after[day].split_factor == 2.0
    for when, bar in raw_after.items():
        old = raw_before[when]
        if when >= day:
            assert bar.close == round(old.close / 2, 2)
            assert bar.volume == old.volume * 2
        else:
            assert bar == old
    for old, new in zip(adjusted_before, market.adjusted("HON"), strict=True):
        if old.date < day:
            assert new.adj_close == pytest.approx(old.adj_close / 2, rel=1e-9)
            assert new.adj_volume == pytest.approx(old.adj_volume * 2, rel=1e-12)
    _assert_total_return_identity(market.adjusted("HON"))


def test_correct_close_keeps_the_bar_consistent() -> None:
    market = SampleMarket()
    day = date(2023, 6, 1)
    old = _bar_on(market, "JPM", day)
    market.correct_close("JPM", day, old.high + 3.21)
    new = _bar_on(market, "JPM", day)
    assert new.close == old.high + 3.21 and new.high == new.close and new.low == old.low
    market.correct_close("JPM", day, old.low - 1.0)
    new = _bar_on(market, "JPM", day)
    assert new.low == new.close == old.low - 1.0


def test_remove_bar_drops_the_session() -> None:
    market = SampleMarket()
    market.remove_bar("XOM", date(2022, 2, 1))
    assert date(2022, 2, 1) not in {bar.date for bar in market.bars("XOM")}
    assert len(market.bars("XOM")) == len(market.sessions) - 1


def test_lookups_raise_specific_errors(market: SampleMarket) -> None:
    with pytest.raises(UnknownTickerError, match="'ZZZZ' is not in the sample universe"):
        market.bars("ZZZZ")
    with pytest.raises(MissingBarError, match="O has no bar on 2022-03-14"):
        market.correct_close("o", date(2022, 3, 14), 50.0)
    with pytest.raises(ValueError, match="split factor"):
        market.add_split("AAPL", date(2022, 3, 1), 1.0)
    assert market.security("aapl").name == "Apple Inc"


def test_metadata_is_labelled_synthetic(market: SampleMarket) -> None:
    meta = market.metadata("AAPL", date(2022, 1, 1))
    assert list(meta) == ["name", "startDate", "ticker", "exchangeCode", "description", "endDate"]
    assert meta["startDate"] == "2021-01-04" and meta["endDate"] == "2021-12-31"
    assert "SYNTHETIC" in meta["description"]


def test_sample_portfolios_are_valid_and_exercise_the_edge_cases(market: SampleMarket) -> None:
    path = REPO_ROOT / "ingestion" / "sample_data" / "portfolios.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["portfolio_id", "portfolio_name", "ticker", "shares",
                                     "inception_date"]  # fmt: skip
        rows = list(reader)
    portfolios: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        portfolios[row["portfolio_id"]].append(row)
    assert len(portfolios) >= 3
    held = {row["ticker"] for row in rows}
    assert held <= set(market.tickers) - {"SPY"}
    assert {"NVDA", "AMZN", "GOOGL", "TSLA", "GE", "O", "GEHC"} <= held
    inceptions = []
    for members in portfolios.values():
        assert len({(row["portfolio_name"], row["inception_date"]) for row in members}) == 1
        assert len({row["ticker"] for row in members}) == len(members)
        assert all(row["shares"].isdigit() and int(row["shares"]) > 0 for row in members)
        inception = date.fromisoformat(members[0]["inception_date"])
        t0 = first_session_on_or_after(inception)
        assert market.sessions[0] <= t0 <= market.sessions[-1]
        for row in members:
            assert _bar_on(market, row["ticker"], t0)  # every holding has a price at t0
        inceptions.append(inception)
    assert any(not is_session(day) for day in inceptions)
