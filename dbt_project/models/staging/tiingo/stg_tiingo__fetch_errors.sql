{#- The newest recorded error per (ticker, endpoint). -#}
with

source as (

    select * from {{ source('tiingo', 'tiingo_fetch_errors') }}

),

typed as (

    select
        upper(trim(ticker)) as ticker,
        endpoint,
        cast(http_status as integer) as http_status,
        detail,
        bronze_key,
        fetched_at,
        run_id as ingestion_run_id,
        loaded_at,
        row_number() over (
            partition by upper(trim(ticker)), endpoint
            order by fetched_at desc, bronze_key desc
        ) as version_rank
    from source

)

select
    ticker,
    endpoint,
    http_status,
    detail,
    http_status = 404 as is_unknown_ticker,
    bronze_key,
    fetched_at,
    ingestion_run_id,
    loaded_at,
    {{ observability_columns() }}
from typed
where version_rank = 1
