{#- Every row of the newest holdings file (max fetched_at, then bronze_key): that file is the
    current truth and older files are history. Values stay text here because rows rejected at
    ingestion may not parse. -#}
with

source as (

    select * from {{ source('portfolios', 'portfolio_holdings') }}

),

ranked as (

    select
        *,
        dense_rank() over (order by fetched_at desc, bronze_key desc) as file_rank
    from source

)

select
    trim(portfolio_id) as portfolio_id,
    trim(portfolio_name) as portfolio_name,
    -- Same normalisation as ingestion: Tiingo writes share classes with a dash (BRK.B is BRK-B).
    replace(upper(trim(ticker)), '.', '-') as ticker,
    ticker as raw_ticker,
    shares as raw_shares,
    inception_date as raw_inception_date,
    source_row_number,
    reject_reason,
    file_sha256,
    bronze_key,
    fetched_at,
    run_id as ingestion_run_id,
    loaded_at,
    {{ observability_columns() }}
from ranked
where file_rank = 1
