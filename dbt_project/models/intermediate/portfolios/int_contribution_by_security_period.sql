{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ delete_planned_periods('int_portfolio_recompute_plan') }}",
            "{{ delete_planned_since_inception_rows('int_portfolio_recompute_plan') }}",
            "{{ delete_portfolios_with_changed_sectors() }}"
        ],
        tags=['recompute_chain']
    )
}}

{#- Each security's contribution to its portfolio's return over calendar months, quarters,
    years and since inception; the contributions of a period add up to the portfolio's return
    over that period (docs: contribution_to_return_periods): the rows of the gold view
    portfolio_contribution_by_security_period. Built from the incremental monthly sums
    (int_position_profit_monthly), so it never re-reads daily positions; a position's
    since-inception profit is its last month's profit plus profit_before_month, the exact
    profit of all its earlier months. Incrementally, a planned portfolio's periods
    that hold or follow its recompute_from, and its since-inception rows, are deleted and
    summed again from the monthly rows of the year holding recompute_from on (and each
    position's last month), and valued from the session before; of the rest of its history
    only the sessions are read (to find that session). A portfolio left without stored rows
    (new, rebuilt whole, or holding a security whose sector changed in dim_security) is
    summed whole. -#}
-- depends_on: {{ ref('int_portfolio_recompute_plan') }}
-- depends_on: {{ ref('int_holdings_established') }}
{% set calendar_periods = ['month', 'quarter', 'year'] -%}

with

portfolios as (

    select portfolio_id, inception_date from {{ ref('dim_portfolio') }}

),

{% if is_incremental() %}
-- A planned portfolio is summed from the period holding its recompute_from; one without
-- stored rows (recompute_from null) from its first month. Every period summed again starts
-- on or after first_period_start, the first day of the year holding recompute_from.
recompute as (

    select
        recompute.portfolio_id,
        recompute.recompute_from,
        cast({{ dbt.date_trunc('year', 'recompute.recompute_from') }} as date) as first_period_start
    from ({{ portfolios_to_recompute() }}) as recompute

),

-- The stored months of a planned portfolio from its first period summed again (all of them
-- for one summed whole). The bound is in the join, which DuckDB applies in the scan of the
-- table stored month by month: the older row groups are skipped.
recent_months as (

    select
        monthly.*,
        recompute.recompute_from
    from {{ ref('int_position_profit_monthly') }} as monthly
    inner join recompute
        on monthly.portfolio_id = recompute.portfolio_id
        and monthly.month_start >= coalesce(recompute.first_period_start, cast('0001-01-01' as date))

),

-- A since-inception row needs the position's last month. Positions are valued up to the last
-- session (prices carried forward), so it is normally among the months read above; for an
-- established holding of a planned portfolio not found there (a gap) all of the position's
-- stored months are read, so the since-inception rows do not rely on that (its months before
-- the first period summed again stay out of the calendar periods below).
positions_not_found as (

    select holdings.portfolio_id, holdings.ticker
    from {{ ref('int_holdings_established') }} as holdings
    inner join recompute
        on holdings.portfolio_id = recompute.portfolio_id
    left join (select distinct portfolio_id, ticker from recent_months) as found
        on holdings.portfolio_id = found.portfolio_id
        and holdings.ticker = found.ticker
    where holdings.is_established
        and found.portfolio_id is null

),

months_read as (

    select * from recent_months
    union all
    select
        monthly.*,
        recompute.recompute_from
    from {{ ref('int_position_profit_monthly') }} as monthly
    inner join positions_not_found
        on monthly.portfolio_id = positions_not_found.portfolio_id
        and monthly.ticker = positions_not_found.ticker
    inner join recompute
        on monthly.portfolio_id = recompute.portfolio_id
    -- DuckDB builds this join's hash table on the monthly table however few positions are
    -- missing; without any (nearly always) the test skips that scan of all history.
    where exists (select 1 from positions_not_found)

),
{% else %}
months_read as (

    select * from {{ ref('int_position_profit_monthly') }}

),
{% endif %}

last_months as (

    select portfolio_id, ticker, max(month_start) as month_start
    from months_read
    group by portfolio_id, ticker

),

-- Every period is a sum of whole months, exact decimals. Incrementally, the months read are
-- those that can be summed again, plus each position's last month (earlier ones are left out
-- of the calendar periods below).
monthly as (

    select
        months_read.portfolio_id,
        months_read.ticker,
        months_read.month_start,
        securities.sector,
        months_read.first_session,
        months_read.last_session,
        months_read.profit,
        months_read.profit_before_month,
        last_months.month_start is not null as is_last_month
        {%- if is_incremental() %},
        months_read.recompute_from
        {%- endif %}
    from months_read
    inner join {{ ref('dim_security') }} as securities
        on months_read.ticker = securities.ticker
    left join last_months
        on months_read.portfolio_id = last_months.portfolio_id
        and months_read.ticker = last_months.ticker
        and months_read.month_start = last_months.month_start

),

contributions_by_period as (

    {% for period in calendar_periods %}
    select
        '{{ period }}' as period_type,
        cast({{ dbt.date_trunc(period, 'month_start') }} as date) as period_start,
        portfolio_id,
        ticker,
        sector,
        first_session,
        last_session,
        profit
    from monthly
    {%- if is_incremental() %}
    -- The periods that hold recompute_from or start after it; earlier ones are unchanged.
    where recompute_from is null
        or month_start >= cast({{ dbt.date_trunc(period, 'recompute_from') }} as date)
    {%- endif %}
    union all
    {% endfor %}
    -- Every position starts on the portfolio's inception session (dim_portfolio).
    select
        'since_inception' as period_type,
        portfolios.inception_date as period_start,
        monthly.portfolio_id,
        monthly.ticker,
        monthly.sector,
        portfolios.inception_date as first_session,
        monthly.last_session,
        cast(monthly.profit_before_month + monthly.profit as decimal(38, 18)) as profit
    from monthly
    inner join portfolios
        on monthly.portfolio_id = portfolios.portfolio_id
    where monthly.is_last_month

),

period_sessions as (

    select
        portfolio_id,
        period_type,
        period_start,
        min(first_session) as first_session,
        max(last_session) as last_session
    from contributions_by_period
    group by portfolio_id, period_type, period_start

),

{% if is_incremental() %}
-- The session before the first one summed again: its value starts that period.
previous_sessions as (

    select performance.portfolio_id, max(performance.date_day) as date_day
    from {{ ref('fact_portfolio_performance_daily') }} as performance
    inner join recompute
        on performance.portfolio_id = recompute.portfolio_id
    where performance.date_day < recompute.first_period_start
    group by performance.portfolio_id

),

-- Where each planned portfolio's sessions are read from: previous_sessions, or its first
-- period when none precedes it, or its first session when it is summed whole.
read_starts as (

    select
        recompute.portfolio_id,
        portfolios.inception_date,
        coalesce(
            previous_sessions.date_day,
            recompute.first_period_start,
            cast('0001-01-01' as date)
        ) as read_from
    from recompute
    inner join portfolios
        on recompute.portfolio_id = portfolios.portfolio_id
    left join previous_sessions
        on recompute.portfolio_id = previous_sessions.portfolio_id

),

-- A planned portfolio's sessions from read_from (a bound in the join, which DuckDB applies
-- in the scan of the fact stored session by session), and its inception session, whose
-- previous value is null, as on a full build.
performance_read as (

    select performance.portfolio_id, performance.date_day, performance.portfolio_value
    from {{ ref('fact_portfolio_performance_daily') }} as performance
    inner join read_starts
        on performance.portfolio_id = read_starts.portfolio_id
        and performance.date_day >= read_starts.read_from
    union all
    select performance.portfolio_id, performance.date_day, performance.portfolio_value
    from {{ ref('fact_portfolio_performance_daily') }} as performance
    inner join read_starts
        on performance.portfolio_id = read_starts.portfolio_id
        and performance.date_day = read_starts.inception_date
    where read_starts.inception_date < read_starts.read_from

),
{% else %}
performance_read as (

    select portfolio_id, date_day, portfolio_value
    from {{ ref('fact_portfolio_performance_daily') }}

),
{% endif %}

-- Values of the sessions periods start and end on, with the value at the session before.
performance as (

    select
        portfolio_id,
        date_day,
        portfolio_value,
        lag(portfolio_value) over (partition by portfolio_id order by date_day)
            as previous_portfolio_value
    from performance_read

),

period_values as (

    select
        period_sessions.*,
        -- A period's return is measured from the value at the close before its first session,
        -- or from the inception value when the portfolio starts inside the period.
        coalesce(first_day.previous_portfolio_value, first_day.portfolio_value) as start_value,
        last_day.portfolio_value as end_value
    from period_sessions
    inner join performance as first_day
        on period_sessions.portfolio_id = first_day.portfolio_id
        and period_sessions.first_session = first_day.date_day
    inner join performance as last_day
        on period_sessions.portfolio_id = last_day.portfolio_id
        and period_sessions.last_session = last_day.date_day

),

security_profit as (

    select
        portfolio_id,
        period_type,
        period_start,
        ticker,
        min(sector) as sector,
        {{ exact_sum('profit') }} as profit
    from contributions_by_period
    group by portfolio_id, period_type, period_start, ticker

)

select
    security_profit.portfolio_id,
    security_profit.ticker,
    security_profit.sector,
    security_profit.period_type,
    security_profit.period_start,
    period_values.last_session as period_end,
    security_profit.profit,
    security_profit.profit / period_values.start_value as contribution_to_return,
    period_values.end_value / period_values.start_value - 1 as portfolio_period_return,
    {{ observability_columns() }}
from security_profit
inner join period_values
    on security_profit.portfolio_id = period_values.portfolio_id
    and security_profit.period_type = period_values.period_type
    and security_profit.period_start = period_values.period_start
{{ order_by_sort_key() }}
