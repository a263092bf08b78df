{#- Uniqueness test for a composite key whose parts may be null, where `primary_key` would fail
    on good data: staging keeps a bar without a date on its way to the rejects, and a reject
    has no session or no ticker. Null parts group together, so two rows with the same nulls
    count as duplicates. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

{%- set columns = combination_of_columns | join(', ') -%}

select
    {{ columns }},
    count(*) as occurrences
from {{ model }}
group by {{ columns }}
having count(*) > 1

{% endtest %}
