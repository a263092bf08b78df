{#- Every stored version of every (ticker, session) bar, typed, ranked newest first, and
    compared with the newest version on the fields that carry the vendor's raw values. -#}
{%- set raw_value_columns = ['open', 'high', 'low', 'close', 'volume', 'div_cash', 'split_factor'] -%}

with

typed as (

    select * from {{ ref('base_tiingo__daily_prices_typed') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by ticker, date_day
            order by fetched_at desc, bronze_key desc
        ) as version_rank
    from typed

),

with_latest_values as (

    select
        *,
        {% for column in raw_value_columns -%}
        first_value({{ adapter.quote(column) }}) over (
            partition by ticker, date_day
            order by version_rank
            rows between unbounded preceding and unbounded following
        ) as latest_{{ column }}{{ ',' if not loop.last }}
        {% endfor %}
    from ranked

),

compared as (

    select
        *,
        -- The raw fields that differ from the newest version, e.g. 'close, volume'; adjusted
        -- values are left out because every later dividend or split changes them.
        rtrim(
            {% for column in raw_value_columns -%}
            case
                when {{ adapter.quote(column) }} = latest_{{ column }}
                    or ({{ adapter.quote(column) }} is null and latest_{{ column }} is null)
                    then ''
                else '{{ column }}, '
            end{{ ' ||' if not loop.last }}
            {% endfor -%}
            , ', '
        ) as raw_fields_changed_by_latest
    from with_latest_values

)

select
    ticker,
    date_day,
    vendor_date,
    "open",
    high,
    low,
    close,
    volume,
    vendor_adj_open,
    vendor_adj_high,
    vendor_adj_low,
    vendor_adj_close,
    vendor_adj_volume,
    div_cash,
    split_factor,
    version_rank,
    raw_fields_changed_by_latest,
    bronze_key,
    fetched_at,
    ingestion_run_id,
    loaded_at,
    {{ observability_columns() }}
from compared
