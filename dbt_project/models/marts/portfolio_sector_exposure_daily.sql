{#- Sector exposure: the sum of position weights by sector, per portfolio and session. -#}
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
        positions.date_day,
        securities.sector,
        positions.ticker,
        sum(positions.weight) over (
            partition by positions.portfolio_id, positions.date_day, securities.sector
            order by positions.ticker
            rows between unbounded preceding and current row
        ) as sector_weight,
        sum(positions.market_value) over (
            partition by positions.portfolio_id, positions.date_day, securities.sector
            order by positions.ticker
            rows between unbounded preceding and current row
        ) as sector_market_value,
        count(*) over (
            partition by positions.portfolio_id, positions.date_day, securities.sector
            order by positions.ticker
            rows between unbounded preceding and current row
        ) as position_count,
        max(positions.ticker) over (
            partition by positions.portfolio_id, positions.date_day, securities.sector
        ) as last_ticker
    from positions
    inner join securities
        on positions.ticker = securities.ticker

)

select
    portfolio_id,
    date_day,
    sector,
    sector_weight,
    sector_market_value,
    position_count
from sector_running
where ticker = last_ticker
