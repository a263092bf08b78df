"""One behavioural suite run against both object stores: a local folder and a real S3 API.

The S3 side talks HTTP to moto's S3 server on 127.0.0.1 (started once per session), through
the same boto3 code path production uses; only the endpoint and dummy credentials differ.
"""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest
from moto_s3 import REGION, make_bucket

from ingestion.object_store import (
    InvalidKeyError,
    LocalObjectStore,
    ObjectExistsError,
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreError,
    S3ObjectStore,
    open_object_store,
    read_bytes_from,
)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "lake")
    endpoint = request.getfixturevalue("s3_server")
    # A fresh bucket per test, and a store prefix so keys are relative to it as in production.
    return S3ObjectStore(
        make_bucket(endpoint), "lake/bronze", endpoint_url=endpoint, region_name=REGION
    )


def test_put_then_get_returns_the_same_bytes(store: ObjectStore) -> None:
    store.put("tiingo/prices/AAPL.json", b'{"close": 185.64}', content_type="application/json")

    assert store.get("tiingo/prices/AAPL.json") == b'{"close": 185.64}'
    assert store.exists("tiingo/prices/AAPL.json")


def test_binary_data_round_trips_byte_for_byte(store: ObjectStore) -> None:
    data = bytes(range(256)) * 1000 + b"\x00\r\n\xff"

    store.put("blobs/all-bytes.bin", data)

    assert store.get("blobs/all-bytes.bin") == data
    assert len(store.get("blobs/all-bytes.bin")) == 256_004


def test_empty_object_is_stored(store: ObjectStore) -> None:
    store.put("empty.csv", b"")

    assert store.exists("empty.csv")
    assert store.get("empty.csv") == b""


def test_put_refuses_to_replace_an_existing_object(store: ObjectStore) -> None:
    store.put("holdings/2024-01-02.csv", b"first")

    with pytest.raises(ObjectExistsError, match="immutable"):
        store.put("holdings/2024-01-02.csv", b"second")

    assert store.get("holdings/2024-01-02.csv") == b"first"


def test_put_with_overwrite_replaces_the_object(store: ObjectStore) -> None:
    store.put("state/cursor.json", b"old")

    store.put("state/cursor.json", b"new", overwrite=True)

    assert store.get("state/cursor.json") == b"new"
    assert store.list("state/") == ["state/cursor.json"]


def test_overwrite_also_creates_a_missing_object(store: ObjectStore) -> None:
    store.put("state/new.json", b"x", overwrite=True)

    assert store.get("state/new.json") == b"x"


def test_missing_key_raises_not_found_and_does_not_exist(store: ObjectStore) -> None:
    assert not store.exists("tiingo/prices/MSFT.json")
    with pytest.raises(ObjectNotFoundError, match="MSFT.json"):
        store.get("tiingo/prices/MSFT.json")


def test_folder_is_not_an_object(store: ObjectStore) -> None:
    store.put("a/b/c.json", b"1")

    assert not store.exists("a/b")
    with pytest.raises(ObjectNotFoundError):
        store.get("a/b")


def test_list_returns_all_keys_sorted_and_relative(store: ObjectStore) -> None:
    for key in ["z.txt", "tiingo/prices/MSFT.json", "a.txt", "tiingo/prices/AAPL.json"]:
        store.put(key, b"x")
    store.put("tiingo/meta/2024/01/02/AAPL.json", b"x")

    assert store.list() == [
        "a.txt",
        "tiingo/meta/2024/01/02/AAPL.json",
        "tiingo/prices/AAPL.json",
        "tiingo/prices/MSFT.json",
        "z.txt",
    ]


def test_list_with_prefix_returns_only_matching_keys(store: ObjectStore) -> None:
    for key in [
        "tiingo/prices/AAPL.json",
        "tiingo/prices/AMZN.json",
        "tiingo/prices/MSFT.json",
        "tiingo/prices_v2/AAPL.json",
        "tiingo/meta/AAPL.json",
        "holdings/h.csv",
    ]:
        store.put(key, b"x")

    assert store.list("tiingo/prices/") == [
        "tiingo/prices/AAPL.json",
        "tiingo/prices/AMZN.json",
        "tiingo/prices/MSFT.json",
    ]
    # A prefix is a plain string prefix, as in S3, not only a folder name.
    assert store.list("tiingo/prices/A") == ["tiingo/prices/AAPL.json", "tiingo/prices/AMZN.json"]
    assert store.list("tiingo/prices") == [
        "tiingo/prices/AAPL.json",
        "tiingo/prices/AMZN.json",
        "tiingo/prices/MSFT.json",
        "tiingo/prices_v2/AAPL.json",
    ]
    assert store.list("hold") == ["holdings/h.csv"]
    assert store.list("nothing/here/") == []


def test_list_of_an_empty_store_is_empty(store: ObjectStore) -> None:
    assert store.list() == []


@pytest.mark.parametrize(
    "bad_key",
    ["", "/etc/passwd", "../outside.txt", "a/../../b", "a//b", "a/./b", "a/", "a\\b", ".tmp-x"],
)
def test_invalid_keys_are_rejected(store: ObjectStore, bad_key: str) -> None:
    with pytest.raises(InvalidKeyError):
        store.put(bad_key, b"x")
    with pytest.raises(InvalidKeyError):
        store.get(bad_key)


@pytest.mark.parametrize("bad_prefix", ["/abs", "../up/", "a/../b/"])
def test_invalid_list_prefixes_are_rejected(store: ObjectStore, bad_prefix: str) -> None:
    with pytest.raises(InvalidKeyError):
        store.list(bad_prefix)


def test_local_uri_is_an_absolute_file_path(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "lake")
    store.put("tiingo/a.json", b"x")

    uri = store.uri("tiingo/a.json")

    assert uri == str((tmp_path / "lake" / "tiingo" / "a.json").resolve())
    assert Path(uri).read_bytes() == b"x"


def test_local_store_creates_its_root_folder(tmp_path: Path) -> None:
    LocalObjectStore(tmp_path / "deep" / "lake")

    assert (tmp_path / "deep" / "lake").is_dir()


def test_s3_uri_includes_bucket_and_prefix(s3_server: str) -> None:
    bucket = make_bucket(s3_server)
    store = S3ObjectStore(bucket, "/lake/bronze/", endpoint_url=s3_server, region_name=REGION)
    store.put("tiingo/a.json", b"x")

    assert store.uri("tiingo/a.json") == f"s3://{bucket}/lake/bronze/tiingo/a.json"
    # The object really lives at that key in the bucket.
    client = boto3.client("s3", endpoint_url=s3_server, region_name=REGION)
    body = client.get_object(Bucket=bucket, Key="lake/bronze/tiingo/a.json")["Body"].read()
    assert body == b"x"


def test_s3_put_sends_the_content_type(s3_server: str) -> None:
    bucket = make_bucket(s3_server)
    store = S3ObjectStore(bucket, endpoint_url=s3_server, region_name=REGION)
    store.put("a.json", b"{}", content_type="application/json")

    client = boto3.client("s3", endpoint_url=s3_server, region_name=REGION)
    assert client.head_object(Bucket=bucket, Key="a.json")["ContentType"] == "application/json"


def test_s3_list_follows_every_page(s3_server: str) -> None:
    bucket = make_bucket(s3_server)
    client = boto3.client("s3", endpoint_url=s3_server, region_name=REGION)
    for i in range(7):
        client.put_object(Bucket=bucket, Key=f"p/k{i}", Body=b"")
    pages_served = []

    def two_keys_a_page(params: dict, **kwargs: object) -> None:
        # S3 pages at 1,000 keys; asking for 2 proves pagination without writing thousands.
        params["MaxKeys"] = 2
        pages_served.append(params.get("ContinuationToken"))

    client.meta.events.register("provide-client-params.s3.ListObjectsV2", two_keys_a_page)
    store = S3ObjectStore(bucket, client=client)

    assert store.list("p/") == [f"p/k{i}" for i in range(7)]
    assert len(pages_served) == 4


def test_s3_missing_bucket_gives_a_clear_error(s3_server: str) -> None:
    store = S3ObjectStore("no-such-bucket-here", endpoint_url=s3_server, region_name=REGION)

    with pytest.raises(ObjectStoreError, match="NoSuchBucket"):
        store.list()


def test_open_object_store_picks_the_implementation(tmp_path: Path, s3_server: str) -> None:
    local = open_object_store(str(tmp_path / "lake"))
    remote = open_object_store(
        "s3://my-bucket/lake/bronze", s3_endpoint_url=s3_server, s3_region=REGION
    )

    assert isinstance(local, LocalObjectStore)
    assert local.root == (tmp_path / "lake").resolve()
    assert isinstance(remote, S3ObjectStore)
    assert remote.uri("x.json") == "s3://my-bucket/lake/bronze/x.json"


def test_open_object_store_rejects_an_s3_uri_without_bucket() -> None:
    with pytest.raises(ObjectStoreError, match="no bucket name"):
        open_object_store("s3:///lake")


def test_read_bytes_from_a_local_path(tmp_path: Path) -> None:
    path = tmp_path / "holdings.csv"
    path.write_bytes(b"portfolio_id,ticker\nP1,AAPL\n")

    assert read_bytes_from(str(path)) == b"portfolio_id,ticker\nP1,AAPL\n"


def test_read_bytes_from_a_missing_local_path_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFoundError, match="file not found: .*missing.csv"):
        read_bytes_from(str(tmp_path / "missing.csv"))


def test_read_bytes_from_an_s3_uri(s3_server: str) -> None:
    bucket = make_bucket(s3_server)
    client = boto3.client("s3", endpoint_url=s3_server, region_name=REGION)
    client.put_object(Bucket=bucket, Key="inbox/holdings.csv", Body=b"a,b\n1,2\n")

    data = read_bytes_from(
        f"s3://{bucket}/inbox/holdings.csv", s3_endpoint_url=s3_server, s3_region=REGION
    )

    assert data == b"a,b\n1,2\n"
    with pytest.raises(ObjectNotFoundError, match=f"s3://{bucket}/inbox/nope.csv"):
        read_bytes_from(f"s3://{bucket}/inbox/nope.csv", s3_endpoint_url=s3_server)
    with pytest.raises(ObjectStoreError, match="names a bucket, not a file"):
        read_bytes_from(f"s3://{bucket}/", s3_endpoint_url=s3_server)


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_crash_before_rename_leaves_no_object_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalObjectStore(tmp_path / "lake")
    store.put("state/cursor.json", b"old")

    def crash(*args: object) -> None:
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    monkeypatch.setattr(os, "link", crash)
    with pytest.raises(OSError, match="simulated crash"):
        store.put("tiingo/AAPL.json", b'{"partial": tr')
    with pytest.raises(OSError, match="simulated crash"):
        store.put("state/cursor.json", b"new", overwrite=True)

    assert not store.exists("tiingo/AAPL.json")
    assert store.get("state/cursor.json") == b"old"
    assert store.list() == ["state/cursor.json"]
    assert files_under(tmp_path / "lake") == ["state/cursor.json"]


def test_crash_while_writing_data_leaves_no_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalObjectStore(tmp_path / "lake")

    def crash(fd: int) -> None:
        raise OSError("simulated disk failure")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="simulated disk failure"):
        store.put("tiingo/AAPL.json", b"x" * 100_000)

    assert not store.exists("tiingo/AAPL.json")
    assert files_under(tmp_path / "lake") == []


def test_list_ignores_temp_files_left_by_a_killed_process(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "lake")
    store.put("tiingo/AAPL.json", b"x")
    # What a process killed between write and rename leaves behind.
    (tmp_path / "lake" / "tiingo" / ".tmp-0123456789abcdef").write_bytes(b"half")

    assert store.list() == ["tiingo/AAPL.json"]
    assert store.list("tiingo/") == ["tiingo/AAPL.json"]


def test_local_key_cannot_be_both_object_and_folder(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "lake")
    store.put("a", b"x")

    with pytest.raises(ObjectStoreError, match="existing object, not a folder"):
        store.put("a/b", b"y")
