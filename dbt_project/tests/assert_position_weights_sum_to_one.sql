-- Contract definition 11: a portfolio's weights sum to 1 on every session.
select
    portfolio_id,
    date_day,
    sum(weight) as total_weight
from {{ ref('fact_portfolio_position_daily') }}
where {{ changed_rows_filter('portfolio_plan') }}
group by portfolio_id, date_day
having abs(sum(weight) - 1) > 1e-9
