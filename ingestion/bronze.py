"""Bronze layer: the documented key layout and the immutable objects written under it.

Every vendor response is stored exactly as received (the body object) next to a small JSON
sidecar (``<key>.meta.json``) with the request metadata. The sidecar is written last and acts as
the commit marker: the loader only sees objects whose sidecar exists, so a crash between the two
writes leaves nothing half-visible.

Layout (``ingest_date`` is the UTC date the object was fetched)::

    tiingo/daily_prices/ingest_date=YYYY-MM-DD/ticker=AAPL/<run_id>__<start>_<end>.json
    tiingo/ticker_metadata/ingest_date=YYYY-MM-DD/ticker=AAPL/<run_id>.json
    portfolios/holdings/ingest_date=YYYY-MM-DD/<sha256[:16]>__<file name>
    _state/tiingo_watermarks.json   (mutable: last session fetched per ticker; not bronze data)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime

from ingestion.object_store import ObjectStore

PRICES_PREFIX = "tiingo/daily_prices/"
METADATA_PREFIX = "tiingo/ticker_metadata/"
HOLDINGS_PREFIX = "portfolios/holdings/"
WATERMARKS_KEY = "_state/tiingo_watermarks.json"
META_SUFFIX = ".meta.json"

OBJECT_TYPES = {
    PRICES_PREFIX: "daily_prices",
    METADATA_PREFIX: "ticker_metadata",
    HOLDINGS_PREFIX: "holdings",
}


@dataclass(frozen=True)
class BronzeMeta:
    """Request metadata stored beside each bronze object. Never holds a credential."""

    object_type: str
    source: str  # API path, or the holdings file location as given
    params: dict[str, str]
    http_status: int
    content_type: str
    fetched_at: str  # ISO-8601 UTC
    run_id: str
    sha256: str
    ticker: str | None = None

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, indent=2).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> BronzeMeta:
        return cls(**json.loads(data))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def price_key(ticker: str, fetched_at: datetime, run_id: str, start: date, end: date) -> str:
    return (
        f"{PRICES_PREFIX}ingest_date={fetched_at:%Y-%m-%d}/ticker={ticker}/"
        f"{run_id}__{start.isoformat()}_{end.isoformat()}.json"
    )


def metadata_key(ticker: str, fetched_at: datetime, run_id: str) -> str:
    return f"{METADATA_PREFIX}ingest_date={fetched_at:%Y-%m-%d}/ticker={ticker}/{run_id}.json"


def holdings_key(fetched_at: datetime, sha256: str, file_name: str) -> str:
    safe_name = (
        "".join(c if c.isalnum() or c in "._-" else "_" for c in file_name) or "holdings.csv"
    )
    return f"{HOLDINGS_PREFIX}ingest_date={fetched_at:%Y-%m-%d}/{sha256[:16]}__{safe_name}"


def write_object(store: ObjectStore, key: str, body: bytes, meta: BronzeMeta) -> None:
    store.put(key, body, content_type=meta.content_type or "application/octet-stream")
    store.put(key + META_SUFFIX, meta.to_bytes(), content_type="application/json")


def committed_objects(store: ObjectStore, prefix: str) -> list[str]:
    """Body keys under ``prefix`` whose sidecar exists (i.e. completely written)."""
    keys = store.list(prefix)
    return sorted(k[: -len(META_SUFFIX)] for k in keys if k.endswith(META_SUFFIX))


def read_meta(store: ObjectStore, key: str) -> BronzeMeta:
    return BronzeMeta.from_bytes(store.get(key + META_SUFFIX))


def holdings_already_stored(store: ObjectStore, sha256: str) -> str | None:
    """The key of an existing holdings object with this content, if any (keeps reruns idempotent)."""
    marker = f"/{sha256[:16]}__"
    for key in committed_objects(store, HOLDINGS_PREFIX):
        if marker in key and read_meta(store, key).sha256 == sha256:
            return key
    return None


def read_watermarks(store: ObjectStore) -> dict[str, date]:
    if not store.exists(WATERMARKS_KEY):
        return {}
    raw = json.loads(store.get(WATERMARKS_KEY))
    return {ticker: date.fromisoformat(day) for ticker, day in raw.items()}


def write_watermarks(store: ObjectStore, watermarks: dict[str, date]) -> None:
    body = json.dumps({t: d.isoformat() for t, d in sorted(watermarks.items())}, indent=2)
    store.put(WATERMARKS_KEY, body.encode(), content_type="application/json", overwrite=True)
