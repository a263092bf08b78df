{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ delete_planned_rows('int_portfolio_recompute_plan', 'portfolio_id') }}",
            "{{ delete_portfolios_with_changed_sector_sums() }}"
        ],
        tags=['recompute_chain']
    )
}}

{#- Sector-wise performance per portfolio and session: the sector's own daily return (its
    contributions over its prior-session weight) and a growth index whose ratio between two
    sessions is the sector's return over that period (docs: sector_performance). The rows of
    the gold view portfolio_sector_performance_daily, stored so that readers and tests do not
    sum every position row again. Incrementally, a planned portfolio is computed from the
    positions of state_date (the previous weight of its first recomputed session), each
    sector's first market value coming from its first stored row; a portfolio left without
    stored rows (new, rebuilt whole, or holding a security whose sector changed in
    dim_security) is computed whole. -#}
-- depends_on: {{ ref('int_portfolio_recompute_plan') }}
-- depends_on: {{ ref('dim_portfolio') }}
with

{% if is_incremental() %}
-- recompute_from null: the whole history.
recompute as (

    {{ portfolios_to_recompute() }}

),

-- The date bound is a join condition (the portfolios computed whole from the earliest date),
-- which DuckDB turns into a filter on the scan of the session-ordered position fact; an `or`
-- in a where clause would make it read every position.
positions as (

    select
        positions.*,
        recompute.recompute_from
    from {{ ref('fact_portfolio_position_daily') }} as positions
    inner join recompute
        on positions.portfolio_id = recompute.portfolio_id
        and positions.date_day >= coalesce(
            recompute.state_date, recompute.recompute_from, cast('0001-01-01' as date)
        )

),

stored_first_sessions as (

    select
        portfolio_id,
        sector,
        min(date_day) as date_day
    from {{ this }}
    group by portfolio_id, sector

),

stored_inception as (

    select
        stored.portfolio_id,
        stored.sector,
        stored.sector_market_value as inception_sector_market_value
    from {{ this }} as stored
    inner join stored_first_sessions
        on stored.portfolio_id = stored_first_sessions.portfolio_id
        and stored.sector = stored_first_sessions.sector
        and stored.date_day = stored_first_sessions.date_day

),
{% else %}
positions as (

    select
        *,
        cast(null as date) as recompute_from
    from {{ ref('fact_portfolio_position_daily') }}

),

stored_inception as (

    select
        cast(null as varchar(256)) as portfolio_id,
        cast(null as varchar(64)) as sector,
        cast(null as double precision) as inception_sector_market_value
    where 1 = 0

),
{% endif %}

securities as (

    select ticker, sector from {{ ref('dim_security') }}

),

sector_sessions as (

    select
        positions.portfolio_id,
        securities.sector,
        positions.date_day,
        min(positions.recompute_from) as recompute_from,
        {{ exact_sum('positions.weight') }} as sector_weight,
        {{ exact_sum('positions.market_value') }} as sector_market_value,
        {{ exact_sum('positions.contribution_to_return') }} as sector_contribution
    from positions
    inner join securities
        on positions.ticker = securities.ticker
    group by positions.portfolio_id, securities.sector, positions.date_day

),

with_previous as (

    select
        sector_sessions.*,
        lag(sector_sessions.sector_weight) over (
            partition by sector_sessions.portfolio_id, sector_sessions.sector
            order by sector_sessions.date_day
        ) as previous_sector_weight,
        coalesce(
            stored_inception.inception_sector_market_value,
            first_value(sector_sessions.sector_market_value) over (
                partition by sector_sessions.portfolio_id, sector_sessions.sector
                order by sector_sessions.date_day
                rows between unbounded preceding and current row
            )
        ) as inception_sector_market_value
    from sector_sessions
    left join stored_inception
        on sector_sessions.portfolio_id = stored_inception.portfolio_id
        and sector_sessions.sector = stored_inception.sector

)

select
    cast(portfolio_id as varchar(256)) as portfolio_id,
    cast(sector as varchar(64)) as sector,
    cast(date_day as date) as date_day,
    sector_weight,
    previous_sector_weight,
    sector_market_value,
    sector_contribution,
    sector_contribution / previous_sector_weight as sector_daily_return,
    -- Buy-and-hold positions are self-financing, so compounding the sector's daily returns
    -- gives exactly its market value relative to inception.
    sector_market_value / inception_sector_market_value as sector_growth_index,
    {{ observability_columns() }}
from with_previous
-- The session of state_date was read only for its weight.
where recompute_from is null
    or date_day >= recompute_from
{{ order_by_sort_key() }}
