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

-- Running sums in ticker order, read at each sector's last ticker: a GROUP BY would add in
-- whatever order its threads meet the rows, and the view must give the same bits on every read.
sector_running as (

    select
        positions.portfolio_id,
        securities.sector,
        positions.date_day,
        positions.ticker,
        sum(positions.weight) over (
            partition by positions.portfolio_id, securities.sector, positions.date_day
            order by positions.ticker
            rows between unbounded preceding and current row
        ) as sector_weight,
        sum(positions.market_value) over (
            partition by positions.portfolio_id, securities.sector, positions.date_day
            order by positions.ticker
            rows between unbounded preceding and current row
        ) as sector_market_value,
        sum(positions.contribution_to_return) over (
            partition by positions.portfolio_id, securities.sector, positions.date_day
            order by positions.ticker
            rows between unbounded preceding and current row
        ) as sector_contribution,
        max(positions.ticker) over (
            partition by positions.portfolio_id, securities.sector, positions.date_day
        ) as last_ticker
    from positions
    inner join securities
        on positions.ticker = securities.ticker

),

sector_sessions as (

    select portfolio_id, sector, date_day, sector_weight, sector_market_value, sector_contribution
    from sector_running
    where ticker = last_ticker

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
