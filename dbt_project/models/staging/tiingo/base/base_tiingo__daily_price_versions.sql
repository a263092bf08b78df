{#- Every stored version of every (ticker, session) bar, typed, ranked newest first, and
    compared with the newest version on the fields that carry the vendor's raw values. -#}
{%- set raw_value_columns = ['open', 'high', 'low', 'close', 'volume', 'div_cash', 'split_factor'] -%}

with

source as (

    select * from {{ source('tiingo', 'tiingo_daily_prices') }}

),

typed as (

    select
        upper(trim(ticker)) as ticker,
        -- The session is the date part of the vendor's midnight-UTC string; converting the
        -- timestamp through a time zone would move it to the previous evening. ("date" and
        -- "open" are quoted everywhere: a type name and a reserved word in Redshift.)
        cast(substr("date", 1, 10) as date) as date_day,
        "date" as vendor_date,
        cast("open" as double precision) as "open",
        cast(high as double precision) as high,
        cast(low as double precision) as low,
        cast(close as double precision) as close,
        cast(volume as double precision) as volume,
        cast(adj_open as double precision) as vendor_adj_open,
        cast(adj_high as double precision) as vendor_adj_high,
        cast(adj_low as double precision) as vendor_adj_low,
        cast(adj_close as double precision) as vendor_adj_close,
        cast(adj_volume as double precision) as vendor_adj_volume,
        cast(div_cash as double precision) as div_cash,
        cast(split_factor as double precision) as split_factor,
        bronze_key,
        fetched_at,
        run_id as ingestion_run_id,
        loaded_at
    from source

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
