"""Deterministic SYNTHETIC sample market and a Tiingo-compatible HTTP server that serves it.

Only ticker names, sectors and corporate-action dates are real; every price is simulated.
"""

from ingestion.sample_market.market import (
    DEFAULT_SEED,
    AdjustedBar,
    Bar,
    MissingBarError,
    SampleMarket,
    UnknownTickerError,
    tiingo_adjust,
)
from ingestion.sample_market.server import (
    FAULT_KINDS,
    RecordedRequest,
    SampleTiingoServer,
    serve,
)
from ingestion.sample_market.universe import (
    BENCHMARK_TICKER,
    GICS_SECTORS,
    UNIVERSE,
    SecuritySpec,
)

__all__ = [
    "BENCHMARK_TICKER",
    "DEFAULT_SEED",
    "FAULT_KINDS",
    "GICS_SECTORS",
    "UNIVERSE",
    "AdjustedBar",
    "Bar",
    "MissingBarError",
    "RecordedRequest",
    "SampleMarket",
    "SampleTiingoServer",
    "SecuritySpec",
    "UnknownTickerError",
    "serve",
    "tiingo_adjust",
]
