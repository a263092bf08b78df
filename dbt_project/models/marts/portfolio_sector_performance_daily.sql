{#- Sector-wise performance per portfolio and session (docs: sector_performance). A view, as
    the KPI contract keeps supporting KPIs; its rows are stored and maintained incrementally
    in int_sector_performance_daily. -#}
select
    portfolio_id,
    sector,
    date_day,
    sector_weight,
    previous_sector_weight,
    sector_market_value,
    sector_contribution,
    sector_daily_return,
    sector_growth_index,
    run_id,
    processed_at
from {{ ref('int_sector_performance_daily') }}
