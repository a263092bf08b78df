{#- The run that produced a row: the var pipeline_run_id (the Airflow DAG passes it), else the
    environment variable EQUITY_PIPELINE_RUN_ID (the pipeline sets it), else dbt's
    invocation_id. The environment is read only while executing: dbt re-parses every file that
    read an environment variable whose value changed, so a new id read at parse time would
    re-parse the whole project on every run. -#}
{% macro pipeline_run_id() -%}
    {%- set from_environment = env_var('EQUITY_PIPELINE_RUN_ID', '') if execute else '' -%}
    {{ return(var('pipeline_run_id') or from_environment or invocation_id) }}
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
