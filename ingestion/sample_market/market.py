"""A deterministic SYNTHETIC daily market shaped like Tiingo's end-of-day data.

Prices are simulated with a one-factor model (a market factor drives SPY; each stock returns
``beta * market + idiosyncratic noise``); only names, sectors and corporate-action dates are
real. Bars are stored raw, with ``div_cash``/``split_factor`` on ex-date rows, and adjusted
prices are recomputed on every call with Tiingo's method (tiingo_api.md §7.2), so mutation hooks
change earlier adjusted values exactly the way a new vendor event does.
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from ingestion.calendar import sessions_between
from ingestion.sample_market.universe import UNIVERSE, SecuritySpec

DEFAULT_SEED = 20210104
SAMPLE_START = date(2021, 1, 4)
SAMPLE_END = date(2024, 12, 31)

TRADING_DAYS_PER_YEAR = 252
MARKET_ANNUAL_DRIFT = 0.09
MARKET_ANNUAL_VOL = 0.17
# Student-t degrees of freedom for market shocks: fatter tails than a normal, finite variance.
MARKET_SHOCK_DOF = 5

# Tiingo's JSON rounds adjusted values to 10 decimal places (tiingo_api.md §3.1).
TIINGO_JSON_DECIMALS = 10

SYNTHETIC_DESCRIPTION = (
    "SYNTHETIC SAMPLE DATA. Prices, volumes and dividend amounts for {ticker} are simulated "
    "by the equity-analytics sample market; only the name, sector and exchange are real. "
    "Not investment data."
)


class UnknownTickerError(LookupError):
    """The ticker is not part of the sample universe."""


class MissingBarError(LookupError):
    """The ticker has no bar on the requested day."""


@dataclass(frozen=True)
class Bar:
    """A raw daily bar as Tiingo stores it (prices as traded that day)."""

    date: date
    open: float
    high: float
    low: float
    close: float
    volume: int
    div_cash: float = 0.0
    split_factor: float = 1.0


@dataclass(frozen=True)
class AdjustedBar:
    """A raw bar plus Tiingo's split- and dividend-adjusted values as of some day."""

    date: date
    open: float
    high: float
    low: float
    close: float
    volume: int
    adj_open: float
    adj_high: float
    adj_low: float
    adj_close: float
    adj_volume: float
    div_cash: float
    split_factor: float


def tiingo_adjust(
    bars: Sequence[Bar], decimals: int | None = TIINGO_JSON_DECIMALS
) -> list[AdjustedBar]:
    """Adjust ``bars`` (ascending, the full history up to the as-of day) the way Tiingo does.

    Every row strictly before an event row t is multiplied by ``C_t / (C_t + D_t)`` for a
    dividend and ``1 / S_t`` for a split; volume by ``S_t``. ``decimals=None`` keeps full
    precision (Tiingo's CSV), the default matches its JSON.
    """

    def fix(value: float) -> float:
        return value if decimals is None else round(value, decimals)

    price_factor = 1.0
    volume_factor = 1.0
    adjusted: list[AdjustedBar] = []
    for bar in reversed(bars):
        adjusted.append(
            AdjustedBar(
                date=bar.date,
                open=bar.open,
                high=bar.high,
                low=bar.low,
                close=bar.close,
                volume=bar.volume,
                adj_open=fix(bar.open * price_factor),
                adj_high=fix(bar.high * price_factor),
                adj_low=fix(bar.low * price_factor),
                adj_close=fix(bar.close * price_factor),
                adj_volume=fix(bar.volume * volume_factor),
                div_cash=bar.div_cash,
                split_factor=bar.split_factor,
            )
        )
        price_factor *= bar.close / (bar.close + bar.div_cash) / bar.split_factor
        volume_factor *= bar.split_factor
    adjusted.reverse()
    return adjusted


def _market_log_returns(seed: int, count: int) -> np.ndarray:
    rng = np.random.default_rng([seed])
    daily_vol = MARKET_ANNUAL_VOL / math.sqrt(TRADING_DAYS_PER_YEAR)
    unit_shocks = rng.standard_t(MARKET_SHOCK_DOF, count) / math.sqrt(
        MARKET_SHOCK_DOF / (MARKET_SHOCK_DOF - 2)
    )
    drift = MARKET_ANNUAL_DRIFT / TRADING_DAYS_PER_YEAR - daily_vol**2 / 2
    return drift + daily_vol * unit_shocks


def _simulate(
    spec: SecuritySpec, sessions: Sequence[date], market: np.ndarray, seed: int
) -> list[Bar]:
    # Per-ticker streams keyed by the ticker, so adding a security never changes the others.
    rng = np.random.default_rng([seed, zlib.crc32(spec.ticker.encode())])
    first = 0
    if spec.listing_date is not None:
        first = next(
            (i for i, day in enumerate(sessions) if day >= spec.listing_date), len(sessions)
        )
    days = list(sessions[first:])
    count = len(days)
    if count == 0:
        return []

    idio_daily = spec.idio_vol / math.sqrt(TRADING_DAYS_PER_YEAR)
    market_daily = MARKET_ANNUAL_VOL / math.sqrt(TRADING_DAYS_PER_YEAR)
    total_daily = math.hypot(spec.beta * market_daily, idio_daily)
    log_returns = spec.beta * market[first:] + rng.normal(-(idio_daily**2) / 2, idio_daily, count)
    gaps = rng.normal(0.0, 0.3 * total_daily, count)
    wicks_up = np.abs(rng.normal(0.0, 0.6 * total_daily, count))
    wicks_down = np.abs(rng.normal(0.0, 0.6 * total_daily, count))
    volume_noise = rng.normal(0.0, 0.3, count)

    splits = dict(spec.splits)
    missing = set(spec.missing_sessions)
    if missing & splits.keys():
        raise ValueError(f"{spec.ticker}: a split ex-date cannot be a missing session")
    split_factors = np.array([splits.get(day, 1.0) for day in days])
    dividend_days = _dividend_bar_days(spec.dividend_dates, days, missing)

    # Sequential part: each close depends on the previous one and on the ex-date cash drop.
    growth = np.exp(log_returns).tolist()
    split_list = split_factors.tolist()
    references = [0.0] * count  # previous close in today's share terms
    dividends = [0.0] * count
    closes = [0.0] * count
    prev_close = spec.start_price
    for i, day in enumerate(days):
        reference = prev_close / split_list[i]
        if day in dividend_days:
            dividends[i] = round(reference * spec.dividend_yield / 4, 2)
        # Total return follows the factor model; the ex-dividend price drops by the cash paid.
        closes[i] = prev_close = reference * growth[i] - dividends[i]
        references[i] = reference

    close = np.array(closes)
    open_ = np.array(references) * np.exp(gaps) - np.array(dividends)
    high = np.maximum(open_, close) * np.exp(wicks_up)
    low = np.minimum(open_, close) * np.exp(-wicks_down)
    volume = spec.avg_volume * np.cumprod(split_factors) * np.exp(volume_noise)
    volume *= 1 + 10 * np.abs(log_returns)
    columns = zip(
        days,
        np.round(open_, 2).tolist(),
        np.round(high, 2).tolist(),
        np.round(low, 2).tolist(),
        np.round(close, 2).tolist(),
        np.maximum(volume.astype(np.int64), 1).tolist(),
        dividends,
        split_list,
        strict=True,
    )
    return [Bar(*values) for values in columns if values[0] not in missing]


def _dividend_bar_days(
    ex_dates: Iterable[date], days: Sequence[date], missing: set[date]
) -> set[date]:
    """Move each ex-date onto the first day that has a bar (a missing session has none)."""
    trading = [day for day in days if day not in missing]
    chosen = set()
    for ex_date in ex_dates:
        bar_day = next((day for day in trading if day >= ex_date), None)
        if bar_day is not None and ex_date >= days[0]:
            chosen.add(bar_day)
    return chosen


class SampleMarket:
    """The synthetic market: raw bars per ticker plus Tiingo-style adjusted views and metadata.

    All methods are thread-safe, so a test can mutate the market while a server reads it.
    """

    def __init__(
        self,
        seed: int = DEFAULT_SEED,
        start: date = SAMPLE_START,
        end: date = SAMPLE_END,
        universe: Sequence[SecuritySpec] = UNIVERSE,
    ) -> None:
        self.seed = seed
        self._sessions = sessions_between(start, end)
        if not self._sessions:
            raise ValueError(f"No NYSE sessions between {start} and {end}")
        self._specs = {spec.ticker: spec for spec in universe}
        market = _market_log_returns(seed, len(self._sessions))
        self._bars = {
            spec.ticker: _simulate(spec, self._sessions, market, seed) for spec in universe
        }
        self._lock = threading.RLock()

    @property
    def tickers(self) -> list[str]:
        return list(self._specs)

    @property
    def sessions(self) -> list[date]:
        return list(self._sessions)

    def has_ticker(self, ticker: str) -> bool:
        return ticker.upper() in self._specs

    def security(self, ticker: str) -> SecuritySpec:
        return self._specs[self._known(ticker)]

    def bars(self, ticker: str, as_of: date | None = None) -> list[Bar]:
        """Raw bars with ``date <= as_of`` (all bars when ``as_of`` is None), ascending."""
        key = self._known(ticker)
        with self._lock:
            return [bar for bar in self._bars[key] if as_of is None or bar.date <= as_of]

    def adjusted(
        self,
        ticker: str,
        as_of: date | None = None,
        *,
        decimals: int | None = TIINGO_JSON_DECIMALS,
    ) -> list[AdjustedBar]:
        """Bars up to ``as_of`` adjusted for every event on or before ``as_of``."""
        return tiingo_adjust(self.bars(ticker, as_of), decimals)

    def metadata(self, ticker: str, as_of: date | None = None) -> dict[str, str | None]:
        """Tiingo's ``/tiingo/daily/{ticker}`` object, in the recorded key order."""
        spec = self.security(ticker)
        bars = self.bars(ticker, as_of)
        return {
            "name": spec.name,
            "startDate": bars[0].date.isoformat() if bars else None,
            "ticker": spec.ticker,
            "exchangeCode": spec.exchange,
            "description": SYNTHETIC_DESCRIPTION.format(ticker=spec.ticker),
            "endDate": bars[-1].date.isoformat() if bars else None,
        }

    # Mutation hooks: simulate vendor corrections and late corporate actions in tests.

    def correct_close(self, ticker: str, day: date, close: float) -> None:
        """A vendor correction of a past close; high/low widen to stay consistent."""
        if close <= 0:
            raise ValueError(f"A close must be positive, got {close}")
        with self._lock:
            bars, i = self._locate(ticker, day)
            bar = bars[i]
            bars[i] = replace(bar, close=close, high=max(bar.high, close), low=min(bar.low, close))

    def add_dividend(self, ticker: str, day: date, amount: float) -> None:
        """Record a cash dividend with ex-date ``day`` (added to any dividend already there)."""
        if amount <= 0:
            raise ValueError(f"A dividend must be positive, got {amount}")
        with self._lock:
            bars, i = self._locate(ticker, day)
            bars[i] = replace(bars[i], div_cash=round(bars[i].div_cash + amount, 6))

    def add_split(self, ticker: str, day: date, factor: float) -> None:
        """A split with ex-date ``day`` (``factor`` = splitTo/splitFrom; 0.125 = 1-for-8).

        Raw prices and dividends on and after ``day`` are divided by ``factor`` and volumes
        multiplied, as if the vendor had always quoted them in post-split shares.
        """
        if factor <= 0 or factor == 1:
            raise ValueError(f"A split factor must be positive and not 1, got {factor}")
        with self._lock:
            bars, start = self._locate(ticker, day)
            for i in range(start, len(bars)):
                bar = bars[i]
                bars[i] = replace(
                    bar,
                    open=round(bar.open / factor, 2),
                    high=round(bar.high / factor, 2),
                    low=round(bar.low / factor, 2),
                    close=round(bar.close / factor, 2),
                    volume=max(1, round(bar.volume * factor)),
                    div_cash=round(bar.div_cash / factor, 6),
                    split_factor=bar.split_factor * factor if i == start else bar.split_factor,
                )

    def remove_bar(self, ticker: str, day: date) -> None:
        """Delete the bar on ``day`` (the vendor no longer has that session)."""
        with self._lock:
            bars, i = self._locate(ticker, day)
            del bars[i]

    def _known(self, ticker: str) -> str:
        key = ticker.upper()
        if key not in self._specs:
            raise UnknownTickerError(f"{ticker!r} is not in the sample universe")
        return key

    def _locate(self, ticker: str, day: date) -> tuple[list[Bar], int]:
        bars = self._bars[self._known(ticker)]
        for i, bar in enumerate(bars):
            if bar.date == day:
                return bars, i
        raise MissingBarError(f"{ticker.upper()} has no bar on {day.isoformat()}")
