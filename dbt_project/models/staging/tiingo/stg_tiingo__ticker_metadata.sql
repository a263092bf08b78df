with

source as (

    select * from {{ source('tiingo', 'tiingo_ticker_metadata') }}

),

typed as (

    select
        upper(trim(ticker)) as ticker,
        name as tiingo_name,
        exchange_code as tiingo_exchange_code,
        description as tiingo_description,
        cast(substr(nullif(trim(start_date), ''), 1, 10) as date) as tiingo_start_date,
        cast(substr(nullif(trim(end_date), ''), 1, 10) as date) as tiingo_end_date,
        bronze_key,
        fetched_at,
        run_id as ingestion_run_id,
        loaded_at,
        row_number() over (
            partition by upper(trim(ticker))
            order by fetched_at desc, bronze_key desc
        ) as version_rank
    from source

)

select
    ticker,
    tiingo_name,
    tiingo_exchange_code,
    tiingo_description,
    tiingo_start_date,
    tiingo_end_date,
    bronze_key,
    fetched_at,
    ingestion_run_id,
    loaded_at,
    {{ observability_columns() }}
from typed
where version_rank = 1
