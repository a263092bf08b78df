"""The sample universe: real US tickers with SYNTHETIC simulation parameters.

Only the ticker, company name, GICS sector/industry and listing exchange are real. Every price,
volume, dividend amount and the beta/volatility parameters below are invented for the simulation;
the split dates and the GE HealthCare listing date follow real corporate actions so the sample
exercises the same events the production pipeline meets.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta

from ingestion.calendar import first_session_on_or_after, last_session_on_or_before

BENCHMARK_TICKER = "SPY"

SECURITY_MASTER_COLUMNS = (
    "ticker",
    "security_name",
    "sector",
    "industry",
    "exchange",
    "is_benchmark",
)

# The years the dividend calendars below are laid out for (the sample's default window).
_DIVIDEND_YEARS = range(2021, 2025)


@dataclass(frozen=True)
class SecuritySpec:
    ticker: str
    name: str
    sector: str
    industry: str
    exchange: str
    start_price: float  # raw price on the first simulated session, in that day's share terms
    beta: float  # loading on the market factor
    idio_vol: float  # annualised idiosyncratic volatility
    dividend_yield: float  # annual; each quarterly payment is a quarter of it
    avg_volume: int  # typical shares traded per day before any split in the sample
    dividend_dates: tuple[date, ...] = ()
    listing_date: date | None = None
    splits: tuple[tuple[date, float], ...] = ()  # (ex-date, splitTo/splitFrom)
    missing_sessions: tuple[date, ...] = ()  # sessions with no bar at all
    is_benchmark: bool = False


def quarterly_ex_dates(first_month: int, day: int) -> tuple[date, ...]:
    """First sessions on or after ``day`` of every third month, starting at ``first_month``."""
    return tuple(
        first_session_on_or_after(date(year, month, day))
        for year in _DIVIDEND_YEARS
        for month in range(first_month, 13, 3)
    )


def _third_fridays_of_quarter_end() -> tuple[date, ...]:
    """SPY goes ex-dividend on the third Friday of March, June, September and December."""
    days = []
    for year in _DIVIDEND_YEARS:
        for month in (3, 6, 9, 12):
            first = date(year, month, 1)
            first_friday = first + timedelta(days=(4 - first.weekday()) % 7)
            days.append(last_session_on_or_before(first_friday + timedelta(days=14)))
    return tuple(days)


def _stock(
    ticker: str,
    name: str,
    sector: str,
    industry: str,
    exchange: str,
    start_price: float,
    beta: float,
    idio_vol: float,
    dividend_yield: float,
    avg_volume: int,
    dividend_cycle: tuple[int, int] | None = None,
    *,
    listing_date: date | None = None,
    splits: tuple[tuple[date, float], ...] = (),
    missing_sessions: tuple[date, ...] = (),
) -> SecuritySpec:
    """``dividend_cycle`` is (first ex-month, day of month) of a quarterly dividend calendar."""
    dividend_dates = quarterly_ex_dates(*dividend_cycle) if dividend_cycle else ()
    return SecuritySpec(
        ticker=ticker,
        name=name,
        sector=sector,
        industry=industry,
        exchange=exchange,
        start_price=start_price,
        beta=beta,
        idio_vol=idio_vol,
        dividend_yield=dividend_yield,
        avg_volume=avg_volume,
        dividend_dates=dividend_dates,
        listing_date=listing_date,
        splits=splits,
        missing_sessions=missing_sessions,
    )


_IT = "Information Technology"
_COMM = "Communication Services"
_DISC = "Consumer Discretionary"
_STAPLES = "Consumer Staples"
_ENERGY = "Energy"
_FIN = "Financials"
_HEALTH = "Health Care"
_IND = "Industrials"
_MAT = "Materials"
_RE = "Real Estate"
_UTIL = "Utilities"

GICS_SECTORS = (_COMM, _DISC, _STAPLES, _ENERGY, _FIN, _HEALTH, _IND, _IT, _MAT, _RE, _UTIL)

# Real corporate actions reused by the simulation (dates are real NYSE sessions).
NVDA_SPLITS = ((date(2021, 7, 20), 4.0), (date(2024, 6, 10), 10.0))
AMZN_SPLITS = ((date(2022, 6, 6), 20.0),)
GOOGL_SPLITS = ((date(2022, 7, 18), 20.0),)
TSLA_SPLITS = ((date(2022, 8, 25), 3.0),)
GE_SPLITS = ((date(2021, 8, 2), 0.125),)  # 1-for-8 reverse split
GEHC_LISTING = date(2023, 1, 4)  # spun off from GE; first regular-way session
# Invented data gaps: sessions on which the vendor has no bar for O.
O_MISSING_SESSIONS = (
    date(2022, 3, 14),
    date(2022, 3, 15),
    date(2023, 5, 10),
    date(2024, 8, 21),
)

UNIVERSE: tuple[SecuritySpec, ...] = (
    SecuritySpec(
        ticker=BENCHMARK_TICKER,
        name="SPDR S&P 500 ETF Trust",
        sector="Broad Market ETF",
        industry="Index Fund",
        exchange="NYSE ARCA",
        start_price=368.79,
        beta=1.0,
        idio_vol=0.0,
        dividend_yield=0.014,
        avg_volume=75_000_000,
        dividend_dates=_third_fridays_of_quarter_end(),
        is_benchmark=True,
    ),
    # Information Technology
    _stock("AAPL", "Apple Inc", _IT, "Technology Hardware, Storage & Peripherals", "NASDAQ",
           129.41, 1.20, 0.22, 0.006, 90_000_000, (2, 6)),
    _stock("MSFT", "Microsoft Corp", _IT, "Systems Software", "NASDAQ",
           217.69, 1.10, 0.19, 0.009, 28_000_000, (2, 15)),
    _stock("NVDA", "NVIDIA Corp", _IT, "Semiconductors", "NASDAQ",
           524.54, 1.70, 0.33, 0.001, 10_000_000, (3, 8), splits=NVDA_SPLITS),
    _stock("CSCO", "Cisco Systems Inc", _IT, "Communications Equipment", "NASDAQ",
           43.96, 0.90, 0.19, 0.032, 20_000_000, (1, 5)),
    # Communication Services
    _stock("GOOGL", "Alphabet Inc Class A", _COMM, "Interactive Media & Services", "NASDAQ",
           1726.13, 1.10, 0.24, 0.0, 1_800_000, splits=GOOGL_SPLITS),
    _stock("DIS", "Walt Disney Co", _COMM, "Movies & Entertainment", "NYSE",
           174.80, 1.10, 0.26, 0.0, 9_000_000),
    _stock("VZ", "Verizon Communications Inc", _COMM, "Integrated Telecommunication Services",
           "NYSE", 58.50, 0.40, 0.19, 0.045, 22_000_000, (1, 8)),
    # Consumer Discretionary
    _stock("AMZN", "Amazon.com Inc", _DISC, "Broadline Retail", "NASDAQ",
           3186.63, 1.30, 0.27, 0.0, 3_500_000, splits=AMZN_SPLITS),
    _stock("TSLA", "Tesla Inc", _DISC, "Automobile Manufacturers", "NASDAQ",
           729.77, 1.60, 0.35, 0.0, 30_000_000, splits=TSLA_SPLITS),
    _stock("HD", "Home Depot Inc", _DISC, "Home Improvement Retail", "NYSE",
           261.20, 1.00, 0.19, 0.023, 4_000_000, (3, 9)),
    _stock("MCD", "McDonald's Corp", _DISC, "Restaurants", "NYSE",
           211.00, 0.70, 0.17, 0.024, 3_000_000, (3, 1)),
    # Consumer Staples
    _stock("PG", "Procter & Gamble Co", _STAPLES, "Household Products", "NYSE",
           136.20, 0.55, 0.18, 0.024, 7_500_000, (1, 20)),
    _stock("KO", "Coca-Cola Co", _STAPLES, "Soft Drinks & Non-alcoholic Beverages", "NYSE",
           52.80, 0.60, 0.17, 0.030, 14_000_000, (3, 14)),
    _stock("COST", "Costco Wholesale Corp", _STAPLES, "Consumer Staples Merchandise Retail",
           "NASDAQ", 372.50, 0.75, 0.19, 0.008, 2_200_000, (1, 27)),
    # Energy
    _stock("XOM", "Exxon Mobil Corp", _ENERGY, "Integrated Oil & Gas", "NYSE",
           41.50, 0.90, 0.28, 0.055, 30_000_000, (2, 10)),
    _stock("CVX", "Chevron Corp", _ENERGY, "Integrated Oil & Gas", "NYSE",
           86.80, 0.95, 0.26, 0.045, 11_000_000, (2, 16)),
    # Financials
    _stock("JPM", "JPMorgan Chase & Co", _FIN, "Diversified Banks", "NYSE",
           126.20, 1.10, 0.20, 0.028, 12_000_000, (1, 5)),
    _stock("V", "Visa Inc Class A", _FIN, "Transaction & Payment Processing Services", "NYSE",
           212.00, 0.95, 0.18, 0.007, 7_000_000, (2, 9)),
    _stock("GS", "Goldman Sachs Group Inc", _FIN, "Investment Banking & Brokerage", "NYSE",
           263.80, 1.20, 0.23, 0.020, 2_800_000, (3, 1)),
    # Health Care
    _stock("JNJ", "Johnson & Johnson", _HEALTH, "Pharmaceuticals", "NYSE",
           155.80, 0.55, 0.18, 0.026, 7_000_000, (2, 22)),
    _stock("UNH", "UnitedHealth Group Inc", _HEALTH, "Managed Health Care", "NYSE",
           346.80, 0.80, 0.22, 0.014, 3_300_000, (3, 12)),
    _stock("PFE", "Pfizer Inc", _HEALTH, "Pharmaceuticals", "NYSE",
           36.50, 0.60, 0.25, 0.042, 35_000_000, (2, 4)),
    _stock("GEHC", "GE HealthCare Technologies Inc", _HEALTH, "Health Care Equipment",
           "NASDAQ", 57.00, 1.05, 0.24, 0.002, 4_500_000, (1, 12),
           listing_date=GEHC_LISTING),
    # Industrials
    _stock("CAT", "Caterpillar Inc", _IND, "Construction Machinery & Heavy Transportation "
           "Equipment", "NYSE", 180.00, 1.05, 0.22, 0.023, 3_500_000, (1, 19)),
    _stock("HON", "Honeywell International Inc", _IND, "Industrial Conglomerates", "NASDAQ",
           209.50, 0.95, 0.17, 0.018, 3_000_000, (2, 11)),
    _stock("GE", "General Electric Co", _IND, "Aerospace & Defense", "NYSE",
           10.76, 1.15, 0.28, 0.004, 80_000_000, (3, 7), splits=GE_SPLITS),
    _stock("UNP", "Union Pacific Corp", _IND, "Rail Transportation", "NYSE",
           206.00, 0.95, 0.20, 0.022, 3_000_000, (2, 26)),
    # Materials
    _stock("APD", "Air Products and Chemicals Inc", _MAT, "Industrial Gases", "NYSE",
           272.00, 0.85, 0.20, 0.023, 1_200_000, (1, 8)),
    _stock("NEM", "Newmont Corp", _MAT, "Gold", "NYSE",
           59.00, 0.45, 0.30, 0.035, 8_000_000, (3, 3)),
    _stock("SHW", "Sherwin-Williams Co", _MAT, "Specialty Chemicals", "NYSE",
           245.00, 1.00, 0.21, 0.009, 1_500_000, (2, 14)),
    # Real Estate
    _stock("PLD", "Prologis Inc", _RE, "Industrial REITs", "NYSE",
           99.00, 0.95, 0.22, 0.026, 3_000_000, (3, 16)),
    _stock("AMT", "American Tower Corp", _RE, "Telecom Tower REITs", "NYSE",
           222.00, 0.80, 0.24, 0.022, 2_200_000, (1, 11)),
    _stock("O", "Realty Income Corp", _RE, "Retail REITs", "NYSE",
           61.00, 0.75, 0.20, 0.045, 4_000_000, (2, 1),
           missing_sessions=O_MISSING_SESSIONS),
    # Utilities
    _stock("NEE", "NextEra Energy Inc", _UTIL, "Electric Utilities", "NYSE",
           75.00, 0.70, 0.20, 0.022, 9_000_000, (2, 25)),
    _stock("DUK", "Duke Energy Corp", _UTIL, "Electric Utilities", "NYSE",
           90.00, 0.45, 0.18, 0.040, 3_000_000, (2, 12)),
    _stock("SO", "Southern Co", _UTIL, "Electric Utilities", "NYSE",
           60.00, 0.45, 0.18, 0.042, 5_000_000, (2, 17)),
)  # fmt: skip


def security_master_rows() -> list[dict[str, str]]:
    """Rows of ``seeds/security_master.csv`` in universe order."""
    return [
        {
            "ticker": spec.ticker,
            "security_name": spec.name,
            "sector": spec.sector,
            "industry": spec.industry,
            "exchange": spec.exchange,
            "is_benchmark": "true" if spec.is_benchmark else "false",
        }
        for spec in UNIVERSE
    ]


def write_security_master(path: str) -> int:
    """Write the dbt seed ``seeds/security_master.csv``; returns the number of rows written.

    A test fails when the seed and ``UNIVERSE`` disagree; regenerate with
    ``python -c "from ingestion.sample_market.universe import write_security_master as w;
    w('seeds/security_master.csv')"``.
    """
    rows = security_master_rows()
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SECURITY_MASTER_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
