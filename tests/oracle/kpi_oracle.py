"""Independent implementation of the gold KPIs of kpi_contract.md, fed from raw rows.

It shares nothing with dbt_project/: it reads the raw tables, applies the pipeline conventions
(session date = first 10 characters of the vendor date, the latest ingestion wins, the latest
holdings file is the truth) and the contract definitions literally. Positions are valued with the
contract's recursion ``MV_t = MV_{t-1} * (1 + r_t)`` in a plain loop, never with an effective share
count, so an agreement with dbt is evidence that both are right rather than a shared shortcut.

Frames use the gold column names; ``date_day`` is a ``datetime64`` column holding session dates.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import empyrical
import numpy as np
import pandas as pd

SESSIONS_PER_YEAR = 252
VOLATILITY_WINDOWS = (21, 63, 252)
BETA_WINDOWS = (63, 252)

PRICE_COLUMNS = [
    "ticker",
    "date_day",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "div_cash",
    "split_factor",
    "adj_close",
    "daily_return",
]
POSITION_COLUMNS = [
    "portfolio_id",
    "ticker",
    "date_day",
    "shares",
    "close_price",
    "market_value",
    "weight",
    "security_daily_return",
    "contribution_to_return",
    "is_price_stale",
]
SECTOR_COLUMNS = ["portfolio_id", "sector", "date_day", "sector_weight", "sector_daily_return"]
PERFORMANCE_COLUMNS = [
    "portfolio_id",
    "date_day",
    "portfolio_value",
    "daily_return",
    "cumulative_return",
    "volatility_21d",
    "volatility_63d",
    "volatility_252d",
    "drawdown",
    "max_drawdown",
    "beta_63d",
    "beta_252d",
    "benchmark_daily_return",
    "benchmark_cumulative_return",
]


class OracleInputError(ValueError):
    """Raw rows that ingestion validation should have rejected reached the oracle."""


@dataclass(frozen=True)
class OracleInputs:
    prices: pd.DataFrame  # raw.tiingo_daily_prices rows as loaded
    holdings: pd.DataFrame  # raw.portfolio_holdings rows as loaded
    sessions: list[date]  # NYSE sessions, ascending
    benchmark: str = "SPY"


@dataclass(frozen=True)
class _Holding:
    portfolio_id: str
    ticker: str
    shares: float
    t0: date


def load_inputs(duckdb_path: Path, calendar_csv: Path, benchmark: str = "SPY") -> OracleInputs:
    """Read the raw tables (read-only) and the NYSE sessions of the calendar seed."""
    connection = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        prices = connection.execute("select * from raw.tiingo_daily_prices").df()
        holdings = connection.execute("select * from raw.portfolio_holdings").df()
    finally:
        connection.close()
    calendar = pd.read_csv(calendar_csv, dtype=str)
    is_session = calendar["is_trading_day"].str.strip().str.lower() == "true"
    sessions = sorted(date.fromisoformat(day) for day in calendar.loc[is_session, "date_day"])
    return OracleInputs(prices=prices, holdings=holdings, sessions=sessions, benchmark=benchmark)


def normalise_ticker(ticker: str) -> str:
    # Tiingo writes share classes with a dash (BRK-B); portfolio files often use a dot.
    return ticker.strip().upper().replace(".", "-")


def security_prices(inputs: OracleInputs) -> pd.DataFrame:
    """fact_market_price_daily: one row per usable (ticker, session) price."""
    prices = _usable_prices(inputs).sort_values(["ticker", "date_day"], ignore_index=True)
    previous_close = prices.groupby("ticker")["close"].shift(1)
    close, div_cash, split_factor = prices["close"], prices["div_cash"], prices["split_factor"]
    prices["daily_return"] = (close + div_cash) * split_factor / previous_close - 1
    # Tiingo's factor for an event row applies to every earlier row (tiingo_api.md §7.2).
    event_factor = close / (close + div_cash) / split_factor
    prices["adj_close"] = close * _product_of_later_rows(event_factor, prices["ticker"])
    return prices[PRICE_COLUMNS]


def positions(inputs: OracleInputs) -> pd.DataFrame:
    """fact_portfolio_position_daily, valued by the contract's recursion (§3, §11)."""
    prices = security_prices(inputs)
    quotes = _quotes_by_ticker(prices)
    last_day = prices["date_day"].max().date()
    rows = []
    for holding in _current_holdings(inputs):
        quote = quotes.get(holding.ticker, {})
        if holding.t0 not in quote:
            continue  # no price on the inception session: the holding is rejected
        close = quote[holding.t0][0]
        market_value = holding.shares * close
        # The position is bought at t0's close and earns nothing on t0, like R_t0 (§5, §10).
        security_return = np.nan
        previous_market_value = np.nan
        is_stale = False
        for day in [holding.t0, *_sessions_after(inputs.sessions, holding.t0, last_day)]:
            if day != holding.t0:
                previous_market_value = market_value
                if day in quote:
                    close, security_return = quote[day]
                    is_stale = False
                else:
                    security_return = 0.0  # carried at its last close
                    is_stale = True
                market_value = previous_market_value * (1 + security_return)
            rows.append(
                {
                    "portfolio_id": holding.portfolio_id,
                    "ticker": holding.ticker,
                    "date_day": day,
                    "close_price": close,
                    "market_value": market_value,
                    "security_daily_return": security_return,
                    "previous_market_value": previous_market_value,
                    "is_price_stale": is_stale,
                }
            )
    frame = pd.DataFrame(rows, columns=[*POSITION_COLUMNS, "previous_market_value"])
    frame["date_day"] = pd.to_datetime(frame["date_day"])
    values = _portfolio_values(frame)
    values["previous_portfolio_value"] = values.groupby("portfolio_id")["portfolio_value"].shift(1)
    frame = frame.merge(values, on=["portfolio_id", "date_day"], how="left", validate="m:1")
    frame["shares"] = frame["market_value"] / frame["close_price"]
    frame["weight"] = frame["market_value"] / frame["portfolio_value"]
    frame["contribution_to_return"] = (
        frame["previous_market_value"]
        * frame["security_daily_return"]
        / frame["previous_portfolio_value"]
    )
    frame = frame.sort_values(["portfolio_id", "ticker", "date_day"], ignore_index=True)
    return frame[POSITION_COLUMNS]


def performance(inputs: OracleInputs) -> pd.DataFrame:
    """fact_portfolio_performance_daily (§4 to §10)."""
    values = _portfolio_values(positions(inputs))
    benchmark = security_prices(inputs)
    benchmark = benchmark[benchmark["ticker"] == normalise_ticker(inputs.benchmark)]
    benchmark_returns = dict(zip(benchmark["date_day"], benchmark["daily_return"], strict=True))
    frames = [
        _portfolio_kpis(portfolio, benchmark_returns)
        for _, portfolio in values.groupby("portfolio_id", sort=True)
    ]
    if not frames:
        return pd.DataFrame(columns=PERFORMANCE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[PERFORMANCE_COLUMNS]


def portfolio_inceptions(inputs: OracleInputs) -> pd.DataFrame:
    """dim_portfolio.inception_date (t0) of every portfolio with at least one valued position."""
    valued = positions(inputs)
    return (
        valued.groupby("portfolio_id", as_index=False)["date_day"]
        .min()
        .rename(columns={"date_day": "inception_date"})
    )


def load_sectors(security_master_csv: Path) -> dict[str, str]:
    """ticker -> sector, from the security master seed."""
    master = pd.read_csv(security_master_csv, dtype=str)
    return dict(zip(master["ticker"].map(normalise_ticker), master["sector"], strict=True))


def sector_performance(inputs: OracleInputs, sectors: Mapping[str, str]) -> pd.DataFrame:
    """§12: each sector's weight and its own daily return (contributions / prior-session weight)."""
    valued = positions(inputs)
    valued["sector"] = valued["ticker"].map(sectors)
    by_sector = (
        valued.groupby(["portfolio_id", "sector", "date_day"], as_index=False)
        .agg(
            sector_weight=("weight", "sum"),
            sector_contribution=("contribution_to_return", lambda c: c.sum(min_count=1)),
        )
        .sort_values(["portfolio_id", "sector", "date_day"], ignore_index=True)
    )
    # A position exists on every session from t0, so the previous row is the previous session.
    previous_weight = by_sector.groupby(["portfolio_id", "sector"])["sector_weight"].shift(1)
    by_sector["sector_daily_return"] = by_sector["sector_contribution"] / previous_weight
    return by_sector[SECTOR_COLUMNS]


def _usable_prices(inputs: OracleInputs) -> pd.DataFrame:
    raw = inputs.prices.copy()
    raw["ticker"] = raw["ticker"].map(normalise_ticker)
    raw["session"] = raw["date"].str[:10]
    latest = raw.sort_values(["ticker", "session", "fetched_at", "bronze_key"]).drop_duplicates(
        ["ticker", "session"], keep="last"
    )
    latest["date_day"] = pd.to_datetime(latest["session"], format="%Y-%m-%d", errors="coerce")
    sessions = pd.to_datetime(pd.Series(inputs.sessions, dtype="object"))
    # A superseding version that is unusable leaves the session without a price on purpose:
    # falling back to an older version would resurrect data the vendor corrected.
    usable = (
        latest["date_day"].isin(sessions)
        & (latest["close"] > 0)
        & (latest["split_factor"] > 0)
        & (latest["div_cash"] >= 0)
    )
    return latest[usable]


def _quotes_by_ticker(prices: pd.DataFrame) -> dict[str, dict[date, tuple[float, float]]]:
    """ticker -> session -> (close, daily return)."""
    quotes: dict[str, dict[date, tuple[float, float]]] = {}
    for row in prices.itertuples(index=False):
        quotes.setdefault(row.ticker, {})[row.date_day.date()] = (row.close, row.daily_return)
    return quotes


def _product_of_later_rows(factor: pd.Series, ticker: pd.Series) -> pd.Series:
    """For each row, the product of ``factor`` over the same ticker's later rows (1 if none)."""
    reversed_factor = factor.iloc[::-1]
    from_here_on = reversed_factor.groupby(ticker.iloc[::-1]).cumprod().iloc[::-1]
    return from_here_on.groupby(ticker).shift(-1, fill_value=1.0)


def _current_holdings(inputs: OracleInputs) -> list[_Holding]:
    raw = inputs.holdings
    if raw.empty:
        return []
    newest = raw.sort_values(["fetched_at", "bronze_key"]).iloc[-1]
    accepted = raw[(raw["bronze_key"] == newest["bronze_key"]) & raw["reject_reason"].isna()]
    holdings: dict[tuple[str, str], _Holding] = {}
    inceptions: dict[str, set[date]] = {}
    for row in accepted.itertuples():
        t0 = _first_session_on_or_after(
            inputs.sessions, date.fromisoformat(row.inception_date.strip())
        )
        if t0 is None:
            continue
        holding = _Holding(row.portfolio_id, normalise_ticker(row.ticker), float(row.shares), t0)
        key = (holding.portfolio_id, holding.ticker)
        if key in holdings:
            raise OracleInputError(
                f"holdings file {newest['bronze_key']} has two accepted rows for {key}; "
                "ingestion validation should have rejected the duplicate"
            )
        holdings[key] = holding
        inceptions.setdefault(holding.portfolio_id, set()).add(t0)
    for portfolio_id, t0s in inceptions.items():
        if len(t0s) > 1:
            raise OracleInputError(
                f"portfolio {portfolio_id} has accepted holdings with inception sessions "
                f"{sorted(t0s)}; ingestion validation should have rejected the inconsistency"
            )
    return list(holdings.values())


def _first_session_on_or_after(sessions: list[date], day: date) -> date | None:
    index = bisect.bisect_left(sessions, day)
    return sessions[index] if index < len(sessions) else None


def _sessions_after(sessions: list[date], start: date, end: date) -> list[date]:
    """Sessions with ``start < session <= end``."""
    return sessions[bisect.bisect_right(sessions, start) : bisect.bisect_right(sessions, end)]


def _portfolio_values(valued_positions: pd.DataFrame) -> pd.DataFrame:
    return (
        valued_positions.groupby(["portfolio_id", "date_day"], as_index=False)["market_value"]
        .sum()
        .rename(columns={"market_value": "portfolio_value"})
        .sort_values(["portfolio_id", "date_day"], ignore_index=True)
    )


def _portfolio_kpis(
    portfolio: pd.DataFrame, benchmark_returns: dict[pd.Timestamp, float]
) -> pd.DataFrame:
    kpis = portfolio.reset_index(drop=True)
    value = kpis["portfolio_value"].to_numpy()
    daily_return = np.full(len(value), np.nan)
    daily_return[1:] = value[1:] / value[:-1] - 1
    kpis["daily_return"] = daily_return
    kpis["cumulative_return"] = value / value[0] - 1
    for window in VOLATILITY_WINDOWS:
        kpis[f"volatility_{window}d"] = _rolling_volatility(daily_return, window)
    peak = np.maximum.accumulate(value)
    kpis["drawdown"] = value / peak - 1
    kpis["max_drawdown"] = np.minimum.accumulate(kpis["drawdown"].to_numpy())
    benchmark_return = np.array(
        [np.nan] + [benchmark_returns.get(day, np.nan) for day in kpis["date_day"].iloc[1:]]
    )
    kpis["benchmark_daily_return"] = benchmark_return
    # A session without a benchmark price carries the benchmark's value (growth factor 1); the
    # next priced session's return is measured from the last close, so nothing is lost.
    kpis["benchmark_cumulative_return"] = np.cumprod(1 + np.nan_to_num(benchmark_return)) - 1
    for window in BETA_WINDOWS:
        kpis[f"beta_{window}d"] = _rolling_beta(daily_return, benchmark_return, window)
    return kpis


def _rolling_volatility(daily_return: np.ndarray, window: int) -> np.ndarray:
    """Annualised sample std of the last ``window`` returns; ``daily_return[0]`` is inception."""
    result = np.full(len(daily_return), np.nan)
    realised = daily_return[1:]
    # empyrical shrinks the window to the series length when it is shorter: keep those NULL.
    if len(realised) >= window:
        result[window:] = empyrical.roll_annual_volatility(
            realised, window=window, annualization=SESSIONS_PER_YEAR
        )
    return result


def _rolling_beta(returns: np.ndarray, benchmark: np.ndarray, window: int) -> np.ndarray:
    """covar_samp / var_samp over the last ``window`` sessions; NULL unless all pairs exist."""
    result = np.full(len(returns), np.nan)
    for end in range(window, len(returns) + 1):
        y = returns[end - window : end]
        x = benchmark[end - window : end]
        if np.isnan(x).any() or np.isnan(y).any():
            continue
        x_deviation = x - x.mean()
        variance = x_deviation @ x_deviation / (window - 1)
        covariance = x_deviation @ (y - y.mean()) / (window - 1)
        if variance > 0:
            result[end - 1] = covariance / variance
    return result
