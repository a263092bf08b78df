"""Everything the dbt docs site shows is documented: sources, seeds, macros, singular tests,
exposures and the overview page (models and their columns: tests/test_dbt_project.py)."""

from __future__ import annotations

from ingestion.settings import PROJECT_ROOT

PACKAGE = "equity_analytics"
ANALYST_VIEWS = {
    "portfolio_contribution_by_security",
    "portfolio_contribution_by_security_period",
    "portfolio_sector_exposure_daily",
    "portfolio_sector_performance_daily",
}


def own(resources: dict) -> list[dict]:
    return [r for r in resources.values() if r["package_name"] == PACKAGE]


def undocumented(resources: list[dict], with_columns: bool = False) -> list[str]:
    missing = [r["unique_id"] for r in resources if not r["description"].strip()]
    if with_columns:
        missing += [
            f"{r['unique_id']}.{name}"
            for r in resources
            for name, column in r["columns"].items()
            if not column["description"].strip()
        ]
    return missing


def test_every_source_and_seed_and_their_columns_are_documented(dbt_manifest):
    sources = own(dbt_manifest["sources"])
    seeds = [n for n in own(dbt_manifest["nodes"]) if n["resource_type"] == "seed"]

    assert len(sources) >= 5 and len(seeds) == 2
    assert undocumented(sources, with_columns=True) == []
    assert undocumented(seeds, with_columns=True) == []


def test_every_macro_and_generic_test_is_documented(dbt_manifest):
    macros = own(dbt_manifest["macros"])

    assert {
        "macro.equity_analytics.test_accepted_range",
        "macro.equity_analytics.generate_schema_name",
    } <= {m["unique_id"] for m in macros}
    assert undocumented(macros) == []


def test_every_singular_test_is_documented(dbt_manifest):
    singular = [
        n
        for n in own(dbt_manifest["nodes"])
        if n["resource_type"] == "test" and not n.get("test_metadata")
    ]

    assert len(singular) >= 8
    assert undocumented(singular) == []


def test_exposures_cover_every_analyst_view(dbt_manifest):
    exposures = own(dbt_manifest["exposures"])
    read = {
        dbt_manifest["nodes"][node]["name"]
        for exposure in exposures
        for node in exposure["depends_on"]["nodes"]
    }

    assert undocumented(exposures) == []
    assert ANALYST_VIEWS | {"fact_portfolio_performance_daily"} <= read


def test_overview_page_explains_the_layers_and_how_to_query(dbt_manifest):
    overview = dbt_manifest["docs"]["doc.equity_analytics.__overview__"]["block_contents"]

    for layer in ("bronze", "raw", "silver", "gold", "audit"):
        assert f"| {layer} |" in overview
    assert "How to query the marts" in overview
    assert "from gold.fact_portfolio_performance_daily" in overview


def test_design_notes_and_kpi_reference_cover_the_agreed_topics():
    notes = (PROJECT_ROOT / "docs" / "design_notes.md").read_text()
    kpis = (PROJECT_ROOT / "docs" / "kpi_definitions.md").read_text()

    for heading in (
        "## Adjusted prices",
        "## Valuation convention",
        "## Incremental and late data",
        "## Redshift portability choices",
        "## Out of scope in v1",
    ):
        assert heading in notes
    for column in (
        "daily_return",
        "cumulative_return",
        "volatility_21d",
        "volatility_63d",
        "volatility_252d",
        "drawdown",
        "max_drawdown",
        "beta_63d",
        "beta_252d",
        "benchmark_daily_return",
        "benchmark_cumulative_return",
        "weight",
        "contribution_to_return",
        "is_price_stale",
        "sector_weight",
        "sector_daily_return",
    ):
        assert f"`{column}`" in kpis, column
    assert "252 sessions per year" in kpis and "NULL when" in kpis
