{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='portfolio_id',
        on_schema_change='append_new_columns',
        post_hook=["{{ delete_rows_not_rebuilt() }}"]
    )
}}

{#- One row per portfolio of the current holdings file that has at least one accepted holding.
    The incremental branch rebuilds every row for now (docs: gold_incremental_rebuild). -#}
with

holdings as (

    select * from {{ ref('int_holdings_established') }}

),

portfolios as (

    select
        portfolio_id,
        -- Ingestion rejects a portfolio whose rows disagree on name or inception date, so
        -- these are the single values of the portfolio's accepted rows.
        min(portfolio_name) as portfolio_name,
        min(inception_date) as inception_date,
        min(requested_inception_date) as requested_inception_date,
        count(*) as accepted_holding_count,
        sum(case when is_established then 1 else 0 end) as established_holding_count
    from holdings
    group by portfolio_id

)

select
    cast(portfolio_id as varchar(256)) as portfolio_id,
    cast(portfolio_name as varchar(512)) as portfolio_name,
    cast(inception_date as date) as inception_date,
    cast(requested_inception_date as date) as requested_inception_date,
    cast(accepted_holding_count as bigint) as accepted_holding_count,
    cast(established_holding_count as bigint) as established_holding_count,
    {{ observability_columns() }}
from portfolios
