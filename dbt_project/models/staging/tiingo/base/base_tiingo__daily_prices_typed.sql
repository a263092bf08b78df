{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        sort=['date_day', 'ticker'],
        dist='ticker',
        tags=['recompute_chain']
    )
}}

{#- Every stored version of every Tiingo daily bar, typed and renamed, one row per raw row. A
    table rather than a view, stored session by session: the raw table is in load order (a
    backfill ticker by ticker), so a bound on the session could skip none of it, and every
    daily run would cast all of history again; here a daily run's bounds on date_day skip the
    older row groups, under the version ranking too. The loader only appends to raw, so a run
    appends the raw rows loaded after the newest one stored, except rows already stored: a
    reprocess puts back, with a new loaded_at, raw rows that were deleted by hand (this table
    kept them). No ranking here, so a filter on loaded_at or date_day reaches this table's
    scan. -#}
with

source as (

    select * from {{ source('tiingo', 'tiingo_daily_prices') }}
    {% if is_incremental() %}
    where loaded_at > (
        select coalesce(max(loaded_at), cast('1900-01-01' as timestamp)) from {{ this }}
    )
    {% endif %}

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

),

{% if is_incremental() %}
stored as (

    select bronze_key, ticker, vendor_date from {{ this }}
    where date_day >= (select min(date_day) from typed)

),

new_rows as (

    select typed.* from typed
    where not exists (
        select 1 from stored
        where stored.bronze_key = typed.bronze_key
            and stored.ticker = typed.ticker
            and stored.vendor_date = typed.vendor_date
    )

)
{% else %}
new_rows as (

    select * from typed

)
{% endif %}

select * from new_rows
{{ order_by_sort_key() }}
