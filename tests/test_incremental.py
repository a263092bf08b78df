"""Daily increments, reruns, late data and reprocessing give exactly the rows of a full rebuild.

A seeded random sequence of operations runs against the real sample Tiingo server and the real
pipeline (bronze -> raw -> dbt incremental models); at the end every gold table and view, and
the rejects table, must equal a full refresh built from the same bronze objects in a separate
warehouse.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import shutil
import socket
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ingestion import pipeline
from ingestion.redshift_check import check_sql
from ingestion.sample_market import SampleMarket, SampleTiingoServer
from ingestion.settings import Settings, new_run_id
from ingestion.transform import run_dbt

SEED = 20241122
# Data tests and unit tests run in the rest of the suite; here only the models are built.
MODELS_ONLY = ("--exclude", "resource_type:test", "resource_type:unit_test")
RELATIVE_TOLERANCE = 1e-12
# A value that should be exactly 0 (a return of X / X - 1) may come out as a few ulp of 1.
ABSOLUTE_TOLERANCE = 1e-15
IGNORED_COLUMNS = {"run_id", "processed_at"}
# Every table a daily run writes incrementally or derives from those that do.
COMPARED_TABLES = {
    "gold.dim_date": ["date_day"],
    "gold.dim_security": ["ticker"],
    "gold.dim_portfolio": ["portfolio_id"],
    "gold.fact_market_price_daily": ["ticker", "date_day"],
    "gold.fact_portfolio_position_daily": ["portfolio_id", "ticker", "date_day"],
    "gold.fact_portfolio_performance_daily": ["portfolio_id", "date_day"],
    "gold.portfolio_contribution_by_security": ["portfolio_id", "ticker", "date_day"],
    "gold.portfolio_contribution_by_security_period": [
        "portfolio_id",
        "ticker",
        "period_type",
        "period_start",
    ],
    "gold.portfolio_sector_exposure_daily": ["portfolio_id", "date_day", "sector"],
    "gold.portfolio_sector_performance_daily": ["portfolio_id", "sector", "date_day"],
    "audit.rejected_records": [
        "record_type",
        "bronze_key",
        "ticker",
        "date_day",
        "source_row_number",
        "reject_code",
    ],
}
HISTORY_START = date(2023, 5, 1)
# Inception early enough that the 252-session windows fill during the sequence.
FIRST_HOLDINGS = """portfolio_id,portfolio_name,ticker,shares,inception_date
P1,Core,AAPL,10,2023-05-15
P1,Core,O,40,2023-05-15
P1,Core,KO,30,2023-05-15
P1,Core,NVDA,12,2023-05-15
P2,Growth,MSFT,8,2024-01-10
P2,Growth,TSLA,9,2024-01-10
P2,Growth,GE,25,2024-01-10
"""
# A newer file: P2 changes a holding and P3 arrives, with an inception in the past.
SECOND_HOLDINGS = (
    FIRST_HOLDINGS.replace("P2,Growth,GE,25", "P2,Growth,GE,30")
    + "P3,Income,PG,15,2024-02-01\nP3,Income,JNJ,20,2024-02-01\nP3,Income,SPY,5,2024-02-01\n"
)
HELD_TICKERS = ["AAPL", "O", "KO", "NVDA", "MSFT", "TSLA", "GE"]


@dataclass
class Scenario:
    server: SampleTiingoServer
    settings: Settings
    holdings_csv: Path

    @property
    def market(self) -> SampleMarket:
        return self.server.market

    def sessions_before(self, count: int) -> date:
        sessions = [d for d in self.market.sessions if d <= self.server.as_of]
        return sessions[-1 - count]

    def next_session(self) -> date:
        return next(d for d in self.market.sessions if d > self.server.as_of)

    def fresh_settings(self) -> Settings:
        return replace(self.settings, run_id=new_run_id())

    def run_day(self) -> None:
        settings = self.fresh_settings()
        pipeline.run_ingest(settings)
        pipeline.run_load(settings)
        result = pipeline.run_transform(settings, MODELS_ONLY)
        assert result.success, result.counts


def read_table(duckdb_path: Path, table: str) -> pd.DataFrame:
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        frame = con.execute(f"select * from {table}").df()
    frame = frame.drop(columns=[c for c in frame.columns if c in IGNORED_COLUMNS])
    return frame.sort_values(COMPARED_TABLES[table], ignore_index=True)


def checksums(duckdb_path: Path) -> dict[str, str]:
    """A digest of every compared table's rows (ignoring run_id and processed_at), bit for bit."""
    return {
        table: hashlib.sha256(
            pd.util.hash_pandas_object(read_table(duckdb_path, table), index=False).to_numpy()
        ).hexdigest()
        for table in COMPARED_TABLES
    }


def table_differences(expected: pd.DataFrame, actual: pd.DataFrame, keys: list[str]) -> list[str]:
    merged = expected.merge(
        actual, on=keys, how="outer", suffixes=("_full", "_incremental"), indicator=True
    )
    problems = []
    for side, label in (("left_only", "missing"), ("right_only", "extra")):
        stray = merged.loc[merged["_merge"] == side, keys]
        if len(stray):
            problems.append(f"{len(stray)} {label} rows, e.g.\n{stray.head(5).to_string()}")
    both = merged[merged["_merge"] == "both"]
    for column in (c for c in expected.columns if c not in keys):
        full, incremental = both[f"{column}_full"], both[f"{column}_incremental"]
        if pd.api.types.is_float_dtype(full) or pd.api.types.is_float_dtype(incremental):
            a, b = full.astype(float).to_numpy(), incremental.astype(float).to_numpy()
            with np.errstate(invalid="ignore"):
                close = np.abs(a - b) <= np.maximum(
                    RELATIVE_TOLERANCE * np.abs(a), ABSOLUTE_TOLERANCE
                )
            bad = ~((np.isnan(a) & np.isnan(b)) | close)
        else:
            bad = ~((full == incremental) | (full.isna() & incremental.isna())).to_numpy()
        if bad.any():
            shown = both.loc[bad, keys + [f"{column}_full", f"{column}_incremental"]].head(5)
            problems.append(f"{column}: {int(bad.sum())} rows differ, e.g.\n{shown.to_string()}")
    return problems


def full_refresh_from_bronze(scenario: Scenario, data_dir: Path) -> Path:
    """A separate warehouse built in one go from a copy of the scenario's bronze objects."""
    shutil.copytree(scenario.settings.data_dir / "bronze", data_dir / "bronze")
    settings = replace(scenario.settings, data_dir=data_dir, run_id=new_run_id())
    pipeline.run_load(settings)
    result = pipeline.run_transform(settings, ("--full-refresh", *MODELS_ONLY))
    assert result.success, result.counts
    return settings.duckdb_path


@pytest.fixture
def scenario(tmp_path: Path):
    token = secrets.token_hex(20)
    market = SampleMarket()
    with SampleTiingoServer(market, token=token, as_of=date(2024, 5, 31)) as server:
        holdings_csv = tmp_path / "holdings.csv"
        holdings_csv.write_text(FIRST_HOLDINGS)
        settings = Settings(
            data_dir=tmp_path / "data",
            portfolios=str(holdings_csv),
            history_start=HISTORY_START,
        ).with_tiingo(base_url=server.base_url, api_key=token)
        yield Scenario(server=server, settings=settings, holdings_csv=holdings_csv)


def test_random_increments_corrections_and_reprocessing_equal_a_full_refresh(
    scenario: Scenario, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    scenario.run_day()  # the backfill

    def daily() -> None:
        scenario.server.advance_to(scenario.next_session())
        scenario.run_day()

    def rerun() -> None:
        before = checksums(scenario.settings.duckdb_path)
        scenario.run_day()
        assert checksums(scenario.settings.duckdb_path) == before

    def correction_in_lookback() -> None:
        ticker, day = rng.choice(HELD_TICKERS), scenario.sessions_before(rng.randint(1, 4))
        close = next(b.close for b in scenario.market.bars(ticker) if b.date == day)
        scenario.market.correct_close(ticker, day, round(close * 1.03, 2))
        daily()

    def dividend() -> None:
        ticker, day = rng.choice(HELD_TICKERS), scenario.sessions_before(rng.randint(0, 3))
        scenario.market.add_dividend(ticker, day, round(rng.uniform(0.2, 1.5), 2))
        daily()

    def split() -> None:
        ticker, day = rng.choice(HELD_TICKERS), scenario.sessions_before(rng.randint(0, 3))
        scenario.market.add_split(ticker, day, rng.choice([2.0, 3.0, 0.5]))
        daily()

    def portfolio_added() -> None:
        scenario.holdings_csv.write_text(SECOND_HOLDINGS)
        scenario.run_day()

    def late_correction_refetched() -> None:
        ticker, day = rng.choice(HELD_TICKERS), scenario.sessions_before(rng.randint(20, 60))
        close = next(b.close for b in scenario.market.bars(ticker) if b.date == day)
        scenario.market.correct_close(ticker, day, round(close * 0.97, 2))
        summary = pipeline.run_reprocess(scenario.fresh_settings(), day, day, refetch=True)
        assert summary.transform.success and summary.load.rows_inserted >= 1

    def reprocess_old_range() -> None:
        start = scenario.sessions_before(rng.randint(100, 200))
        summary = pipeline.run_reprocess(scenario.fresh_settings(), start)
        assert summary.transform.success and summary.raw_rows_restored == 0

    operations = [
        daily,
        rerun,
        correction_in_lookback,
        dividend,
        split,
        portfolio_added,
        late_correction_refetched,
        reprocess_old_range,
    ]
    rng.shuffle(operations)
    for operation in [*operations, daily, rerun]:
        operation()

    incremental = scenario.settings.duckdb_path
    full = full_refresh_from_bronze(scenario, tmp_path / "full")
    problems = []
    for table, keys in COMPARED_TABLES.items():
        expected, actual = read_table(full, table), read_table(incremental, table)
        assert len(expected) > 0, table
        problems += [f"{table}: {p}" for p in table_differences(expected, actual, keys)]
    assert not problems, "\n\n".join(problems)
    with duckdb.connect(str(incremental), read_only=True) as con:
        portfolios, betas = con.execute(
            "select count(distinct portfolio_id), count(beta_252d) "
            "from gold.fact_portfolio_performance_daily"
        ).fetchone()
    assert portfolios == 3 and betas > 0


def test_a_sector_changed_in_the_security_master_reaches_the_sector_tables(
    scenario: Scenario,
) -> None:
    """The tables behind the period and sector-performance views store rows by each
    security's sector; a reclassification changes no price or holding, so the recompute plans
    miss it and each model checks its stored sectors itself."""
    scenario.run_day()
    warehouse = scenario.settings.duckdb_path
    tables = [
        "gold.portfolio_contribution_by_security_period",
        "gold.portfolio_sector_performance_daily",
    ]
    stored_tables = [
        "silver.int_contribution_by_security_period",
        "silver.int_sector_performance_daily",
    ]
    current = {table: read_table(warehouse, table) for table in tables}
    # As if the previous build had stored P1's IT holdings under a sector since renamed.
    with duckdb.connect(str(warehouse)) as con:
        stale = [
            con.execute(
                f"update {stored} set sector = 'Old sector' "
                "where portfolio_id = 'P1' and sector = 'Information Technology'"
            ).fetchone()[0]
            for stored in stored_tables
        ]
    assert min(stale) > 0

    scenario.run_day()  # nothing new to load: the recompute plans are empty

    for table in tables:
        rebuilt = read_table(warehouse, table)
        assert table_differences(current[table], rebuilt, COMPARED_TABLES[table]) == [], table
        assert "Old sector" not in set(rebuilt["sector"]), table


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_reprocess_restores_raw_from_bronze_without_the_vendor(scenario: Scenario) -> None:
    scenario.run_day()
    before = {table: read_table(scenario.settings.duckdb_path, table) for table in COMPARED_TABLES}
    start, end = scenario.sessions_before(30), scenario.sessions_before(10)
    with duckdb.connect(str(scenario.settings.duckdb_path)) as con:
        lost = con.execute(
            "delete from raw.tiingo_daily_prices where substr(date, 1, 10) between ? and ?",
            [start.isoformat(), end.isoformat()],
        ).fetchone()[0]
    assert lost > 0

    offline = replace(
        scenario.fresh_settings(),
        tiingo_api_key="",
        tiingo_base_url=f"http://127.0.0.1:{closed_port()}",
    )
    requests_before = len(scenario.server.requests_log)
    summary = pipeline.run_reprocess(offline, start, end)

    assert summary.transform.success
    assert summary.raw_rows_restored == lost
    assert len(scenario.server.requests_log) == requests_before
    problems = [
        f"{table}: {problem}"
        for table, keys in COMPARED_TABLES.items()
        for problem in table_differences(
            before[table], read_table(scenario.settings.duckdb_path, table), keys
        )
    ]
    assert not problems, "\n\n".join(problems)
    again = pipeline.run_reprocess(replace(offline, run_id=new_run_id()), start, end)
    assert again.raw_rows_restored == 0


def test_data_tests_of_a_daily_run_check_the_sessions_it_changed(scenario: Scenario) -> None:
    scenario.run_day()
    scenario.server.advance_to(scenario.next_session())
    scenario.run_day()
    settings, warehouse = scenario.fresh_settings(), scenario.settings.duckdb_path
    with duckdb.connect(str(warehouse)) as con:
        first, last = con.execute(
            "select min(date_day), max(date_day) from gold.fact_portfolio_position_daily"
        ).fetchone()

    def duplicate_a_position(session: date) -> None:
        with duckdb.connect(str(warehouse)) as con:
            con.execute(
                "insert into gold.fact_portfolio_position_daily "
                "select * from gold.fact_portfolio_position_daily where date_day = ? limit 1",
                [session],
            )

    def run_key_test(scope: str) -> dict[str, str]:
        """Status and compiled SQL of the primary-key test of the position fact."""
        run_dbt(
            settings,
            "test",
            ("--select", "fact_portfolio_position_daily"),
            {"data_tests_scope": scope},
        )
        results = json.loads((settings.data_dir / "dbt/target/run_results.json").read_text())
        key_test = next(r for r in results["results"] if "primary_key" in r["unique_id"])
        return {"status": key_test["status"], "sql": key_test["compiled_code"]}

    # The last run recomputed one session; an old duplicate is outside it.
    duplicate_a_position(first)
    changed = run_key_test("changed")
    assert changed["status"] == "pass"
    assert f"date_day >= cast('{last.isoformat()}' as date)" in changed["sql"]
    assert check_sql(changed["sql"]) == []  # the bound is portable to Redshift
    whole = run_key_test("all")
    assert whole["status"] == "fail"
    assert "cast(" not in whole["sql"]
    # A duplicate in the session the run recomputed is caught with the changed scope too.
    duplicate_a_position(last)
    assert run_key_test("changed")["status"] == "fail"
