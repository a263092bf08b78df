{#- A new column cannot be filled in for stored months by appending (on_schema_change: fail),
    and the carried profit reads profit_before_month from the stored months. -#}
{{ require_stored_column('profit_before_month', 'its column profit_before_month existed') }}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook=["{{ delete_planned_rows('int_portfolio_recompute_plan', 'portfolio_id', 'month_start', 'month') }}"],
        tags=['recompute_chain']
    )
}}

{#- One row per (portfolio, security, calendar month): the money the position gained over the
    month's sessions, dividends reinvested, summed exactly (decimal), so every longer period is
    an exact sum of whole months (docs: contribution_to_return_periods), and the exact profit of
    all the months before. Incrementally, a planned portfolio's months from the one holding its
    recompute_from are deleted and summed again: a daily run re-reads one month of positions,
    not all history, and carries the earlier profit from the last month left stored. -#}
-- depends_on: {{ ref('int_portfolio_recompute_plan') }}

with

positions as (

    select positions.*
    from {{ ref('fact_portfolio_position_daily') }} as positions
    {% if is_incremental() %}
    inner join {{ ref('int_portfolio_recompute_plan') }} as plan
        on positions.portfolio_id = plan.portfolio_id
        and positions.date_day >= cast({{ dbt.date_trunc('month', 'plan.recompute_from') }} as date)
    {% endif %}

),

months as (

    select
        cast(portfolio_id as varchar(256)) as portfolio_id,
        cast(ticker as varchar(32)) as ticker,
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
        min(date_day) as first_session,
        max(date_day) as last_session,
        sum(cast({{ position_profit('positions') }} as decimal(38, 18))) as profit
    from positions
    group by portfolio_id, ticker, {{ dbt.date_trunc('month', 'date_day') }}

),

{% if is_incremental() %}
-- After the pre-hook's delete a planned portfolio keeps only the months before the rebuilt
-- ones; the last of them holds the profit made before the rebuilt months. Every session of a
-- position is valued, so that is the month before the rebuilt ones, looked up first; every
-- stored month is read only for positions not found there (a holding with a gap, or one
-- whose first month is rebuilt), so a daily run does not read all history.
recent_stored_months as (

    select stored.portfolio_id, stored.ticker, max(stored.month_start) as month_start
    from {{ this }} as stored
    inner join {{ ref('int_portfolio_recompute_plan') }} as plan
        on stored.portfolio_id = plan.portfolio_id
        and stored.month_start >= cast(
            {{ dbt.dateadd('month', -1, dbt.date_trunc('month', 'plan.recompute_from')) }} as date
        )
    group by stored.portfolio_id, stored.ticker

),

positions_not_found as (

    select distinct months.portfolio_id, months.ticker
    from months
    left join recent_stored_months
        on months.portfolio_id = recent_stored_months.portfolio_id
        and months.ticker = recent_stored_months.ticker
    where recent_stored_months.portfolio_id is null

),

last_stored_months as (

    select * from recent_stored_months
    union all
    select stored.portfolio_id, stored.ticker, max(stored.month_start) as month_start
    from {{ this }} as stored
    inner join positions_not_found
        on stored.portfolio_id = positions_not_found.portfolio_id
        and stored.ticker = positions_not_found.ticker
    group by stored.portfolio_id, stored.ticker

),

carried as (

    select
        stored.portfolio_id,
        stored.ticker,
        stored.profit_before_month + stored.profit as profit_before_rebuild
    from {{ this }} as stored
    inner join last_stored_months
        on stored.portfolio_id = last_stored_months.portfolio_id
        and stored.ticker = last_stored_months.ticker
        and stored.month_start = last_stored_months.month_start

),
{% endif %}

with_earlier_profit as (

    select
        months.*,
        cast(
            {% if is_incremental() %}coalesce(carried.profit_before_rebuild, 0) + {% endif %}
            coalesce(
                sum(months.profit) over (
                    partition by months.portfolio_id, months.ticker
                    order by months.month_start
                    rows between unbounded preceding and 1 preceding
                ),
                0
            )
            as decimal(38, 18)
        ) as profit_before_month
    from months
    {% if is_incremental() %}
    left join carried
        on months.portfolio_id = carried.portfolio_id
        and months.ticker = carried.ticker
    {% endif %}

)

select
    portfolio_id,
    ticker,
    month_start,
    first_session,
    last_session,
    profit,
    profit_before_month,
    {{ observability_columns() }}
from with_earlier_profit
{{ order_by_sort_key() }}
