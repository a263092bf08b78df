{#- The money a position gained on a session, dividends reinvested: the previous session's
    market value times the security's total return; 0 at inception (docs:
    contribution_to_return_periods). -#}
{% macro position_profit(positions) -%}
    coalesce({{ positions }}.previous_market_value * {{ positions }}.security_daily_return, 0)
{%- endmacro %}
