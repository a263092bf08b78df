{#- Contribution to return by security per portfolio and session, with running totals since
    inception (docs: contribution_to_return_periods). -#}
with

positions as (

    select * from {{ ref('fact_portfolio_position_daily') }}

),

performance as (

    select portfolio_id, date_day, portfolio_value
    from {{ ref('fact_portfolio_performance_daily') }}

),

portfolios as (

    select portfolio_id, inception_date from {{ ref('dim_portfolio') }}

),

securities as (

    select ticker, sector from {{ ref('dim_security') }}

),

inception_values as (

    select
        performance.portfolio_id,
        performance.portfolio_value as inception_value
    from performance
    inner join portfolios
        on performance.portfolio_id = portfolios.portfolio_id
        and performance.date_day = portfolios.inception_date

),

with_profit as (

    select
        positions.portfolio_id,
        positions.ticker,
        securities.sector,
        positions.date_day,
        positions.market_value,
        positions.weight,
        positions.security_daily_return,
        positions.contribution_to_return,
        {{ position_profit('positions') }} as profit,
        inception_values.inception_value
    from positions
    inner join securities
        on positions.ticker = securities.ticker
    inner join inception_values
        on positions.portfolio_id = inception_values.portfolio_id

),

with_running_totals as (

    select
        *,
        sum(profit) over (
            partition by portfolio_id, ticker
            order by date_day
            rows between unbounded preceding and current row
        ) as cumulative_profit
    from with_profit

)

select
    portfolio_id,
    ticker,
    sector,
    date_day,
    market_value,
    weight,
    security_daily_return,
    contribution_to_return,
    profit,
    cumulative_profit,
    cumulative_profit / inception_value as cumulative_contribution
from with_running_totals
