{#- Sector-wise performance per portfolio and session: the sector's own daily return (its
    contributions over its prior-session weight) and a growth index whose ratio between two
    sessions is the sector's return over that period (docs: sector_performance). -#}
with

positions as (

    select * from {{ ref('fact_portfolio_position_daily') }}

),

securities as (

    select ticker, sector from {{ ref('dim_security') }}

),

sector_sessions as (

    select
        positions.portfolio_id,
        securities.sector,
        positions.date_day,
        {{ exact_sum('positions.weight') }} as sector_weight,
        {{ exact_sum('positions.market_value') }} as sector_market_value,
        {{ exact_sum('positions.contribution_to_return') }} as sector_contribution
    from positions
    inner join securities
        on positions.ticker = securities.ticker
    group by positions.portfolio_id, securities.sector, positions.date_day

),

with_previous as (

    select
        *,
        lag(sector_weight) over (
            partition by portfolio_id, sector order by date_day
        ) as previous_sector_weight,
        first_value(sector_market_value) over (
            partition by portfolio_id, sector
            order by date_day
            rows between unbounded preceding and current row
        ) as inception_sector_market_value
    from sector_sessions

)

select
    portfolio_id,
    sector,
    date_day,
    sector_weight,
    previous_sector_weight,
    sector_market_value,
    sector_contribution,
    sector_contribution / previous_sector_weight as sector_daily_return,
    -- Buy-and-hold positions are self-financing, so compounding the sector's daily returns
    -- gives exactly its market value relative to inception.
    sector_market_value / inception_sector_market_value as sector_growth_index
from with_previous
