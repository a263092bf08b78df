{#- The holdings of the newest file that passed ingestion validation, typed. -#}
with

latest_file as (

    select * from {{ ref('base_portfolios__holdings_latest_file') }}

),

accepted as (

    select
        portfolio_id,
        portfolio_name,
        ticker,
        -- Guarded by the filter's condition as well, so a rejected row's text is never cast
        -- even if the warehouse evaluates the projection before the filter.
        case
            when reject_reason is null then cast(trim(raw_shares) as double precision)
        end as shares,
        case
            when reject_reason is null then cast(trim(raw_inception_date) as date)
        end as requested_inception_date,
        source_row_number,
        file_sha256,
        bronze_key,
        fetched_at,
        ingestion_run_id,
        loaded_at,
        run_id,
        processed_at
    from latest_file
    where reject_reason is null

)

select * from accepted
