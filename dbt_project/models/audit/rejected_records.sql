{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook=["{{ delete_changed_rejects() }}"],
        tags=['recompute_chain']
    )
}}

{#- Every holding and price that could not be used, with the reason; none of them reaches gold
    (docs: rejected_records). Incrementally, the holdings' rows (a few thousand) are rebuilt
    every run, and the prices' rows only for the dates of raw rows loaded since the last
    complete build: only a new version of a bar can change its rejects. The date bound is a
    literal, so it reaches below the staging views' version ranking. -#}
{%- set changed_prices = changed_price_rejects_condition() %}
with

holdings_rejected_at_ingestion as (

    select
        'holding' as record_type,
        portfolio_id,
        ticker,
        cast(null as date) as date_day,
        reject_reason,
        bronze_key,
        source_row_number,
        fetched_at
    from {{ ref('stg_portfolios__holdings_rejected') }}

),

holdings_not_established as (

    select
        'holding' as record_type,
        portfolio_id,
        ticker,
        inception_date as date_day,
        reject_reason,
        bronze_key,
        source_row_number,
        fetched_at
    from {{ ref('int_holdings_established') }}
    where not is_established

),

invalid_prices as (

    select
        'price' as record_type,
        cast(null as varchar(256)) as portfolio_id,
        ticker,
        date_day,
        reject_reason,
        bronze_key,
        cast(null as integer) as source_row_number,
        fetched_at
    from {{ ref('int_prices_validated') }}
    where reject_reason is not null
        and {{ changed_prices }}

),

conflicting_price_versions as (

    select
        'price' as record_type,
        cast(null as varchar(256)) as portfolio_id,
        ticker,
        date_day,
        'conflicting_duplicate: superseded by a later ingestion with different '
            || raw_fields_changed_by_latest as reject_reason,
        bronze_key,
        cast(null as integer) as source_row_number,
        fetched_at
    from {{ ref('stg_tiingo__daily_price_superseded') }}
    where has_conflicting_raw_values
        and {{ changed_prices }}

),

rejects as (

    select * from holdings_rejected_at_ingestion
    union all
    select * from holdings_not_established
    union all
    select * from invalid_prices
    union all
    select * from conflicting_price_versions

)

select
    cast(record_type as varchar(16)) as record_type,
    cast(portfolio_id as varchar(256)) as portfolio_id,
    cast(ticker as varchar(256)) as ticker,
    cast(date_day as date) as date_day,
    cast(split_part(reject_reason, ':', 1) as varchar(64)) as reject_code,
    cast(reject_reason as varchar(1024)) as reject_reason,
    cast(bronze_key as varchar(1024)) as bronze_key,
    cast(source_row_number as integer) as source_row_number,
    cast(fetched_at as timestamp) as fetched_at,
    {{ observability_columns() }}
from rejects
