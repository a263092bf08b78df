"""The offline Redshift check: its portability rules on small SQL snippets, and the whole dbt
project compiled for the redshift target without a connection (clean as it is, failing with a
deliberately broken model added to a copy)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingestion import redshift_check
from ingestion.redshift_check import (
    CheckResult,
    check_contract_type,
    check_project,
    check_sql,
    report,
)
from ingestion.settings import DBT_PROJECT_DIR, PROJECT_ROOT


def rules(sql: str) -> list[str]:
    return [finding.rule for finding in check_sql(sql)]


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        ("select sum(x) over (partition by a order by d) from t", "window-order-without-rows"),
        ("select avg(x) over (order by d) from t", "window-order-without-rows"),
        (
            "select first_value(x) over (partition by a order by d) from t",
            "window-order-without-rows",
        ),
        (
            "select stddev_samp(r) over (partition by a order by d) from t",
            "window-order-without-rows",
        ),
        (
            "select sum(x) over (order by d range between interval '20 days' preceding "
            "and current row) from t",
            "window-frame-not-rows",
        ),
        (
            "select sum(x) over (order by d range between unbounded preceding and current row) "
            "from t",
            "window-frame-not-rows",
        ),
        ("select count(distinct x) over (partition by a) from t", "window-distinct"),
        ("select count(*) filter (where r > 0) from t", "aggregate-filter"),
        ("select covar_samp(x, y) over (partition by a) from t", "covariance-regression"),
        ("select covar_pop(x, y) from t", "covariance-regression"),
        ("select corr(x, y) from t", "covariance-regression"),
        ("select regr_slope(y, x) from t", "covariance-regression"),
        ("select regr_intercept(y, x) from t", "covariance-regression"),
        ("select * from generate_series(1, 10)", "generate-series"),
        ("select cast(x as float) from t", "single-precision-float"),
        ("select x::real from t", "single-precision-float"),
        ("select cast(x as float4) from t", "single-precision-float"),
        ("select cast(x as double) from t", "double-without-precision"),
        ("select * from t as t qualify row_number() over (order by d) = 1", "qualify"),
        ("select * from t where a is distinct from b", "is-distinct-from"),
        ("select * from t where a is not distinct from b", "is-distinct-from"),
        ("select * from (values (1), (2)) as v(x)", "values-table"),
        ("select * exclude (a) from t", "duckdb-syntax"),
        ("select list_transform(l, x -> x + 1) from t", "duckdb-syntax"),
        ("select epoch_ms(d) from t", "duckdb-function"),
        ("select strftime(d, '%Y-%m') from t", "duckdb-function"),
        ("select list_value(1, 2) from t", "duckdb-function"),
        ("select struct_pack(a := 1) from t", "duckdb-function"),
        ("select string_agg(s, ',') from t", "duckdb-function"),
        ("select array_agg(s) from t", "duckdb-function"),
        ("select arg_max(a, b) from t", "duckdb-function"),
        ("select cast(s as varchar) from t", "text-without-length"),
        ("select cast(s as text) from t", "text-without-length"),
        ("select cast(x as numeric) from t", "decimal-without-scale"),
        ("select cast(x as decimal(18)) from t", "decimal-without-scale"),
        ("select from where", "parse-error"),
    ],
)
def test_each_construct_redshift_lacks_is_found(sql, rule):
    assert rule in rules(sql)


@pytest.mark.parametrize(
    "sql",
    [
        # the KPI patterns the marts use: ROWS frames, windowed sums for beta, stddev_samp
        "select sum(x * y) over (partition by p order by d rows between 62 preceding and "
        "current row), stddev_samp(r) over (partition by p order by d rows between 20 "
        "preceding and current row), min(dd) over (partition by p order by d rows between "
        "unbounded preceding and current row) from t",
        "select avg(x) over (partition by p), count(*) over () from t",
        "select row_number() over (partition by a order by d desc), lag(c) over (partition by "
        "a order by d), rank() over (order by d) from t",
        "select cast(substr(date, 1, 10) as date), cast(x as double precision), x::float8, "
        "cast(s as varchar(32)), cast(n as numeric(18, 4)), cast(b as bigint) from t",
        "select case when a = b or (a is null and b is null) then 1 end from t",
        "select sum(case when r > 0 then 1 else 0 end), datediff(day, a, b), "
        "dateadd(day, 1, a), date_trunc('month', d), ln(x), exp(x), sqrt(x) from t",
        # words that only look like a finding: in strings, comments and quoted names
        'select \'float double string_agg(x)\' as label, "range", "float" from t -- epoch_ms()',
        "select a from t union all select a from u",
    ],
)
def test_portable_sql_has_no_findings(sql):
    assert check_sql(sql) == []


def test_findings_name_the_compiled_line_and_the_construct():
    sql = "select\n  a,\n  sum(x) over (partition by a order by d) as s\nfrom t"

    (finding,) = check_sql(sql)

    assert finding.line == 3
    assert finding.snippet == "SUM(x) OVER (PARTITION BY a ORDER BY d)"


@pytest.mark.parametrize(
    ("data_type", "rule"),
    [
        ("string", "text-without-length"),
        ("varchar", "text-without-length"),
        ("float", "single-precision-float"),
        ("numeric", "decimal-without-scale"),
        (None, "contract-type"),
    ],
)
def test_contract_types_must_be_explicit_redshift_types(data_type, rule):
    assert [f.rule for f in check_contract_type(data_type)] == [rule]


@pytest.mark.parametrize(
    "data_type", ["varchar(32)", "double precision", "date", "timestamp", "bigint", "boolean"]
)
def test_explicit_contract_types_pass(data_type):
    assert check_contract_type(data_type) == []


BROKEN_MODEL = """
{{ config(materialized='incremental', unique_key=['portfolio_id', 'date_day']) }}
select
    portfolio_id,
    date_day,
    sum(daily_return) over (partition by portfolio_id order by date_day) as running_return,
    covar_samp(daily_return, benchmark_daily_return) over (
        partition by portfolio_id order by date_day
        rows between 62 preceding and current row
    ) as covariance_63d,
    cast(daily_return as float) as daily_return_float
from {{ ref('int_portfolio_returns') }}
{% if is_incremental() %}
where date_day > (select max(date_day) from {{ this }})
    and count(*) filter (where daily_return > 0) > 0
{% endif %}
"""
BROKEN_PATH = "models/marts/broken_rolling_beta.sql"


def copy_project(destination: Path) -> Path:
    """The real dbt project and its seeds, copied with the same layout."""
    project = destination / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    shutil.copytree(PROJECT_ROOT / "seeds", destination / "seeds")
    return project


@pytest.fixture(scope="module")
def checked_with_broken_model(tmp_path_factory) -> tuple[CheckResult, str]:
    """The check on a copy of the project plus one broken model, and its printed report.

    One run (two dbt compiles) serves both the real models, which must come out clean, and the
    broken one; the rules look at one model at a time, so the real models' result is the same
    as a run without the broken model.
    """
    work = tmp_path_factory.mktemp("check_broken")
    project = copy_project(work / "copy")
    (project / BROKEN_PATH).write_text(BROKEN_MODEL)
    result = check_project(project, work / "check")
    return result, report(result)


def test_every_real_model_compiles_offline_for_redshift_and_passes(checked_with_broken_model):
    _, output = checked_with_broken_model
    models = list((DBT_PROJECT_DIR / "models").rglob("*.sql"))

    assert len(models) >= 20
    assert f"{len(models) + 1} models compiled offline for the redshift target" in output
    assert f"{2 * (len(models) + 1)} statements parsed" in output  # both branches each
    failures = [line for line in output.splitlines() if line.startswith("FAIL ")]
    assert [f for f in failures if BROKEN_PATH not in f] == []


def test_the_check_fails_on_a_deliberately_broken_model(checked_with_broken_model):
    result, output = checked_with_broken_model
    failures = [line for line in output.splitlines() if line.startswith("FAIL ")]

    assert not result.ok and len(failures) == len(result.findings) == 4
    assert {f.model for f in result.findings} == {"broken_rolling_beta"}
    by_rule = {f.split(": ")[1]: f for f in failures if BROKEN_PATH in f}
    assert set(by_rule) == {
        "window-order-without-rows",
        "covariance-regression",
        "single-precision-float",
        "aggregate-filter",
    }
    assert "[full refresh]" in by_rule["window-order-without-rows"]
    assert "SUM(daily_return) OVER (PARTITION BY portfolio_id ORDER BY date_day)" in output
    # The FILTER sits in the is_incremental() branch: found only because that branch compiles.
    assert "[incremental]" in by_rule["aggregate-filter"]


def test_a_project_that_cannot_compile_offline_is_an_error_not_a_pass(tmp_path, capsys):
    project = copy_project(tmp_path)
    profiles = (project / "profiles.yml").read_text()
    (project / "profiles.yml").write_text(profiles[: profiles.index("    redshift:")])

    assert redshift_check.main([str(project)]) == 2
    assert "does not have a target named 'redshift'" in capsys.readouterr().err
