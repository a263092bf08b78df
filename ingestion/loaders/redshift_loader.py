"""Raw loader for Amazon Redshift: bronze objects reach the raw schema through S3 and ``COPY``.

For each bronze object the loader

1. writes the object's raw rows as newline-delimited JSON (one file per raw table it feeds), a
   JSONPaths file per raw table and a COPY manifest listing the data file, all under the COPY
   staging prefix in S3 (``<run_id>/...``, beside bronze but outside the folders bronze lists);
2. in one transaction: ``COPY`` the file into a session temp table, inserts the rows that are
   new versions into the raw table (``raw_tables.new_versions_sql``, the same statement the
   DuckDB loader runs) and inserts the object's ledger row, then commits.

So, as with DuckDB, an object is either loaded and recorded or not at all, and a rerun loads
only what the ledger lacks. The vendor's date string is carried as text from end to end: JSON
string to a ``varchar`` column, never through a timestamp or a time zone.

One COPY per object: ``new_versions_sql`` compares incoming rows with the latest raw version,
not with each other, so loading two objects that hold the same key in one statement would not
give the same versions as loading them in order.

When COPY rejects an object's rows, the details are read from ``sys_load_error_detail``
(available on provisioned clusters and Serverless alike) and raised as ``CopyRejected``, a
``BadBronzeObject``: the object stays in bronze, is reported, and is tried again next run.
Anything else (no access to S3, a lost connection) raises ``RedshiftLoadError`` and stops the
load, because every further object would fail the same way.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import redshift_connector

from ingestion.loaders.raw_tables import (
    ALL_TABLES,
    DAILY_PRICES,
    DATA_TABLES,
    LOAD_LEDGER,
    LOAD_RUNS,
    RAW_SCHEMA,
    BadBronzeObject,
    BatchOutcome,
    ObjectRows,
    RawTable,
    create_table_sql,
    new_versions_sql,
)
from ingestion.object_store import ObjectStore, S3ObjectStore, open_object_store
from ingestion.redshift_settings import RedshiftSettings
from ingestion.settings import ConfigError

log = logging.getLogger(__name__)

_TABLES = {table.name: table for table in DATA_TABLES}
# sys_load_error_detail keeps at most this many characters of a file name.
_MAX_FILE_NAME = 256
_ERRORS_SHOWN = 5


class RedshiftLoadError(RuntimeError):
    """Loading into Redshift failed for a reason that is not the object's data."""


class CopyRejected(BadBronzeObject):
    """COPY refused an object's rows; the message carries the rows and columns at fault."""


class Cursor(Protocol):
    def execute(self, operation: str, args: Sequence[Any] | None = None) -> Any: ...

    def fetchall(self) -> Sequence[Sequence[Any]]: ...


class Connection(Protocol):
    """The part of a DB-API connection (``redshift_connector``) the loader uses."""

    def cursor(self) -> Cursor: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class LoadError:
    """One row of ``sys_load_error_detail``."""

    file_name: str
    line_number: int
    column_name: str
    error_code: int
    error_message: str

    def __str__(self) -> str:
        return (
            f"line {self.line_number}, column {self.column_name}: {self.error_message} "
            f"(error {self.error_code})"
        )


@dataclass(frozen=True)
class _StagedFile:
    table: RawTable
    rows: int
    data_url: str
    manifest_url: str
    jsonpaths_url: str


def staging_table(table: RawTable) -> str:
    return f"raw_staging_{table.name}"


def staging_table_sql(table: RawTable) -> str:
    """A session temp table with the raw table's columns: what COPY fills for one object."""
    columns = ",\n  ".join(f"{name} {sql_type}" for name, sql_type in table.columns)
    return f"create temp table {staging_table(table)} (\n  {columns}\n)"


def jsonpaths_json(table: RawTable) -> str:
    """Maps each JSON field to the column in the same position of the staging table."""
    return json.dumps({"jsonpaths": [f"$['{name}']" for name in table.column_names]}, indent=2)


def manifest_json(data_urls: Sequence[str]) -> str:
    """A COPY manifest; ``mandatory`` makes COPY fail rather than skip a missing file."""
    entries = [{"url": url, "mandatory": True} for url in data_urls]
    return json.dumps({"entries": entries}, indent=2)


def copy_sql(table: RawTable, manifest_url: str, jsonpaths_url: str, iam_role_arn: str) -> str:
    """COPY one manifest of NDJSON files into the table's staging table.

    TIMEFORMAT applies only to the timestamp lineage columns (written as
    ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC); the vendor's date is a varchar and is never parsed.
    MAXERROR 0: one bad row rejects the object instead of silently dropping rows.
    """
    return (
        f"copy {staging_table(table)}\n"
        f"from {_literal(manifest_url)}\n"
        f"iam_role {_literal(iam_role_arn)}\n"
        "manifest\n"
        f"format as json {_literal(jsonpaths_url)}\n"
        "timeformat 'auto'\n"
        "maxerror 0\n"
        "compupdate off\n"
        "statupdate off"
    )


def load_errors_sql() -> str:
    """The first load errors of one data file (parameter: its S3 URL)."""
    return (
        "select trim(file_name), line_number, trim(column_name), error_code, "
        "trim(error_message)\n"
        "from sys_load_error_detail\n"
        "where trim(file_name) = %s\n"
        f"order by start_time desc, line_number\nlimit {_ERRORS_SHOWN}"
    )


def ndjson(table: RawTable, rows: Sequence[dict[str, Any]]) -> bytes:
    """One JSON object per line with exactly the table's columns, UTF-8 as COPY expects."""
    lines = [
        json.dumps(
            {name: _json_value(row.get(name)) for name in table.column_names},
            ensure_ascii=False,
            allow_nan=False,
        )
        for row in rows
    ]
    return ("\n".join(lines) + "\n").encode()


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    return value


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _server_message(error: Exception) -> str:
    # redshift_connector puts the server's error fields in a dict: M message, D detail.
    fields = error.args[0] if error.args else None
    if isinstance(fields, dict):
        return " ".join(str(fields[k]) for k in ("M", "D") if fields.get(k))
    return str(error)


class RedshiftLoader:
    """``connect`` returns a new DB-API connection; ``staging`` is the S3 store for COPY files."""

    def __init__(
        self,
        connect: Callable[[], Connection],
        staging: ObjectStore,
        copy_iam_role_arn: str,
    ) -> None:
        if not isinstance(staging, S3ObjectStore):
            raise ConfigError("Redshift COPY reads from S3: the COPY staging store must be s3://")
        self.staging = staging
        self.copy_iam_role_arn = copy_iam_role_arn
        self._jsonpaths_written: set[tuple[str, str]] = set()
        self.con = connect()
        try:
            self._execute(f"create schema if not exists {RAW_SCHEMA}")
            for table in ALL_TABLES:
                self._execute(create_table_sql(table))
            for table in DATA_TABLES:
                self._execute(staging_table_sql(table))
            self.con.commit()
        except BaseException:
            self.con.close()
            raise

    @classmethod
    def from_settings(
        cls, settings: RedshiftSettings, *, s3_endpoint_url: str | None = None
    ) -> RedshiftLoader:
        staging = open_object_store(settings.staging_uri, s3_endpoint_url=s3_endpoint_url)
        log.info("loading into %s", settings.redacted())
        return cls(
            lambda: redshift_connector.connect(**settings.connect_kwargs()),
            staging,
            settings.copy_iam_role_arn,
        )

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> RedshiftLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _execute(self, sql: str, args: Sequence[Any] | None = None) -> None:
        self.con.cursor().execute(sql, args)

    def _rows(self, sql: str, args: Sequence[Any] | None = None) -> Sequence[Sequence[Any]]:
        cursor = self.con.cursor()
        cursor.execute(sql, args)
        return cursor.fetchall()

    def _scalar(self, sql: str, args: Sequence[Any] | None = None) -> Any:
        return self._rows(sql, args)[0][0]

    def loaded_keys(self) -> set[str]:
        rows = self._rows(f"select bronze_key from {LOAD_LEDGER.qualified}")
        self.con.commit()
        return {key for (key,) in rows}

    def load_batch(
        self, objects: list[ObjectRows], run_id: str, loaded_at: datetime
    ) -> BatchOutcome:
        """One object after the other (see the module notes): an object whose rows COPY rejects
        is reported in ``failed`` and the others still load."""
        outcome = BatchOutcome()
        for batch in objects:
            try:
                outcome.loaded[batch.key] = self.load_object(batch, run_id, loaded_at)
            except BadBronzeObject as error:
                outcome.failed[batch.key] = str(error)
                log.warning("not loaded: %s", error)
        return outcome

    def load_object(self, batch: ObjectRows, run_id: str, loaded_at: datetime) -> tuple[int, int]:
        """Stage, COPY and merge one object with its ledger row atomically; (inserted, unchanged)."""
        staged = self._stage_batch(batch, run_id)
        try:
            inserted = self._copy_and_merge_all(batch.key, staged)
            self._insert_ledger(batch, inserted, run_id, loaded_at)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        log.info("loaded %s: %d rows, %d new versions", batch.key, batch.row_count, inserted)
        return inserted, batch.row_count - inserted

    def price_sessions(self, start: date, end: date | None) -> set[tuple[str, str]]:
        """(ticker, 'YYYY-MM-DD') of every session in ``start..end`` raw has any price row for."""
        rows = self._rows(
            f'select distinct ticker, substring("date", 1, 10) from {DAILY_PRICES.qualified} '
            'where substring("date", 1, 10) between %s and %s',
            [start.isoformat(), (end or date.max).isoformat()],
        )
        self.con.commit()
        return {(ticker, day) for ticker, day in rows}

    def restore_rows(self, batch: ObjectRows) -> int:
        """COPY and merge the batch's rows as a load would (new versions only), without a ledger
        row; the staging files go under ``restore/`` in the staging prefix."""
        staged = self._stage_batch(batch, "restore")
        try:
            inserted = self._copy_and_merge_all(batch.key, staged)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        return inserted

    def _stage_batch(self, batch: ObjectRows, run_id: str) -> list[_StagedFile]:
        return [
            self._stage(batch.key, run_id, _TABLES[name], rows)
            for name, rows in batch.rows.items()
            if rows
        ]

    def _copy_and_merge_all(self, bronze_key: str, staged: list[_StagedFile]) -> int:
        return sum(self._copy_and_merge(bronze_key, staged_file) for staged_file in staged)

    def _stage(
        self, bronze_key: str, run_id: str, table: RawTable, rows: list[dict[str, Any]]
    ) -> _StagedFile:
        try:
            body = ndjson(table, rows)
        except ValueError as error:
            raise CopyRejected(
                f"{bronze_key}: a value cannot be written as JSON for COPY ({error})"
            ) from error
        # Short, unique names: sys_load_error_detail truncates file names at 256 characters.
        name = f"{run_id}/{hashlib.sha256(bronze_key.encode()).hexdigest()[:16]}-{table.name}"
        jsonpaths_key = f"{run_id}/jsonpaths/{table.name}.jsonpaths"
        if (run_id, table.name) not in self._jsonpaths_written:
            self.staging.put(
                jsonpaths_key,
                jsonpaths_json(table).encode(),
                content_type="application/json",
                overwrite=True,
            )
            self._jsonpaths_written.add((run_id, table.name))
        # overwrite: a retried run with the same id rewrites its own staging files.
        self.staging.put(
            f"{name}.ndjson", body, content_type="application/x-ndjson", overwrite=True
        )
        data_url = self.staging.uri(f"{name}.ndjson")
        if len(data_url) > _MAX_FILE_NAME:
            raise ConfigError(
                f"COPY staging URL {data_url} is longer than {_MAX_FILE_NAME} characters; "
                "use a shorter REDSHIFT_COPY_STAGING_URI"
            )
        self.staging.put(
            f"{name}.manifest",
            manifest_json([data_url]).encode(),
            content_type="application/json",
            overwrite=True,
        )
        return _StagedFile(
            table=table,
            rows=len(rows),
            data_url=data_url,
            manifest_url=self.staging.uri(f"{name}.manifest"),
            jsonpaths_url=self.staging.uri(jsonpaths_key),
        )

    def _copy_and_merge(self, bronze_key: str, staged: _StagedFile) -> int:
        table = staged.table
        staging = staging_table(table)
        # delete, not truncate: TRUNCATE commits the open transaction in Redshift.
        self._execute(f"delete from {staging}")
        copy = copy_sql(table, staged.manifest_url, staged.jsonpaths_url, self.copy_iam_role_arn)
        try:
            self._execute(copy)
        except redshift_connector.Error as error:
            raise self._copy_failure(bronze_key, staged, error) from error
        copied = self._scalar(f"select count(*) from {staging}")
        if copied != staged.rows:
            raise RedshiftLoadError(
                f"{bronze_key}: COPY loaded {copied} of {staged.rows} rows from {staged.data_url}"
            )
        count_sql = f"select count(*) from {table.qualified} where bronze_key = %s"
        before = self._scalar(count_sql, [bronze_key])
        self._execute(new_versions_sql(table, staging))
        return self._scalar(count_sql, [bronze_key]) - before

    def _copy_failure(
        self, bronze_key: str, staged: _StagedFile, error: Exception
    ) -> BadBronzeObject | RedshiftLoadError:
        # The failed COPY aborted the transaction; errors can be read only after a rollback.
        self.con.rollback()
        message = _server_message(error)
        errors = self.load_errors(staged.data_url)
        if errors or "load into table" in message.lower():
            detail = "; ".join(str(e) for e in errors) or message
            log.warning("COPY rejected %s: %s", bronze_key, detail)
            return CopyRejected(
                f"{bronze_key}: COPY into {staging_table(staged.table)} rejected "
                f"{staged.data_url}: {detail}"
            )
        return RedshiftLoadError(
            f"{bronze_key}: COPY from {staged.manifest_url} failed: {message}. Check that the "
            f"role {self.copy_iam_role_arn} is attached to the cluster or namespace and may "
            "read that bucket and prefix."
        )

    def load_errors(self, data_url: str) -> list[LoadError]:
        rows = self._rows(load_errors_sql(), [data_url])
        self.con.rollback()
        return [LoadError(*row) for row in rows]

    def _insert_ledger(
        self, batch: ObjectRows, inserted: int, run_id: str, loaded_at: datetime
    ) -> None:
        columns = LOAD_LEDGER.column_names
        self._execute(
            f"insert into {LOAD_LEDGER.qualified} ({', '.join(columns)}) "
            f"values ({', '.join('%s' for _ in columns)})",
            [
                batch.key,
                batch.meta.object_type,
                batch.meta.sha256,
                batch.row_count,
                inserted,
                batch.row_count - inserted,
                loaded_at,
                run_id,
            ],
        )

    def raw_rows_loaded_by(self, run_id: str) -> int:
        """Raw rows that came from objects this load run recorded in the ledger."""
        total = 0
        for table in DATA_TABLES:
            total += self._scalar(
                f"select count(*) from {table.qualified} where bronze_key in "
                f"(select bronze_key from {LOAD_LEDGER.qualified} where run_id = %s)",
                [run_id],
            )
        self.con.commit()
        return total

    def record_run(self, values: dict) -> None:
        columns = LOAD_RUNS.column_names
        self._execute(
            f"insert into {LOAD_RUNS.qualified} ({', '.join(columns)}) "
            f"values ({', '.join('%s' for _ in columns)})",
            [values[name] for name in columns],
        )
        self.con.commit()
