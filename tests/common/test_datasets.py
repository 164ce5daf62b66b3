"""Dataset manifests and shards in the artifact store: round trip, and tampering refused."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from maestro_common.artifacts import ArtifactStore
from maestro_common.datasets import DatasetManifest, read_manifest, read_table, write_manifest, write_shard
from maestro_common.errors import CorruptArtifact, FailedPrecondition


def _table(episode: str, rows: int) -> pa.Table:
    return pa.table({"episode_id": [episode] * rows, "step": list(range(rows)), "message": ["hello"] * rows})


def test_round_trip_keeps_rows_in_shard_order(tmp_path):
    store = ArtifactStore(str(tmp_path))
    shards = [write_shard(store, _table("a", 3), episodes=1), write_shard(store, _table("b", 2), episodes=1)]
    ref = write_manifest(store, DatasetManifest(shards, source="test", details={"seed": 1}))
    manifest = read_manifest(store, ref)
    assert (manifest.episodes, manifest.rows, manifest.details) == (2, 5, {"seed": 1})
    assert read_table(store, ref).column("episode_id").to_pylist() == ["a"] * 3 + ["b"] * 2


def test_a_tampered_shard_is_refused(tmp_path):
    store = ArtifactStore(str(tmp_path))
    shard = write_shard(store, _table("a", 3), episodes=1)
    ref = write_manifest(store, DatasetManifest([shard], source="test"))
    path = Path(shard.ref.uri.removeprefix("file://"))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifact):
        read_table(store, ref)


def test_a_json_artifact_that_is_not_a_manifest_is_refused(tmp_path):
    store = ArtifactStore(str(tmp_path))
    with pytest.raises(FailedPrecondition, match="not an observation dataset manifest"):
        read_manifest(store, store.put_json({"hello": 1}, name="x.json"))
