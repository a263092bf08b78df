{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['portfolio_id', 'ticker', 'date_day'],
        on_schema_change='append_new_columns',
        post_hook=["{{ delete_rows_not_rebuilt() }}"]
    )
}}

{#- One row per (portfolio, security, session) from the portfolio's inception session to the
    latest session with data. The incremental branch rebuilds every row for now
    (docs: gold_incremental_rebuild). -#}
with

positions as (

    select * from {{ ref('int_positions_valued') }}

)

select
    cast(portfolio_id as varchar(256)) as portfolio_id,
    cast(ticker as varchar(32)) as ticker,
    cast(date_day as date) as date_day,
    cast(shares as double precision) as shares,
    cast(close_price as double precision) as close_price,
    cast(price_date_day as date) as price_date_day,
    cast(market_value as double precision) as market_value,
    cast(previous_market_value as double precision) as previous_market_value,
    cast(weight as double precision) as weight,
    cast(security_daily_return as double precision) as security_daily_return,
    cast(contribution_to_return as double precision) as contribution_to_return,
    cast(is_price_stale as boolean) as is_price_stale,
    {{ observability_columns() }}
from positions
