"""NYSE session calendar, from the exchange-calendars library (calendar ``XNYS``).

Chosen over hand-typed holiday lists because it encodes every NYSE rule (observed holidays,
one-off closures such as national days of mourning) and is kept up to date by its maintainers.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

# exchange-calendars covers only the last 20 years by default; our seed and backfills go further.
CALENDAR_FIRST_DAY = date(2000, 1, 3)
CALENDAR_LAST_DAY = date(2030, 12, 31)


@lru_cache(maxsize=1)
def _nyse() -> xcals.ExchangeCalendar:
    return xcals.get_calendar(
        "XNYS", start=CALENDAR_FIRST_DAY.isoformat(), end=CALENDAR_LAST_DAY.isoformat()
    )


def sessions_between(start: date, end: date) -> list[date]:
    """NYSE sessions with ``start <= session <= end``."""
    if end < start:
        return []
    start = max(start, CALENDAR_FIRST_DAY)
    end = min(end, CALENDAR_LAST_DAY)
    labels = _nyse().sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))
    return [ts.date() for ts in labels]


def is_session(day: date) -> bool:
    return _nyse().is_session(pd.Timestamp(day))


def last_session_on_or_before(day: date) -> date:
    return _nyse().date_to_session(pd.Timestamp(day), direction="previous").date()


def first_session_on_or_after(day: date) -> date:
    return _nyse().date_to_session(pd.Timestamp(day), direction="next").date()


def sessions_back(day: date, count: int) -> date:
    """The session ``count`` sessions before the last session on or before ``day``."""
    anchor = pd.Timestamp(last_session_on_or_before(day))
    return _nyse().session_offset(anchor, -count).date()


def calendar_rows(
    start: date = CALENDAR_FIRST_DAY, end: date = CALENDAR_LAST_DAY
) -> list[tuple[date, bool]]:
    """Every calendar day in ``[start, end]`` with whether NYSE holds a session on it."""
    sessions = set(sessions_between(start, end))
    days = pd.date_range(start, end, freq="D")
    return [(day.date(), day.date() in sessions) for day in days]


def write_calendar_seed(path: str) -> int:
    """Write the dbt seed ``nyse_calendar.csv``; returns the number of rows written."""
    rows = calendar_rows()
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("date_day,is_trading_day\n")
        for day, is_trading in rows:
            handle.write(f"{day.isoformat()},{'true' if is_trading else 'false'}\n")
    return len(rows)


if __name__ == "__main__":
    # Regenerate with: python -m ingestion.calendar seeds/nyse_calendar.csv
    import sys

    print(write_calendar_seed(sys.argv[1] if len(sys.argv) > 1 else "seeds/nyse_calendar.csv"))
