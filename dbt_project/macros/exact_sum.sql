{#- A sum whose result does not depend on the order of its rows: added exactly as
    decimal(38, 18), then returned as double precision. A plain SUM of doubles adds in the
    order its threads meet the rows, so a view would give different last bits on each read.
    Terms are rounded to 1e-18 first, far below the 1e-9 the KPIs are checked to. -#}
{% macro exact_sum(expression) -%}
    cast(sum(cast({{ expression }} as decimal(38, 18))) as double precision)
{%- endmacro %}
