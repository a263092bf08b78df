{#- audit.layer_row_counts: one row per (run, relation) with its row count after the run, so a
    reconciliation from the raw tables to gold can be queried (docs: layer_row_counts). -#}

{% macro layer_row_counts_relation() -%}
    {{ return(api.Relation.create(
        database=target.database, schema='audit', identifier='layer_row_counts', type='table')) }}
{%- endmacro %}

{#- The on-run-start hooks create the schema and the table when missing; plain SQL (no
    adapter calls while rendering), so dbt compile stays free of side effects. -#}
{% macro create_audit_schema() -%}
    create schema if not exists {{ layer_row_counts_relation().schema }}
{%- endmacro %}

{% macro create_layer_row_counts_table() -%}
    create table if not exists {{ layer_row_counts_relation() }} (
        run_id varchar(64),
        layer varchar(16),
        model_name varchar(256),
        row_count bigint,
        recorded_at timestamp
    )
{%- endmacro %}

{#- Counts every table this run built successfully (models and seeds) plus every source table
    (layer bronze). Views are left out: counting one computes it, and the staging views rank
    every raw price version, so their counts would cost a daily run time that grows with
    history (0.6 s at 10 years); the tables they feed carry the same reconciliation. Runs
    without a built table (dbt test, for example) record nothing.
    Relations are named, not looked up: a catalog query here would open a transaction that dbt
    rolls back after the hook, taking the insert with it. -#}
{% macro record_layer_row_counts(results) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set counted = [] -%}
    {%- for result in results
        if result.node.resource_type in ('model', 'seed')
        and result.status == 'success'
        and result.node.config.materialized not in ('ephemeral', 'view') -%}
        {#- the layer of a model or seed is the schema it is built in -#}
        {%- do counted.append((
            result.node.schema,
            result.node.name,
            api.Relation.create(
                database=result.node.database,
                schema=result.node.schema,
                identifier=result.node.alias))) -%}
    {%- endfor -%}
    {%- if counted | length == 0 -%}{{ return('') }}{%- endif -%}
    {%- for source in graph.sources.values() if source.source_name != 'audit' -%}
        {%- do counted.append((
            'bronze',
            source.source_name ~ '.' ~ source.name,
            api.Relation.create(
                database=source.database,
                schema=source.schema,
                identifier=source.identifier))) -%}
    {%- endfor -%}
    {%- set recorded_at = modules.datetime.datetime.now(modules.pytz.utc) -%}
    insert into {{ layer_row_counts_relation() }} (run_id, layer, model_name, row_count, recorded_at)
    {% for layer, name, relation in counted -%}
    select
        cast('{{ pipeline_run_id() }}' as varchar(64)),
        cast('{{ layer }}' as varchar(16)),
        cast('{{ name }}' as varchar(256)),
        cast(count(*) as bigint),
        cast('{{ recorded_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
    from {{ relation }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
{%- endmacro %}
