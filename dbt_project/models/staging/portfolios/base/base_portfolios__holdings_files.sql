{#- Every row of every stored holdings file, ranked by file (1 = the newest, max fetched_at then
    bronze_key), with the time each row was loaded: the recompute plan compares the current
    file with the one the last build used. Values stay text (rejected rows may not parse). -#}
with

source as (

    select * from {{ source('portfolios', 'portfolio_holdings') }}

)

select
    trim(portfolio_id) as portfolio_id,
    -- Same normalisation as ingestion: Tiingo writes share classes with a dash (BRK.B is BRK-B).
    replace(upper(trim(ticker)), '.', '-') as ticker,
    shares as raw_shares,
    inception_date as raw_inception_date,
    source_row_number,
    reject_reason,
    bronze_key,
    fetched_at,
    loaded_at,
    dense_rank() over (order by fetched_at desc, bronze_key desc) as file_rank
from source
