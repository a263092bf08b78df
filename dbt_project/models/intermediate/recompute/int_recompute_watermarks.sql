{{ config(materialized='table', tags=['recompute_chain']) }}

{#- One row: where the last complete build stopped (the newest raw row it consumed and the last
    session it valued) and how far raw goes now. The on-run-end hook records loaded_through
    once every model of the chain has succeeded (docs: incremental_recompute). -#}
with

builds as (

    select
        loaded_through,
        last_session,
        row_number() over (order by recorded_at desc, loaded_through desc) as build_rank
    from {{ source('audit', 'gold_builds') }}

),

last_build as (

    select loaded_through, last_session from builds
    where build_rank = 1

),

raw_loads as (

    select loaded_at from {{ ref('base_tiingo__daily_prices_typed') }}
    union all
    select loaded_at from {{ ref('base_portfolios__holdings_files') }}

),

loaded as (

    select max(loaded_at) as loaded_through from raw_loads

)

select
    last_build.loaded_through as previous_loaded_through,
    last_build.last_session as previous_last_session,
    loaded.loaded_through
from loaded
left join last_build
    on 1 = 1
