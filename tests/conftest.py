"""Shared fixtures: a real sample Tiingo server on loopback and a fully built sample warehouse."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from moto_s3 import running_s3_server

from ingestion import pipeline
from ingestion.sample_market import SampleMarket, SampleTiingoServer
from ingestion.settings import Settings


@dataclass(frozen=True)
class BuiltWarehouse:
    data_dir: Path
    duckdb_path: Path
    settings: Settings


@pytest.fixture
def sample_api(tmp_path: Path) -> Iterator[tuple[SampleTiingoServer, Settings]]:
    """A fresh sample market server and settings for a pipeline under ``tmp_path``."""
    token = secrets.token_hex(20)
    with SampleTiingoServer(SampleMarket(), token=token) as server:
        settings = Settings(data_dir=tmp_path / "data").with_tiingo(
            base_url=server.base_url, api_key=token
        )
        yield server, settings


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """URL of a real S3 API server (moto) on 127.0.0.1."""
    with running_s3_server() as url:
        yield url


@pytest.fixture(scope="session")
def built_sample_warehouse(tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    """The whole pipeline (sample market -> bronze -> raw -> dbt build), built once per session."""
    data_dir = tmp_path_factory.mktemp("sample_warehouse")
    settings = Settings(data_dir=data_dir)
    with pipeline.sample_market_api(settings) as api_settings:
        pipeline.run_ingest(api_settings)
    pipeline.run_load(settings)
    result = pipeline.run_transform(settings)
    assert result.success, f"dbt build failed: {result.counts}"
    return BuiltWarehouse(data_dir=data_dir, duckdb_path=settings.duckdb_path, settings=settings)
