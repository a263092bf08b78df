{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['ticker', 'date_day'],
        on_schema_change='append_new_columns',
        post_hook=["{{ delete_rows_not_rebuilt() }}"]
    )
}}

{#- One row per (security, session) with a valid price. The incremental branch rebuilds every
    row for now (docs: gold_incremental_rebuild). -#}
with

security_returns as (

    select * from {{ ref('int_security_returns') }}

)

select
    cast(ticker as varchar(32)) as ticker,
    cast(date_day as date) as date_day,
    cast("open" as double precision) as "open",
    cast(high as double precision) as high,
    cast(low as double precision) as low,
    cast(close as double precision) as close,
    cast(volume as double precision) as volume,
    cast(div_cash as double precision) as div_cash,
    cast(split_factor as double precision) as split_factor,
    cast(adj_close as double precision) as adj_close,
    cast(daily_return as double precision) as daily_return,
    cast(previous_price_date as date) as previous_price_date,
    cast(previous_close as double precision) as previous_close,
    cast(event_factor as double precision) as event_factor,
    cast(bronze_key as varchar(1024)) as bronze_key,
    {{ observability_columns() }}
from security_returns
