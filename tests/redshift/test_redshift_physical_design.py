"""Redshift physical design configs on the gold layer, read from the parsed dbt manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion.settings import DBT_PROJECT_DIR

FACTS = {
    "fact_market_price_daily": "ticker",
    "fact_portfolio_position_daily": "portfolio_id",
    "fact_portfolio_performance_daily": "portfolio_id",
}
DIMENSIONS = ("dim_date", "dim_security", "dim_portfolio")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    target = tmp_path_factory.mktemp("parse")
    env = os.environ | {"EQUITY_DUCKDB_PATH": str(target / "unused.duckdb"), "DO_NOT_TRACK": "1"}
    dbt = str(Path(sys.executable).with_name("dbt"))
    subprocess.run(
        [
            dbt,
            "parse",
            "--quiet",
            "--target-path",
            str(target),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        cwd=DBT_PROJECT_DIR,
        env=env,
        check=True,
        timeout=300,
    )
    manifest = json.loads((target / "manifest.json").read_text())
    return {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}


def test_dimensions_are_distributed_to_all_nodes(models):
    for name in DIMENSIONS:
        assert models[name]["config"]["dist"] == "all", name


def test_facts_are_distributed_on_their_join_key_and_sorted_by_session(models):
    for name, key in FACTS.items():
        config = models[name]["config"]
        assert config["dist"] == key, name
        assert config["sort"][0] == "date_day", name


def test_gold_tables_enforce_contracts_and_views_bind_late(models):
    for name in (*FACTS, *DIMENSIONS):
        assert models[name]["config"]["contract"]["enforced"], name
    views = [m for m in models.values() if m["config"]["materialized"] == "view"]
    assert views and all(m["config"]["bind"] is False for m in views)
