-- Every raw price version is accounted for: raw = current versions + superseded versions, and
-- every current version is either in gold or rejected with a reason.
with

counts as (

    select
        (select count(*) from {{ source('tiingo', 'tiingo_daily_prices') }}) as raw_rows,
        (select count(*) from {{ ref('stg_tiingo__daily_prices') }}) as current_versions,
        (select count(*) from {{ ref('stg_tiingo__daily_price_superseded') }}) as superseded_versions,
        (select count(*) from {{ ref('fact_market_price_daily') }}) as gold_rows,
        (
            select count(*) from {{ ref('int_prices_validated') }}
            where reject_reason is not null
        ) as rejected_current_versions

)

select *
from counts
where raw_rows <> current_versions + superseded_versions
    or current_versions <> gold_rows + rejected_current_versions
