"""A stand-in for a Redshift cluster, for tests of the Redshift loader (no cluster is reachable).

Every statement the loader sends is recorded and run on an in-memory DuckDB database (the
loader's SQL is portable), except COPY, which is played the way Redshift documents it: the
manifest, the JSONPaths file and each data file are read over HTTP from the S3 API server the
statement names, a missing mandatory file fails the COPY, and JSONPaths positions map fields to
columns. What this cannot prove is Redshift's own parsing of the statements.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import boto3
import duckdb
import redshift_connector

_COPY = re.compile(
    r"copy (?P<table>\w+)\nfrom '(?P<manifest>[^']+)'\niam_role '(?P<role>[^']+)'\nmanifest\n"
    r"format as json '(?P<jsonpaths>[^']+)'\ntimeformat 'auto'\n"
)
_JSONPATH = re.compile(r"\$\['(\w+)'\]")


def load_error_message(table: str) -> dict[str, str]:
    """The error fields redshift_connector carries when COPY rejects rows."""
    return {
        "S": "ERROR",
        "C": "XX000",
        "M": f"Load into table '{table}' failed.  Check 'sys_load_error_detail' system table "
        "for details.",
    }


class FakeRedshift:
    """The cluster: one database shared by every connection, as sessions share a cluster."""

    def __init__(self, s3_endpoint: str, region: str) -> None:
        self.db = duckdb.connect()
        self.s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name=region)
        self.log: list[tuple[str, str]] = []  # ("execute", sql) / ("commit", "") / ...
        # Called with each COPY's data file URL and body; returns an error to raise, or None.
        self.copy_failure: Callable[[str, bytes], Exception | None] = lambda url, body: None
        self.load_errors: dict[str, list[tuple[Any, ...]]] = {}  # data URL -> error rows
        self.connections = 0

    def connect(self) -> FakeConnection:
        self.connections += 1
        return FakeConnection(self)

    @property
    def statements(self) -> list[str]:
        return [sql for kind, sql in self.log if kind == "execute"]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self.db.cursor().execute(sql).fetchall()

    def read_s3(self, url: str) -> bytes:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        try:
            return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            raise redshift_connector.ProgrammingError(
                {"S": "ERROR", "C": "XX000", "M": f"Manifest file is not found: {url}"}
            ) from None


class FakeConnection:
    """One session: its own DuckDB connection, so temp tables and transactions are per session."""

    def __init__(self, cluster: FakeRedshift) -> None:
        self.cluster = cluster
        self.db = cluster.db.cursor()
        self.in_transaction = False
        self.closed = False

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def commit(self) -> None:
        self.cluster.log.append(("commit", ""))
        if self.in_transaction:
            self.db.execute("commit")
            self.in_transaction = False

    def rollback(self) -> None:
        self.cluster.log.append(("rollback", ""))
        if self.in_transaction:
            self.db.execute("rollback")
            self.in_transaction = False

    def close(self) -> None:
        self.cluster.log.append(("close", ""))
        self.closed = True


class FakeCursor:
    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection
        self.rows: list[tuple[Any, ...]] | None = None

    def execute(self, sql: str, args: Sequence[Any] | None = None) -> None:
        connection = self.connection
        cluster = connection.cluster
        cluster.log.append(("execute", sql))
        # Like redshift_connector: the first statement after a commit opens a transaction.
        if not connection.in_transaction:
            connection.db.execute("begin")
            connection.in_transaction = True
        if sql.startswith("copy "):
            self._copy(sql)
        elif "sys_load_error_detail" in sql:
            self.rows = list(cluster.load_errors.get(args[0], [])) if args else []
        else:
            result = connection.db.execute(sql.replace("%s", "?"), args or [])
            self.rows = result.fetchall() if result.description else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self.rows is None:
            raise redshift_connector.ProgrammingError("no result set")
        return self.rows

    def _copy(self, sql: str) -> None:
        cluster = self.connection.cluster
        match = _COPY.match(sql)
        if match is None:
            raise AssertionError(f"not a COPY this fake understands:\n{sql}")
        manifest = json.loads(cluster.read_s3(match["manifest"]))
        jsonpaths = json.loads(cluster.read_s3(match["jsonpaths"]))["jsonpaths"]
        columns = [_JSONPATH.fullmatch(path)[1] for path in jsonpaths]
        rows = []
        for entry in manifest["entries"]:
            assert entry["mandatory"] is True
            body = cluster.read_s3(entry["url"])
            failure = cluster.copy_failure(entry["url"], body)
            if failure is not None:
                raise failure
            for line in body.decode().splitlines():
                record = json.loads(line)
                rows.append([record.get(column) for column in columns])
        placeholders = ", ".join("?" for _ in columns)
        if rows:
            self.connection.db.executemany(
                f"insert into {match['table']} ({', '.join(columns)}) values ({placeholders})",
                rows,
            )
        self.rows = None
