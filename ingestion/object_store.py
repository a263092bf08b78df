"""The object store that holds the bronze layer: raw vendor responses and holdings files.

Two implementations of one small ``ObjectStore`` protocol:

- ``LocalObjectStore`` (the default): a folder on disk. It needs no account, no network and
  no credentials, so a laptop, CI and the tests run the whole pipeline with nothing to set up,
  and an engineer can inspect bronze with ``ls`` and ``cat``.
- ``S3ObjectStore`` (production): Amazon S3 through boto3, the reference AWS SDK. It reads
  credentials from the standard AWS chain (environment, shared config, instance or task role),
  retries throttling and transient errors, and paginates listings; any S3-compatible server is
  reached with ``endpoint_url``. Credentials are never passed through, stored or logged here.

Bronze objects are immutable: ``put`` refuses to replace an existing key unless the caller
asks for ``overwrite=True``. Keys are relative, "/"-separated paths (``bronze/tiingo/...``);
absolute keys, empty segments and "." or ".." segments are rejected by both implementations.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Protocol

import boto3
from botocore.client import BaseClient
from botocore.exceptions import ClientError

S3_SCHEME = "s3://"

# Local writes go to a temp file with this name prefix first; keys may not use it, so list()
# can tell a temp file left by a crashed process from a real object.
_TEMP_PREFIX = ".tmp-"


class ObjectStoreError(Exception):
    """An object store operation failed."""


class ObjectExistsError(ObjectStoreError):
    """``put`` without ``overwrite=True`` on a key that already exists."""


class ObjectNotFoundError(ObjectStoreError):
    """The requested object does not exist."""


class InvalidKeyError(ObjectStoreError):
    """A key or prefix that is not a relative "/"-separated path."""


class ObjectStore(Protocol):
    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        overwrite: bool = False,
    ) -> None:
        """Store ``data`` under ``key``; ObjectExistsError if it exists and not ``overwrite``."""
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes; ObjectNotFoundError if missing."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> list[str]:
        """All keys starting with ``prefix`` (a plain string prefix, as in S3), sorted."""
        ...

    def uri(self, key: str) -> str:
        """Where the object lives, for messages and lineage columns."""
        ...


def _check_key(key: str) -> None:
    if not key:
        raise InvalidKeyError("object key is empty")
    if key.startswith("/") or "\\" in key:
        raise InvalidKeyError(f"object key {key!r} must be a relative path using '/' separators")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKeyError(
                f"object key {key!r} has an empty, '.' or '..' segment; use plain folder names"
            )
        if segment.startswith(_TEMP_PREFIX):
            raise InvalidKeyError(
                f"object key {key!r}: names starting with {_TEMP_PREFIX!r} are reserved"
            )


def _check_prefix(prefix: str) -> None:
    # A prefix may end in "/" or in part of a name ("bronze/ti"); only its folders must be valid.
    if prefix.startswith("/"):
        raise InvalidKeyError(f"prefix {prefix!r} must be relative (no leading '/')")
    folders = prefix.rpartition("/")[0]
    if folders:
        _check_key(folders)


class LocalObjectStore:
    """Objects are files under ``root``; key ``a/b/c.json`` is the file ``root/a/b/c.json``.

    A key cannot be both an object and a folder of other keys (``a`` and ``a/b``), unlike S3.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        _check_key(key)
        return self.root.joinpath(*key.split("/"))

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        overwrite: bool = False,
    ) -> None:
        # content_type is part of the protocol for S3; a file has nowhere to keep it.
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise ObjectStoreError(
                f"cannot write {path}: a parent of it is an existing object, not a folder"
            ) from exc
        # Write the whole object beside its final name, then rename it into place: a crash
        # leaves at most a hidden temp file, never a half-written object.
        temp_path = path.parent / f"{_TEMP_PREFIX}{secrets.token_hex(8)}"
        try:
            with open(temp_path, "xb") as temp_file:
                temp_file.write(data)
                temp_file.flush()
                os.fsync(temp_file.fileno())
            if overwrite:
                os.replace(temp_path, path)
            else:
                # link() fails if the name exists, so of two writers racing on one key only
                # one succeeds (a check-then-rename could silently replace an object).
                try:
                    os.link(temp_path, path)
                except FileExistsError:
                    raise ObjectExistsError(
                        f"{path} already exists and bronze objects are immutable"
                    ) from None
        finally:
            temp_path.unlink(missing_ok=True)
        _fsync_folder(path.parent)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFoundError(f"object not found: {path}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        _check_prefix(prefix)
        # Walk only the deepest folder the prefix names in full, not the whole store.
        start = self.root.joinpath(*prefix.split("/")[:-1])
        if not start.is_dir():
            return []
        keys = []
        for path in start.rglob("*"):
            if path.is_file() and not path.name.startswith(_TEMP_PREFIX):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def uri(self, key: str) -> str:
        return str(self._path(key))


def _fsync_folder(folder: Path) -> None:
    # The rename is durable only once the folder entry itself is on disk.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3ObjectStore:
    """Objects under ``s3://bucket/prefix/``; key ``a/b.json`` is ``s3://bucket/prefix/a/b.json``.

    Pass ``client`` to reuse a configured boto3 S3 client; otherwise one is built from the
    standard AWS credential chain with the given endpoint and region.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        client: BaseClient | None = None,
    ) -> None:
        if not bucket:
            raise ObjectStoreError("S3 bucket name is empty")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            _check_key(self.prefix)
        self._client = client or boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region_name
        )

    def _full_key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        overwrite: bool = False,
    ) -> None:
        full_key = self._full_key(key)
        # If-None-Match makes "create only if absent" one atomic request (S3 conditional
        # writes), so no race between an existence check and the upload.
        condition = {} if overwrite else {"IfNoneMatch": "*"}
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=full_key, Body=data, ContentType=content_type, **condition
            )
        except ClientError as exc:
            if _error_code(exc) == "PreconditionFailed":
                raise ObjectExistsError(
                    f"{self.uri(key)} already exists and bronze objects are immutable"
                ) from None
            raise ObjectStoreError(f"could not write {self.uri(key)}: {exc}") from exc

    def get(self, key: str) -> bytes:
        full_key = self._full_key(key)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=full_key)
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                raise ObjectNotFoundError(f"object not found: {self.uri(key)}") from None
            raise ObjectStoreError(f"could not read {self.uri(key)}: {exc}") from exc
        return response["Body"].read()

    def exists(self, key: str) -> bool:
        full_key = self._full_key(key)
        try:
            self._client.head_object(Bucket=self.bucket, Key=full_key)
        except ClientError as exc:
            # HEAD responses have no body, so a missing key shows only as status 404.
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise ObjectStoreError(f"could not check {self.uri(key)}: {exc}") from exc
        return True

    def list(self, prefix: str = "") -> list[str]:
        _check_prefix(prefix)
        root = f"{self.prefix}/" if self.prefix else ""
        paginator = self._client.get_paginator("list_objects_v2")
        keys = []
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=root + prefix):
                keys.extend(item["Key"][len(root) :] for item in page.get("Contents", []))
        except ClientError as exc:
            raise ObjectStoreError(
                f"could not list s3://{self.bucket}/{root}{prefix}: {exc}"
            ) from exc
        return sorted(keys)

    def uri(self, key: str) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self._full_key(key)}"


def _split_s3_uri(location: str) -> tuple[str, str]:
    bucket, _, path = location[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise ObjectStoreError(f"{location!r} has no bucket name; expected s3://bucket/path")
    return bucket, path


def open_object_store(
    location: str, *, s3_endpoint_url: str | None = None, s3_region: str | None = None
) -> ObjectStore:
    """``s3://bucket/some/prefix`` opens an S3ObjectStore; anything else is a local folder."""
    if location.startswith(S3_SCHEME):
        bucket, prefix = _split_s3_uri(location)
        return S3ObjectStore(bucket, prefix, endpoint_url=s3_endpoint_url, region_name=s3_region)
    return LocalObjectStore(Path(location))


def read_bytes_from(
    location: str, *, s3_endpoint_url: str | None = None, s3_region: str | None = None
) -> bytes:
    """Read one file given as a local path or an ``s3://bucket/key`` URI."""
    if location.startswith(S3_SCHEME):
        bucket, key = _split_s3_uri(location)
        if not key:
            raise ObjectStoreError(f"{location!r} names a bucket, not a file: add the key")
        store = S3ObjectStore(bucket, endpoint_url=s3_endpoint_url, region_name=s3_region)
        return store.get(key)
    path = Path(location).resolve()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ObjectNotFoundError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise ObjectStoreError(f"{path} is a folder, not a file") from None
