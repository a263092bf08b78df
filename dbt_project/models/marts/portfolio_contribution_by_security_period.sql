{#- Each security's contribution to its portfolio's return over calendar months, quarters,
    years and since inception (docs: contribution_to_return_periods). A view, as the KPI
    contract keeps supporting KPIs; its rows are stored and maintained incrementally in
    int_contribution_by_security_period. -#}
select
    portfolio_id,
    ticker,
    sector,
    period_type,
    period_start,
    period_end,
    profit,
    contribution_to_return,
    portfolio_period_return,
    run_id,
    processed_at
from {{ ref('int_contribution_by_security_period') }}
