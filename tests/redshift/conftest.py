"""Fixtures for the Redshift tests: an S3 API server on loopback and a stand-in cluster."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from moto_s3 import REGION, make_bucket

from ingestion import bronze
from ingestion.loaders.raw_tables import ObjectRows, rows_from_object
from ingestion.object_store import ObjectStore
from redshift.fake_redshift import FakeRedshift

COPY_ROLE = "arn:aws:iam::123456789012:role/equity-redshift-copy"
LOADED_AT = datetime(2024, 12, 31, 23, 0)


@pytest.fixture
def bucket(s3_server: str) -> str:
    return make_bucket(s3_server)


@pytest.fixture
def cluster(s3_server: str) -> FakeRedshift:
    return FakeRedshift(s3_server, REGION)


def price_object(store: ObjectStore, ticker: str, bars: list[dict]) -> ObjectRows:
    """A committed bronze price object and its raw rows."""
    fetched_at = datetime(2024, 12, 31, 22, 0)
    body = json.dumps(bars).encode()
    meta = bronze.BronzeMeta(
        object_type="daily_prices",
        source=f"/tiingo/daily/{ticker}/prices",
        params={},
        http_status=200,
        content_type="application/json",
        fetched_at=fetched_at.isoformat() + "+00:00",
        run_id="ingest-1",
        sha256=bronze.sha256_hex(body),
        ticker=ticker,
    )
    key = bronze.price_key(ticker, fetched_at, "ingest-1", date(2024, 12, 30), date(2024, 12, 31))
    bronze.write_object(store, key, body, meta)
    return rows_from_object(key, body, meta, LOADED_AT)


BAR = {"date": "2024-12-30T00:00:00.000Z", "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5,
       "volume": 100, "adjClose": 1.5, "divCash": 0.0, "splitFactor": 1.0}  # fmt: skip
