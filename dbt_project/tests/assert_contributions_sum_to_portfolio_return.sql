-- Contract definition 11: the contributions of a portfolio's positions on a session sum to the
-- portfolio's daily return (both are null on the inception session).
{%- set changed_sessions = changed_rows_filter('portfolio_plan') %}
with

performance as (

    select * from {{ ref('fact_portfolio_performance_daily') }}
    where {{ changed_sessions }}

),

contributions as (

    select
        portfolio_id,
        date_day,
        sum(contribution_to_return) as total_contribution
    from {{ ref('fact_portfolio_position_daily') }}
    where {{ changed_sessions }}
    group by portfolio_id, date_day

)

select
    performance.portfolio_id,
    performance.date_day,
    performance.daily_return,
    contributions.total_contribution
from performance
left join contributions
    on performance.portfolio_id = contributions.portfolio_id
    and performance.date_day = contributions.date_day
where (performance.daily_return is null) <> (contributions.total_contribution is null)
    or abs(performance.daily_return - contributions.total_contribution) > 1e-9
