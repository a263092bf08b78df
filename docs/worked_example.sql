-- The README's worked example: portfolio P001 of the bundled sample market, at its inception
-- session and on the latest session, with its largest sector and top contributor of 2024.
-- After `make run`:
--   .venv/bin/python -c "import duckdb, pathlib; print(duckdb.connect('data/warehouse.duckdb', read_only=True).sql(pathlib.Path('docs/worked_example.sql').read_text()))"
-- tests/docs/test_readme.py runs this file on a freshly built sample warehouse and checks that
-- the README shows exactly these values.
with

performance as (
    select * from gold.fact_portfolio_performance_daily where portfolio_id = 'P001'
),

inception as (select * from performance order by date_day limit 1),

latest as (select * from performance order by date_day desc limit 1),

largest_sector as (
    select exposure.sector, exposure.sector_weight
    from gold.portfolio_sector_exposure_daily as exposure
    inner join latest on exposure.portfolio_id = latest.portfolio_id and exposure.date_day = latest.date_day
    order by exposure.sector_weight desc
    limit 1
),

top_contributor_2024 as (
    select ticker, contribution_to_return, portfolio_period_return
    from gold.portfolio_contribution_by_security_period
    where portfolio_id = 'P001' and period_type = 'year' and period_start = date '2024-01-01'
    order by contribution_to_return desc
    limit 1
),

example as (
    select 1 as n, 'inception session t0' as kpi, cast(date_day as varchar) as value from inception
    union all select 2, 'portfolio_value on t0', printf('%.2f', portfolio_value) from inception
    union all select 3, 'latest session t', cast(date_day as varchar) from latest
    union all select 4, 'portfolio_value on t', printf('%.2f', portfolio_value) from latest
    union all select 5, 'daily_return', printf('%.6f', daily_return) from latest
    union all select 6, 'cumulative_return', printf('%.6f', cumulative_return) from latest
    union all select 7, 'benchmark_cumulative_return (SPY)', printf('%.6f', benchmark_cumulative_return) from latest
    union all select 8, 'volatility_252d', printf('%.6f', volatility_252d) from latest
    union all select 9, 'drawdown', printf('%.6f', drawdown) from latest
    union all select 10, 'max_drawdown', printf('%.6f', max_drawdown) from latest
    union all select 11, 'beta_252d', printf('%.6f', beta_252d) from latest
    union all select 12, 'largest sector weight: ' || sector, printf('%.6f', sector_weight) from largest_sector
    union all select 13, 'top 2024 contributor: ' || ticker, printf('%.6f', contribution_to_return) from top_contributor_2024
    union all select 14, 'portfolio return in 2024', printf('%.6f', portfolio_period_return) from top_contributor_2024
)

select kpi, value from example order by n
