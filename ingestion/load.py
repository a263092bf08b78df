"""Load step: every committed bronze object not yet in the ledger goes into the raw schema."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol

from ingestion import bronze
from ingestion.loaders.raw_tables import (
    DATA_TABLES,
    BadBronzeObject,
    BatchOutcome,
    ObjectRows,
    rows_from_object,
)
from ingestion.object_store import ObjectStore

log = logging.getLogger(__name__)

VERSIONED = {table.name: bool(table.version_key) for table in DATA_TABLES}


# The most raw rows one load batch holds: a daily run's ~1,000 small objects go in one batch,
# a backfill's in batches of this size, so the rows waiting in memory stay bounded.
MAX_BATCH_ROWS = 100_000


class RawLoader(Protocol):
    def loaded_keys(self) -> set[str]: ...

    def load_batch(
        self, objects: list[ObjectRows], run_id: str, loaded_at: datetime
    ) -> BatchOutcome: ...

    def raw_rows_loaded_by(self, run_id: str) -> int: ...

    def record_run(self, values: dict) -> None: ...

    def price_sessions(self, start: date, end: date | None) -> set[tuple[str, str]]: ...

    def restore_rows(self, batch: ObjectRows) -> int: ...


@dataclass
class LoadSummary:
    run_id: str
    objects_loaded: int = 0
    objects_already_loaded: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    bronze_rows: int = 0
    rows_inserted: int = 0
    rows_unchanged: int = 0
    reconciled: bool = True


def pending_objects(
    store: ObjectStore, already_loaded: set[str]
) -> tuple[list[tuple[str, bronze.BronzeMeta]], int]:
    """Committed bronze objects not in the ledger, oldest fetch first (so versions apply in order)."""
    pending: list[tuple[str, bronze.BronzeMeta]] = []
    skipped = 0
    for prefix in bronze.OBJECT_TYPES:
        for key in bronze.committed_objects(store, prefix):
            if key in already_loaded:
                skipped += 1
            else:
                pending.append((key, bronze.read_meta(store, key)))
    pending.sort(key=lambda item: (item[1].fetched_at, item[0]))
    return pending, skipped


# The fetched range at the end of a price object's key: ".../<run_id>__<start>_<end>.json".
_PRICE_KEY_RANGE = re.compile(r"__(\d{4}-\d{2}-\d{2})_(\d{4}-\d{2}-\d{2})\.json$")


def restore_price_range(
    store: ObjectStore, loader: RawLoader, start: date, end: date | None
) -> tuple[int, int]:
    """Put back into raw the (ticker, session) prices of ``start..end`` that loaded bronze objects
    hold but raw has no row for at all; returns (objects read, rows restored).

    Reprocessing starts here so that raw is complete for the range without calling the vendor.
    The objects are replayed in fetch order with the load's own rule (a row is inserted only
    when it differs from the current version), so the restored history is the one the original
    loads wrote, and a second restore finds nothing missing.
    """
    objects = restored = 0
    loaded = loader.loaded_keys()
    present = loader.price_sessions(start, end)
    pending, _ = pending_objects(store, set())
    for key, meta in pending:
        if meta.object_type != "daily_prices":
            continue
        match = _PRICE_KEY_RANGE.search(key)
        if key not in loaded or not match:
            continue
        fetched_from, fetched_to = (date.fromisoformat(day) for day in match.groups())
        if fetched_to < start or (end is not None and fetched_from > end):
            continue
        body = store.get(key)
        loaded_at = datetime.now(UTC).replace(tzinfo=None)
        try:
            batch = rows_from_object(key, body, meta, loaded_at)
        except BadBronzeObject as error:
            log.warning("not restored: %s", error)
            continue
        in_range = {
            table: [
                row
                for row in rows
                if _session_in_range(row.get("date"), start, end)
                and (row["ticker"], str(row["date"])[:10]) not in present
            ]
            for table, rows in batch.rows.items()
        }
        objects += 1
        restored += loader.restore_rows(ObjectRows(key, meta, in_range))
    return objects, restored


def _session_in_range(vendor_date: object, start: date, end: date | None) -> bool:
    try:
        session = date.fromisoformat(str(vendor_date)[:10])
    except ValueError:
        return False
    return start <= session and (end is None or session <= end)


def load_batches(
    store: ObjectStore, pending: list[tuple[str, bronze.BronzeMeta]], summary: LoadSummary
) -> Iterator[tuple[list[ObjectRows], datetime]]:
    """The pending objects' rows in fetch order, grouped into batches that share no version key
    (a raw table and ticker), so that comparing each row with raw's current version gives what
    loading the objects one by one would. Unreadable objects go to ``summary.failed``."""
    batch: list[ObjectRows] = []
    batch_keys: set[tuple[str, str]] = set()
    batch_rows = 0
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    for key, meta in pending:
        body = store.get(key)
        if bronze.sha256_hex(body) != meta.sha256:
            summary.failed[key] = "checksum mismatch between object and its metadata"
            continue
        try:
            rows = rows_from_object(key, body, meta, loaded_at)
        except BadBronzeObject as error:
            summary.failed[key] = str(error)
            log.warning("not loaded: %s", error)
            continue
        version_keys = {
            (table, str(row.get("ticker")))
            for table, table_rows in rows.rows.items()
            if VERSIONED[table]
            for row in table_rows
        }
        if batch and (version_keys & batch_keys or batch_rows + rows.row_count > MAX_BATCH_ROWS):
            yield batch, loaded_at
            batch, batch_keys, batch_rows = [], set(), 0
            loaded_at = datetime.now(UTC).replace(tzinfo=None)
            rows = rows_from_object(key, body, meta, loaded_at)
        batch.append(rows)
        batch_keys |= version_keys
        batch_rows += rows.row_count
    if batch:
        yield batch, loaded_at


def load_new_objects(store: ObjectStore, loader: RawLoader, run_id: str) -> LoadSummary:
    started_at = datetime.now(UTC).replace(tzinfo=None)
    summary = LoadSummary(run_id=run_id)
    pending, summary.objects_already_loaded = pending_objects(store, loader.loaded_keys())
    for batch, loaded_at in load_batches(store, pending, summary):
        outcome = loader.load_batch(batch, run_id, loaded_at)
        summary.failed.update(outcome.failed)
        for rows in batch:
            if rows.key in outcome.loaded:
                inserted, unchanged = outcome.loaded[rows.key]
                summary.objects_loaded += 1
                summary.bronze_rows += rows.row_count
                summary.rows_inserted += inserted
                summary.rows_unchanged += unchanged

    tagged = loader.raw_rows_loaded_by(run_id)
    summary.reconciled = (
        summary.bronze_rows == summary.rows_inserted + summary.rows_unchanged
        and tagged == summary.rows_inserted
    )
    loader.record_run(
        {
            "run_id": run_id,
            "started_at": started_at,
            "finished_at": datetime.now(UTC).replace(tzinfo=None),
            "objects_loaded": summary.objects_loaded,
            "objects_failed": len(summary.failed),
            "bronze_rows": summary.bronze_rows,
            "rows_inserted": summary.rows_inserted,
            "rows_unchanged": summary.rows_unchanged,
            "raw_rows_tagged_with_run": tagged,
            "reconciled": summary.reconciled,
        }
    )
    return summary
