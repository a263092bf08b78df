{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='ticker',
        on_schema_change='append_new_columns',
        post_hook=["{{ delete_rows_not_rebuilt() }}"]
    )
}}

{#- One row per ticker that has a valid price or is in the security master; sector and industry
    are 'Unknown' where the security master has no row. The incremental branch rebuilds every
    row for now (docs: gold_incremental_rebuild). -#}
with

security_master as (

    select * from {{ ref('security_master') }}

),

ticker_metadata as (

    select * from {{ ref('stg_tiingo__ticker_metadata') }}

),

price_ranges as (

    select
        ticker,
        min(date_day) as first_price_date,
        max(date_day) as last_price_date
    from {{ ref('int_security_returns') }}
    group by ticker

),

tickers as (

    select ticker from security_master
    union
    select ticker from price_ranges

),

securities as (

    select
        tickers.ticker,
        coalesce(security_master.security_name, ticker_metadata.tiingo_name, tickers.ticker)
            as security_name,
        coalesce(security_master.sector, 'Unknown') as sector,
        coalesce(security_master.industry, 'Unknown') as industry,
        coalesce(security_master.exchange, ticker_metadata.tiingo_exchange_code) as exchange,
        coalesce(security_master.is_benchmark, false) as is_benchmark,
        security_master.ticker is not null as is_in_security_master,
        ticker_metadata.tiingo_name,
        ticker_metadata.tiingo_exchange_code,
        ticker_metadata.tiingo_start_date,
        ticker_metadata.tiingo_end_date,
        price_ranges.first_price_date,
        price_ranges.last_price_date
    from tickers
    left join security_master
        on tickers.ticker = security_master.ticker
    left join ticker_metadata
        on tickers.ticker = ticker_metadata.ticker
    left join price_ranges
        on tickers.ticker = price_ranges.ticker

)

select
    cast(ticker as varchar(32)) as ticker,
    cast(security_name as varchar(512)) as security_name,
    cast(sector as varchar(64)) as sector,
    cast(industry as varchar(128)) as industry,
    cast(exchange as varchar(64)) as exchange,
    cast(is_benchmark as boolean) as is_benchmark,
    cast(is_in_security_master as boolean) as is_in_security_master,
    cast(tiingo_name as varchar(512)) as tiingo_name,
    cast(tiingo_exchange_code as varchar(64)) as tiingo_exchange_code,
    cast(tiingo_start_date as date) as tiingo_start_date,
    cast(tiingo_end_date as date) as tiingo_end_date,
    cast(first_price_date as date) as first_price_date,
    cast(last_price_date as date) as last_price_date,
    {{ observability_columns() }}
from securities
