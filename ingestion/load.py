"""Load step: every committed bronze object not yet in the ledger goes into the raw schema."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from ingestion import bronze
from ingestion.loaders.raw_tables import BadBronzeObject, ObjectRows, rows_from_object
from ingestion.object_store import ObjectStore

log = logging.getLogger(__name__)


class RawLoader(Protocol):
    def loaded_keys(self) -> set[str]: ...

    def load_object(
        self, batch: ObjectRows, run_id: str, loaded_at: datetime
    ) -> tuple[int, int]: ...

    def raw_rows_loaded_by(self, run_id: str) -> int: ...

    def record_run(self, values: dict) -> None: ...


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


def load_new_objects(store: ObjectStore, loader: RawLoader, run_id: str) -> LoadSummary:
    started_at = datetime.now(UTC).replace(tzinfo=None)
    summary = LoadSummary(run_id=run_id)
    pending, summary.objects_already_loaded = pending_objects(store, loader.loaded_keys())
    for key, meta in pending:
        body = store.get(key)
        if bronze.sha256_hex(body) != meta.sha256:
            summary.failed[key] = "checksum mismatch between object and its metadata"
            continue
        loaded_at = datetime.now(UTC).replace(tzinfo=None)
        try:
            batch = rows_from_object(key, body, meta, loaded_at)
            inserted, unchanged = loader.load_object(batch, run_id, loaded_at)
        except BadBronzeObject as error:
            summary.failed[key] = str(error)
            log.warning("not loaded: %s", error)
            continue
        summary.objects_loaded += 1
        summary.bronze_rows += batch.row_count
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
