"""The pipeline's question to the warehouse before a daily build: which build completed last
(ingestion/build_state.py), asked of the Redshift stand-in and parsed as Redshift SQL."""

from __future__ import annotations

import sqlglot

from ingestion.build_state import GOLD_BUILDS_EXISTS_SQL, LAST_GOLD_BUILD_SQL, last_gold_build


def test_the_last_gold_build_is_none_before_the_first_build_then_the_latest_run(cluster):
    # A new session each time, as the pipeline opens one for the question.
    assert last_gold_build(cluster.connect()) is None

    cluster.query("create schema audit")
    cluster.query(
        "create table audit.gold_builds "
        "(run_id varchar(64), loaded_through timestamp, last_session date, recorded_at timestamp)"
    )
    assert last_gold_build(cluster.connect()) is None
    cluster.query(
        "insert into audit.gold_builds values "
        "('run-2', null, null, timestamp '2024-12-31 22:00:00'), "
        "('run-1', null, null, timestamp '2024-12-30 22:00:00')"
    )
    assert last_gold_build(cluster.connect()) == "run-2"


def test_the_build_queries_parse_as_redshift_sql():
    for sql in (GOLD_BUILDS_EXISTS_SQL, LAST_GOLD_BUILD_SQL):
        assert sqlglot.parse_one(sql, read="redshift").key == "select"
