{#- Data tests of a daily run check the rows the run could have changed, not all history
    (docs: data_tests_scope). Active only with the var data_tests_scope = 'changed', which the
    pipeline and the Airflow DAG pass; a plain `dbt build` or `dbt test` checks whole tables.

    A model opts in with `meta: {changed_rows: {scope: ..., session_column: ...}}`:
    - raw_prices: sessions from the earliest one among raw price rows loaded since the last
      complete build (the staging views that rank raw versions; read from sources, because
      their tests run before this run's plans are built);
    - security_plan: sessions from the earliest recompute_from of int_security_recompute_plan,
      and every session of a ticker rebuilt whole (a dividend or split moves all of its
      adj_close);
    - portfolio_plan: sessions from the earliest recompute_from of int_portfolio_recompute_plan
      (views over the position fact included: their running totals start there too).
    `month_column` (optional) names a column holding the session's month that partitions the
    model's window functions: the same bound on it reaches below them.
    The bound is looked up when the test runs and written as a literal, so the warehouse can
    skip row groups and push the filter below the views' window functions. -#}

{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}{%- do conditions.append('(' ~ where ~ ')') -%}{%- endif -%}
    {%- set attached_node = model.get('attached_node') -%}
    {%- if attached_node and attached_node in graph.nodes -%}
        {%- set changed_rows = graph.nodes[attached_node].config.meta.get('changed_rows') -%}
        {%- if changed_rows and data_tests_scope_is_changed() -%}
            {%- do conditions.append(changed_rows_condition(
                changed_rows.scope,
                changed_rows.get('session_column', 'date_day'),
                changed_rows.get('month_column'))) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{% macro data_tests_scope_is_changed() -%}
    {%- set scope = var('data_tests_scope') -%}
    {%- if scope not in ('all', 'changed') -%}
        {%- do exceptions.raise_compiler_error(
            "var data_tests_scope must be 'all' or 'changed', not '" ~ scope ~ "'") -%}
    {%- endif -%}
    {%- do return(scope == 'changed') -%}
{%- endmacro %}

{#- For singular tests: the condition on `session_column` of the rows `scope` covers, or
    `1 = 1` when tests check whole tables. -#}
{% macro changed_rows_filter(scope, session_column='date_day', text_session=false) -%}
    {%- if data_tests_scope_is_changed() -%}
        {{- changed_rows_condition(scope, session_column, text_session=text_session) -}}
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{% macro changed_rows_condition(scope, session_column, month_column=none, text_session=false) -%}
    {%- if not execute -%}{%- do return('1 = 1') -%}{%- endif -%}
    {%- set rebuilt_tickers = [] -%}
    {%- if scope == 'raw_prices' -%}
        {%- set bounds = run_query(raw_prices_changed_from_sql()) -%}
        {%- set first_session = bounds.columns[0].values()[0] -%}
        {%- set has_build = bounds.columns[1].values()[0] -%}
        {%- if not has_build -%}{%- do return('1 = 1') -%}{%- endif -%}
    {%- elif scope in ('security_plan', 'portfolio_plan') -%}
        {%- set plan = model_relation(
            'int_security_recompute_plan' if scope == 'security_plan' else 'int_portfolio_recompute_plan') -%}
        {%- set first_session = run_query(
            'select min(recompute_from) from ' ~ plan ~ ' where recompute_from is not null'
        ).columns[0].values()[0] -%}
        {%- if scope == 'security_plan' -%}
            {%- set rebuilt_tickers = run_query(
                'select ticker from ' ~ plan ~ ' where is_full_rebuild order by ticker'
            ).columns[0].values() -%}
        {%- endif -%}
    {%- else -%}
        {%- do exceptions.raise_compiler_error("unknown changed_rows scope '" ~ scope ~ "'") -%}
    {%- endif -%}
    {%- set conditions = [] -%}
    {%- if first_session is not none -%}
        {%- if text_session -%}
            {#- An ISO date string ('2024-12-31T00:00:00.000Z') compared as text: no cast of
                every row of a table stored in load order. -#}
            {%- set bound = session_column ~ " >= '" ~ first_session ~ "'" -%}
        {%- else -%}
            {%- set bound = session_column ~ " >= cast('" ~ first_session ~ "' as date)" -%}
        {%- endif -%}
        {%- if month_column -%}
            {%- set bound = '(' ~ month_column ~ " >= cast('" ~ (first_session | string)[:8]
                ~ "01' as date) and " ~ bound ~ ')' -%}
        {%- endif -%}
        {%- do conditions.append(bound) -%}
    {%- endif -%}
    {%- if rebuilt_tickers | length > 0 -%}
        {%- do conditions.append("ticker in ('" ~ rebuilt_tickers | join("', '") ~ "')") -%}
    {%- endif -%}
    {#- Nothing changed: nothing to check. -#}
    {%- do return('(' ~ (conditions | join(' or ') or '1 = 0') ~ ')') -%}
{%- endmacro %}

{#- One row: the earliest session among raw price rows loaded after the last complete build,
    and whether there was such a build (without one, everything is new). -#}
{% macro raw_prices_changed_from_sql() -%}
    {%- set builds = gold_builds_relation() -%}
    with last_build as (
        select max(loaded_through) as loaded_through
        from {{ builds }}
        where recorded_at = (select max(recorded_at) from {{ builds }})
    )
    select
        (
            select min(prices.date_day)
            from {{ model_relation('base_tiingo__daily_prices_typed') }} as prices
            where prices.loaded_at > (select loaded_through from last_build)
        ) as first_session,
        (select count(*) from last_build where loaded_through is not null) > 0 as has_build
{%- endmacro %}

{#- A model's relation without ref(): a test may not ref a model it does not depend on. -#}
{% macro model_relation(name) -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == name -%}
        {%- do return(api.Relation.create(
            database=node.database, schema=node.schema, identifier=node.alias)) -%}
    {%- endfor -%}
    {%- do exceptions.raise_compiler_error('no model named ' ~ name) -%}
{%- endmacro %}
