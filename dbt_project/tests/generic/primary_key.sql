{#- Primary-key test: the key is never null and no value of it occurs twice (what `unique` and
    `not_null` on each key column check, in one query and one dbt node). On a column
    (`- primary_key`) the key is that column; on a model, `columns` lists a composite key. -#}
{% test primary_key(model, column_name=none, columns=none) %}

{%- set key = columns or [column_name] -%}

select
    {{ key | join(', ') }},
    count(*) as occurrences
from {{ model }}
group by {{ key | join(', ') }}
having count(*) > 1
    {%- for column in key %}
    or {{ column }} is null
    {%- endfor %}

{% endtest %}
