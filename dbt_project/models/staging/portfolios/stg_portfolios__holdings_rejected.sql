{#- The rows of the newest holdings file that failed ingestion validation, with the reason. -#}
with

latest_file as (

    select * from {{ ref('base_portfolios__holdings_latest_file') }}

),

rejected as (

    select
        portfolio_id,
        portfolio_name,
        ticker,
        raw_ticker,
        raw_shares,
        raw_inception_date,
        source_row_number,
        reject_reason,
        file_sha256,
        bronze_key,
        fetched_at,
        ingestion_run_id,
        loaded_at,
        run_id,
        processed_at
    from latest_file
    where reject_reason is not null

)

select * from rejected
