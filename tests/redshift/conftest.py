"""Fixtures for the Redshift tests: an S3 API server on loopback and a stand-in cluster."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import date, datetime

import boto3
import pytest
from moto.server import ThreadedMotoServer

from ingestion import bronze
from ingestion.loaders.raw_tables import ObjectRows, rows_from_object
from ingestion.object_store import ObjectStore
from redshift.fake_redshift import FakeRedshift

REGION = "us-east-1"
COPY_ROLE = "arn:aws:iam::123456789012:role/equity-redshift-copy"
LOADED_AT = datetime(2024, 12, 31, 23, 0)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """URL of moto's S3 server on 127.0.0.1, with dummy credentials in the environment."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        env.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            env.delenv(name, raising=False)
        werkzeug_log = logging.getLogger("werkzeug")
        old_level = werkzeug_log.level
        werkzeug_log.setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()
            werkzeug_log.setLevel(old_level)


def make_bucket(endpoint: str) -> str:
    name = f"equity-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name=REGION).create_bucket(Bucket=name)
    return name


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
