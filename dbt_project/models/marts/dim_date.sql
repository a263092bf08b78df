{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='date_day',
        on_schema_change='append_new_columns',
        post_hook=["{{ delete_rows_not_rebuilt() }}"]
    )
}}

{#- Every calendar day from 1 January of the first price year to 31 December of the last price
    year. The incremental branch rebuilds every row for now (docs: gold_incremental_rebuild). -#}
with

calendar as (

    select * from {{ ref('nyse_calendar') }}

),

valid_prices as (

    select date_day from {{ ref('int_security_returns') }}

),

date_range as (

    select
        min(extract(year from date_day)) as first_year,
        max(extract(year from date_day)) as last_year
    from valid_prices

),

with_neighbours as (

    select
        date_day,
        is_trading_day,
        max(case when is_trading_day then date_day end) over (
            order by date_day rows between unbounded preceding and 1 preceding
        ) as previous_trading_day,
        min(case when is_trading_day then date_day end) over (
            order by date_day rows between 1 following and unbounded following
        ) as next_trading_day
    from calendar

),

days as (

    select
        with_neighbours.*,
        extract(year from date_day) as year_number,
        extract(month from date_day) as month_number,
        -- ISO day of week, 1 = Monday .. 7 = Sunday (extract(dow) is 0 = Sunday on both engines).
        mod(extract(dow from date_day) + 6, 7) + 1 as iso_day_of_week
    from with_neighbours
    inner join date_range
        on extract(year from with_neighbours.date_day)
        between date_range.first_year and date_range.last_year

),

attributes as (

    select
        date_day,
        is_trading_day,
        year_number,
        extract(quarter from date_day) as quarter_number,
        month_number,
        extract(day from date_day) as day_of_month,
        extract(doy from date_day) as day_of_year,
        iso_day_of_week,
        extract(week from date_day) as iso_week,
        -- The ISO year is the year of the week's Thursday.
        extract(
            year from {{ dbt.dateadd('day', '4 - iso_day_of_week', 'date_day') }}
        ) as iso_year,
        iso_day_of_week >= 6 as is_weekend,
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start_date,
        cast({{ dbt.date_trunc('quarter', 'date_day') }} as date) as quarter_start_date,
        cast({{ dbt.date_trunc('year', 'date_day') }} as date) as year_start_date,
        extract(day from date_day) = 1 as is_month_start,
        extract(day from date_day) = 1 and mod(month_number - 1, 3) = 0 as is_quarter_start,
        extract(day from date_day) = 1 and month_number = 1 as is_year_start,
        previous_trading_day,
        next_trading_day
    from days

)

select
    cast(date_day as date) as date_day,
    cast(is_trading_day as boolean) as is_trading_day,
    cast(year_number as bigint) as year,
    cast(quarter_number as bigint) as quarter,
    cast(month_number as bigint) as month,
    cast(day_of_month as bigint) as day_of_month,
    cast(day_of_year as bigint) as day_of_year,
    cast(iso_day_of_week as bigint) as day_of_week,
    cast(iso_week as bigint) as iso_week,
    cast(iso_year as bigint) as iso_year,
    cast(is_weekend as boolean) as is_weekend,
    cast(month_start_date as date) as month_start_date,
    cast(quarter_start_date as date) as quarter_start_date,
    cast(year_start_date as date) as year_start_date,
    cast(is_month_start as boolean) as is_month_start,
    cast(is_quarter_start as boolean) as is_quarter_start,
    cast(is_year_start as boolean) as is_year_start,
    cast(previous_trading_day as date) as previous_trading_day,
    cast(next_trading_day as date) as next_trading_day,
    {{ observability_columns() }}
from attributes
