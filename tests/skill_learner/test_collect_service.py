"""CollectDataset through the real skill-learner: a readable dataset, and survival of kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import grpc
import pytest

from maestro.common.v1 import common_pb2
from maestro.skill_learner.v1 import skill_learner_pb2 as pb
from maestro.skill_learner.v1 import skill_learner_pb2_grpc as pb_grpc
from maestro_common.artifacts import ArtifactStore
from maestro_common.client import open_channel, wait_until_serving
from maestro_common.datasets import read_manifest, read_table


def _collect_request(**fields) -> pb.CollectDatasetRequest:
    base = dict(policy=pb.COLLECTION_POLICY_RANDOM_MACRO, episodes=4, num_envs=2, max_episode_steps=60,
                episodes_per_shard=2, seed=11)
    base.update(fields)
    return pb.CollectDatasetRequest(**base)


def _wait_terminal(stub, job_id: str, timeout: float = 240) -> common_pb2.Job:
    deadline = time.monotonic() + timeout
    for response in stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=timeout):
        if response.job.state in (common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_FAILED,
                                  common_pb2.JOB_STATE_CANCELLED, common_pb2.JOB_STATE_INTERRUPTED):
            return response.job
        assert time.monotonic() < deadline
    raise AssertionError("stream ended before the job did")


def test_collect_dataset_writes_a_readable_parquet_dataset(start_service, tmp_path):
    running = start_service("skill_learner")
    stub = pb_grpc.SkillLearnerServiceStub(open_channel(running.address))
    first = stub.CollectDataset(_collect_request(request_id="abc")).job
    again = stub.CollectDataset(_collect_request(request_id="abc")).job
    assert again.job_id == first.job_id  # the idempotency key returns the same job
    job = _wait_terminal(stub, first.job_id)
    assert job.state == common_pb2.JOB_STATE_SUCCEEDED, job.error.message
    assert job.metrics["episodes"] == 4 and job.metrics["shards"] == 2
    ref = job.outputs["dataset"]
    store = ArtifactStore(str(tmp_path / "artifacts"))
    table = read_table(store, store.resolve(ref.uri, ref.sha256))
    assert table.num_rows == job.metrics["steps"]
    assert len(set(table.column("episode_id").to_pylist())) == 4
    assert set(table.column_names) >= {"episode_id", "step", "message", "depth", "gold", "hp", "max_hp",
                                       "xp_level", "hunger", "dungeon_number", "turn"}
    assert read_manifest(store, store.resolve(ref.uri, ref.sha256)).episodes == 4


def test_bad_requests_name_the_field(start_service):
    running = start_service("skill_learner")
    stub = pb_grpc.SkillLearnerServiceStub(open_channel(running.address))
    with pytest.raises(grpc.RpcError) as error:
        stub.CollectDataset(_collect_request(episodes=0))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and error.value.details().startswith("episodes:")
    with pytest.raises(grpc.RpcError) as error:
        stub.CollectDataset(_collect_request(request_id="x" * 500))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in error.value.details()


def _start_process(home, port: int) -> subprocess.Popen:
    env = dict(os.environ, MAESTRO_HOME=str(home), MAESTRO_GRPC_HOST="127.0.0.1", MAESTRO_GRPC_PORT=str(port),
               MAESTRO_METRICS_PORT="-1")
    return subprocess.Popen([sys.executable, "-m", "skill_learner"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_collect_dataset_survives_kill_9(tmp_path):
    port, home = _free_port(), tmp_path / "home"
    address = f"127.0.0.1:{port}"
    process = _start_process(home, port)
    try:
        wait_until_serving(address, timeout=60)
        stub = pb_grpc.SkillLearnerServiceStub(open_channel(address))
        job = stub.CollectDataset(_collect_request(episodes=8, episodes_per_shard=2, max_episode_steps=400)).job
        # Kill once at least one shard is saved but before the job ends.
        deadline = time.monotonic() + 180
        while True:
            current = stub.GetJob(pb.GetJobRequest(job_id=job.job_id)).job
            assert current.state != common_pb2.JOB_STATE_SUCCEEDED, "job finished before the kill; make it longer"
            if current.metrics.get("shards", 0) >= 1:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(30)

        process = _start_process(home, port)
        wait_until_serving(address, timeout=60)
        final = _wait_terminal(pb_grpc.SkillLearnerServiceStub(open_channel(address)), job.job_id)
        assert final.state == common_pb2.JOB_STATE_SUCCEEDED, final.error.message
        assert final.attempt == 2
        store = ArtifactStore(str(home / "artifacts"))
        ref = store.resolve(final.outputs["dataset"].uri, final.outputs["dataset"].sha256)
        table = read_table(store, ref)
        episodes = table.column("episode_id").to_pylist()
        assert sorted(set(episodes)) == [f"11-{i:06d}" for i in range(8)]  # none lost
        pairs = list(zip(episodes, table.column("step").to_pylist()))
        assert len(pairs) == len(set(pairs))  # none written twice
    finally:
        process.kill()
        process.wait(30)
