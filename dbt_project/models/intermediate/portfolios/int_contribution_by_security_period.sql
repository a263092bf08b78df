{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook=[
        "{{ delete_planned_periods('int_portfolio_recompute_plan') }}",
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
    position's last month); of the rest of its history only the keys are read (to find each
    position's last month and the session before the first period summed again). A
    portfolio left without stored rows (new, rebuilt whole, or holding a security whose sector
    changed in dim_security) is summed whole. -#}
-- depends_on: {{ ref('int_portfolio_recompute_plan') }}
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
{% endif %}

last_months as (

    select monthly.portfolio_id, monthly.ticker, max(monthly.month_start) as month_start
    from {{ ref('int_position_profit_monthly') }} as monthly
    {%- if is_incremental() %}
    inner join recompute
        on monthly.portfolio_id = recompute.portfolio_id
    {%- endif %}
    group by monthly.portfolio_id, monthly.ticker

),

-- Every period is a sum of whole months, exact decimals.
monthly as (

    select
        monthly.portfolio_id,
        monthly.ticker,
        monthly.month_start,
        securities.sector,
        monthly.first_session,
        monthly.last_session,
        monthly.profit,
        monthly.profit_before_month,
        last_months.month_start is not null as is_last_month
        {%- if is_incremental() %},
        recompute.recompute_from
        {%- endif %}
    from {{ ref('int_position_profit_monthly') }} as monthly
    inner join {{ ref('dim_security') }} as securities
        on monthly.ticker = securities.ticker
    left join last_months
        on monthly.portfolio_id = last_months.portfolio_id
        and monthly.ticker = last_months.ticker
        and monthly.month_start = last_months.month_start
    {%- if is_incremental() %}
    inner join recompute
        on monthly.portfolio_id = recompute.portfolio_id
    -- Positions are valued up to the last session (prices carried forward), so a last month
    -- is normally the latest one; the since-inception rows do not rely on that.
    where recompute.recompute_from is null
        or monthly.month_start >= recompute.first_period_start
        or last_months.month_start is not null
    {%- endif %}

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
{% endif %}

-- Values of the sessions periods start and end on, with the value at the session before.
-- Incrementally the window reads a planned portfolio's sessions from previous_sessions on,
-- and its inception session (whose previous value is null, as on a full build).
performance as (

    select
        performance.portfolio_id,
        performance.date_day,
        performance.portfolio_value,
        lag(performance.portfolio_value) over (
            partition by performance.portfolio_id order by performance.date_day
        ) as previous_portfolio_value
    from {{ ref('fact_portfolio_performance_daily') }} as performance
    {%- if is_incremental() %}
    inner join recompute
        on performance.portfolio_id = recompute.portfolio_id
    inner join portfolios
        on performance.portfolio_id = portfolios.portfolio_id
    left join previous_sessions
        on performance.portfolio_id = previous_sessions.portfolio_id
    where recompute.recompute_from is null
        or performance.date_day >= coalesce(previous_sessions.date_day, recompute.first_period_start)
        or performance.date_day = portfolios.inception_date
    {%- endif %}

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
