{#- One row per (portfolio, session): value, daily and cumulative return, drawdown and the
    SPY benchmark's return and growth over the same sessions. Rolling statistics are computed
    in fact_portfolio_performance_daily. -#}
with

positions as (

    select * from {{ ref('int_positions_valued') }}

),

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
        -- Every row of a (portfolio, session) carries the same window-summed value.
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

with_returns as (

    select
        *,
        portfolio_value / previous_portfolio_value - 1 as daily_return,
        first_value(portfolio_value) over (
            partition by portfolio_id
            order by date_day
            rows between unbounded preceding and current row
        ) as inception_value,
        max(portfolio_value) over (
            partition by portfolio_id
            order by date_day
            rows between unbounded preceding and current row
        ) as peak_value
    from with_benchmark

)

select
    portfolio_id,
    date_day,
    inception_date,
    portfolio_value,
    previous_portfolio_value,
    daily_return,
    portfolio_value / inception_value - 1 as cumulative_return,
    peak_value,
    portfolio_value / peak_value - 1 as drawdown,
    benchmark_daily_return,
    benchmark_cumulative_return,
    position_count,
    stale_position_count,
    {{ observability_columns() }}
from with_returns
