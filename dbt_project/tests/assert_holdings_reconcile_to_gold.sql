-- Every row of the current holdings file is accounted for: rejected at ingestion, rejected
-- for lack of a price on the inception session, or an established holding of its portfolio;
-- and each portfolio's established holdings are its positions in gold. A position is valued on
-- every session from inception to the last (prices carried forward), so a daily build counts
-- the positions of the portfolios it recomputed, on the sessions it recomputed, instead of
-- reading the whole position fact (docs: data_tests_scope).
-- depends_on: {{ ref('int_portfolio_recompute_plan') }}
{%- set only_planned = data_tests_scope_is_changed() %}
with

file_counts as (

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
        ) as established_holdings

),

portfolios as (

    select portfolios.portfolio_id, portfolios.established_holding_count
    from {{ ref('dim_portfolio') }} as portfolios
    {%- if only_planned %}
    inner join {{ ref('int_portfolio_recompute_plan') }} as plan
        on portfolios.portfolio_id = plan.portfolio_id
    {%- endif %}

),

positions as (

    select positions.portfolio_id, count(distinct positions.ticker) as position_count
    from {{ ref('fact_portfolio_position_daily') }} as positions
    {%- if only_planned %}
    inner join {{ ref('int_portfolio_recompute_plan') }} as plan
        on positions.portfolio_id = plan.portfolio_id
    {%- endif %}
    where {{ changed_rows_filter('portfolio_plan') }}
    group by positions.portfolio_id

)

select
    cast(null as varchar(256)) as portfolio_id,
    file_rows as holding_rows,
    rejected_rows + established_holdings as accounted_rows
from file_counts
where file_rows <> rejected_rows + established_holdings

union all

select
    coalesce(portfolios.portfolio_id, positions.portfolio_id) as portfolio_id,
    coalesce(portfolios.established_holding_count, 0) as holding_rows,
    coalesce(positions.position_count, 0) as accounted_rows
from portfolios
full outer join positions
    on portfolios.portfolio_id = positions.portfolio_id
where coalesce(portfolios.established_holding_count, 0) <> coalesce(positions.position_count, 0)
