"""The SQL and files the Redshift loader generates: COPY, manifest, JSONPaths, staging and merge."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import sqlglot

from ingestion.loaders.raw_tables import (
    DAILY_PRICES,
    DATA_TABLES,
    PORTFOLIO_HOLDINGS,
    new_versions_sql,
)
from ingestion.loaders.redshift_loader import (
    copy_sql,
    jsonpaths_json,
    load_errors_sql,
    manifest_json,
    ndjson,
    staging_table,
    staging_table_sql,
)

ROLE = "arn:aws:iam::123456789012:role/equity-redshift-copy"
MANIFEST = "s3://lake/bronze/_staging/copy/run-1/0123456789abcdef-tiingo_daily_prices.manifest"
JSONPATHS = "s3://lake/bronze/_staging/copy/run-1/jsonpaths/tiingo_daily_prices.jsonpaths"


def test_copy_reads_a_manifest_with_the_configured_role_and_explicit_jsonpaths():
    sql = copy_sql(DAILY_PRICES, MANIFEST, JSONPATHS, ROLE)

    assert sql.splitlines() == [
        "copy raw_staging_tiingo_daily_prices",
        f"from '{MANIFEST}'",
        f"iam_role '{ROLE}'",
        "manifest",
        f"format as json '{JSONPATHS}'",
        "timeformat 'auto'",
        "maxerror 0",
        "compupdate off",
        "statupdate off",
    ]
    # No key pair ever appears in a COPY: the cluster assumes the role.
    assert "access_key" not in sql.lower() and "credentials" not in sql.lower()
    # Nothing parses the vendor's date: no DATEFORMAT, and the column is text in staging.
    assert "dateformat" not in sql.lower()


def test_copy_parses_as_redshift_sql():
    statement = sqlglot.parse_one(
        copy_sql(DAILY_PRICES, MANIFEST, JSONPATHS, ROLE), read="redshift"
    )

    assert statement.key == "copy"
    assert statement.this.name == "raw_staging_tiingo_daily_prices"


def test_quotes_in_locations_are_escaped_not_able_to_end_the_literal():
    sql = copy_sql(DAILY_PRICES, "s3://lake/it's/m.manifest", JSONPATHS, ROLE)

    assert "from 's3://lake/it''s/m.manifest'" in sql


def test_staging_table_keeps_the_vendor_date_as_varchar():
    sql = staging_table_sql(DAILY_PRICES)

    assert sql.startswith("create temp table raw_staging_tiingo_daily_prices (")
    assert "\n  date varchar(64),\n" in sql
    assert "\n  close double precision,\n" in sql
    assert "\n  fetched_at timestamp,\n" in sql


@pytest.mark.parametrize("table", DATA_TABLES, ids=lambda t: t.name)
def test_jsonpaths_map_every_column_in_table_order(table):
    paths = json.loads(jsonpaths_json(table))["jsonpaths"]

    assert paths == [f"$['{name}']" for name in table.column_names]
    assert len(paths) == len(staging_table_sql(table).splitlines()) - 2


def test_manifest_lists_each_file_once_and_mandatory():
    urls = ["s3://lake/a.ndjson", "s3://lake/b.ndjson"]

    manifest = json.loads(manifest_json(urls))

    assert manifest == {
        "entries": [
            {"url": "s3://lake/a.ndjson", "mandatory": True},
            {"url": "s3://lake/b.ndjson", "mandatory": True},
        ]
    }


def test_ndjson_keeps_the_vendor_date_verbatim_and_timestamps_naive():
    row = {
        "ticker": "AAPL",
        "date": "2024-01-02T00:00:00.000Z",
        "close": 185.64,
        "volume": 82488700.0,
        "bronze_key": "tiingo/daily_prices/ingest_date=2024-01-03/ticker=AAPL/r__x.json",
        "fetched_at": datetime(2024, 1, 3, 1, 2, 3, 456789),
        "run_id": "r",
        "loaded_at": datetime(2024, 1, 3, 1, 5),
    }

    (line,) = ndjson(DAILY_PRICES, [row]).decode().splitlines()
    record = json.loads(line)

    assert list(record) == DAILY_PRICES.column_names  # every column, none extra
    assert record["date"] == "2024-01-02T00:00:00.000Z"
    assert record["close"] == 185.64 and record["open"] is None
    assert record["fetched_at"] == "2024-01-03 01:02:03.456789"
    assert record["loaded_at"] == "2024-01-03 01:05:00.000000"


def test_ndjson_writes_utf8_not_escapes():
    row = {"portfolio_name": "Défensif – Europe", "source_row_number": 3}

    body = ndjson(PORTFOLIO_HOLDINGS, [row])

    assert "Défensif – Europe".encode() in body
    assert json.loads(body)["source_row_number"] == 3


def test_ndjson_refuses_values_json_cannot_carry():
    with pytest.raises(ValueError, match="JSON compliant"):
        ndjson(DAILY_PRICES, [{"ticker": "AAPL", "close": float("nan")}])


def test_merge_reads_the_staging_table_and_parses_as_redshift():
    sql = new_versions_sql(DAILY_PRICES, staging_table(DAILY_PRICES))

    assert "insert into raw.tiingo_daily_prices" in sql
    assert "from raw_staging_tiingo_daily_prices as i" in sql
    assert "is distinct from" not in sql.lower()
    assert sqlglot.parse_one(sql, read="redshift").key == "insert"


def test_load_errors_query_reads_the_sys_view_for_one_file():
    sql = load_errors_sql()

    assert "from sys_load_error_detail" in sql
    assert "where trim(file_name) = %s" in sql
    assert sqlglot.parse_one(sql.replace("%s", "'x'"), read="redshift").key == "select"
