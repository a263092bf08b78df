{#- The older versions of each (ticker, session) bar that a later ingestion replaced. -#}
with

versions as (

    select * from {{ ref('base_tiingo__daily_price_versions') }}

),

superseded as (

    select
        ticker,
        date_day,
        vendor_date,
        version_rank,
        "open",
        high,
        low,
        close,
        volume,
        vendor_adj_close,
        div_cash,
        split_factor,
        raw_fields_changed_by_latest,
        raw_fields_changed_by_latest <> '' as has_conflicting_raw_values,
        bronze_key,
        fetched_at,
        ingestion_run_id,
        loaded_at,
        run_id,
        processed_at
    from versions
    where version_rank > 1

)

select * from superseded
