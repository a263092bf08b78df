-- Contract definition 4: the portfolio's value is the sum of its positions' market values
-- (relative tolerance 1e-9), and every performance row has positions.
{%- set changed_sessions = changed_rows_filter('portfolio_plan') %}
with

performance as (

    select * from {{ ref('fact_portfolio_performance_daily') }}
    where {{ changed_sessions }}

),

positions as (

    select
        portfolio_id,
        date_day,
        sum(market_value) as total_market_value
    from {{ ref('fact_portfolio_position_daily') }}
    where {{ changed_sessions }}
    group by portfolio_id, date_day

)

select
    performance.portfolio_id,
    performance.date_day,
    performance.portfolio_value,
    positions.total_market_value
from performance
full outer join positions
    on performance.portfolio_id = positions.portfolio_id
    and performance.date_day = positions.date_day
where performance.portfolio_value is null
    or positions.total_market_value is null
    or abs(performance.portfolio_value - positions.total_market_value)
        > 1e-9 * abs(performance.portfolio_value)
