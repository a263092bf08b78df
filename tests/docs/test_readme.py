"""The README keeps the structure analysts rely on, documents every setting, and its worked
example shows exactly what the sample warehouse computes."""

from __future__ import annotations

import re

import click
import duckdb

from ingestion.cli import main
from ingestion.settings import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()
WORKED_EXAMPLE_SQL = PROJECT_ROOT / "docs" / "worked_example.sql"
SECTIONS_IN_ORDER = (
    "## Set-up: two commands",
    "## System architecture",
    "## Data model",
    "## ETL pipeline flow",
    "## KPIs and business insights",
    "## Design decisions and trade-offs",
    "## Limitations and future enhancements",
)
REFERENCE_SECTIONS = (
    "## Configuration reference",
    "## Running on the Redshift target",
    "## Running the Airflow DAG",
    "## Adding a portfolio",
    "## Troubleshooting",
)
CAPTIONS = {
    "docs/architecture_diagram.png": "High-level architecture of the US Equity Portfolio & Risk "
    "Analytics Platform, illustrating batch ingestion, layered data processing, and analytics "
    "storage.",
    "docs/data_model_star_schema.png": "Star schema data model used in the Gold layer, designed "
    "for portfolio performance and risk analytics.",
}
# Variables read by the settings modules and the dbt profile.
SETTINGS_FILES = (
    "ingestion/settings.py",
    "ingestion/redshift_settings.py",
    "dbt_project/profiles.yml",
)


def test_sections_follow_the_agreed_order_and_the_references_exist():
    headings = [line for line in README.splitlines() if line.startswith("## ")]

    positions = [headings.index(section) for section in SECTIONS_IN_ORDER]
    assert positions == sorted(positions)
    assert README.index(SECTIONS_IN_ORDER[0]) < README.index("make run") < README.index("make test")
    assert set(REFERENCE_SECTIONS) <= set(headings)


def test_both_diagrams_are_embedded_with_their_verbatim_captions():
    for image, caption in CAPTIONS.items():
        assert (PROJECT_ROOT / image).is_file()
        assert re.search(
            rf"!\[[^\]]*\]\({re.escape(image)}\)\n\n\*{re.escape(caption)}\*\n", README
        )


def test_every_environment_variable_is_documented():
    variables = set()
    for path in SETTINGS_FILES:
        variables |= set(
            re.findall(
                r"""["']((?:EQUITY|TIINGO|REDSHIFT)_[A-Z_]+)["']""",
                (PROJECT_ROOT / path).read_text(),
            )
        )

    assert len(variables) > 20
    assert sorted(v for v in variables if f"`{v}`" not in README) == []


def test_every_command_line_option_is_documented():
    def options(command: click.Command) -> set[str]:
        return {
            opt
            for param in command.params
            if isinstance(param, click.Option)
            for opt in param.opts
            if opt.startswith("--") and opt != "--help"
        }

    documented_options = options(main) | {
        opt for command in main.commands.values() for opt in options(command)
    }
    missing = sorted(
        opt for opt in documented_options if not re.search(rf"(?<![\w-]){opt}(?![\w-])", README)
    )
    assert missing == []
    assert sorted(name for name in main.commands if f"`{name}" not in README) == []


def test_worked_example_shows_what_the_sample_warehouse_computes(built_sample_warehouse):
    con = duckdb.connect(str(built_sample_warehouse.duckdb_path), read_only=True)
    try:
        rows = con.sql(WORKED_EXAMPLE_SQL.read_text()).fetchall()
    finally:
        con.close()

    assert len(rows) == 14
    assert ("inception session t0", "2021-07-06") in rows
    assert [row for row in rows if f"| {row[0]} | {row[1]} |" not in README] == []
