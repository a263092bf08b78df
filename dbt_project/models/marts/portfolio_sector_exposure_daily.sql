{#- Sector exposure: the sum of position weights by sector, per portfolio and session. -#}
with

positions as (

    select * from {{ ref('fact_portfolio_position_daily') }}

),

securities as (

    select ticker, sector from {{ ref('dim_security') }}

)

select
    positions.portfolio_id,
    positions.date_day,
    securities.sector,
    {{ exact_sum('positions.weight') }} as sector_weight,
    {{ exact_sum('positions.market_value') }} as sector_market_value,
    count(*) as position_count
from positions
inner join securities
    on positions.ticker = securities.ticker
group by positions.portfolio_id, positions.date_day, securities.sector
