"""Observation datasets in the artifact store: Parquet shards plus one JSON manifest.

The manifest is the dataset's identity (its URI + sha256 is what AnnotateDataset receives); it
lists every shard with its own sha256, so a reader verifies each shard before using it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.errors import FailedPrecondition

MANIFEST_FORMAT = "maestro.observations.v1"
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"


@dataclass(frozen=True)
class Shard:
    ref: ArtifactRef
    episodes: int
    rows: int

    def to_json(self) -> dict:
        return {"uri": self.ref.uri, "sha256": self.ref.sha256, "size_bytes": self.ref.size_bytes,
                "episodes": self.episodes, "rows": self.rows}

    @classmethod
    def from_json(cls, data: dict) -> "Shard":
        ref = ArtifactRef(data["uri"], data["sha256"], int(data["size_bytes"]), PARQUET_MEDIA_TYPE)
        return cls(ref, int(data["episodes"]), int(data["rows"]))


@dataclass
class DatasetManifest:
    shards: list[Shard]
    source: str
    """How the rows were made, e.g. "nle-rollout:random_macro" or "nld"."""
    details: dict = field(default_factory=dict)
    """Provenance: seed, env settings, policy, ..."""

    @property
    def episodes(self) -> int:
        return sum(s.episodes for s in self.shards)

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)

    def to_json(self) -> dict:
        return {"format": MANIFEST_FORMAT, "source": self.source, "episodes": self.episodes, "rows": self.rows,
                "details": self.details, "shards": [s.to_json() for s in self.shards]}


def write_shard(store: ArtifactStore, table: pa.Table, *, episodes: int, name: str = "shard.parquet") -> Shard:
    """Write one Parquet shard (zstd) atomically and return its entry."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    ref = store.put_bytes(sink.getvalue(), name=name, media_type=PARQUET_MEDIA_TYPE)
    return Shard(ref, episodes, table.num_rows)


def write_manifest(store: ArtifactStore, manifest: DatasetManifest) -> ArtifactRef:
    return store.put_json(manifest.to_json(), name="dataset.json")


def read_manifest(store: ArtifactStore, ref: ArtifactRef) -> DatasetManifest:
    """Load and check a manifest (verified against ref.sha256)."""
    data = store.read_json(ref)
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise FailedPrecondition(f"{ref.uri} is not an observation dataset manifest (format {MANIFEST_FORMAT})")
    return DatasetManifest([Shard.from_json(s) for s in data["shards"]], data["source"], data.get("details", {}))


def read_table(store: ArtifactStore, ref: ArtifactRef) -> pa.Table:
    """The whole dataset as one table; every shard is verified against its sha256 first."""
    manifest = read_manifest(store, ref)
    tables = [pq.read_table(io.BytesIO(store.read_bytes(shard.ref))) for shard in manifest.shards]
    return pa.concat_tables(tables) if tables else pa.table({})
