{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook=["{{ delete_planned_rows('int_portfolio_recompute_plan', 'portfolio_id', 'month_start', 'month') }}"],
        tags=['recompute_chain']
    )
}}

{#- One row per (portfolio, security, calendar month): the money the position gained over the
    month's sessions, dividends reinvested, summed exactly (decimal), so every longer period is
    an exact sum of whole months (docs: contribution_to_return_periods). Incrementally, a
    planned portfolio's months from the one holding its recompute_from are deleted and summed
    again: a daily run re-reads one month of positions, not all history. -#}
-- depends_on: {{ ref('int_portfolio_recompute_plan') }}

with

positions as (

    select positions.*
    from {{ ref('int_positions_valued') }} as positions
    {% if is_incremental() %}
    inner join {{ ref('int_portfolio_recompute_plan') }} as plan
        on positions.portfolio_id = plan.portfolio_id
        and positions.date_day >= cast({{ dbt.date_trunc('month', 'plan.recompute_from') }} as date)
    {% endif %}

)

select
    cast(portfolio_id as varchar(256)) as portfolio_id,
    cast(ticker as varchar(32)) as ticker,
    cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
    min(date_day) as first_session,
    max(date_day) as last_session,
    sum(cast({{ position_profit('positions') }} as decimal(38, 18))) as profit,
    {{ observability_columns() }}
from positions
group by portfolio_id, ticker, {{ dbt.date_trunc('month', 'date_day') }}
