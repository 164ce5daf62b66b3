"""Concurrent clients on real service processes: every request answered, none dropped, no error.

The measured run (1, 10 and 50 clients, p50/p99 per RPC) is `python bench/load.py`, which writes
bench/results/load.json; these tests run the same client code at a size that fits the test tiers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
import load  # noqa: E402


def test_fifty_evaluator_clients_are_all_answered(tmp_path):
    evaluator = load.ServiceProcess("evaluator", tmp_path / "home", {"MAESTRO_API_TOKEN": load.API_TOKEN})
    try:
        tally, _ = load.evaluator_load(evaluator.address, clients=50, calls_per_client=8)
    finally:
        evaluator.stop()
    summary = tally.summary()
    assert summary["dropped"] == 0 and summary["errors"] == 0, summary
    assert sum(rpc["calls"] for rpc in summary["rpcs"].values()) == 50 * 8


@pytest.mark.slow
def test_ten_annotator_clients_with_the_llm_get_every_job_done(tmp_path):
    home = tmp_path / "home"
    dataset = load.make_dataset(home / "artifacts")
    annotator = load.ServiceProcess("llm_annotator", home, {})
    try:
        tally, _ = load.annotator_load(annotator.address, dataset, clients=10, jobs_per_client=1, tag="test",
                                       job_timeout_s=300)
    finally:
        annotator.stop()
    summary = tally.summary()
    assert summary["dropped"] == 0 and summary["errors"] == 0, summary
    assert summary["jobs"]["count"] == 10
    assert summary["rpcs"]["AnnotateDataset"]["codes"] == {"OK": 10}


def test_more_watchers_than_rpc_workers_do_not_block_other_calls(start_service):
    import threading

    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from maestro.skill_learner.v1 import skill_learner_pb2 as pb
    from maestro.skill_learner.v1 import skill_learner_pb2_grpc as pb_grpc

    running = start_service("skill_learner", max_rpc_workers=4, collect_num_envs=1)
    channel = grpc.insecure_channel(running.address)
    stub = pb_grpc.SkillLearnerServiceStub(channel)
    job = stub.CollectDataset(pb.CollectDatasetRequest(policy=pb.COLLECTION_POLICY_RANDOM_MACRO, episodes=100_000,
                                                       num_envs=1, max_episode_steps=2000, seed=1), timeout=10).job

    def watch() -> None:
        with grpc.insecure_channel(running.address) as own:
            try:
                for _ in pb_grpc.SkillLearnerServiceStub(own).WatchJob(pb.WatchJobRequest(job_id=job.job_id),
                                                                       timeout=6):
                    pass
            except grpc.RpcError:
                pass

    watchers = [threading.Thread(target=watch, daemon=True) for _ in range(6)]
    for thread in watchers:
        thread.start()
    try:
        load.time.sleep(1.0)
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        assert stub.GetJob(pb.GetJobRequest(job_id=job.job_id), timeout=2).job.job_id == job.job_id
    finally:
        for thread in watchers:
            thread.join(10)
        stub.CancelJob(pb.CancelJobRequest(job_id=job.job_id), timeout=30)
        load.time.sleep(0.2)
        deadline = load.time.monotonic() + 60
        while stub.GetJob(pb.GetJobRequest(job_id=job.job_id), timeout=30).job.state not in load.TERMINAL:
            assert load.time.monotonic() < deadline, "the cancelled collection did not end"
            load.time.sleep(0.2)
        channel.close()
