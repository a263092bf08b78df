{#- The portfolio models read their state from this table, and a new column cannot be filled in
    for stored sessions by appending (on_schema_change: fail): a warehouse built when the
    positions were valued in a silver model and copied here must be rebuilt. -#}
{{ require_stored_column(
    'portfolio_value', "it held the portfolio's value",
    ' (silver.int_positions_valued is no longer built and can be dropped)') }}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook=["{{ delete_planned_rows('int_portfolio_recompute_plan', 'portfolio_id') }}"],
        tags=['recompute_chain']
    )
}}

{#- One row per (portfolio, established holding, NYSE session) from the holding's inception
    session t0 to the latest session with any valid price, valued with the effective share
    count (docs: position_valuation). Incrementally, only the sessions of
    int_portfolio_recompute_plan are computed, starting from the stored row of state_date
    (effective shares, last close, market value and portfolio value) instead of t0
    (docs: incremental_recompute). The portfolio models downstream read their positions from
    here: a silver copy cost a full build 4.5 s and 7.5 M stored rows at the benchmark's scale. -#}
-- depends_on: {{ ref('int_portfolio_recompute_plan') }}
with

holdings as (

    select * from {{ ref('int_holdings_established') }}
    where is_established

),

sessions as (

    select date_day from {{ ref('nyse_calendar') }}
    where is_trading_day

),

last_priced_session as (

    select max(date_day) as date_day from {{ ref('int_security_returns') }}

),

{% if is_incremental() %}
recompute as (

    select portfolio_id, recompute_from, state_date
    from {{ ref('int_portfolio_recompute_plan') }}
    where recompute_from is not null

),

state as (

    select
        stored.portfolio_id,
        stored.ticker,
        stored.shares,
        stored.close_price,
        stored.price_date_day,
        stored.market_value,
        stored.portfolio_value
    from {{ this }} as stored
    inner join recompute
        on stored.portfolio_id = recompute.portfolio_id
        and stored.date_day = recompute.state_date

),
{% else %}
recompute as (

    select
        portfolio_id,
        min(inception_date) as recompute_from,
        cast(null as date) as state_date
    from holdings
    group by portfolio_id

),

state as (

    select
        cast(null as varchar(256)) as portfolio_id,
        cast(null as varchar(32)) as ticker,
        cast(null as double precision) as shares,
        cast(null as double precision) as close_price,
        cast(null as date) as price_date_day,
        cast(null as double precision) as market_value,
        cast(null as double precision) as portfolio_value
    where 1 = 0

),
{% endif %}

-- The first session this build values for each holding, and the session whose running event
-- factor its share count starts from: t0 (whose own dividend or split does not apply), or the
-- stored state's session for a holding held before the recomputed range.
planned_holdings as (

    select
        holdings.portfolio_id,
        holdings.ticker,
        holdings.inception_date,
        holdings.shares as inception_shares,
        greatest(holdings.inception_date, recompute.recompute_from) as valued_from,
        case
            when holdings.inception_date >= recompute.recompute_from then holdings.inception_date
            else recompute.state_date
        end as base_date
    from holdings
    inner join recompute
        on holdings.portfolio_id = recompute.portfolio_id

),

held_securities as (

    select
        ticker,
        min(base_date) as from_date
    from planned_holdings
    group by ticker

),

-- The close and the event factors are carried once per security and session (1.3 M rows at
-- the benchmark's scale) rather than once per position (7.5 M): a window over every position
-- row was most of a full build.
security_sessions as (

    select
        held_securities.ticker,
        sessions.date_day,
        security_returns.close,
        security_returns.daily_return,
        -- A stale session changes no share count.
        coalesce(security_returns.event_factor, cast(1 as double precision)) as event_factor
    from held_securities
    inner join sessions
        on sessions.date_day >= held_securities.from_date
    inner join last_priced_session
        on sessions.date_day <= last_priced_session.date_day
    -- Read without a CTE, which DuckDB would materialise whole because two parts read it: a
    -- daily run's join then reads only the planned sessions.
    left join {{ ref('int_security_returns') }} as security_returns
        on held_securities.ticker = security_returns.ticker
        and sessions.date_day = security_returns.date_day

),

-- One window (one sort) for the three running values of a security. A stale session keeps the
-- last valid close; before the first close of the range it is null and the stored state's
-- close applies.
carried_sessions as (

    select
        ticker,
        date_day,
        close is null as is_price_stale,
        daily_return,
        event_factor,
        last_value(close ignore nulls) over (
            partition by ticker
            order by date_day
            rows between unbounded preceding and current row
        ) as carried_close_price,
        last_value(case when close is not null then date_day end ignore nulls) over (
            partition by ticker
            order by date_day
            rows between unbounded preceding and current row
        ) as carried_price_date_day,
        sum(ln(event_factor)) over (
            partition by ticker
            order by date_day
            rows between unbounded preceding and current row
        ) as cumulative_log_event_factor
    from security_sessions

),

-- The previous session's values, from which a position's previous market value is computed
-- with the same operations as its market value on that session, so both have the same bits.
security_days as (

    select
        *,
        lag(carried_close_price) over (partition by ticker order by date_day)
            as previous_carried_close_price,
        lag(cumulative_log_event_factor) over (partition by ticker order by date_day)
            as previous_cumulative_log_event_factor
    from carried_sessions

),

holding_bases as (

    select
        planned_holdings.*,
        base.cumulative_log_event_factor as base_cumulative_log_event_factor
    from planned_holdings
    inner join carried_sessions as base
        on planned_holdings.ticker = base.ticker
        and planned_holdings.base_date = base.date_day

),

-- shares_t = shares at the base session * exp(sum of ln(factor) over the sessions after it).
valued as (

    select
        holdings.portfolio_id,
        holdings.ticker,
        security.date_day,
        holdings.inception_date,
        security.is_price_stale,
        case
            when security.date_day = holdings.inception_date then cast(1 as double precision)
            else security.event_factor
        end as applied_event_factor,
        case
            when security.date_day = holdings.inception_date then null
            when security.is_price_stale then cast(0 as double precision)
            else security.daily_return
        end as security_daily_return,
        coalesce(security.carried_close_price, state.close_price) as close_price,
        coalesce(security.carried_price_date_day, state.price_date_day) as price_date_day,
        coalesce(state.shares, holdings.inception_shares) * exp(
            security.cumulative_log_event_factor - holdings.base_cumulative_log_event_factor
        ) as shares,
        case
            when security.date_day > holdings.valued_from
                then coalesce(state.shares, holdings.inception_shares) * exp(
                    security.previous_cumulative_log_event_factor
                    - holdings.base_cumulative_log_event_factor
                ) * coalesce(security.previous_carried_close_price, state.close_price)
            else state.market_value
        end as previous_market_value,
        state.portfolio_value as state_portfolio_value
    from holding_bases as holdings
    inner join security_days as security
        on holdings.ticker = security.ticker
        and security.date_day >= holdings.valued_from
    left join state
        on holdings.portfolio_id = state.portfolio_id
        and holdings.ticker = state.ticker

),

with_market_value as (

    select
        *,
        shares * close_price as market_value
    from valued

),

-- Added exactly (exact_sum), so the value has the same bits on every run whatever order the
-- rows reach the aggregate in; an aggregate and a join cost less than windows over every
-- position row.
portfolio_values as (

    select
        portfolio_id,
        date_day,
        {{ exact_sum('market_value') }} as portfolio_value,
        -- The stored state row of every holding carries the same portfolio value.
        min(state_portfolio_value) as state_portfolio_value
    from with_market_value
    group by portfolio_id, date_day

),

with_previous_portfolio_value as (

    select
        portfolio_id,
        date_day,
        portfolio_value,
        coalesce(
            lag(portfolio_value) over (partition by portfolio_id order by date_day),
            state_portfolio_value
        ) as previous_portfolio_value
    from portfolio_values

)

select
    cast(positions.portfolio_id as varchar(256)) as portfolio_id,
    cast(positions.ticker as varchar(32)) as ticker,
    cast(positions.date_day as date) as date_day,
    cast(positions.shares as double precision) as shares,
    cast(positions.close_price as double precision) as close_price,
    cast(positions.price_date_day as date) as price_date_day,
    cast(positions.market_value as double precision) as market_value,
    cast(positions.previous_market_value as double precision) as previous_market_value,
    cast(positions.market_value / portfolios.portfolio_value as double precision) as weight,
    cast(positions.security_daily_return as double precision) as security_daily_return,
    cast(
        positions.previous_market_value * positions.security_daily_return
        / portfolios.previous_portfolio_value as double precision
    ) as contribution_to_return,
    cast(positions.is_price_stale as boolean) as is_price_stale,
    cast(positions.inception_date as date) as inception_date,
    cast(positions.applied_event_factor as double precision) as applied_event_factor,
    cast(portfolios.portfolio_value as double precision) as portfolio_value,
    cast(portfolios.previous_portfolio_value as double precision) as previous_portfolio_value,
    {{ observability_columns() }}
from with_market_value as positions
inner join with_previous_portfolio_value as portfolios
    on positions.portfolio_id = portfolios.portfolio_id
    and positions.date_day = portfolios.date_day
{{ order_by_sort_key() }}
