{#- Incremental builds and late data (docs: incremental_recompute).

    audit.gold_builds holds one row per dbt run that completed every model of the recompute
    chain: the raw rows it consumed (loaded_through) and the last session it valued. The next
    run recomputes only what changed after that point. -#}

{% macro gold_builds_relation() -%}
    {{ return(api.Relation.create(
        database=target.database, schema='audit', identifier='gold_builds', type='table')) }}
{%- endmacro %}

{% macro create_gold_builds_table() -%}
    create table if not exists {{ gold_builds_relation() }} (
        run_id varchar(64),
        loaded_through timestamp,
        last_session date,
        recorded_at timestamp
    )
{%- endmacro %}

{#- Records the build only when every model tagged recompute_chain ran and succeeded and no
    model errored or was skipped: a partial or failed build leaves the watermark where it was,
    so the next run recomputes the same changes again (every recompute is idempotent). -#}
{% macro record_gold_build(results) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set succeeded = [] -%}
    {%- for result in results if result.node.resource_type == 'model' -%}
        {%- if result.status in ('error', 'skipped') -%}{{ return('') }}{%- endif -%}
        {%- if result.status == 'success' -%}{%- do succeeded.append(result.node.unique_id) -%}{%- endif -%}
    {%- endfor -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and 'recompute_chain' in node.tags -%}
        {%- if node.unique_id not in succeeded -%}{{ return('') }}{%- endif -%}
    {%- endfor -%}
    {{ return(insert_gold_build()) }}
{%- endmacro %}

{#- `dbt run-operation record_completed_gold_build`: for an orchestrator that builds the chain
    one model per dbt command (the Airflow DAG, where no single command's results hold every
    model). It runs once all of them have succeeded. -#}
{% macro record_completed_gold_build() -%}
    {%- call statement('record_gold_build', auto_begin=True) -%}
        {{ insert_gold_build() }}
    {%- endcall -%}
    {%- do adapter.commit() -%}
{%- endmacro %}

{% macro insert_gold_build() -%}
    {%- set chain = {} -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and 'recompute_chain' in node.tags -%}
        {%- do chain.update({node.name: api.Relation.create(
            database=node.database, schema=node.schema, identifier=node.alias)}) -%}
    {%- endfor -%}
    insert into {{ gold_builds_relation() }} (run_id, loaded_through, last_session, recorded_at)
    select
        cast('{{ pipeline_run_id() }}' as varchar(64)),
        watermarks.loaded_through,
        (select max(date_day) from {{ chain['int_security_returns'] }}),
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
    from {{ chain['int_recompute_watermarks'] }} as watermarks
{%- endmacro %}

{#- Pre-hook of the incremental models: deletes the rows the plan recomputes, including rows
    that will not come back (a holding removed, a price rejected after a correction), so the
    model can append the recomputed rows. Nothing to delete on a full refresh. -#}
{% macro delete_planned_rows(plan_model, key, session_column='date_day', period=none) -%}
    {%- if is_incremental() -%}
    {%- set recompute_from = 'plan.recompute_from' if period is none
        else 'cast(' ~ dbt.date_trunc(period, 'plan.recompute_from') ~ ' as date)' -%}
    delete from {{ this }}
    using {{ ref(plan_model) }} as plan
    where {{ this.identifier }}.{{ key }} = plan.{{ key }}
        and (
            plan.is_full_rebuild
            or {{ this.identifier }}.{{ session_column }} >= {{ recompute_from }}
        )
        and {{ this.identifier }}.{{ session_column }} >= {{ earliest_planned_row(plan_model, recompute_from) }}
    {%- endif -%}
{%- endmacro %}

{#- The plan's earliest recompute_from (or an expression of it) once more, as a scalar: DuckDB
    applies it while scanning and skips the older row groups, which it cannot do with a join's
    per-key bound. No bound when a key is rebuilt whole. -#}
{% macro earliest_planned_row(plan_model, recompute_from) -%}
    coalesce(
        (
            select case when count(case when plan.is_full_rebuild then 1 end) = 0
                then min({{ recompute_from }}) end
            from {{ ref(plan_model) }} as plan
        ),
        cast('0001-01-01' as date)
    )
{%- endmacro %}

{#- Pre-hook of int_contribution_by_security_period: a planned portfolio's calendar
    periods (month, quarter, year) that hold its recompute_from or start after it. The table is
    stored by period start, so the scalar bound skips the older row groups. -#}
{% macro delete_planned_periods(plan_model) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    using {{ ref(plan_model) }} as plan
    where {{ this.identifier }}.portfolio_id = plan.portfolio_id
        and (
            plan.is_full_rebuild
            {%- for period in ['month', 'quarter', 'year'] %}
            or (
                {{ this.identifier }}.period_type = '{{ period }}'
                and {{ this.identifier }}.period_start
                    >= cast({{ dbt.date_trunc(period, 'plan.recompute_from') }} as date)
            )
            {%- endfor %}
        )
        and {{ this.identifier }}.period_start
            >= {{ earliest_planned_row(plan_model, 'cast(' ~ dbt.date_trunc('year', 'plan.recompute_from') ~ ' as date)') }}
    {%- endif -%}
{%- endmacro %}

{#- Second pre-hook of int_contribution_by_security_period: a planned portfolio's
    since-inception rows, which every recomputed session changes. Apart from the calendar
    periods, which a bound on the period start reaches: these start at inception. -#}
{% macro delete_planned_since_inception_rows(plan_model) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    using {{ ref(plan_model) }} as plan
    where {{ this.identifier }}.portfolio_id = plan.portfolio_id
        and {{ this.identifier }}.period_type = 'since_inception'
    {%- endif -%}
{%- endmacro %}

{#- For the tables that carry rows by sector (after their pre-hooks have run): the planned
    portfolios, with the plan's recompute_from and state_date, and the portfolios left without
    stored rows (new, rebuilt whole, or deleted by a sector check), with null for both: they
    are computed over their whole history. -#}
{% macro portfolios_to_recompute() -%}
    select
        portfolios.portfolio_id,
        case when stored_portfolios.portfolio_id is not null then plan.recompute_from end
            as recompute_from,
        case when stored_portfolios.portfolio_id is not null then plan.state_date end
            as state_date
    from {{ ref('dim_portfolio') }} as portfolios
    left join {{ ref('int_portfolio_recompute_plan') }} as plan
        on portfolios.portfolio_id = plan.portfolio_id
    left join (select distinct portfolio_id from {{ this }}) as stored_portfolios
        on portfolios.portfolio_id = stored_portfolios.portfolio_id
    where plan.portfolio_id is not null
        or stored_portfolios.portfolio_id is null
{%- endmacro %}

{#- Third pre-hook of int_contribution_by_security_period: its rows carry each security's
    sector from dim_security, which the recompute plans do not watch (a reclassification in the
    security master changes no price or holding). A portfolio with a row whose sector is no
    longer dim_security's is deleted whole, and the model sums it again. -#}
{% macro delete_portfolios_with_changed_sectors() -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where portfolio_id in (
        select stored.portfolio_id
        from {{ this }} as stored
        inner join {{ ref('dim_security') }} as securities
            on stored.ticker = securities.ticker
        where stored.sector <> securities.sector
    )
    {%- endif -%}
{%- endmacro %}

{#- Second pre-hook of int_sector_performance_daily: its rows are grouped by the sector
    dim_security gives each security, which the recompute plans do not watch. At each
    portfolio's last stored session (after the first pre-hook), the stored market value of
    every sector must equal the exact sum of that session's positions under today's sectors;
    a portfolio where one differs is deleted whole, and the model computes it again. -#}
{% macro delete_portfolios_with_changed_sector_sums() -%}
    {%- if is_incremental() -%}
    {%- set last_stored -%}
        (select portfolio_id, max(date_day) as date_day from {{ this }} group by portfolio_id)
    {%- endset -%}
    delete from {{ this }}
    where portfolio_id in (
        select coalesce(stored.portfolio_id, current_sums.portfolio_id)
        from (
            select stored.portfolio_id, stored.sector, stored.sector_market_value
            from {{ this }} as stored
            inner join {{ last_stored }} as last_stored
                on stored.portfolio_id = last_stored.portfolio_id
                and stored.date_day = last_stored.date_day
        ) as stored
        full outer join (
            select
                positions.portfolio_id,
                securities.sector,
                {{ exact_sum('positions.market_value') }} as sector_market_value
            from {{ ref('fact_portfolio_position_daily') }} as positions
            inner join {{ last_stored }} as last_stored
                on positions.portfolio_id = last_stored.portfolio_id
                and positions.date_day = last_stored.date_day
            inner join {{ ref('dim_security') }} as securities
                on positions.ticker = securities.ticker
            group by positions.portfolio_id, securities.sector
        ) as current_sums
            on stored.portfolio_id = current_sums.portfolio_id
            and stored.sector = current_sums.sector
        where stored.portfolio_id is null
            or current_sums.portfolio_id is null
            or stored.sector_market_value <> current_sums.sector_market_value
    )
    {%- endif -%}
{%- endmacro %}

{#- rejected_records: the condition on date_day of the price rejects a build recomputes. Only a
    new version of a bar changes its rejects, so: the dates from the earliest among raw price
    rows loaded since the last complete build, and bars without a date; every row on a full
    refresh or before the first complete build. Looked up when the model runs. -#}
{% macro changed_price_rejects_condition() -%}
    {%- if not (execute and is_incremental()) -%}{%- do return('1 = 1') -%}{%- endif -%}
    {#- `dbt compile --no-introspect` (the offline Redshift check) may not query: a placeholder
        bound of the same shape. -#}
    {%- if not flags.INTROSPECT -%}
        {%- do return("(date_day >= cast('1970-01-01' as date) or date_day is null)") -%}
    {%- endif -%}
    {%- set bounds = run_query(raw_prices_changed_from_sql()) -%}
    {%- set first_date = bounds.columns[0].values()[0] -%}
    {%- if not bounds.columns[1].values()[0] -%}{%- do return('1 = 1') -%}{%- endif -%}
    {%- if first_date is none -%}{%- do return('date_day is null') -%}{%- endif -%}
    {%- do return("(date_day >= cast('" ~ first_date ~ "' as date) or date_day is null)") -%}
{%- endmacro %}

{#- Pre-hook of rejected_records: the holdings' rows and the price rows the build recomputes. -#}
{% macro delete_changed_rejects() -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where record_type = 'holding'
        or (record_type = 'price' and {{ changed_price_rejects_condition() }})
    {%- endif -%}
{%- endmacro %}

{#- int_security_returns: a literal condition on (ticker, date_day) covering every price an
    incremental build reads: the whole history of the tickers rebuilt whole (a dividend or
    split, or nothing stored yet), and the others from the earliest of their last stored
    sessions before recompute_from. The model's join to the plan picks the exact rows; this
    only lets the warehouse skip the rest below the staging views' version ranking, which a
    join cannot reach. Looked up when the model is compiled, before its pre-hook runs. -#}
{% macro security_prices_read_condition() -%}
    {%- if not (execute and is_incremental()) -%}{%- do return('1 = 1') -%}{%- endif -%}
    {%- if not flags.INTROSPECT -%}
        {%- do return("(date_day >= cast('1970-01-01' as date) or ticker in ('SPY'))") -%}
    {%- endif -%}
    {%- set reads = run_query(
        'select plan.ticker, plan.is_full_rebuild, max(stored.date_day) as last_stored_date'
        ~ ' from ' ~ ref('int_security_recompute_plan') ~ ' as plan'
        ~ ' left join ' ~ this ~ ' as stored'
        ~ ' on stored.ticker = plan.ticker and stored.date_day < plan.recompute_from'
        ~ ' group by plan.ticker, plan.is_full_rebuild'
        ~ ' order by plan.ticker') -%}
    {%- set whole_history = [] -%}
    {%- set bounds = [] -%}
    {%- for row in reads.rows -%}
        {%- if row['is_full_rebuild'] or row['last_stored_date'] is none -%}
            {%- do whole_history.append("'" ~ row['ticker'] | replace("'", "''") ~ "'") -%}
        {%- else -%}
            {%- do bounds.append(row['last_stored_date']) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set conditions = [] -%}
    {%- if bounds | length > 0 -%}
        {%- do conditions.append("date_day >= cast('" ~ (bounds | min) ~ "' as date)") -%}
    {%- endif -%}
    {%- if whole_history | length > 0 -%}
        {%- do conditions.append('ticker in (' ~ whole_history | join(', ') ~ ')') -%}
    {%- endif -%}
    {#- An empty plan reads nothing. -#}
    {%- do return('(' ~ (conditions | join(' or ') or '1 = 0') ~ ')') -%}
{%- endmacro %}

{#- int_security_recompute_plan: a literal condition on the session of the price rows it
    reads, from the earliest session among the raw rows loaded since the last complete build.
    Every version the plan compares has such a session; as a literal, the warehouse applies it
    in the scan of base_tiingo__daily_prices_typed, stored session by session, so a daily run
    reads a few sessions instead of all history. `1 = 1` before the first complete build
    (everything is new); `1 = 0` when nothing was loaded since (a rerun compares nothing).
    Looked up when the model is compiled. -#}
{% macro new_price_versions_condition() -%}
    {#- In a unit test (`this` is a CTE name) the rows are the test's, not the warehouse's. -#}
    {%- if not execute or this is string -%}{%- do return('1 = 1') -%}{%- endif -%}
    {%- if not flags.INTROSPECT -%}
        {%- do return("date_day >= cast('1970-01-01' as date)") -%}
    {%- endif -%}
    {%- set bounds = run_query(raw_prices_changed_from_sql()) -%}
    {%- set first_session = bounds.columns[0].values()[0] -%}
    {%- if not bounds.columns[1].values()[0] -%}
        {%- do return('1 = 1') -%}
    {%- endif -%}
    {%- if first_session is none -%}
        {%- do return('1 = 0') -%}
    {%- endif -%}
    {%- do return("date_day >= cast('" ~ first_session ~ "' as date)") -%}
{%- endmacro %}

{#- The ORDER BY that stores a model's rows by the leading column of its `sort` config on
    DuckDB, which keeps rows in insertion order and skips row groups by their min and max: with
    the position tables stored session by session, a daily run's reads and deletes from a
    recent session touch a few row groups instead of every one (a full build would otherwise
    write them position by position). Only the leading column: that is what the row groups'
    min and max need, and a sort on one key costs a full build less. Incremental runs append
    in the same order. Redshift sorts by the sort key itself. -#}
{% macro order_by_sort_key() -%}
    {%- set sort = config.get('sort') -%}
    {%- if sort and target.type == 'duckdb' -%}
    order by {{ sort if sort is string else sort[0] }}
    {%- endif -%}
{%- endmacro %}

{#- Stops an incremental build whose stored table lacks a column the model carries on from its
    stored rows: on_schema_change 'fail' would only say that the columns differ, and appending
    the column empty would carry nothing into every later row. Says to rebuild instead. Not in
    unit tests, where `this` is a CTE name. -#}
{% macro require_stored_column(column, built_before, note='') -%}
    {%- if is_incremental() and execute and flags.INTROSPECT and this is not string -%}
        {%- set stored_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
        {%- if column not in stored_columns -%}
            {%- do exceptions.raise_compiler_error(
                this ~ " was built before " ~ built_before ~ ": rebuild it with"
                ~ " `equity-analytics transform --full-refresh`" ~ note) -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
