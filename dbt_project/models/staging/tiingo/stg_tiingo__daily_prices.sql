{#- One row per (ticker, session): the newest stored version wins. Validation against the NYSE
    calendar and the price rules happens in int_prices_validated. -#}
with

versions as (

    select * from {{ ref('base_tiingo__daily_price_versions') }}

),

latest as (

    select
        ticker,
        date_day,
        vendor_date,
        "open",
        high,
        low,
        close,
        volume,
        vendor_adj_open,
        vendor_adj_high,
        vendor_adj_low,
        vendor_adj_close,
        vendor_adj_volume,
        div_cash,
        split_factor,
        bronze_key,
        fetched_at,
        ingestion_run_id,
        loaded_at,
        run_id,
        processed_at
    from versions
    where version_rank = 1

)

select * from latest
