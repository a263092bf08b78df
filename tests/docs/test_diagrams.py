"""The committed diagrams are generated from the dbt manifest and are not stale."""

from __future__ import annotations

import shutil

import pytest

from ingestion import diagrams

CONTRACT_KEYS = {
    "dim_date": ("date_day",),
    "dim_security": ("ticker",),
    "dim_portfolio": ("portfolio_id",),
    "fact_market_price_daily": ("ticker", "date_day"),
    "fact_portfolio_position_daily": ("portfolio_id", "ticker", "date_day"),
    "fact_portfolio_performance_daily": ("portfolio_id", "date_day"),
}


def test_committed_diagrams_are_generated_from_the_current_manifest(dbt_manifest):
    problems = diagrams.stale_diagrams(diagrams.diagram_sources(dbt_manifest))
    assert problems == [], "run `make diagrams` and commit the result: " + "; ".join(problems)


def test_star_schema_holds_the_contract_tables_keys_and_foreign_keys(dbt_manifest):
    tables = {t.name: t for t in diagrams.star_schema_tables(dbt_manifest)}

    assert {name: t.key for name, t in tables.items()} == CONTRACT_KEYS
    assert tables["fact_portfolio_position_daily"].foreign_keys == {
        "portfolio_id": "dim_portfolio",
        "ticker": "dim_security",
        "date_day": "dim_date",
    }
    assert tables["fact_market_price_daily"].foreign_keys == {
        "ticker": "dim_security",
        "date_day": "dim_date",
    }
    assert tables["fact_portfolio_performance_daily"].foreign_keys == {
        "portfolio_id": "dim_portfolio",
        "date_day": "dim_date",
    }
    assert all(t.grain.startswith("one row per") for t in tables.values())


def test_star_schema_dot_draws_every_foreign_key_as_a_many_to_one_edge(dbt_manifest):
    dot = diagrams.star_schema_dot(diagrams.star_schema_tables(dbt_manifest))

    edges = [line for line in dot.splitlines() if " -> " in line]
    assert len(edges) == 7  # 3 + 2 + 2 relationships tests
    assert all("arrowhead=crow" in e or "arrowtail=crow" in e for e in edges)
    assert "grain: one row per (portfolio_id, ticker, date_day)" in dot
    assert "volatility_252d" in dot and "beta_252d" in dot


def test_a_changed_source_is_reported_stale(dbt_manifest):
    sources = diagrams.diagram_sources(dbt_manifest)
    sources["data_model_star_schema"] += "// an edit not rendered yet\n"

    problems = diagrams.stale_diagrams(sources)

    assert problems == [
        "docs/diagrams/data_model_star_schema.dot differs from the dbt manifest",
        "docs/data_model_star_schema.png was not rendered from it",
    ]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_rendered_png_carries_the_sha256_of_its_source():
    dot = "digraph g { a -> b; }\n"

    png = diagrams.render_png(dot)

    assert png.startswith(b"\x89PNG")
    assert diagrams.png_text_chunks(png)[diagrams.SOURCE_HASH_KEY] == diagrams.source_sha256(dot)


def _model(name: str, columns: list[str], grain: str | None = None) -> dict:
    return {
        "unique_id": f"model.equity_analytics.{name}",
        "resource_type": "model",
        "package_name": "equity_analytics",
        "name": name,
        "schema": "gold",
        "config": {"materialized": "table", "meta": {"grain": grain} if grain else {}},
        "columns": {c: {"name": c, "data_type": "varchar(8)"} for c in columns},
    }


def _test(name: str, model: str, column: str | None, kwargs: dict, parents: list[str]) -> dict:
    return {
        "unique_id": f"test.equity_analytics.{name}_{model}_{column}",
        "resource_type": "test",
        "package_name": "equity_analytics",
        "attached_node": f"model.equity_analytics.{model}",
        "column_name": column,
        "test_metadata": {"name": name, "kwargs": kwargs},
        "depends_on": {"nodes": [f"model.equity_analytics.{p}" for p in parents]},
    }


def test_grain_comes_from_meta_when_declared_and_a_missing_key_is_an_error():
    nodes = [
        _model("dim_a", ["a_id"], grain="one row per thing"),
        _model("fact_b", ["a_id", "day"]),
        _test("primary_key", "dim_a", "a_id", {}, ["dim_a"]),
        _test("primary_key", "fact_b", None, {"columns": ["a_id", "day"]}, ["fact_b"]),
        _test("relationships", "fact_b", "a_id", {"field": "a_id"}, ["dim_a", "fact_b"]),
    ]
    manifest = {"nodes": {n["unique_id"]: n for n in nodes}}

    fact, dim = diagrams.star_schema_tables(manifest)

    assert (dim.name, dim.grain, dim.key) == ("dim_a", "one row per thing", ("a_id",))
    assert (fact.grain, fact.foreign_keys) == ("one row per (a_id, day)", {"a_id": "dim_a"})

    del manifest["nodes"]["test.equity_analytics.primary_key_dim_a_a_id"]
    with pytest.raises(diagrams.DiagramError, match="dim_a has no primary-key test"):
        diagrams.star_schema_tables(manifest)
