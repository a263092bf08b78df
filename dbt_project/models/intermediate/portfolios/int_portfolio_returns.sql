{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["{{ delete_planned_rows('int_portfolio_recompute_plan', 'portfolio_id') }}"],
        tags=['recompute_chain']
    )
}}

{#- One row per (portfolio, session): value, daily and cumulative return, drawdown, maximum
    drawdown and the SPY benchmark's return and growth over the same sessions. Rolling
    statistics are computed in fact_portfolio_performance_daily. Incrementally, only the
    sessions of int_portfolio_recompute_plan are computed, carrying the inception value, the
    running peak and the running maximum drawdown from the stored row of state_date; the
    benchmark series is recomputed over SPY's whole history, one security
    (docs: incremental_recompute). -#}
-- depends_on: {{ ref('int_portfolio_recompute_plan') }}
with

{% if is_incremental() %}
recompute as (

    select portfolio_id, recompute_from, state_date
    from {{ ref('int_portfolio_recompute_plan') }}
    where recompute_from is not null

),

positions as (

    select positions.*
    from {{ ref('fact_portfolio_position_daily') }} as positions
    inner join recompute
        on positions.portfolio_id = recompute.portfolio_id
        and positions.date_day >= recompute.recompute_from

),

state as (

    select
        stored.portfolio_id,
        stored.inception_value,
        stored.peak_value,
        stored.max_drawdown
    from {{ this }} as stored
    inner join recompute
        on stored.portfolio_id = recompute.portfolio_id
        and stored.date_day = recompute.state_date

),
{% else %}
positions as (

    select * from {{ ref('fact_portfolio_position_daily') }}

),

state as (

    select
        cast(null as varchar(256)) as portfolio_id,
        cast(null as double precision) as inception_value,
        cast(null as double precision) as peak_value,
        cast(null as double precision) as max_drawdown
    where 1 = 0

),
{% endif %}

benchmark_tickers as (

    select ticker from {{ ref('security_master') }}
    where is_benchmark

),

benchmark_prices as (

    select security_returns.*
    from {{ ref('int_security_returns') }} as security_returns
    inner join benchmark_tickers
        on security_returns.ticker = benchmark_tickers.ticker

),

sessions as (

    select date_day from {{ ref('nyse_calendar') }}
    where is_trading_day

),

portfolio_sessions as (

    select
        portfolio_id,
        date_day,
        min(inception_date) as inception_date,
        -- Every row of a (portfolio, session) carries the same portfolio value.
        min(portfolio_value) as portfolio_value,
        min(previous_portfolio_value) as previous_portfolio_value,
        count(*) as position_count,
        sum(case when is_price_stale then 1 else 0 end) as stale_position_count
    from positions
    group by portfolio_id, date_day

),

benchmark_sessions as (

    select
        sessions.date_day,
        benchmark_prices.close,
        benchmark_prices.daily_return,
        count(benchmark_prices.close) over (
            order by sessions.date_day
            rows between unbounded preceding and current row
        ) as price_run,
        -- Growth of one benchmark share with dividends reinvested: ln of the corporate-action
        -- factors summed over the benchmark's whole history (exactly 0 on ordinary sessions).
        sum(ln(coalesce(benchmark_prices.event_factor, 1))) over (
            order by sessions.date_day
            rows between unbounded preceding and current row
        ) as cumulative_log_event_factor
    from sessions
    inner join (
        select min(date_day) as first_day, max(date_day) as last_day from benchmark_prices
    ) as benchmark_range
        on sessions.date_day between benchmark_range.first_day and benchmark_range.last_day
    left join benchmark_prices
        on sessions.date_day = benchmark_prices.date_day

),

benchmark_carried as (

    select
        date_day,
        daily_return,
        cumulative_log_event_factor,
        max(close) over (partition by price_run) as close_price
    from benchmark_sessions

),

with_benchmark as (

    select
        portfolio_sessions.*,
        case
            when portfolio_sessions.date_day > portfolio_sessions.inception_date
                then benchmark_today.daily_return
        end as benchmark_daily_return,
        exp(
            benchmark_today.cumulative_log_event_factor
            - benchmark_at_inception.cumulative_log_event_factor
        ) * benchmark_today.close_price / benchmark_at_inception.close_price - 1
            as benchmark_cumulative_return
    from portfolio_sessions
    left join benchmark_carried as benchmark_today
        on portfolio_sessions.date_day = benchmark_today.date_day
    left join benchmark_carried as benchmark_at_inception
        on portfolio_sessions.inception_date = benchmark_at_inception.date_day

),

with_running_values as (

    select
        with_benchmark.*,
        portfolio_value / previous_portfolio_value - 1 as daily_return,
        state.inception_value as state_inception_value,
        state.peak_value as state_peak_value,
        state.max_drawdown as state_max_drawdown,
        first_value(portfolio_value) over (
            partition by with_benchmark.portfolio_id
            order by date_day
            rows between unbounded preceding and current row
        ) as first_value_in_range,
        max(portfolio_value) over (
            partition by with_benchmark.portfolio_id
            order by date_day
            rows between unbounded preceding and current row
        ) as peak_value_in_range
    from with_benchmark
    left join state
        on with_benchmark.portfolio_id = state.portfolio_id

),

with_returns as (

    select
        *,
        coalesce(state_inception_value, first_value_in_range) as inception_value,
        case
            when state_peak_value > peak_value_in_range then state_peak_value
            else peak_value_in_range
        end as peak_value
    from with_running_values

),

with_drawdown as (

    select
        *,
        portfolio_value / peak_value - 1 as drawdown
    from with_returns

),

with_max_drawdown as (

    select
        *,
        min(drawdown) over (
            partition by portfolio_id
            order by date_day
            rows between unbounded preceding and current row
        ) as max_drawdown_in_range
    from with_drawdown

)

select
    portfolio_id,
    date_day,
    inception_date,
    portfolio_value,
    previous_portfolio_value,
    daily_return,
    portfolio_value / inception_value - 1 as cumulative_return,
    inception_value,
    peak_value,
    drawdown,
    case
        when state_max_drawdown < max_drawdown_in_range then state_max_drawdown
        else max_drawdown_in_range
    end as max_drawdown,
    benchmark_daily_return,
    benchmark_cumulative_return,
    position_count,
    stale_position_count,
    {{ observability_columns() }}
from with_max_drawdown
{{ order_by_sort_key() }}
