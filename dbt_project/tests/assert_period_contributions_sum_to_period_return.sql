-- The contributions of a portfolio's securities over a period add up to the portfolio's return
-- over that period, and the since-inception return equals the latest cumulative_return.
with

periods as (

    select
        portfolio_id,
        period_type,
        period_start,
        period_end,
        sum(contribution_to_return) as total_contribution,
        min(portfolio_period_return) as portfolio_period_return
    from {{ ref('portfolio_contribution_by_security_period') }}
    where {{ changed_rows_filter('portfolio_plan', 'period_end') }}
    group by portfolio_id, period_type, period_start, period_end

)

select periods.*
from periods
left join {{ ref('fact_portfolio_performance_daily') }} as performance
    on periods.portfolio_id = performance.portfolio_id
    and periods.period_end = performance.date_day
where abs(total_contribution - periods.portfolio_period_return) > 1e-9
    or (
        periods.period_type = 'since_inception'
        and abs(periods.portfolio_period_return - performance.cumulative_return) > 1e-9
    )
