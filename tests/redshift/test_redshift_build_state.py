"""The pipeline's question to the warehouse before a daily build: which build completed last,
and whether a holdings file was loaded since (ingestion/build_state.py), asked of the Redshift
stand-in and parsed as Redshift SQL."""

from __future__ import annotations

import sqlglot

from ingestion.build_state import (
    GOLD_BUILDS_EXISTS_SQL,
    LAST_GOLD_BUILD_SQL,
    LastBuild,
    daily_selector,
    last_gold_build,
)


def test_the_last_gold_build_is_none_before_the_first_build_then_the_latest_run(cluster):
    # A new session each time, as the pipeline opens one for the question.
    assert last_gold_build(cluster.connect()) is None

    cluster.query("create schema audit")
    cluster.query(
        "create table audit.gold_builds "
        "(run_id varchar(64), loaded_through timestamp, last_session date, recorded_at timestamp)"
    )
    cluster.query(
        "create table audit.layer_row_counts (run_id varchar(64), layer varchar(16), "
        "model_name varchar(256), row_count bigint, recorded_at timestamp)"
    )
    cluster.query("create schema raw")
    cluster.query("create table raw.portfolio_holdings (portfolio_id varchar(64))")
    assert last_gold_build(cluster.connect()) is None
    cluster.query("insert into raw.portfolio_holdings values ('P1'), ('P1'), ('P2')")
    cluster.query(
        "insert into audit.gold_builds values "
        "('run-2', null, null, timestamp '2024-12-31 22:00:00'), "
        "('run-1', null, null, timestamp '2024-12-30 22:00:00')"
    )
    # run-2's hook counted the rows there are now; run-1's fewer.
    cluster.query(
        "insert into audit.layer_row_counts values "
        "('run-1', 'bronze', 'portfolios.portfolio_holdings', 2, null), "
        "('run-2', 'bronze', 'portfolios.portfolio_holdings', 3, null), "
        "('run-2', 'bronze', 'tiingo.daily_prices', 900, null)"
    )
    last_build = last_gold_build(cluster.connect())
    assert last_build == LastBuild(run_id="run-2", holdings_changed=False)
    assert daily_selector(last_build) == "daily_build_holdings_unchanged"

    # A holdings file loaded since run-2.
    cluster.query("insert into raw.portfolio_holdings values ('P3')")
    last_build = last_gold_build(cluster.connect())
    assert last_build == LastBuild(run_id="run-2", holdings_changed=True)
    assert daily_selector(last_build) == "daily_build"


def test_a_build_without_a_holdings_count_counts_as_a_change(cluster):
    # A build recorded before the hook counted the holdings: their tests run.
    cluster.query("create schema audit")
    cluster.query("create table audit.gold_builds (run_id varchar(64), recorded_at timestamp)")
    cluster.query(
        "create table audit.layer_row_counts "
        "(run_id varchar(64), layer varchar(16), model_name varchar(256), row_count bigint)"
    )
    cluster.query("create schema raw")
    cluster.query("create table raw.portfolio_holdings (portfolio_id varchar(64))")
    cluster.query("insert into audit.gold_builds values ('run-1', timestamp '2024-12-31 22:00:00')")
    assert last_gold_build(cluster.connect()) == LastBuild(run_id="run-1", holdings_changed=True)


def test_the_build_queries_parse_as_redshift_sql():
    for sql in (GOLD_BUILDS_EXISTS_SQL, LAST_GOLD_BUILD_SQL):
        assert sqlglot.parse_one(sql, read="redshift").key == "select"
