{#- Rows where the column falls outside [min_value, max_value]. The bounds are SQL expressions,
    so they can name other columns of the same row (max_value: "drawdown"). Null values pass;
    test them with not_null where they must be present. -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}

{%- if min_value is none and max_value is none -%}
    {{ exceptions.raise_compiler_error(
        "accepted_range on " ~ column_name ~ " needs min_value, max_value or both") }}
{%- endif -%}
{%- set lower = '>=' if inclusive else '>' -%}
{%- set upper = '<=' if inclusive else '<' -%}

select *
from {{ model }}
where {{ column_name }} is not null
    and not (
        {% if min_value is not none %}{{ column_name }} {{ lower }} {{ min_value }}{% endif %}
        {% if min_value is not none and max_value is not none %}and{% endif %}
        {% if max_value is not none %}{{ column_name }} {{ upper }} {{ max_value }}{% endif %}
    )

{% endtest %}
