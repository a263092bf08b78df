{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["{{ delete_planned_rows('int_portfolio_recompute_plan', 'portfolio_id') }}"],
        tags=['recompute_chain']
    )
}}

{#- One row per (portfolio, established holding, NYSE session) from the holding's inception
    session t0 to the latest session with any valid price, valued with the effective share
    count (docs: position_valuation). Incrementally, only the sessions of
    int_portfolio_recompute_plan are computed, starting from the stored row of state_date
    (effective shares, last close, market value and portfolio value) instead of t0
    (docs: incremental_recompute). -#}
-- depends_on: {{ ref('int_portfolio_recompute_plan') }}
with

holdings as (

    select * from {{ ref('int_holdings_established') }}
    where is_established

),

security_returns as (

    select * from {{ ref('int_security_returns') }}

),

sessions as (

    select date_day from {{ ref('nyse_calendar') }}
    where is_trading_day

),

last_priced_session as (

    select max(date_day) as date_day from security_returns

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

position_sessions as (

    select
        holdings.portfolio_id,
        holdings.ticker,
        holdings.inception_date,
        holdings.shares as inception_shares,
        sessions.date_day
    from holdings
    inner join recompute
        on holdings.portfolio_id = recompute.portfolio_id
    inner join sessions
        on sessions.date_day >= recompute.recompute_from
        and sessions.date_day >= holdings.inception_date
    inner join last_priced_session
        on sessions.date_day <= last_priced_session.date_day

),

priced as (

    select
        position_sessions.*,
        security_returns.close,
        security_returns.close is null as is_price_stale,
        -- The holding is bought at t0's close, so t0's own dividend or split does not apply.
        case
            when position_sessions.date_day = position_sessions.inception_date
                or security_returns.close is null
                then cast(1 as double precision)
            else security_returns.event_factor
        end as applied_event_factor,
        case
            when position_sessions.date_day = position_sessions.inception_date then null
            when security_returns.close is null then cast(0 as double precision)
            else security_returns.daily_return
        end as security_daily_return
    from position_sessions
    left join security_returns
        on position_sessions.ticker = security_returns.ticker
        and position_sessions.date_day = security_returns.date_day

),

-- One window (one sort) for the three running values of a holding.
carried as (

    select
        portfolio_id,
        ticker,
        date_day,
        inception_date,
        inception_shares,
        is_price_stale,
        applied_event_factor,
        security_daily_return,
        -- A stale session keeps the last valid close; null before the first close of the
        -- recomputed range, where the stored state's close applies.
        last_value(close ignore nulls) over (
            partition by portfolio_id, ticker
            order by date_day
            rows between unbounded preceding and current row
        ) as carried_close_price,
        last_value(case when close is not null then date_day end ignore nulls) over (
            partition by portfolio_id, ticker
            order by date_day
            rows between unbounded preceding and current row
        ) as carried_price_date_day,
        sum(ln(applied_event_factor)) over (
            partition by portfolio_id, ticker
            order by date_day
            rows between unbounded preceding and current row
        ) as cumulative_log_event_factor
    from priced

),

valued as (

    select
        carried.portfolio_id,
        carried.ticker,
        carried.date_day,
        carried.inception_date,
        carried.is_price_stale,
        carried.applied_event_factor,
        carried.security_daily_return,
        coalesce(carried.carried_close_price, state.close_price) as close_price,
        coalesce(carried.carried_price_date_day, state.price_date_day) as price_date_day,
        coalesce(state.shares, carried.inception_shares)
            * exp(carried.cumulative_log_event_factor) as shares,
        state.market_value as state_market_value,
        state.portfolio_value as state_portfolio_value
    from carried
    left join state
        on carried.portfolio_id = state.portfolio_id
        and carried.ticker = state.ticker

),

with_market_value as (

    select
        *,
        shares * close_price as market_value
    from valued

),

with_previous_market_value as (

    select
        *,
        coalesce(
            lag(market_value) over (partition by portfolio_id, ticker order by date_day),
            state_market_value
        ) as previous_market_value
    from with_market_value

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
    positions.portfolio_id,
    positions.ticker,
    positions.date_day,
    positions.inception_date,
    positions.shares,
    positions.close_price,
    positions.price_date_day,
    positions.is_price_stale,
    positions.applied_event_factor,
    positions.market_value,
    positions.previous_market_value,
    portfolios.portfolio_value,
    portfolios.previous_portfolio_value,
    positions.market_value / portfolios.portfolio_value as weight,
    positions.security_daily_return,
    positions.previous_market_value * positions.security_daily_return
        / portfolios.previous_portfolio_value as contribution_to_return,
    {{ observability_columns() }}
from with_previous_market_value as positions
inner join with_previous_portfolio_value as portfolios
    on positions.portfolio_id = portfolios.portfolio_id
    and positions.date_day = portfolios.date_day
{{ order_by_sort_key() }}
