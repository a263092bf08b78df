{#- Every stored version of every Tiingo daily bar, typed and renamed, one row per raw row.
    No ranking here, so a filter on loaded_at reaches the raw table's scan (the recompute plan
    reads only the rows loaded since the last build). -#}
with

source as (

    select * from {{ source('tiingo', 'tiingo_daily_prices') }}

),

typed as (

    select
        upper(trim(ticker)) as ticker,
        -- The session is the date part of the vendor's midnight-UTC string; converting the
        -- timestamp through a time zone would move it to the previous evening. ("date" and
        -- "open" are quoted everywhere: a type name and a reserved word in Redshift.)
        cast(substr("date", 1, 10) as date) as date_day,
        "date" as vendor_date,
        cast("open" as double precision) as "open",
        cast(high as double precision) as high,
        cast(low as double precision) as low,
        cast(close as double precision) as close,
        cast(volume as double precision) as volume,
        cast(adj_open as double precision) as vendor_adj_open,
        cast(adj_high as double precision) as vendor_adj_high,
        cast(adj_low as double precision) as vendor_adj_low,
        cast(adj_close as double precision) as vendor_adj_close,
        cast(adj_volume as double precision) as vendor_adj_volume,
        cast(div_cash as double precision) as div_cash,
        cast(split_factor as double precision) as split_factor,
        bronze_key,
        fetched_at,
        run_id as ingestion_run_id,
        loaded_at
    from source

)

select * from typed
