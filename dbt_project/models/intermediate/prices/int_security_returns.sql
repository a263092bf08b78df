{#- One row per valid price: the security's total daily return, its corporate-action factor
    and the adjusted close recomputed from raw fields (docs: security_daily_return,
    event_factor, adj_close). -#}
with

valid_prices as (

    select * from {{ ref('int_prices_validated') }}
    where reject_reason is null

),

with_previous as (

    select
        ticker,
        date_day,
        "open",
        high,
        low,
        close,
        volume,
        div_cash,
        split_factor,
        bronze_key,
        lag(date_day) over (partition by ticker order by date_day) as previous_price_date,
        lag(close) over (partition by ticker order by date_day) as previous_close,
        -- Exactly 1.0 on rows without a dividend or split, so ln() adds exactly 0 there.
        (1 + div_cash / close) * split_factor as event_factor
    from valid_prices

),

with_later_events as (

    select
        *,
        coalesce(
            sum(ln(event_factor)) over (
                partition by ticker
                order by date_day
                rows between 1 following and unbounded following
            ),
            0
        ) as later_log_event_factor
    from with_previous

)

select
    ticker,
    date_day,
    "open",
    high,
    low,
    close,
    volume,
    div_cash,
    split_factor,
    event_factor,
    previous_price_date,
    previous_close,
    (close + div_cash) * split_factor / previous_close - 1 as daily_return,
    close * exp(-later_log_event_factor) as adj_close,
    bronze_key,
    {{ observability_columns() }}
from with_later_events
