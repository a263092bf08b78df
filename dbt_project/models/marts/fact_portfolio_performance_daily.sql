{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook=["{{ delete_planned_rows('int_portfolio_recompute_plan', 'portfolio_id') }}"],
        tags=['recompute_chain']
    )
}}

{#- One row per (portfolio, session): value, returns, rolling volatility, drawdowns and beta
    against SPY (docs: rolling_volatility, rolling_beta). Incrementally, the sessions of
    int_portfolio_recompute_plan are deleted and recomputed; the rolling windows read the
    stored returns from window_from, 251 sessions earlier (docs: incremental_recompute). -#}
{%- set volatility_windows = [21, 63, 252] -%}
{%- set beta_windows = [63, 252] %}
-- depends_on: {{ ref('int_portfolio_recompute_plan') }}

with

{% if is_incremental() %}
portfolio_returns as (

    select
        portfolio_returns.*,
        plan.recompute_from
    from {{ ref('int_portfolio_returns') }} as portfolio_returns
    -- window_from is null when fewer than 251 sessions precede recompute_from: read them all.
    -- A bound in the join (not an `or` in a where) reaches the scan of the stored returns,
    -- which are stored session by session, so the older row groups are skipped.
    inner join {{ ref('int_portfolio_recompute_plan') }} as plan
        on portfolio_returns.portfolio_id = plan.portfolio_id
        and portfolio_returns.date_day >= coalesce(plan.window_from, cast('0001-01-01' as date))

),
{% else %}
portfolio_returns as (

    select
        *,
        cast(null as date) as recompute_from
    from {{ ref('int_portfolio_returns') }}

),
{% endif %}

paired_returns as (

    select
        *,
        -- The returns of sessions where both the portfolio and SPY have one; beta uses only
        -- these pairs.
        case
            when benchmark_daily_return is not null then daily_return
        end as paired_return,
        case
            when daily_return is not null then benchmark_daily_return
        end as paired_benchmark_return
    from portfolio_returns

),

windowed as (

    select
        *,
        {% for n in volatility_windows %}
        count(daily_return) over (
            partition by portfolio_id order by date_day
            rows between {{ n - 1 }} preceding and current row
        ) as return_count_{{ n }}d,
        stddev_samp(daily_return) over (
            partition by portfolio_id order by date_day
            rows between {{ n - 1 }} preceding and current row
        ) as return_stddev_{{ n }}d,
        {% endfor %}
        {% for n in beta_windows %}
        count(paired_return) over (
            partition by portfolio_id order by date_day
            rows between {{ n - 1 }} preceding and current row
        ) as pair_count_{{ n }}d,
        sum(paired_return) over (
            partition by portfolio_id order by date_day
            rows between {{ n - 1 }} preceding and current row
        ) as sum_x_{{ n }}d,
        sum(paired_benchmark_return) over (
            partition by portfolio_id order by date_day
            rows between {{ n - 1 }} preceding and current row
        ) as sum_y_{{ n }}d,
        sum(paired_return * paired_benchmark_return) over (
            partition by portfolio_id order by date_day
            rows between {{ n - 1 }} preceding and current row
        ) as sum_xy_{{ n }}d,
        sum(paired_benchmark_return * paired_benchmark_return) over (
            partition by portfolio_id order by date_day
            rows between {{ n - 1 }} preceding and current row
        ) as sum_yy_{{ n }}d{{ ',' if not loop.last }}
        {% endfor %}
    from paired_returns

),

kpis as (

    select
        *,
        {% for n in volatility_windows %}
        case
            when return_count_{{ n }}d = {{ n }}
                then return_stddev_{{ n }}d * sqrt(cast(252 as double precision))
        end as volatility_{{ n }}d,
        {% endfor %}
        {% for n in beta_windows %}
        -- sample covariance / sample variance; their (n - 1) divisors cancel.
        case
            when pair_count_{{ n }}d = {{ n }}
                then ({{ n }} * sum_xy_{{ n }}d - sum_x_{{ n }}d * sum_y_{{ n }}d)
                    / nullif({{ n }} * sum_yy_{{ n }}d - sum_y_{{ n }}d * sum_y_{{ n }}d, 0)
        end as beta_{{ n }}d{{ ',' if not loop.last }}
        {% endfor %}
    from windowed

)

select
    cast(portfolio_id as varchar(256)) as portfolio_id,
    cast(date_day as date) as date_day,
    cast(portfolio_value as double precision) as portfolio_value,
    cast(daily_return as double precision) as daily_return,
    cast(cumulative_return as double precision) as cumulative_return,
    cast(volatility_21d as double precision) as volatility_21d,
    cast(volatility_63d as double precision) as volatility_63d,
    cast(volatility_252d as double precision) as volatility_252d,
    cast(drawdown as double precision) as drawdown,
    cast(max_drawdown as double precision) as max_drawdown,
    cast(beta_63d as double precision) as beta_63d,
    cast(beta_252d as double precision) as beta_252d,
    cast(benchmark_daily_return as double precision) as benchmark_daily_return,
    cast(benchmark_cumulative_return as double precision) as benchmark_cumulative_return,
    cast(peak_value as double precision) as peak_value,
    cast(position_count as bigint) as position_count,
    cast(stale_position_count as bigint) as stale_position_count,
    {{ observability_columns() }}
from kpis
-- Rows before recompute_from were read only to fill the windows.
where recompute_from is null
    or date_day >= recompute_from
{{ order_by_sort_key() }}
