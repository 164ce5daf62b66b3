"""AnnotateDataset through the real llm-annotator with a real embedded model (the tiny one in tests),
through a real llama.cpp OpenAI server, bad input, and survival of kill -9."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time

import grpc
import pyarrow.parquet as pq
import pytest

from maestro.annotator.v1 import annotator_pb2 as pb
from maestro.annotator.v1 import annotator_pb2_grpc as pb_grpc
from maestro.common.v1 import common_pb2
from maestro_common.artifacts import ArtifactStore
from maestro_common.client import open_channel, wait_until_serving
from maestro_common.datasets import DatasetManifest, write_manifest, write_shard
from maestro_common.llm import TINY_EMBEDDED_MODEL, LlamaServer, embedded_model_path
from maestro_common.nethack.dataset import collect_episodes
from maestro_common.nethack.env import EnvConfig
from maestro_common.nethack.skills import skill_names

TERMINAL = (common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED,
            common_pb2.JOB_STATE_INTERRUPTED)


@pytest.fixture(scope="module")
def episodes():
    return collect_episodes(EnvConfig(max_episode_steps=300), "random", seeds=[9, 13], episode_ids=["a", "b"],
                            num_workers=1)


def _dataset(root, table) -> common_pb2.ArtifactRef:
    store = ArtifactStore(root)
    ref = write_manifest(store, DatasetManifest([write_shard(store, table, episodes=2)], source="test"))
    return common_pb2.ArtifactRef(uri=ref.uri, sha256=ref.sha256, size_bytes=ref.size_bytes)


def _request(dataset, **fields) -> pb.AnnotateDatasetRequest:
    base = dict(dataset=dataset, skills=[common_pb2.SkillSpec(name=n) for n in skill_names()], num_pairs=4,
                judge_mode=pb.JUDGE_MODE_POINTWISE_LOGPROB, snapshot_interval=25, seed=1)
    base.update(fields)
    return pb.AnnotateDatasetRequest(**base)


def _wait(stub, job_id: str, timeout: float = 300):
    for response in stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=timeout):
        if response.job.state in TERMINAL:
            return response.job
    raise AssertionError("stream ended early")


def _labels(root, job):
    store = ArtifactStore(root)
    ref = store.resolve(job.outputs["labels"].uri, job.outputs["labels"].sha256)
    return pq.read_table(io.BytesIO(store.read_bytes(ref)))


def test_labels_all_five_skills_with_the_embedded_model(start_service, tmp_path, episodes):
    running = start_service("llm_annotator")
    stub = pb_grpc.AnnotatorServiceStub(open_channel(running.address))
    job = _wait(stub, stub.AnnotateDataset(_request(_dataset(tmp_path / "artifacts", episodes))).job.job_id)
    assert job.state == common_pb2.JOB_STATE_SUCCEEDED, job.error.message
    labels = _labels(tmp_path / "artifacts", job)
    assert labels.num_rows == 4 * 5
    assert set(labels.column("skill").to_pylist()) == set(skill_names())
    assert set(labels.column("model").to_pylist()) == {TINY_EMBEDDED_MODEL}
    assert all(0.0 <= s <= 1.0 for s in labels.column("score_first").to_pylist() if s is not None)


def test_http_path_against_a_real_llama_cpp_server(start_service, tmp_path, episodes):
    with LlamaServer(embedded_model_path(TINY_EMBEDDED_MODEL), n_ctx=2048) as server:
        running = start_service("llm_annotator")
        stub = pb_grpc.AnnotatorServiceStub(open_channel(running.address))
        request = _request(_dataset(tmp_path / "artifacts", episodes), num_pairs=3,
                           skills=[common_pb2.SkillSpec(name="Descender")],
                           judge_mode=pb.JUDGE_MODE_PAIRWISE_LOGPROB,
                           llm=common_pb2.LlmSettings(base_url=server.base_url, model="served-tiny"))
        job = _wait(stub, stub.AnnotateDataset(request).job.job_id)
    assert job.state == common_pb2.JOB_STATE_SUCCEEDED, job.error.message
    labels = _labels(tmp_path / "artifacts", job)
    assert labels.num_rows == 3 and labels.column("judge_mode").to_pylist() == ["pairwise_logprob"] * 3


def test_llm_endpoint_down_fails_the_job_with_the_reason(start_service, tmp_path, episodes):
    running = start_service("llm_annotator", llm_max_retries=1)
    stub = pb_grpc.AnnotatorServiceStub(open_channel(running.address))
    request = _request(_dataset(tmp_path / "artifacts", episodes),
                       llm=common_pb2.LlmSettings(base_url="http://127.0.0.1:1/v1", model="nobody"))
    job = _wait(stub, stub.AnnotateDataset(request).job.job_id)
    assert job.state == common_pb2.JOB_STATE_FAILED and job.error.code == "UNAVAILABLE"
    assert "127.0.0.1:1" in job.error.message


@pytest.mark.parametrize("change, code, field", [
    (dict(dataset=common_pb2.ArtifactRef(uri="file:///nowhere/sha256/00/" + "0" * 64 + "/dataset.json",
                                         sha256="0" * 64)), grpc.StatusCode.INVALID_ARGUMENT, "dataset.uri"),
    (dict(skills=[common_pb2.SkillSpec(name="Juggler")]), grpc.StatusCode.INVALID_ARGUMENT, "skills"),
    (dict(skills=[]), grpc.StatusCode.INVALID_ARGUMENT, "skills"),
    (dict(judge_mode=99), grpc.StatusCode.INVALID_ARGUMENT, "judge_mode"),
    (dict(num_pairs=0), grpc.StatusCode.INVALID_ARGUMENT, "num_pairs"),
    (dict(prompt_version="v0"), grpc.StatusCode.INVALID_ARGUMENT, "prompt_version"),
    (dict(llm=common_pb2.LlmSettings(base_url="http://x")), grpc.StatusCode.INVALID_ARGUMENT, "llm.model"),
])
def test_bad_requests(start_service, tmp_path, episodes, change, code, field):
    running = start_service("llm_annotator")
    stub = pb_grpc.AnnotatorServiceStub(open_channel(running.address))
    with pytest.raises(grpc.RpcError) as error:
        stub.AnnotateDataset(_request(**{"dataset": _dataset(tmp_path / "artifacts", episodes), **change}))
    assert error.value.code() == code
    assert error.value.details().startswith(field), error.value.details()


def test_missing_dataset_is_not_found(start_service, tmp_path, episodes):
    running = start_service("llm_annotator")
    dataset = _dataset(tmp_path / "artifacts", episodes)
    store = ArtifactStore(tmp_path / "artifacts")
    os.remove(store.resolve(dataset.uri, dataset.sha256).uri.removeprefix("file://"))
    stub = pb_grpc.AnnotatorServiceStub(open_channel(running.address))
    with pytest.raises(grpc.RpcError) as error:
        stub.AnnotateDataset(_request(dataset))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(home, port):
    env = dict(os.environ, MAESTRO_HOME=str(home), MAESTRO_GRPC_HOST="127.0.0.1", MAESTRO_GRPC_PORT=str(port),
               MAESTRO_METRICS_PORT="-1")
    return subprocess.Popen([sys.executable, "-m", "llm_annotator"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def test_annotation_survives_kill_9_with_no_label_lost_or_duplicated(tmp_path, episodes):
    home, port = tmp_path / "home", _free_port()
    address = f"127.0.0.1:{port}"
    process = _spawn(home, port)
    try:
        wait_until_serving(address, timeout=120)
        stub = pb_grpc.AnnotatorServiceStub(open_channel(address))
        request = _request(_dataset(home / "artifacts", episodes), num_pairs=40,
                           skills=[common_pb2.SkillSpec(name="Descender"), common_pb2.SkillSpec(name="Merchant")])
        job_id = stub.AnnotateDataset(request).job.job_id
        deadline = time.monotonic() + 240
        while stub.GetJob(pb.GetJobRequest(job_id=job_id)).job.metrics.get("pairs_labelled", 0) < 16:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert stub.GetJob(pb.GetJobRequest(job_id=job_id)).job.state == common_pb2.JOB_STATE_RUNNING
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        process = _spawn(home, port)
        wait_until_serving(address, timeout=120)
        job = _wait(pb_grpc.AnnotatorServiceStub(open_channel(address)), job_id)
        assert job.state == common_pb2.JOB_STATE_SUCCEEDED and job.attempt == 2, job.error.message
        labels = _labels(home / "artifacts", job)
        keys = list(zip(labels.column("pair_id").to_pylist(), labels.column("skill").to_pylist()))
        assert len(keys) == len(set(keys)) == 80
    finally:
        process.kill()
        process.wait(30)
