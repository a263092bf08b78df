{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["{{ delete_planned_rows('int_security_recompute_plan', 'ticker') }}"],
        tags=['recompute_chain']
    )
}}

{#- One row per valid price: the security's total daily return, its corporate-action factor
    and the adjusted close recomputed from raw fields (docs: security_daily_return,
    event_factor, adj_close). Incrementally, only the tickers of int_security_recompute_plan
    are read, from their last stored price before recompute_from (the previous close of the
    first recomputed row) or over their whole history when a dividend or split moved adj_close
    (docs: incremental_recompute). -#}
-- depends_on: {{ ref('int_security_recompute_plan') }}
{%- set read_condition = security_prices_read_condition() %}
with

valid_prices as (

    select * from {{ ref('int_prices_validated') }}
    where reject_reason is null
        and {{ read_condition }}

),

{% if is_incremental() %}
plan as (

    select * from {{ ref('int_security_recompute_plan') }}

),

-- The pre-hook deleted the planned rows, so what is left of a planned ticker ends before
-- recompute_from. The read condition holds every such last row (it was looked up from them),
-- and bounds the lookup to recent sessions instead of all history.
last_stored as (

    select
        stored.ticker,
        max(stored.date_day) as date_day
    from (select * from {{ this }} where {{ read_condition }}) as stored
    inner join plan
        on stored.ticker = plan.ticker
    group by stored.ticker

),

prices_read as (

    select
        valid_prices.*,
        last_stored.date_day as last_stored_date
    from valid_prices
    inner join plan
        on valid_prices.ticker = plan.ticker
    left join last_stored
        on valid_prices.ticker = last_stored.ticker
    where last_stored.date_day is null
        or valid_prices.date_day >= last_stored.date_day

),
{% else %}
prices_read as (

    select
        valid_prices.*,
        cast(null as date) as last_stored_date
    from valid_prices

),
{% endif %}

with_previous as (

    select
        ticker,
        date_day,
        last_stored_date,
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
    from prices_read

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
-- The last stored row was read only for its close.
where last_stored_date is null
    or date_day > last_stored_date
