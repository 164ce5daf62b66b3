"""The AnnotateDataset job logic on a real job runner: labels, failure keeps work, resume pays nothing twice."""

from __future__ import annotations

import io
import threading
import time

import pyarrow.parquet as pq
import pytest
from doubles import ScriptedLlmForTest

from llm_annotator.annotate import CHUNK_PAIRS, AnnotationPlan, SkillPreference, run_annotation
from llm_annotator.cache import ResponseCache
from llm_annotator.judge import Judge, JudgeSettings
from llm_annotator.prompts import load_prompt
from maestro_common.artifacts import ArtifactStore
from maestro_common.datasets import DatasetManifest, write_manifest, write_shard
from maestro_common.jobs import HandlerSpec, JobContext, JobRunner, JobState, JobStore
from maestro_common.nethack.dataset import collect_episodes
from maestro_common.nethack.env import EnvConfig


@pytest.fixture(scope="module")
def dataset_table():
    return collect_episodes(EnvConfig(max_episode_steps=400), "random", seeds=[9, 13, 17],
                            episode_ids=["a", "b", "c"], num_workers=1)


def _plan(store: ArtifactStore, table, num_pairs: int) -> AnnotationPlan:
    shard = write_shard(store, table, episodes=3)
    dataset = write_manifest(store, DatasetManifest([shard], source="test"))
    skills = (SkillPreference("Descender", "go down"), SkillPreference("Ascender", "go up"))
    return AnnotationPlan(dataset=dataset, skills=skills, num_pairs=num_pairs, mode="pointwise_logprob",
                          snapshot_interval=20, prompt_version="v1", seed=3)


def _run(tmp_path, plan, store, client) -> tuple[JobStore, str]:
    jobs = JobStore(tmp_path / "jobs.sqlite")
    judge = Judge(client, load_prompt(plan.mode), ResponseCache(tmp_path / "cache.sqlite"), JudgeSettings())
    runner = JobRunner(jobs, {"Annotate": HandlerSpec(lambda ctx: run_annotation(ctx, plan, store, judge),
                                                      resumable=True)})
    runner.start()
    job_id = runner.submit("Annotate", b"").job_id
    deadline = time.monotonic() + 60
    while not jobs.get(job_id).terminal and time.monotonic() < deadline:
        time.sleep(0.05)
    runner.stop(5)
    return jobs, job_id


def _labels(store: ArtifactStore, ref):
    return pq.read_table(io.BytesIO(store.read_bytes(ref)))


def test_labels_every_pair_for_every_skill(tmp_path, dataset_table):
    store = ArtifactStore(tmp_path / "artifacts")
    plan = _plan(store, dataset_table, num_pairs=20)
    jobs, job_id = _run(tmp_path, plan, store, ScriptedLlmForTest())
    job = jobs.get(job_id)
    assert JobState(job.state) == JobState.SUCCEEDED, job.error_message
    labels = _labels(store, job.outputs["labels"])
    assert labels.num_rows == 40
    assert set(labels.column("skill").to_pylist()) == {"Descender", "Ascender"}
    assert set(labels.column("label").to_pylist()) <= {"first", "second", "tie", "unknown"}
    keys = list(zip(labels.column("pair_id").to_pylist(), labels.column("skill").to_pylist()))
    assert len(set(keys)) == 40
    assert sum(v for k, v in job.metrics.items() if k.startswith("labels/")) == 40


def test_endpoint_failure_fails_the_job_and_keeps_the_labels_made(tmp_path, dataset_table):
    store = ArtifactStore(tmp_path / "artifacts")
    plan = _plan(store, dataset_table, num_pairs=CHUNK_PAIRS * 2)
    failing = ScriptedLlmForTest(fail_after=CHUNK_PAIRS * 2 + 5)  # ~1.5 chunks of pointwise prompts
    jobs, job_id = _run(tmp_path, plan, store, failing)
    job = jobs.get(job_id)
    assert JobState(job.state) == JobState.FAILED and job.error_code == "UNAVAILABLE"
    assert "went away" in job.error_message
    partial = _labels(store, job.outputs["partial_labels"])
    assert partial.num_rows >= CHUNK_PAIRS

    # Resuming (a new job runner over the same job, e.g. after the endpoint is back) finishes the work;
    # every answer given before the failure comes from the cache.
    jobs.close()
    store_jobs = JobStore(tmp_path / "jobs.sqlite")
    record = store_jobs.get(job_id)
    assert record.checkpoint["chunks"]
    healthy = ScriptedLlmForTest()
    judge = Judge(healthy, load_prompt(plan.mode), ResponseCache(tmp_path / "cache.sqlite"), JudgeSettings())
    second = store_jobs.create("Annotate", b"again")[0]
    store_jobs.claim_next(["Annotate"])
    store_jobs.save_checkpoint(second.job_id, record.checkpoint)
    context = JobContext(store_jobs, store_jobs.get(second.job_id), threading.Event())
    run_annotation(context, plan, store, judge)
    context.flush_progress()
    final = store_jobs.get(second.job_id)
    labels = _labels(store, final.outputs["labels"])
    keys = list(zip(labels.column("pair_id").to_pylist(), labels.column("skill").to_pylist()))
    assert len(keys) == len(set(keys)) == CHUNK_PAIRS * 2 * 2
    unique_prompts_before = failing.calls - 1  # the failed call was not answered
    assert healthy.calls <= CHUNK_PAIRS * 2 * 2 * 2 - unique_prompts_before
