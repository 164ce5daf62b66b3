"""AnnotateDataset: dataset + skills -> a Parquet label artifact, in resumable chunks.

Plain logic (no gRPC). The same pairs are labelled for every skill. Work is cut into chunks of
pairs per skill; each finished chunk is written to the artifact store and recorded in the job's
checkpoint, so a killed service resumes at the next chunk with no label lost or duplicated (and
a chunk cut short is re-asked from the answer cache, so nothing is paid twice). If the LLM
endpoint fails for good, the labels made so far are written as the output "partial_labels"
before the job fails.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from llm_annotator.judge import Judge, Judgement
from llm_annotator.observations import Pair, build_observations, sample_pairs
from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.datasets import PARQUET_MEDIA_TYPE, Shard, read_table
from maestro_common.errors import DomainError, FailedPrecondition
from maestro_common.jobs.runner import JobContext
from maestro_common.labels import LABEL_SCHEMA, LABELS

CHUNK_PAIRS = 16



@dataclass(frozen=True)
class SkillPreference:
    name: str
    preference: str
    """What the judge is told to prefer: the skill's modifier plus the fixed god clause."""


@dataclass(frozen=True)
class AnnotationPlan:
    dataset: ArtifactRef
    skills: tuple[SkillPreference, ...]
    num_pairs: int
    mode: str
    snapshot_interval: int
    prompt_version: str
    seed: int


class AnnotationObserver:
    """Told about each labelled pair (the service's metrics implement it); the base does nothing."""

    def on_pair(self, skill: str, judgement: Judgement) -> None:
        """Called after each labelled pair."""


def load_pairs(store: ArtifactStore, plan: AnnotationPlan) -> list[Pair]:
    table = read_table(store, plan.dataset)
    observations = build_observations(table, plan.snapshot_interval)
    pairs = sample_pairs(observations, plan.num_pairs, plan.seed)
    if not pairs:
        raise FailedPrecondition(f"dataset {plan.dataset.uri} gives {len(observations)} observations at "
                                 f"snapshot_interval {plan.snapshot_interval}; at least 2 are needed "
                                 "(collect longer episodes or lower the interval)")
    return pairs


def _rows(skill: str, pairs: list[Pair], judgements: list[Judgement], judge: Judge) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in LABEL_SCHEMA.names}
    for pair, j in zip(pairs, judgements):
        values = dict(pair_id=pair.pair_id, skill=skill, first_id=pair.first.observation_id,
                      second_id=pair.second.observation_id, first_text=pair.first.text(),
                      second_text=pair.second.text(), first_message=pair.first.message,
                      second_message=pair.second.message, first_depth_change=pair.first.depth_change,
                      second_depth_change=pair.second.depth_change, label=j.label, raw_answer=j.raw_answer,
                      score_first=j.score_first, score_second=j.score_second, judge_mode=judge.template.mode,
                      model=judge.client.model, prompt_version=judge.template.version, latency_s=j.latency_s,
                      prompt_tokens=j.prompt_tokens, completion_tokens=j.completion_tokens,
                      llm_calls=j.llm_calls, cache_hits=j.cache_hits)
        for name, value in values.items():
            columns[name].append(value)
    return pa.table(columns, schema=LABEL_SCHEMA)


def _write(store: ArtifactStore, table: pa.Table, name: str) -> ArtifactRef:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return store.put_bytes(sink.getvalue(), name=name, media_type=PARQUET_MEDIA_TYPE)


def _concat(store: ArtifactStore, chunks: list[Shard]) -> pa.Table:
    tables = [pq.read_table(io.BytesIO(store.read_bytes(c.ref))) for c in chunks]
    return pa.concat_tables(tables) if tables else LABEL_SCHEMA.empty_table()


def label_mix(table: pa.Table) -> dict[str, float]:
    """{"<skill>/<label>": count} over a label table."""
    mix: dict[str, float] = {}
    for skill, label in zip(table.column("skill").to_pylist(), table.column("label").to_pylist()):
        mix[f"{skill}/{label}"] = mix.get(f"{skill}/{label}", 0) + 1
    return mix


def run_annotation(ctx: JobContext, plan: AnnotationPlan, store: ArtifactStore, judge: Judge,
                   observer: AnnotationObserver | None = None) -> None:
    observer = observer or AnnotationObserver()
    pairs = load_pairs(store, plan)
    chunks_per_skill = -(-len(pairs) // CHUNK_PAIRS)
    units = [(skill, c) for skill in plan.skills for c in range(chunks_per_skill)]
    done = [Shard.from_json(c) for c in ctx.checkpoint.get("chunks", [])]
    total = len(pairs) * len(plan.skills)
    labelled = resumed_from = sum(c.rows for c in done)
    started, calls, hits = time.monotonic(), 0, 0
    ctx.report_progress(labelled, total, unit="pairs", stage="labelling",
                        message=f"resuming at chunk {len(done) + 1}/{len(units)}" if done else
                        f"{len(pairs)} pairs x {len(plan.skills)} skills, {plan.mode}")
    try:
        for skill, chunk in units[len(done):]:
            ctx.raise_if_cancelled()
            ctx.raise_if_stopping()
            batch = pairs[chunk * CHUNK_PAIRS:(chunk + 1) * CHUNK_PAIRS]
            judgements = []
            for pair in batch:
                judgement = judge.judge(pair, skill.preference)
                judgements.append(judgement)
                calls += judgement.llm_calls
                hits += judgement.cache_hits
                observer.on_pair(skill.name, judgement)
                labelled += 1
                ctx.report_progress(labelled, total, unit="pairs", message=f"{skill.name}: {judgement.label}")
            table = _rows(skill.name, batch, judgements, judge)
            done.append(Shard(_write(store, table, f"labels-{len(done):05d}.parquet"), episodes=0, rows=table.num_rows))
            ctx.save_checkpoint({"chunks": [c.to_json() for c in done]})
            elapsed = time.monotonic() - started
            ctx.set_metrics({"pairs_labelled": labelled, "cache_hit_rate": hits / calls if calls else 0.0,
                             "pairs_per_s": (labelled - resumed_from) / elapsed if elapsed > 0 else 0.0})
    except DomainError:
        if done:
            ctx.add_output("partial_labels", _write(store, _concat(store, done), "labels-partial.parquet"))
        raise
    labels = _concat(store, done)
    ctx.add_output("labels", _write(store, labels, "labels.parquet"))
    mix = label_mix(labels)
    ctx.set_metrics({"pairs_labelled": labels.num_rows, **{f"labels/{k}": v for k, v in mix.items()}})
    counts = ", ".join(f"{lab} {sum(v for k, v in mix.items() if k.endswith('/' + lab)):.0f}" for lab in LABELS)
    ctx.report_progress(total, total, unit="pairs", stage="done", message=f"{labels.num_rows} labels: {counts}")
