-- Every row of the current holdings file is accounted for: rejected at ingestion, rejected
-- for lack of a price on the inception session, or an established position in gold.
with

counts as (

    select
        (
            select count(*) from {{ ref('base_portfolios__holdings_latest_file') }}
        ) as file_rows,
        (
            select count(*) from {{ ref('rejected_records') }}
            where record_type = 'holding'
        ) as rejected_rows,
        (
            select sum(established_holding_count) from {{ ref('dim_portfolio') }}
        ) as established_holdings,
        (
            select count(*)
            from (
                select distinct portfolio_id, ticker
                from {{ ref('fact_portfolio_position_daily') }}
            ) as positions
        ) as positions_in_gold

)

select *
from counts
where file_rows <> rejected_rows + established_holdings
    or established_holdings <> positions_in_gold
