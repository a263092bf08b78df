{#- The run that produced a row: the pipeline's run id (var pipeline_run_id) when the
    orchestrator passes one, otherwise dbt's invocation_id. -#}
{% macro pipeline_run_id() -%}
    {{ return(var('pipeline_run_id') or invocation_id) }}
{%- endmacro %}

{#- run_id and processed_at for every silver, gold and audit row (docs: observability_columns).
    processed_at is the run's start in UTC written as a literal: the warehouse's current_timestamp
    would depend on the session time zone. -#}
{% macro observability_columns() -%}
    cast('{{ pipeline_run_id() }}' as varchar(64)) as run_id,
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp) as processed_at
{%- endmacro %}

{#- Post-hook of the gold tables. Each build re-derives every row and stamps it with this run's
    id, and delete+insert replaces the rows whose key comes back; a row whose key did not come
    back (for example a holding dropped from a newer holdings file) still carries an older
    run id and is removed here. -#}
{% macro delete_rows_not_rebuilt() -%}
    delete from {{ this }} where run_id <> '{{ pipeline_run_id() }}'
{%- endmacro %}
