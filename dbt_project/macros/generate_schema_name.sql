{#- Custom schema names are used verbatim (silver, gold, audit, reference) instead of dbt's
    default "<target schema>_<custom schema>", so every target has the same layer schemas. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
