"""The DAG end to end with `dag.test()` (what `airflow dags test` runs): the sample Tiingo server
on loopback, a temporary DuckDB warehouse, and four daily runs (a session, the next session, that
session again, a holiday). Every run goes through the real ingestion tasks and every Cosmos dbt
task."""

from __future__ import annotations

import contextlib
import gc
import io
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from ingestion.sample_market import SampleMarket, SampleTiingoServer
from ingestion.settings import PROJECT_ROOT

DAG_ID = "equity_analytics_duckdb"
NEW_YORK = ZoneInfo("America/New_York")
FIRST_SESSION = date(2024, 12, 2)
NEXT_SESSION = date(2024, 12, 3)
HOLIDAY = date(2024, 12, 25)  # Christmas, a Wednesday
# A late inception keeps the first run's history (and the test) short.
HOLDINGS = {
    "P100": {"AAPL": 100, "MSFT": 50},
    "P200": {"KO": 300, "JNJ": 80},
}
PERFORMANCE_SQL = """
    select portfolio_id, date_day, portfolio_value, daily_return, cumulative_return, drawdown,
        max_drawdown, benchmark_daily_return, benchmark_cumulative_return
    from gold.fact_portfolio_performance_daily
    order by portfolio_id, date_day
"""


@dataclass(frozen=True)
class RunOutcome:
    """What one DAG run left behind."""

    output: str
    run_state: str
    task_states: dict[str, str]
    performance: list[tuple]
    spy_prices: dict[date, float]
    raw_price_rows: int
    bronze_objects: int
    run_ids: dict[tuple, str]  # (portfolio, session) -> the run that wrote the performance row
    gold_builds: int


def holdings_csv() -> str:
    lines = ["portfolio_id,portfolio_name,ticker,shares,inception_date"]
    for portfolio, positions in HOLDINGS.items():
        for ticker, shares in positions.items():
            lines.append(f"{portfolio},Test {portfolio},{ticker},{shares},{FIRST_SESSION}")
    return "\n".join(lines) + "\n"


def scheduled_logical_date(session: date) -> datetime:
    """The logical date the schedule gives the run of ``session``: 21:30 New York time."""
    return datetime.combine(session, time(21, 30), tzinfo=NEW_YORK)


@contextlib.contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    """``variables`` set for the block, and the environment restored afterwards: the tasks run
    in this process and read their settings from it, and Cosmos writes dbt's variables into it."""
    saved = dict(os.environ)
    os.environ.update(variables)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def observe(output: str, dag_run, data_dir: Path) -> RunOutcome:  # type: ignore[no-untyped-def]
    task_states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        performance = con.execute(PERFORMANCE_SQL).fetchall()
        spy_prices = dict(
            con.execute(
                "select date_day, close from gold.fact_market_price_daily where ticker = 'SPY'"
            ).fetchall()
        )
        raw_price_rows = con.execute("select count(*) from raw.tiingo_daily_prices").fetchone()[0]
        run_ids = {
            (portfolio, session): run_id
            for portfolio, session, run_id in con.execute(
                "select portfolio_id, date_day, run_id from gold.fact_portfolio_performance_daily"
            ).fetchall()
        }
        gold_builds = con.execute("select count(*) from audit.gold_builds").fetchone()[0]
    finally:
        con.close()
    bronze = sum(1 for path in (data_dir / "bronze").rglob("*") if path.is_file())
    return RunOutcome(
        output,
        str(dag_run.state),
        task_states,
        performance,
        spy_prices,
        raw_price_rows,
        bronze,
        run_ids,
        gold_builds,
    )


def expected_portfolio_values(market: SampleMarket, sessions: list[date]) -> dict[tuple, float]:
    """Portfolio values by the KPI contract: bought at the inception session's close, then each
    position grows with the security's total return (dividends reinvested, split-neutral)."""
    values: dict[tuple, float] = {}
    for portfolio, positions in HOLDINGS.items():
        market_values = {}
        for ticker, shares in positions.items():
            bars = {bar.date: bar for bar in market.bars(ticker)}
            value = shares * bars[sessions[0]].close
            market_values[(ticker, sessions[0])] = value
            for previous, session in zip(sessions, sessions[1:], strict=False):
                bar = bars[session]
                value *= (bar.close + bar.div_cash) * bar.split_factor / bars[previous].close
                market_values[(ticker, session)] = value
        for session in sessions:
            values[(portfolio, session)] = sum(market_values[(t, session)] for t in positions)
    return values


@pytest.fixture(scope="module")
def market() -> SampleMarket:
    return SampleMarket()


@pytest.fixture(scope="module")
def runs(
    airflow_db: Path, market: SampleMarket, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, RunOutcome]:
    """Four runs of the DAG, in order, each with the logical date the schedule would give it;
    the server's "today" is the run's session, as it would be at 21:30 that day."""
    from airflow.dag_processing.dagbag import DagBag

    data_dir = tmp_path_factory.mktemp("dag_e2e")
    holdings = data_dir / "holdings.csv"
    holdings.write_text(holdings_csv(), encoding="utf-8")
    token = secrets.token_hex(20)
    outcomes = {}
    with SampleTiingoServer(market, token=token) as server:
        variables = {
            "EQUITY_DATA_DIR": str(data_dir),
            "EQUITY_PORTFOLIOS": str(holdings),
            "EQUITY_TARGET": "duckdb",
            "TIINGO_BASE_URL": server.base_url,
            "TIINGO_API_KEY": token,
        }
        with environment(variables):
            dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags[DAG_ID]
            # Cosmos runs gc.collect() after every dbt command; leaving the objects that exist
            # now (Airflow, dbt, the DAG) out of those collections saves about 10 s a run.
            gc.freeze()
            try:
                for name, session in [
                    ("first", FIRST_SESSION),
                    ("next", NEXT_SESSION),
                    ("again", NEXT_SESSION),
                    ("holiday", HOLIDAY),
                ]:
                    server.advance_to(session)
                    output = io.StringIO()  # the task logs
                    with contextlib.redirect_stdout(output):
                        dag_run = dag.test(logical_date=scheduled_logical_date(session))
                    outcomes[name] = observe(output.getvalue(), dag_run, data_dir)
            finally:
                gc.unfreeze()
    return outcomes


def test_first_run_builds_gold_rows_for_its_session(
    runs: dict[str, RunOutcome], market: SampleMarket
) -> None:
    first = runs["first"]
    assert first.run_state == "success", first.output[-8000:]
    assert set(first.task_states.values()) == {"success"}
    assert any(task_id.startswith("dbt.") for task_id in first.task_states)
    expected = expected_portfolio_values(market, [FIRST_SESSION])
    assert [row[:3] for row in first.performance] == [
        ("P100", FIRST_SESSION, pytest.approx(expected[("P100", FIRST_SESSION)], rel=1e-12)),
        ("P200", FIRST_SESSION, pytest.approx(expected[("P200", FIRST_SESSION)], rel=1e-12)),
    ]
    spy_close = {bar.date: bar.close for bar in market.bars("SPY")}
    assert first.spy_prices == {FIRST_SESSION: pytest.approx(spy_close[FIRST_SESSION])}


def test_next_run_adds_the_next_session_and_keeps_the_first(
    runs: dict[str, RunOutcome], market: SampleMarket
) -> None:
    first, following = runs["first"], runs["next"]
    assert following.run_state == "success", following.output[-8000:]
    assert set(following.task_states.values()) == {"success"}
    expected = expected_portfolio_values(market, [FIRST_SESSION, NEXT_SESSION])
    assert [row[:3] for row in following.performance] == [
        (portfolio, session, pytest.approx(expected[(portfolio, session)], rel=1e-9))
        for portfolio in HOLDINGS
        for session in (FIRST_SESSION, NEXT_SESSION)
    ]
    first_session_rows = [row for row in following.performance if row[1] == FIRST_SESSION]
    assert first_session_rows == first.performance
    spy_close = {bar.date: bar.close for bar in market.bars("SPY")}
    assert following.spy_prices[NEXT_SESSION] == pytest.approx(spy_close[NEXT_SESSION])
    # Incremental: the run fetched its session (and the lookback), not the history again.
    assert following.raw_price_rows > first.raw_price_rows
    # ...and recomputed only the new session: the first session's rows are the first run's.
    assert following.gold_builds == first.gold_builds + 1 == 2
    for portfolio in HOLDINGS:
        first_run = first.run_ids[(portfolio, FIRST_SESSION)]
        assert following.run_ids[(portfolio, FIRST_SESSION)] == first_run
        assert following.run_ids[(portfolio, NEXT_SESSION)] != first_run


def test_rerunning_a_session_changes_nothing(runs: dict[str, RunOutcome]) -> None:
    before, again = runs["next"], runs["again"]
    assert again.run_state == "success", again.output[-8000:]
    assert set(again.task_states.values()) == {"success"}
    assert again.performance == before.performance
    assert again.spy_prices == before.spy_prices
    assert again.raw_price_rows == before.raw_price_rows
    # Nothing changed, so nothing was recomputed: every row is still the earlier runs'.
    assert again.run_ids == before.run_ids


def test_holiday_run_is_skipped_not_failed_and_writes_nothing(runs: dict[str, RunOutcome]) -> None:
    before, holiday = runs["again"], runs["holiday"]
    assert holiday.run_state == "success", holiday.output[-8000:]
    assert set(holiday.task_states.values()) == {"skipped"}
    assert holiday.task_states.keys() == before.task_states.keys()
    assert "2024-12-25..2024-12-25 holds no NYSE session" in holiday.output
    assert holiday.performance == before.performance
    assert holiday.spy_prices == before.spy_prices
    assert holiday.raw_price_rows == before.raw_price_rows
    assert holiday.bronze_objects == before.bronze_objects
