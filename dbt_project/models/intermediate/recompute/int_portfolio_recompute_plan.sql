{{ config(materialized='table', tags=['recompute_chain']) }}

{#- One row per portfolio whose rows this build must delete and recompute (docs:
    incremental_recompute):
    - every session after the last one the previous build valued (new sessions, stale
      positions carried);
    - from the earliest recompute_from of its holdings' securities (late or corrected prices);
    - its whole history (is_full_rebuild, from its inception session t0) when the holdings file
      changed its holdings, it is new, a price change reaches t0, or no build was recorded yet;
    - from the var reprocess_from.
    A portfolio that left the holdings file keeps a row (is_full_rebuild, no recompute_from)
    so its rows are deleted. state_date is the session before recompute_from, whose stored row
    carries the running state; window_from is 251 sessions earlier, the first daily return the
    252-session windows need. -#}
{%- set reprocess_from = var('reprocess_from') -%}

with

watermarks as (

    select * from {{ ref('int_recompute_watermarks') }}

),

sessions as (

    select
        date_day,
        lag(date_day) over (order by date_day) as previous_session,
        lead(date_day) over (order by date_day) as next_session,
        row_number() over (order by date_day) as session_number
    from {{ ref('nyse_calendar') }}
    where is_trading_day

),

-- A change dated on a non-session day (a rejected bar, a reprocess date) starts at the next session.
calendar_days as (

    select
        date_day,
        min(case when is_trading_day then date_day end) over (
            order by date_day rows between current row and unbounded following
        ) as session_on_or_after
    from {{ ref('nyse_calendar') }}

),

holdings as (

    select * from {{ ref('int_holdings_established') }}

),

security_plan as (

    select * from {{ ref('int_security_recompute_plan') }}

),

last_priced_session as (

    select max(date_day) as last_session from {{ ref('int_security_returns') }}

),

holding_files as (

    select * from {{ ref('base_portfolios__holdings_files') }}
    where reject_reason is null

),

-- The newest holdings file among the rows the last complete build had consumed.
consumed_files as (

    select
        holding_files.*,
        dense_rank() over (order by fetched_at desc, bronze_key desc) as consumed_file_rank
    from holding_files
    cross join watermarks
    where holding_files.loaded_at <= watermarks.previous_loaded_through

),

current_holdings as (

    select
        portfolio_id,
        ticker,
        -- Only accepted rows, which ingestion validated as numbers and dates.
        cast(trim(raw_shares) as double precision) as shares,
        cast(trim(raw_inception_date) as date) as requested_inception_date
    from holding_files
    where file_rank = 1

),

consumed_holdings as (

    select
        portfolio_id,
        ticker,
        cast(trim(raw_shares) as double precision) as shares,
        cast(trim(raw_inception_date) as date) as requested_inception_date
    from consumed_files
    where consumed_file_rank = 1

),

changed_holdings as (

    select distinct coalesce(current_holdings.portfolio_id, consumed_holdings.portfolio_id)
        as portfolio_id
    from current_holdings
    full outer join consumed_holdings
        on current_holdings.portfolio_id = consumed_holdings.portfolio_id
        and current_holdings.ticker = consumed_holdings.ticker
    where current_holdings.portfolio_id is null
        or consumed_holdings.portfolio_id is null
        or current_holdings.shares <> consumed_holdings.shares
        or current_holdings.requested_inception_date <> consumed_holdings.requested_inception_date

),

portfolios as (

    select
        portfolio_id,
        min(inception_date) as inception_date
    from holdings
    group by portfolio_id

),

price_changes as (

    select
        holdings.portfolio_id,
        min(security_plan.recompute_from) as price_changed_from
    from holdings
    inner join security_plan
        on holdings.ticker = security_plan.ticker
    group by holdings.portfolio_id

),

candidates as (

    select
        coalesce(portfolios.portfolio_id, changed_holdings.portfolio_id) as portfolio_id,
        portfolios.inception_date,
        changed_holdings.portfolio_id is not null
            or watermarks.previous_last_session is null
            or price_changes.price_changed_from <= portfolios.inception_date
            {% if reprocess_from %}
            or cast('{{ reprocess_from }}' as date) <= portfolios.inception_date
            {% endif %}
            as is_full_rebuild,
        least(
            price_changes.price_changed_from,
            {% if reprocess_from %}
            cast('{{ reprocess_from }}' as date),
            {% endif %}
            after_last_build.next_session
        ) as changed_from
    from portfolios
    full outer join changed_holdings
        on portfolios.portfolio_id = changed_holdings.portfolio_id
    left join price_changes
        on portfolios.portfolio_id = price_changes.portfolio_id
    cross join watermarks
    left join sessions as after_last_build
        on watermarks.previous_last_session = after_last_build.date_day

),

planned as (

    select
        candidates.portfolio_id,
        candidates.inception_date,
        candidates.is_full_rebuild,
        case
            when candidates.is_full_rebuild then candidates.inception_date
            else calendar_days.session_on_or_after
        end as recompute_from,
        last_priced_session.last_session
    from candidates
    left join calendar_days
        on candidates.changed_from = calendar_days.date_day
    cross join last_priced_session

)

select
    cast(planned.portfolio_id as varchar(256)) as portfolio_id,
    cast(planned.inception_date as date) as inception_date,
    cast(planned.recompute_from as date) as recompute_from,
    cast(case when not planned.is_full_rebuild then first_session.previous_session end as date)
        as state_date,
    cast(window_start.date_day as date) as window_from,
    cast(planned.last_session as date) as last_session,
    planned.is_full_rebuild
from planned
left join sessions as first_session
    on planned.recompute_from = first_session.date_day
left join sessions as window_start
    on first_session.session_number - 251 = window_start.session_number
where planned.is_full_rebuild
    or planned.recompute_from <= planned.last_session
