"""Tests for the content-addressed artifact store."""

from __future__ import annotations

import errno
import hashlib
import os
import uuid
from pathlib import Path

import fsspec
import pytest

from maestro_common import artifacts
from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.errors import CorruptArtifact, InvalidArgument, NotFound, ResourceExhausted


@pytest.fixture
def local_store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "store"))


@pytest.fixture
def memory_store():
    root = f"memory://artifacts-{uuid.uuid4().hex}"
    yield ArtifactStore(root)
    fs, path = fsspec.core.url_to_fs(root)
    if fs.exists(path):
        fs.rm(path, recursive=True)


@pytest.fixture(params=["local", "memory"])
def store(request, local_store, memory_store) -> ArtifactStore:
    return local_store if request.param == "local" else memory_store


def _local_path(ref: ArtifactRef) -> Path:
    assert ref.uri.startswith("file://")
    return Path(ref.uri[len("file://"):])


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_round_trip(store: ArtifactStore):
    data = b"hello artifacts" * 1000
    ref = store.put_bytes(data, name="greeting.bin", media_type="application/x-test")
    digest = hashlib.sha256(data).hexdigest()
    assert ref.sha256 == digest
    assert ref.size_bytes == len(data)
    assert ref.media_type == "application/x-test"
    assert ref.uri == f"{store.root_uri}/sha256/{digest[:2]}/{digest}/greeting.bin"
    assert store.exists(ref)
    assert store.read_bytes(ref) == data
    with store.open_verified(ref) as handle:
        assert handle.read() == data


def test_json_round_trip(store: ArtifactStore):
    ref = store.put_json({"b": [1, 2], "a": "x"}, name="manifest.json")
    assert ref.media_type == "application/json"
    assert store.read_json(ref) == {"a": "x", "b": [1, 2]}
    # Equal objects hash equally, whatever their key order.
    assert store.put_json({"a": "x", "b": [1, 2]}, name="manifest.json") == ref


def test_copy_to_local(store: ArtifactStore, tmp_path: Path):
    ref = store.put_bytes(b"payload", name="p.bin")
    dest = store.copy_to_local(ref, tmp_path / "out" / "p.bin")
    assert dest.read_bytes() == b"payload"


def test_resolve(store: ArtifactStore):
    ref = store.put_bytes(b"{}", name="thing.json", media_type="application/json")
    resolved = store.resolve(ref.uri, ref.sha256)
    assert resolved == ref
    assert store.read_bytes(resolved) == b"{}"


def test_resolve_accepts_plain_local_path(local_store: ArtifactStore):
    ref = local_store.put_bytes(b"abc", name="a.bin")
    assert local_store.resolve(str(_local_path(ref)), ref.sha256) == ref


def test_resolve_refuses_bad_input(store: ArtifactStore, tmp_path: Path):
    ref = store.put_bytes(b"abc", name="a.bin")
    with pytest.raises(InvalidArgument) as info:
        store.resolve(ref.uri, ref.sha256.upper())
    assert info.value.field == "sha256"
    with pytest.raises(InvalidArgument):
        store.resolve(ref.uri, "abc")
    other = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(InvalidArgument):
        store.resolve(ref.uri, other)
    outside = [
        "s3://elsewhere/sha256/ab/" + ref.sha256 + "/a.bin",
        store.root_uri + "/../sha256/" + ref.sha256[:2] + "/" + ref.sha256 + "/a.bin",
        store.root_uri + "-other/sha256/" + ref.sha256[:2] + "/" + ref.sha256 + "/a.bin",
        store.root_uri + "/sha256/" + ref.sha256 + "/a.bin",
        "",
    ]
    for uri in outside:
        with pytest.raises(InvalidArgument) as info:
            store.resolve(uri, ref.sha256, uri_field="dataset.uri")
        assert info.value.field == "dataset.uri", uri


def test_missing_is_not_found(store: ArtifactStore):
    digest = hashlib.sha256(b"never stored").hexdigest()
    uri = f"{store.root_uri}/sha256/{digest[:2]}/{digest}/x.bin"
    ref = ArtifactRef(uri=uri, sha256=digest, size_bytes=12)
    assert not store.exists(ref)
    with pytest.raises(NotFound):
        store.read_bytes(ref)
    with pytest.raises(NotFound):
        store.open_verified(ref)
    with pytest.raises(NotFound):
        store.resolve(uri, digest)


def test_corrupted_bytes_are_refused(local_store: ArtifactStore, tmp_path: Path):
    ref = local_store.put_bytes(b"original bytes", name="data.bin")
    _local_path(ref).write_bytes(b"tampered bytes")
    with pytest.raises(CorruptArtifact) as info:
        local_store.read_bytes(ref)
    message = str(info.value)
    assert ref.uri in message
    assert ref.sha256 in message
    assert hashlib.sha256(b"tampered bytes").hexdigest() in message
    with pytest.raises(CorruptArtifact):
        local_store.open_verified(ref)
    dest = tmp_path / "copy.bin"
    with pytest.raises(CorruptArtifact):
        local_store.copy_to_local(ref, dest)
    assert not dest.exists()
    assert list(dest.parent.glob(".copy.bin.*")) == []


def test_corruption_in_memory_store_is_refused(memory_store: ArtifactStore):
    ref = memory_store.put_bytes(b"original", name="m.bin")
    fs, path = fsspec.core.url_to_fs(ref.uri)
    fs.pipe_file(path, b"changed!")
    with pytest.raises(CorruptArtifact):
        memory_store.read_bytes(ref)


def test_wrong_size_is_refused(store: ArtifactStore):
    ref = store.put_bytes(b"twelve bytes", name="s.bin")
    wrong = ArtifactRef(uri=ref.uri, sha256=ref.sha256, size_bytes=ref.size_bytes + 1)
    with pytest.raises(CorruptArtifact) as info:
        store.read_bytes(wrong)
    assert "13 bytes" in str(info.value) and "12 bytes" in str(info.value)


def test_idempotent_put_does_not_rewrite(local_store: ArtifactStore, monkeypatch):
    ref = local_store.put_bytes(b"same", name="same.bin")
    mtime = _local_path(ref).stat().st_mtime_ns

    def must_not_write(*args, **kwargs):
        raise AssertionError("an artifact that is already stored was rewritten")

    monkeypatch.setattr(artifacts, "_write_chunks", must_not_write)
    assert local_store.put_bytes(b"same", name="same.bin") == ref
    assert _local_path(ref).stat().st_mtime_ns == mtime


def test_idempotent_put_memory(memory_store: ArtifactStore):
    first = memory_store.put_bytes(b"same", name="same.bin")
    assert memory_store.put_bytes(b"same", name="same.bin") == first


def test_put_repairs_a_corrupt_copy(local_store: ArtifactStore):
    ref = local_store.put_bytes(b"good", name="g.bin")
    _local_path(ref).write_bytes(b"bad!")
    assert local_store.put_bytes(b"good", name="g.bin") == ref
    assert local_store.read_bytes(ref) == b"good"


@pytest.mark.parametrize("name", ["", "a/b", "..", ".hidden", "x\x00y", "a\\b"])
def test_bad_names_are_refused(local_store: ArtifactStore, name: str):
    with pytest.raises(InvalidArgument) as info:
        local_store.put_bytes(b"x", name=name)
    assert info.value.field == "name"


def test_failure_mid_write_leaves_nothing(store: ArtifactStore, monkeypatch):
    data = os.urandom(3 * artifacts.CHUNK_SIZE)

    def fail_after_one_chunk(out, chunks):
        out.write(next(iter(chunks)))
        raise RuntimeError("simulated crash mid-write")

    monkeypatch.setattr(artifacts, "_write_chunks", fail_after_one_chunk)
    with pytest.raises(RuntimeError, match="simulated"):
        store.put_bytes(data, name="big.bin")
    digest = hashlib.sha256(data).hexdigest()
    uri = f"{store.root_uri}/sha256/{digest[:2]}/{digest}/big.bin"
    ref = ArtifactRef(uri=uri, sha256=digest, size_bytes=len(data))
    assert not store.exists(ref)
    fs, directory = fsspec.core.url_to_fs(uri.rsplit("/", 1)[0])
    assert not fs.exists(directory) or fs.ls(directory) == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_out_of_space_is_resource_exhausted(local_store: ArtifactStore, tmp_path: Path,
                                            monkeypatch, code: int):
    def fill_disk(out, chunks):
        out.write(next(iter(chunks)))
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(artifacts, "_write_chunks", fill_disk)
    with pytest.raises(ResourceExhausted) as info:
        local_store.put_bytes(b"x" * 1000, name="full.bin")
    assert "out of space" in str(info.value)
    assert local_store.root_uri in str(info.value)
    assert _files_under(tmp_path / "store") == []


def test_out_of_space_memory_store(memory_store: ArtifactStore, monkeypatch):
    def fill_disk(out, chunks):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(artifacts, "_write_chunks", fill_disk)
    with pytest.raises(ResourceExhausted):
        memory_store.put_bytes(b"abc", name="full.bin")
    fs, root = fsspec.core.url_to_fs(memory_store.root_uri)
    assert not fs.exists(root) or fs.find(root) == []


def test_put_file_streams_large_file(local_store: ArtifactStore, tmp_path: Path, monkeypatch):
    source = tmp_path / "large.bin"
    chunk = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    with source.open("wb") as out:
        for index in range(9):
            piece = chunk[index:] + chunk[:index]
            out.write(piece)
            digest.update(piece)
    size = source.stat().st_size
    assert size > 8 * 1024 * 1024

    largest_read = 0
    real_iter = artifacts._iter_file

    def watching_iter(handle):
        nonlocal largest_read
        for piece in real_iter(handle):
            largest_read = max(largest_read, len(piece))
            yield piece

    monkeypatch.setattr(artifacts, "_iter_file", watching_iter)
    ref = local_store.put_file(source, name="large.bin")
    assert ref.sha256 == digest.hexdigest()
    assert ref.size_bytes == size
    assert largest_read <= artifacts.CHUNK_SIZE
    dest = local_store.copy_to_local(ref, tmp_path / "back.bin")
    assert dest.stat().st_size == size
    with local_store.open_verified(ref) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == ref.sha256


def test_put_file_memory_store_and_missing_source(memory_store: ArtifactStore, tmp_path: Path):
    source = tmp_path / "small.txt"
    source.write_text("hi")
    ref = memory_store.put_file(source, name="small.txt", media_type="text/plain")
    assert memory_store.read_bytes(ref) == b"hi"
    with pytest.raises(NotFound):
        memory_store.put_file(tmp_path / "absent", name="absent")


def test_file_url_root_equals_plain_path(tmp_path: Path):
    by_path = ArtifactStore(str(tmp_path / "s"))
    by_url = ArtifactStore(f"file://{tmp_path / 's'}")
    ref = by_path.put_bytes(b"same root", name="r.bin")
    assert by_url.read_bytes(ref) == b"same root"
