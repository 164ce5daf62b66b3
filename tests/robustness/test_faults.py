"""Faults: real service processes killed with SIGKILL in the middle of a job and restarted on the same
data directory, and the LLM endpoint going away in the middle of an annotation.

What must hold: the job resumes (resumable kinds) or is reported INTERRUPTED (the others), never lost
and never silently redone; everything written before the kill stays readable and verified; no label
is lost or duplicated; saved model checkpoints stay loadable. (CollectDataset and AnnotateDataset
under kill -9 with the embedded model are covered by tests/skill_learner and tests/llm_annotator.)
"""

from __future__ import annotations

import io
import os
import signal

import grpc
import pyarrow.parquet as pq
import pytest
from robustness_support import ServiceProcess, get_job, wait_terminal, wait_until

from maestro.annotator.v1 import annotator_pb2 as annotator_pb
from maestro.annotator.v1 import annotator_pb2_grpc as annotator_grpc
from maestro.codegen.v1 import codegen_pb2 as codegen_pb
from maestro.codegen.v1 import codegen_pb2_grpc as codegen_grpc
from maestro.common.v1 import common_pb2
from maestro.reward.v1 import reward_pb2 as reward_pb
from maestro.reward.v1 import reward_pb2_grpc as reward_grpc
from maestro_common.artifacts import ArtifactStore
from maestro_common.client import open_channel
from maestro_common.datasets import DatasetManifest, write_manifest, write_shard
from maestro_common.llm import TINY_EMBEDDED_MODEL, LlamaServer, embedded_model_path
from maestro_common.reward.bundle import load_bundle, read_bundle_manifest
from maestro_common.reward.synthetic import synthetic_label_table, write_label_table

SKILLS = ("Descender", "Ascender", "Discoverer", "Merchant", "Worshipper")


def _verified_outputs(store: ArtifactStore, job: common_pb2.Job) -> dict[str, bytes]:
    """Every output of `job`, read back through the store (sha256 and size verified)."""
    return {name: store.read_bytes(store.resolve(ref.uri, ref.sha256)) for name, ref in job.outputs.items()}


def _no_partial_files(root) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files if f.startswith(".tmp-")]


@pytest.mark.slow
def test_reward_trainer_killed_mid_training_resumes_and_every_checkpoint_loads(tmp_path):
    home = tmp_path / "home"
    store = ArtifactStore(str(home / "artifacts"))
    labels = write_label_table(store, synthetic_label_table(3000, SKILLS, seed=3, pool_size=200))
    service = ServiceProcess("reward_trainer", home, env={"MAESTRO_TORCH_THREADS": "1"}).start()
    try:
        service.wait_serving()
        stub = reward_grpc.RewardServiceStub(open_channel(service.address))
        request = reward_pb.TrainRewardModelsRequest(
            config=reward_pb.RewardTrainingConfig(epochs=6, batch_size=100, learning_rate=1e-3, seed=1, device="cpu"),
            request_id="kill-me")
        request.labels.uri, request.labels.sha256 = labels.uri, labels.sha256
        job_id = stub.TrainRewardModels(request).job.job_id

        def one_skill_saved():
            job = get_job(stub, reward_pb, job_id)
            assert job.state != common_pb2.JOB_STATE_SUCCEEDED, "job ended before the kill; give it more epochs"
            return job if job.metrics.get("skills_done", 0) >= 1 else None

        wait_until(one_skill_saved, 300, "the first skill's checkpoint")
        service.kill9()
        service.start().wait_serving()
        stub = reward_grpc.RewardServiceStub(open_channel(service.address))
        # The same request_id names the same job: a retrying client does not start the work twice.
        assert stub.TrainRewardModels(request).job.job_id == job_id
        job = wait_terminal(stub, reward_pb, job_id, timeout=400)
        assert job.state == common_pb2.JOB_STATE_SUCCEEDED, job.error.message
        assert job.attempt == 2
        assert len(stub.ListJobs(reward_pb.ListJobsRequest()).jobs) == 1
        ref = store.resolve(job.outputs["reward_models"].uri, job.outputs["reward_models"].sha256)
        manifest = read_bundle_manifest(store, ref)
        assert sorted(manifest["skills"]) == sorted(SKILLS)
        bundle = load_bundle(store, ref)
        scores = bundle.score(list(SKILLS), ["", "You kill the newt!"], [0, 1], [1, 1])
        assert set(scores) == set(SKILLS)
        assert _no_partial_files(home / "artifacts") == []
    finally:
        service.stop()


@pytest.mark.slow
def test_codegen_killed_mid_generation_is_reported_interrupted_not_redone(tmp_path):
    home = tmp_path / "home"
    env = {"MAESTRO_LLM_MODEL": TINY_EMBEDDED_MODEL, "MAESTRO_LLM_N_THREADS": "1"}
    service = ServiceProcess("codegen", home, env=env).start()
    try:
        service.wait_serving(timeout=180)
        stub = codegen_grpc.CodegenServiceStub(open_channel(service.address))
        request = codegen_pb.GenerateSkillFunctionsRequest(
            skills=[common_pb2.SkillSpec(name=name) for name in SKILLS], max_refinements=1,
            llm=common_pb2.LlmSettings(max_tokens=96), request_id="gen-1")
        job_id = stub.GenerateSkillFunctions(request).job.job_id

        def one_skill_done():
            job = get_job(stub, codegen_pb, job_id)
            assert job.state != common_pb2.JOB_STATE_SUCCEEDED, "job ended before the kill; ask for more skills"
            return job if job.progress.done >= 1 else None

        before = wait_until(one_skill_done, 300, "the first skill's functions")
        service.kill9()
        service.start().wait_serving(timeout=180)
        stub = codegen_grpc.CodegenServiceStub(open_channel(service.address))
        job = get_job(stub, codegen_pb, job_id)
        assert job.state == common_pb2.JOB_STATE_INTERRUPTED, common_pb2.JobState.Name(job.state)
        assert job.error.code == "ABORTED" and job.error.message
        assert set(before.outputs) <= set(job.outputs)
        assert job.progress.done >= before.progress.done
        assert {k: v for k, v in job.metrics.items() if k in before.metrics} == dict(before.metrics)
        _verified_outputs(ArtifactStore(str(home / "artifacts")), job)
        # Not run again behind the caller's back, not even when the caller retries the same request.
        assert stub.GenerateSkillFunctions(request).job.job_id == job_id
        assert get_job(stub, codegen_pb, job_id).state == common_pb2.JOB_STATE_INTERRUPTED
        assert len(stub.ListJobs(codegen_pb.ListJobsRequest()).jobs) == 1
        assert _no_partial_files(home / "artifacts") == []
    finally:
        service.stop()


@pytest.fixture(scope="module")
def episodes():
    from maestro_common.nethack.dataset import collect_episodes
    from maestro_common.nethack.env import EnvConfig

    return collect_episodes(EnvConfig(max_episode_steps=300), "random", seeds=[9, 13], episode_ids=["a", "b"],
                            num_workers=1)


def _label_keys(table) -> list[tuple[int, str]]:
    return list(zip(table.column("pair_id").to_pylist(), table.column("skill").to_pylist()))


def _table(store: ArtifactStore, ref) -> object:
    return pq.read_table(io.BytesIO(store.read_bytes(store.resolve(ref.uri, ref.sha256))))


@pytest.mark.slow
def test_llm_endpoint_killed_mid_annotation_fails_cleanly_and_keeps_the_labels(start_service, tmp_path, episodes):
    store = ArtifactStore(str(tmp_path / "artifacts"))
    dataset = write_manifest(store, DatasetManifest([write_shard(store, episodes, episodes=2)], source="test"))
    request = annotator_pb.AnnotateDatasetRequest(
        skills=[common_pb2.SkillSpec(name="Descender"), common_pb2.SkillSpec(name="Merchant")], num_pairs=40,
        judge_mode=annotator_pb.JUDGE_MODE_POINTWISE_LOGPROB, snapshot_interval=25, seed=1)
    request.dataset.uri, request.dataset.sha256 = dataset.uri, dataset.sha256
    server = LlamaServer(embedded_model_path(TINY_EMBEDDED_MODEL), n_ctx=2048, n_threads=1).start()
    try:
        running = start_service("llm_annotator", llm_backend="openai", llm_base_url=server.base_url,
                                llm_model=server.model, llm_max_retries=1, llm_timeout_s=10)
        stub = annotator_grpc.AnnotatorServiceStub(open_channel(running.address))
        job_id = stub.AnnotateDataset(request).job.job_id

        def first_chunk_saved():
            job = get_job(stub, annotator_pb, job_id)
            assert job.state != common_pb2.JOB_STATE_SUCCEEDED, "job ended before the endpoint died; add pairs"
            return job if job.metrics.get("pairs_labelled", 0) >= 16 else None

        wait_until(first_chunk_saved, 300, "the first chunk of labels")
        os.kill(server.pid, signal.SIGKILL)
        job = wait_terminal(stub, annotator_pb, job_id, timeout=120)
        assert job.state == common_pb2.JOB_STATE_FAILED, common_pb2.JobState.Name(job.state)
        assert job.error.code == "UNAVAILABLE", f"{job.error.code}: {job.error.message}"
        assert str(server.port) in job.error.message, job.error.message
        partial = _table(store, job.outputs["partial_labels"])
        keys = _label_keys(partial)
        assert len(keys) == len(set(keys)) and len(keys) >= 16 and len(keys) % 16 == 0
        assert set(partial.column("label").to_pylist()) <= {"first", "second", "tie", "unknown"}

        # The endpoint comes back: the same request (a new job) labels everything, and the labels
        # made before the failure are the same labels (the answer cache kept them), none duplicated.
        server.stop()
        server = LlamaServer(embedded_model_path(TINY_EMBEDDED_MODEL), port=server.port, n_ctx=2048,
                             n_threads=1).start()
        again = wait_terminal(stub, annotator_pb, stub.AnnotateDataset(request).job.job_id, timeout=300)
        assert again.state == common_pb2.JOB_STATE_SUCCEEDED, again.error.message
        full = _table(store, again.outputs["labels"])
        assert len(set(_label_keys(full))) == full.num_rows == 80
        before = dict(zip(keys, partial.column("label").to_pylist()))
        after = dict(zip(_label_keys(full), full.column("label").to_pylist()))
        assert {key: after[key] for key in before} == before
    finally:
        server.stop()


def test_service_health_is_unreachable_after_kill_and_serving_after_restart(tmp_path):
    """The cheap default-tier check of the kill/restart harness itself on the lightest service."""
    from maestro.evaluator.v1 import evaluator_pb2 as evaluator_pb
    from maestro.evaluator.v1 import evaluator_pb2_grpc as evaluator_grpc
    from maestro_common.client import health_status

    env = {"MAESTRO_API_TOKEN": "fault-token", "MAESTRO_ALLOW_UNAUTHENTICATED": "true"}
    service = ServiceProcess("evaluator", tmp_path / "home", env=env).start()
    try:
        service.wait_serving(timeout=60)
        service.kill9()
        with grpc.insecure_channel(service.address) as channel:
            assert health_status(channel) == "UNREACHABLE"
        service.start().wait_serving(timeout=60)
        stub = evaluator_grpc.EvaluatorServiceStub(open_channel(service.address))
        metadata = (("authorization", "Bearer fault-token"),)
        assert stub.ListJobs(evaluator_pb.ListJobsRequest(), metadata=metadata).jobs is not None
    finally:
        service.stop()
