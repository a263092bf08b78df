{{ config(materialized='view') }}

{#- Every current (newest) price row with the first validation rule it breaks, or null when it
    can be used. Only rows with a null reject_reason go on to returns and gold. A view: the
    incremental int_security_returns reads only the tickers and sessions it recomputes. -#}
with

prices as (

    select * from {{ ref('stg_tiingo__daily_prices') }}

),

calendar as (

    select * from {{ ref('nyse_calendar') }}

),

checked as (

    select
        prices.ticker,
        prices.date_day,
        prices."open",
        prices.high,
        prices.low,
        prices.close,
        prices.volume,
        prices.div_cash,
        prices.split_factor,
        coalesce(calendar.is_trading_day, false) as is_trading_day,
        case
            when prices.date_day is null
                then 'missing_date: the bar has no date'
            when calendar.date_day is null
                then 'non_session_date: the date is outside the NYSE calendar seed'
            when not calendar.is_trading_day
                then 'non_session_date: the date is not an NYSE session'
            when prices.close is null or prices.close <= 0
                then 'invalid_close: close is null or not greater than zero'
            when prices.split_factor is null or prices.split_factor <= 0
                then 'invalid_split_factor: split factor is null or not greater than zero'
            when prices.div_cash is null or prices.div_cash < 0
                then 'invalid_dividend: dividend is null or negative'
        end as reject_reason,
        prices.bronze_key,
        prices.fetched_at
    from prices
    left join calendar
        on prices.date_day = calendar.date_day

)

select
    *,
    {{ observability_columns() }}
from checked
