-- Contract definition 12: a portfolio's sector exposures sum to 1 on every session.
select
    portfolio_id,
    date_day,
    sum(sector_weight) as total_weight
from {{ ref('portfolio_sector_exposure_daily') }}
where {{ changed_rows_filter('portfolio_plan') }}
group by portfolio_id, date_day
having abs(sum(sector_weight) - 1) > 1e-9
