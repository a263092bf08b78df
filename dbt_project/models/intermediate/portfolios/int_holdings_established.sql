{#- One row per accepted holding of the current holdings file: its inception session t0 (the
    first NYSE session on or after the requested inception date), the close it is established
    at, and why it cannot be established when there is no valid price on t0. -#}
with

holdings as (

    select * from {{ ref('stg_portfolios__holdings') }}

),

sessions as (

    select date_day from {{ ref('nyse_calendar') }}
    where is_trading_day

),

security_prices as (

    select ticker, date_day, close from {{ ref('int_security_returns') }}

),

unknown_tickers as (

    select ticker from {{ ref('stg_tiingo__fetch_errors') }}
    where endpoint = 'daily_prices' and is_unknown_ticker

),

-- Per distinct requested date rather than per holding: the range join then pairs a handful of
-- dates, not every holding, with every later session.
requested_dates as (

    select distinct requested_inception_date from holdings

),

inception_sessions as (

    select
        requested_dates.requested_inception_date,
        min(sessions.date_day) as inception_date
    from requested_dates
    inner join sessions
        on sessions.date_day >= requested_dates.requested_inception_date
    group by requested_dates.requested_inception_date

),

established as (

    select
        holdings.portfolio_id,
        holdings.ticker,
        holdings.portfolio_name,
        holdings.shares,
        holdings.requested_inception_date,
        inception_sessions.inception_date,
        security_prices.close as inception_close,
        holdings.shares * security_prices.close as inception_market_value,
        security_prices.close is not null as is_established,
        case
            when security_prices.close is not null then null
            when unknown_tickers.ticker is not null
                then 'unknown_ticker: the vendor does not know this ticker (HTTP 404)'
            when inception_sessions.inception_date is null
                then 'no_inception_session: no NYSE session on or after the inception date'
            else 'no_inception_price: no valid price on the inception session'
        end as reject_reason,
        holdings.source_row_number,
        holdings.bronze_key,
        holdings.fetched_at
    from holdings
    left join inception_sessions
        on holdings.requested_inception_date = inception_sessions.requested_inception_date
    left join security_prices
        on holdings.ticker = security_prices.ticker
        and inception_sessions.inception_date = security_prices.date_day
    left join unknown_tickers
        on holdings.ticker = unknown_tickers.ticker

)

select
    *,
    {{ observability_columns() }}
from established
