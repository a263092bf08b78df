"""`equity-analytics run --sample-market` as a user runs it: a real process, server and warehouse."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb

from ingestion import calendar
from ingestion.holdings import normalize_ticker
from ingestion.sample_market import SampleMarket
from ingestion.settings import SAMPLE_PORTFOLIOS

CLI = str(Path(sys.executable).with_name("equity-analytics"))
GROWING_BY_DESIGN = {"raw.load_ledger", "raw.load_runs"}
# What the run recomputes: everything on the first run, nothing on a rerun with no new data.
RECOMPUTE_PLANS = {"silver.int_portfolio_recompute_plan", "silver.int_security_recompute_plan"}


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EQUITY_", "TIINGO_"))}
    return subprocess.run(
        [CLI, "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def table_counts(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in ('raw', 'silver', 'gold') and table_type = 'BASE TABLE'"
        ).fetchall()
        return {t: con.execute(f"select count(*) from {t}").fetchone()[0] for (t,) in tables}


def expected_counts() -> dict[str, int]:
    """Row counts computed independently from the sample market and the sample holdings."""
    market = SampleMarket()
    as_of = market.sessions[-1]
    with open(SAMPLE_PORTFOLIOS, newline="") as handle:
        holdings = list(csv.DictReader(handle))
    history_start = min(date.fromisoformat(h["inception_date"]) for h in holdings)
    tickers = {normalize_ticker(h["ticker"]) for h in holdings} | {"SPY"}
    price_rows = sum(
        1 for t in tickers for bar in market.bars(t, as_of) if bar.date >= history_start
    )
    t0 = {
        h["portfolio_id"]: calendar.first_session_on_or_after(
            date.fromisoformat(h["inception_date"])
        )
        for h in holdings
    }
    sessions_from = {p: len(calendar.sessions_between(d, as_of)) for p, d in t0.items()}
    return {
        "raw.tiingo_daily_prices": price_rows,
        "raw.tiingo_ticker_metadata": len(tickers),
        "raw.portfolio_holdings": len(holdings),
        "gold.fact_market_price_daily": price_rows,
        "gold.dim_portfolio": len(t0),
        "gold.fact_portfolio_performance_daily": sum(sessions_from.values()),
        "gold.fact_portfolio_position_daily": sum(
            sessions_from[h["portfolio_id"]] for h in holdings
        ),
    }


def test_run_builds_every_layer_and_a_second_run_adds_no_rows(tmp_path):
    data_dir = tmp_path / "data"
    first = run_cli(data_dir, "run", "--sample-market")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Warehouse:" in first.stdout and str(data_dir / "warehouse.duckdb") in first.stdout

    counts = table_counts(data_dir / "warehouse.duckdb")
    for table, expected in expected_counts().items():
        assert counts[table] == expected, table

    second = run_cli(data_dir, "run", "--sample-market")
    assert second.returncode == 0, second.stdout + second.stderr
    again = table_counts(data_dir / "warehouse.duckdb")
    unchanged = GROWING_BY_DESIGN | RECOMPUTE_PLANS
    assert {t: n for t, n in again.items() if t not in unchanged} == {
        t: n for t, n in counts.items() if t not in unchanged
    }
    assert all(counts[plan] > 0 for plan in RECOMPUTE_PLANS)
    assert all(again[plan] == 0 for plan in RECOMPUTE_PLANS)
    assert "-> 0 raw rows inserted" in second.stderr


def test_every_subcommand_has_help():
    for command in ([], ["ingest"], ["load"], ["transform"], ["run"], ["serve-sample"]):
        result = subprocess.run(
            [CLI, *command, "--help"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, command
        assert "Usage: equity-analytics" in result.stdout
    top = subprocess.run([CLI, "--help"], capture_output=True, text=True, check=False).stdout
    for option in ("--data-dir", "--portfolios", "--target", "EQUITY_DATA_DIR", "TIINGO_API_KEY"):
        assert option in top
