"""Fixtures of the documentation tests: the dbt manifest, parsed once without a warehouse."""

from __future__ import annotations

import pytest

from ingestion import diagrams


@pytest.fixture(scope="session")
def dbt_manifest() -> dict:
    return diagrams.parse_manifest()
