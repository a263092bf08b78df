"""The NYSE calendar seed is generated from exchange-calendars and must not drift from it."""

from __future__ import annotations

import csv
from datetime import date

from ingestion import calendar
from ingestion.settings import PROJECT_ROOT

SEED = PROJECT_ROOT / "seeds" / "nyse_calendar.csv"


def test_the_committed_calendar_seed_equals_the_library_calendar():
    with open(SEED, newline="") as handle:
        rows = [
            (date.fromisoformat(r["date_day"]), r["is_trading_day"] == "true")
            for r in csv.DictReader(handle)
        ]
    assert rows == calendar.calendar_rows(), (
        "regenerate: python -m ingestion.calendar seeds/nyse_calendar.csv"
    )


def test_known_nyse_closures_and_sessions():
    closed = [
        date(2021, 7, 5),  # Independence Day observed
        date(2022, 6, 20),  # Juneteenth, first observed by NYSE in 2022
        date(2025, 1, 9),  # national day of mourning for President Carter
        date(2024, 12, 25),
    ]
    assert not any(calendar.is_session(day) for day in closed)
    assert calendar.is_session(date(2021, 6, 18))  # Juneteenth was not yet an NYSE holiday
    assert calendar.first_session_on_or_after(date(2021, 7, 3)) == date(2021, 7, 6)
    assert calendar.sessions_back(date(2024, 12, 31), 5) == date(2024, 12, 23)
    assert len(calendar.sessions_between(date(2024, 1, 1), date(2024, 12, 31))) == 252
