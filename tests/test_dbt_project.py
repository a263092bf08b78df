"""Project-wide dbt guarantees: documentation, primary-key tests, time-zone independence."""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from ingestion import pipeline
from ingestion.build_state import BUILD_RECORD, MANIFEST, state_dir, warehouse_last_build
from ingestion.ingest import ingest_holdings
from ingestion.settings import Settings, new_run_id
from ingestion.transform import artifacts_dir, run_dbt

GOLD_TABLES = (
    "dim_date",
    "dim_security",
    "dim_portfolio",
    "fact_market_price_daily",
    "fact_portfolio_position_daily",
    "fact_portfolio_performance_daily",
)
# Run metadata and lineage differ between two builds by design; every value must not.
RUN_METADATA = ("run_id", "processed_at", "bronze_key")
CLI = str(Path(sys.executable).with_name("equity-analytics"))


def warehouse_copy(built_sample_warehouse, data_dir: Path) -> Settings:
    """Settings on a copy of the built sample warehouse in ``data_dir``, free to change."""
    settings = replace(built_sample_warehouse.settings, data_dir=data_dir)
    shutil.copy(built_sample_warehouse.duckdb_path, settings.duckdb_path)
    return settings


def run_results(settings: Settings) -> list[dict]:
    """The node results of the last dbt command run on ``settings``' data folder."""
    path = artifacts_dir(settings) / "target" / "run_results.json"
    return json.loads(path.read_text())["results"]


def data_test_result(settings, select: str, scope: str) -> dict:
    """The run_results.json entry of the one data test `select` picks, run with that scope."""
    run_dbt(settings, "test", ("--select", select), {"data_tests_scope": scope})
    (result,) = (r for r in run_results(settings) if r["unique_id"].startswith("test."))
    return result


@pytest.fixture(scope="module")
def manifest(built_sample_warehouse) -> dict:
    result = run_dbt(built_sample_warehouse.settings, "parse")
    assert result.success
    path = built_sample_warehouse.data_dir.resolve() / "dbt" / "target" / "manifest.json"
    return json.loads(path.read_text())


def test_every_unit_test_passes(built_sample_warehouse, manifest) -> None:
    # The pipeline's builds leave unit tests out (their inputs are fixed); CI runs them here.
    result = run_dbt(built_sample_warehouse.settings, "test", ("--select", "test_type:unit"))
    unit_tests = [
        u for u in manifest["unit_tests"].values() if u["package_name"] == "equity_analytics"
    ]
    assert len(unit_tests) >= 17
    assert result.success and result.counts["pass"] == len(unit_tests)


def test_daily_builds_leave_out_the_invariant_tests_and_test_all_rows_runs_every_test(
    built_sample_warehouse, manifest, tmp_path
) -> None:
    # Tests tagged invariant can fail only when the code changes: the pipeline's daily builds
    # leave them out, `transform --test-all-rows` (and CI, here) runs them (docs: data_tests_scope).
    settings = warehouse_copy(built_sample_warehouse, tmp_path)
    data_tests = {
        node["name"]: node["tags"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and node["package_name"] == "equity_analytics"
    }
    invariant = {name for name, tags in data_tests.items() if "invariant" in tags}
    assert 0 < len(invariant) < len(data_tests) / 2

    def data_test_statuses(dbt_vars: dict[str, str] | None) -> dict[str, str]:
        result = pipeline.run_transform(settings, (), dbt_vars)
        assert result.success
        return {
            r["unique_id"].split(".")[2]: r["status"]
            for r in run_results(settings)
            if r["unique_id"].startswith("test.")
        }

    daily = data_test_statuses(None)
    assert set(daily) == set(data_tests) - invariant
    everything = data_test_statuses({"data_tests_scope": "all"})
    assert set(everything) == set(data_tests)
    assert set(everything.values()) == {"pass"}


def test_a_daily_build_leaves_out_the_seeds_and_views_nothing_changed_since_the_last_one(
    built_sample_warehouse, manifest, tmp_path
) -> None:
    # docs: daily_build_state. The saved manifest is used only on the warehouse whose last
    # complete build saved it; a view changed since (or downstream of a change) is built again.
    settings = warehouse_copy(built_sample_warehouse, tmp_path)
    nodes = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["package_name"] == "equity_analytics"
    }
    seeds = {uid for uid, node in nodes.items() if node["resource_type"] == "seed"}
    views = {
        uid
        for uid, node in nodes.items()
        if node["resource_type"] == "model" and node["config"]["materialized"] == "view"
    }
    seed_tests = {
        uid
        for uid, node in nodes.items()
        if node["resource_type"] == "test" and set(node["depends_on"]["nodes"]) <= seeds
    }
    # The holdings views' own tests (not the tests elsewhere that read them).
    holdings_view_tests = {
        uid
        for uid, node in nodes.items()
        if node["resource_type"] == "test"
        and node["original_file_path"].startswith("models/staging/portfolios/")
        and "invariant" not in node["tags"]
    }
    assert len(seeds) == 2 and len(views) >= 10 and len(seed_tests) >= 5
    assert len(holdings_view_tests) >= 5

    def daily_build() -> set[str]:
        result = pipeline.run_transform(replace(settings, run_id=new_run_id()))
        assert result.success, result.counts
        return {r["unique_id"] for r in run_results(settings)}

    target = artifacts_dir(settings) / "target"
    state_manifest = state_dir(settings) / MANIFEST

    def saved_by() -> str | None:
        record = state_dir(settings) / BUILD_RECORD
        return json.loads(record.read_text())["run_id"] if record.exists() else None

    # No state yet (a new data folder): everything is built, and the build's manifest is kept.
    first = daily_build()
    assert seeds | views | seed_tests | holdings_view_tests <= first
    written = (target / MANIFEST).stat().st_mtime_ns
    assert (target / MANIFEST).read_bytes() == state_manifest.read_bytes()
    first_invocation = json.loads((target / "run_results.json").read_text())["metadata"]
    # Nothing changed: no seed, no seed test, no view, and no test of the holdings views (no
    # holdings file was loaded since); every other node as before. The build ran no seed and
    # no view, so the saved manifest stays the state, now under this build's run id, and dbt
    # wrote no manifest of its own; its run_results.json is this build's.
    second = daily_build()
    assert second == first - seeds - views - seed_tests - holdings_view_tests
    assert (target / MANIFEST).stat().st_mtime_ns == written
    assert saved_by() == warehouse_last_build(settings).run_id
    invocation = json.loads((target / "run_results.json").read_text())["metadata"]
    assert invocation["invocation_id"] != first_invocation["invocation_id"]
    # A holdings file with one share count changed, stored and loaded: the holdings views'
    # tests run again, and after that build passed them, not again.
    sample = Path(settings.portfolios).read_text()
    new_file = tmp_path / "holdings.csv"
    new_file.write_text(
        sample.replace("Core US Large Cap,AAPL,150,", "Core US Large Cap,AAPL,151,")
    )
    assert new_file.read_text() != sample
    ingest_holdings(
        replace(settings, portfolios=str(new_file)), pipeline.open_store(settings), new_run_id()
    )
    assert pipeline.run_load(replace(settings, run_id=new_run_id())).rows_inserted > 0
    assert daily_build() == second | holdings_view_tests
    assert daily_build() == second
    # A holdings view whose code changed: the view and its own tests, not the other views' tests.
    saved = json.loads(state_manifest.read_text())
    holdings_view = "model.equity_analytics.stg_portfolios__holdings"
    saved["nodes"][holdings_view]["raw_code"] += "\n-- an older version of the view"
    state_manifest.write_text(json.dumps(saved))
    own_tests = {
        uid for uid in holdings_view_tests if nodes[uid]["depends_on"]["nodes"] == [holdings_view]
    }
    assert own_tests
    built = daily_build()
    assert own_tests | {holdings_view} <= built
    assert not (holdings_view_tests - own_tests) & built
    # That build created a view without writing its manifest, so it forgot the state: the next
    # build builds every node and saves its own manifest.
    assert saved_by() is None
    assert daily_build() == first
    assert (target / MANIFEST).stat().st_mtime_ns != written
    assert saved_by() == warehouse_last_build(settings).run_id
    assert daily_build() == second
    # A view whose code changed since the saved manifest, and the views downstream of it.
    saved = json.loads(state_manifest.read_text())
    changed = "model.equity_analytics.base_tiingo__daily_price_versions"
    saved["nodes"][changed]["raw_code"] += "\n-- an older version of the view"
    state_manifest.write_text(json.dumps(saved))
    downstream_views = {
        "model.equity_analytics.stg_tiingo__daily_prices",
        "model.equity_analytics.stg_tiingo__daily_price_superseded",
        "model.equity_analytics.int_prices_validated",
        "model.equity_analytics.portfolio_contribution_by_security",
        "model.equity_analytics.portfolio_contribution_by_security_period",
        "model.equity_analytics.portfolio_sector_exposure_daily",
        "model.equity_analytics.portfolio_sector_performance_daily",
    }
    assert downstream_views <= views
    assert daily_build() == second | {changed} | downstream_views
    # The warehouse replaced by one this state did not build: everything is built again.
    shutil.copy(built_sample_warehouse.duckdb_path, settings.duckdb_path)
    assert daily_build() == first
    # A partial build forgets the state.
    assert pipeline.run_transform(settings, ("--select", "dim_date")).success
    assert daily_build() == first


def test_a_dbt_command_leaves_the_warehouse_file_free_for_another_process(
    built_sample_warehouse,
) -> None:
    # The profile keeps DuckDB open for a whole dbt command (keep_open); run_dbt must close it,
    # or a load or Airflow task in another process could not take the file's write lock.
    result = run_dbt(
        built_sample_warehouse.settings, "show", ("--inline", "select count(*) from gold.dim_date")
    )
    assert result.success
    opened_for_writing = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
            "print(con.execute('select count(*) from gold.dim_portfolio').fetchone()[0])",
            str(built_sample_warehouse.duckdb_path),
        ],
        capture_output=True,
        text=True,
    )
    assert opened_for_writing.returncode == 0, opened_for_writing.stderr
    assert int(opened_for_writing.stdout) == 3


def test_a_dbt_command_runs_few_garbage_collections_and_restores_the_thresholds(
    built_sample_warehouse,
) -> None:
    collections: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "stop":
            collections.append(info["generation"])

    before = gc.get_threshold()
    gc.callbacks.append(count)
    try:
        result = run_dbt(built_sample_warehouse.settings, "show", ("--inline", "select 1 as one"))
    finally:
        gc.callbacks.remove(count)
    assert result.success
    # Under Python's default thresholds this command collects some hundreds of times.
    assert len(collections) < 20, f"{len(collections)} collections"
    assert gc.get_threshold() == before


def test_the_layer_row_counts_of_a_build_reconcile_raw_to_gold(built_sample_warehouse) -> None:
    with duckdb.connect(str(built_sample_warehouse.duckdb_path), read_only=True) as con:
        (run_id,) = con.execute(
            "select run_id from audit.layer_row_counts order by recorded_at desc limit 1"
        ).fetchone()
        recorded = con.execute(
            "select layer, model_name, row_count from audit.layer_row_counts where run_id = ?",
            [run_id],
        ).fetchall()
        views = {
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_type = 'VIEW'"
            ).fetchall()
        }
        counts = {}
        for layer, name, row_count in recorded:
            relation = f"raw.{name.split('.')[1]}" if layer == "bronze" else f"{layer}.{name}"
            (counts[relation],) = con.execute(f"select count(*) from {relation}").fetchone()
            assert row_count == counts[relation], relation
    # Counting a view computes it (the staging views over all of history), so none is counted.
    assert views and not views & counts.keys()
    assert {f"gold.{table}" for table in GOLD_TABLES} <= counts.keys()
    assert counts["raw.tiingo_daily_prices"] > 0
    assert counts["gold.fact_market_price_daily"] == counts["silver.int_security_returns"] > 0


def test_gold_holds_the_six_contract_tables_and_the_supporting_kpis_as_views(
    built_sample_warehouse,
):
    """The KPI contract: no table in gold but the six of the v1 star schema; the supporting
    KPIs (contribution, sector exposure and performance) are views on top of them."""
    with duckdb.connect(str(built_sample_warehouse.duckdb_path), read_only=True) as con:
        relations = con.execute(
            "select table_type, table_name from information_schema.tables "
            "where table_schema = 'gold' order by table_name"
        ).fetchall()
    assert [name for kind, name in relations if kind == "BASE TABLE"] == sorted(GOLD_TABLES)
    assert [name for kind, name in relations if kind == "VIEW"] == [
        "portfolio_contribution_by_security",
        "portfolio_contribution_by_security_period",
        "portfolio_sector_exposure_daily",
        "portfolio_sector_performance_daily",
    ]


def models_of(manifest: dict) -> list[dict]:
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]


def test_every_model_and_column_has_a_description(manifest):
    undocumented = []
    for model in models_of(manifest):
        if not model["description"].strip():
            undocumented.append(model["name"])
        undocumented += [
            f"{model['name']}.{c}"
            for c, col in model["columns"].items()
            if not col["description"].strip()
        ]
    assert undocumented == []


def test_every_model_has_a_primary_key_test(manifest):
    key_tests = {"primary_key", "unique_combination_of_columns"}
    tested = {
        dep
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test"
        and node.get("test_metadata", {}).get("name") in key_tests
        for dep in node["depends_on"]["nodes"]
    }
    missing = [m["name"] for m in models_of(manifest) if m["unique_id"] not in tested]
    assert missing == []


def test_the_primary_key_test_fails_on_a_duplicate_key_and_on_a_null_key_part(
    built_sample_warehouse, tmp_path
):
    settings = warehouse_copy(built_sample_warehouse, tmp_path)
    table = "silver.int_sector_performance_daily"  # key: portfolio_id, sector, date_day

    def key_test_failures(copied_row: str | None) -> int:
        """Failures of the table's primary-key test after inserting one changed copy of a row."""
        if copied_row:
            with duckdb.connect(str(settings.duckdb_path)) as con:
                con.execute(f"insert into {table} select {copied_row} from {table} limit 1")
        result = data_test_result(
            settings, "int_sector_performance_daily,test_name:primary_key", "all"
        )
        with duckdb.connect(str(settings.duckdb_path)) as con:
            con.execute(f"delete from {table} where run_id = 'test'")
        return result["failures"]

    assert key_test_failures(None) == 0
    assert key_test_failures("* replace ('test' as run_id)") == 1  # a duplicate key
    assert key_test_failures("* replace ('test' as run_id, null as sector)") == 1
    assert key_test_failures("* replace ('test' as run_id, null as date_day)") == 1


def test_the_holdings_reconciliation_counts_each_portfolios_positions_in_its_scope(
    built_sample_warehouse, tmp_path
):
    settings = warehouse_copy(built_sample_warehouse, tmp_path)

    def failing_portfolios(scope: str) -> int:
        return data_test_result(settings, "assert_holdings_reconcile_to_gold", scope)["failures"]

    with duckdb.connect(str(settings.duckdb_path)) as con:
        portfolios = con.execute(
            "select portfolio_id from gold.dim_portfolio order by portfolio_id limit 2"
        ).fetchall()
        (planned,), (unplanned,) = portfolios
        (last_session,) = con.execute(
            "select max(date_day) from gold.fact_portfolio_position_daily"
        ).fetchone()
        # A daily run that recomputed the last session of one portfolio.
        con.execute(
            "delete from silver.int_portfolio_recompute_plan where portfolio_id <> ?", [planned]
        )
        con.execute(
            "update silver.int_portfolio_recompute_plan set recompute_from = ?", [last_session]
        )
    assert failing_portfolios("changed") == 0
    assert failing_portfolios("all") == 0

    def drop_one_position(portfolio_id: str) -> None:
        with duckdb.connect(str(settings.duckdb_path)) as con:
            con.execute(
                "delete from gold.fact_portfolio_position_daily where portfolio_id = ? and ticker ="
                " (select min(ticker) from gold.fact_portfolio_position_daily where portfolio_id = ?)",
                [portfolio_id, portfolio_id],
            )

    # A portfolio the run did not recompute is checked by the whole-table scope only.
    drop_one_position(unplanned)
    assert failing_portfolios("changed") == 0
    assert failing_portfolios("all") == 1
    drop_one_position(planned)
    assert failing_portfolios("changed") == 1
    assert failing_portfolios("all") == 2


def test_the_position_fact_is_stored_session_by_session(built_sample_warehouse):
    # DuckDB keeps insertion order (rowid) and skips row groups by min/max: a daily run's
    # bounds on recent sessions skip history only if the sessions are stored in order.
    with duckdb.connect(str(built_sample_warehouse.duckdb_path), read_only=True) as con:
        rows, out_of_order = con.execute(
            "select count(*), count(case when date_day < previous_date_day then 1 end) from ("
            "  select date_day, lag(date_day) over (order by rowid) as previous_date_day"
            "  from gold.fact_portfolio_position_daily"
            ")"
        ).fetchone()
    assert rows > 10_000
    assert out_of_order == 0


@pytest.mark.parametrize(
    ("schema", "model", "column", "message"),
    [
        # A daily run starts from the stored portfolio value.
        (
            "gold",
            "fact_portfolio_position_daily",
            "portfolio_value",
            "silver.int_positions_valued is no longer built and can be dropped",
        ),
        # A daily run carries the profit of earlier months from the stored months.
        (
            "silver",
            "int_position_profit_monthly",
            "profit_before_month",
            "was built before its column profit_before_month existed",
        ),
    ],
)
def test_a_table_built_without_a_column_it_carries_on_from_asks_for_a_full_refresh(
    built_sample_warehouse, tmp_path, schema, model, column, message
):
    # Appending the column empty would carry nothing into every later row, so the build stops
    # and says what to do.
    settings = warehouse_copy(built_sample_warehouse, tmp_path)
    before = gold_rows(settings.duckdb_path, model, schema)
    with duckdb.connect(str(settings.duckdb_path)) as con:
        con.execute(f"alter table {schema}.{model} drop column {column}")

    result = run_dbt(settings, "build", ("--select", model))
    assert not result.success
    (node,) = (r for r in run_results(settings) if r["unique_id"].endswith(f".{model}"))
    assert node["status"] == "error"
    assert "rebuild it with `equity-analytics transform --full-refresh`" in node["message"]
    assert message in node["message"]

    assert run_dbt(settings, "build", ("--select", model, "--full-refresh")).success
    assert gold_rows(settings.duckdb_path, model, schema) == before


def gold_rows(path: Path, table: str, schema: str = "gold") -> list[tuple]:
    """Every row of a table (gold unless told), sorted, without the run's metadata columns."""
    with duckdb.connect(str(path), read_only=True) as con:
        columns = [
            c
            for (c,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            if c not in RUN_METADATA
        ]
        select = ", ".join(f'"{c}"' for c in columns)
        return con.execute(f"select {select} from {schema}.{table} order by all").fetchall()


def test_the_build_is_identical_with_the_machine_in_new_york_time(built_sample_warehouse, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EQUITY_", "TIINGO_"))}
    env["TZ"] = "America/New_York"
    data_dir = tmp_path / "new_york"
    result = subprocess.run(
        [CLI, "--data-dir", str(data_dir), "run", "--sample-market"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for table in GOLD_TABLES:
        new_york = gold_rows(data_dir / "warehouse.duckdb", table)
        assert new_york, table
        assert new_york == gold_rows(built_sample_warehouse.duckdb_path, table), table
