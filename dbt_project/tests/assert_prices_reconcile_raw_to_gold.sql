-- Every raw price version is accounted for: raw = current versions + superseded versions, and
-- every current version is either in gold or rejected with a reason. Session by session, so a
-- daily build checks the sessions it loaded (docs: data_tests_scope).
{%- set changed_sessions = changed_rows_filter('raw_prices') %}
{%- set raw_changed_sessions = changed_rows_filter('raw_prices', '"date"', text_session=true) %}
with

counts as (

    select
        (
            select count(*) from {{ source('tiingo', 'tiingo_daily_prices') }}
            where {{ raw_changed_sessions }}
        ) as raw_rows,
        (
            select count(*) from {{ ref('stg_tiingo__daily_prices') }}
            where {{ changed_sessions }}
        ) as current_versions,
        (
            select count(*) from {{ ref('stg_tiingo__daily_price_superseded') }}
            where {{ changed_sessions }}
        ) as superseded_versions,
        (
            select count(*) from {{ ref('fact_market_price_daily') }}
            where {{ changed_sessions }}
        ) as gold_rows,
        (
            select count(*) from {{ ref('int_prices_validated') }}
            where reject_reason is not null and {{ changed_sessions }}
        ) as rejected_current_versions

)

select *
from counts
where raw_rows <> current_versions + superseded_versions
    or current_versions <> gold_rows + rejected_current_versions
