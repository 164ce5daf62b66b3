"""The evaluator through a real server on port 0: token auth, bad input, and a small evaluation end to end."""

from __future__ import annotations

import urllib.request

import grpc
import pytest
from evaluator_helpers import MINES_POLICY, SKILL_FUNCTIONS, put_checkpoint, put_code
from grpc_health.v1 import health_pb2, health_pb2_grpc

from evaluator.config import EvaluatorSettings
from maestro.common.v1 import common_pb2
from maestro.evaluator.v1 import evaluator_pb2 as pb
from maestro.evaluator.v1 import evaluator_pb2_grpc as pb_grpc
from maestro_common.artifacts import ArtifactStore
from maestro_common.client import open_channel

TOKEN = "s3cret-token-for-tests"
GOOD = (("authorization", f"Bearer {TOKEN}"),)
TERMINAL = (common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED,
            common_pb2.JOB_STATE_INTERRUPTED)


@pytest.fixture
def service(start_service, tmp_path, monkeypatch):
    monkeypatch.setenv("MAESTRO_API_TOKEN", TOKEN)
    monkeypatch.delenv("MAESTRO_ALLOW_UNAUTHENTICATED", raising=False)
    running = start_service("evaluator", default_num_envs=2, torch_threads=1)
    store = ArtifactStore(str(tmp_path / "artifacts"))
    channel = open_channel(running.address)
    yield running, pb_grpc.EvaluatorServiceStub(channel), store, channel
    channel.close()


@pytest.fixture
def artifacts(service):
    _running, _stub, store, _channel = service
    return {"checkpoint": put_checkpoint(store), "skill_functions": put_code(store, "skill_functions", SKILL_FUNCTIONS),
            "policy": put_code(store, "policy", MINES_POLICY)}


def _request(artifacts, **fields) -> pb.EvaluateTaskRequest:
    if "task_text" not in fields:
        fields.setdefault("task_id", "gnomish_mines")
    fields.setdefault("episodes", 2)
    request = pb.EvaluateTaskRequest(**fields)
    for name, field in (("checkpoint", request.skill_checkpoint), ("skill_functions", request.skill_functions),
                        ("policy", request.policy)):
        if name in artifacts:
            field.uri, field.sha256 = artifacts[name].uri, artifacts[name].sha256
    return request


def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value


def _metric(running, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{running.metrics_port}/metrics").read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def test_settings_refuse_an_empty_token_unless_unauthenticated_is_allowed(monkeypatch):
    monkeypatch.delenv("MAESTRO_API_TOKEN", raising=False)
    with pytest.raises(ValueError, match="MAESTRO_API_TOKEN is empty"):
        EvaluatorSettings(allow_unauthenticated=False)
    assert EvaluatorSettings(allow_unauthenticated=True).allow_unauthenticated
    with pytest.raises(ValueError, match="both MAESTRO_TLS_CERT_FILE and MAESTRO_TLS_KEY_FILE"):
        EvaluatorSettings(api_token="x", tls_cert_file="/nonexistent.pem")


def test_every_call_needs_the_token_and_nothing_runs_without_it(service, artifacts):
    running, stub, _store, channel = service
    assert len(stub.ListTasks(pb.ListTasksRequest(), metadata=GOOD).tasks) == 9
    missing = _code(lambda: stub.ListTasks(pb.ListTasksRequest()))
    assert missing.code() == grpc.StatusCode.UNAUTHENTICATED and "bearer token" in missing.details()
    wrong = (("authorization", "Bearer not-the-token"),)
    for call in (lambda: stub.EvaluateTask(_request(artifacts), metadata=wrong),
                 lambda: stub.ListJobs(pb.ListJobsRequest(), metadata=wrong),
                 lambda: stub.GetJob(pb.GetJobRequest(job_id="0" * 32), metadata=wrong),
                 lambda: next(iter(stub.WatchJob(pb.WatchJobRequest(job_id="0" * 32), metadata=wrong))),
                 lambda: stub.CancelJob(pb.CancelJobRequest(job_id="0" * 32), metadata=wrong),
                 lambda: stub.EvaluateTask(_request(artifacts), metadata=(("authorization", TOKEN),))):
        assert _code(call).code() == grpc.StatusCode.UNAUTHENTICATED
    assert not stub.ListJobs(pb.ListJobsRequest(), metadata=GOOD).jobs  # no job was created
    assert _metric(running, "maestro_evaluator_auth_failures_total") == 7
    # health stays open for probes
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_bad_input_answers_the_right_status(service, artifacts, tmp_path):
    _running, stub, store, _channel = service

    def status(**fields):
        only = fields.pop("artifacts", artifacts)
        return _code(lambda: stub.EvaluateTask(_request(only, **fields), metadata=GOOD))

    unknown = status(task_id="oracle")
    assert unknown.code() == grpc.StatusCode.NOT_FOUND and "gnomish_mines, delphi, minetown" in unknown.details()
    assert status(task_text="reach the Mines", success_check="nope").code() == grpc.StatusCode.NOT_FOUND
    for episodes in (0, -3, 10_000_000):
        error = status(episodes=episodes)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "episodes" in error.details()
    assert status(episodes=3, seeds=[1, 2]).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert status(max_steps=-1).code() == grpc.StatusCode.INVALID_ARGUMENT
    missing = {k: v for k, v in artifacts.items() if k != "checkpoint"}
    assert status(artifacts=missing).code() == grpc.StatusCode.INVALID_ARGUMENT
    no_functions = status(artifacts={k: v for k, v in artifacts.items() if k != "skill_functions"})
    assert no_functions.code() == grpc.StatusCode.INVALID_ARGUMENT and "skill_functions" in no_functions.details()
    other_skills = put_checkpoint(store, skill_names=("Discoverer", "Descender"))
    mismatch = status(artifacts=artifacts | {"checkpoint": other_skills})
    assert mismatch.code() == grpc.StatusCode.FAILED_PRECONDITION and "trained for skills" in mismatch.details()
    swapped = status(artifacts=artifacts | {"policy": artifacts["skill_functions"]})
    assert swapped.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert not stub.ListJobs(pb.ListJobsRequest(), metadata=GOOD).jobs


def test_a_small_evaluation_end_to_end_with_baselines(service, artifacts):
    running, stub, store, _channel = service
    request = _request(artifacts, episodes=2, max_steps=40, num_envs=2, include_baselines=True, seed=3)
    job = stub.EvaluateTask(request, metadata=GOOD).job
    seen = []
    for response in stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id), metadata=GOOD, timeout=240):
        seen.append(response.job)
        if response.job.state in TERMINAL:
            break
    job = seen[-1]
    assert job.state == common_pb2.JOB_STATE_SUCCEEDED, job.error.message
    assert len(seen) >= 3 and job.progress.done == job.progress.total == 6  # 2 episodes x (policy + 2 baselines)
    assert {"results", "report", "report_html", "plot_success", "plot_timeline", "policy"} <= set(job.outputs)
    results = store.read_json(store.resolve(job.outputs["results"].uri, job.outputs["results"].sha256))
    assert [r["seed"] for r in results["episodes"]] == results["seeds"]
    for record in results["episodes"]:
        assert record["steps"] == 40 and record["end"] == "truncated" and record["timeline"]
        assert record["outcome"] in (0.0, 1.0) and 0.0 <= record["progression"] <= 1.0
    assert set(results["baselines"]) == {"random_skill_policy", "untrained_network"}
    report = store.read_bytes(store.resolve(job.outputs["report"].uri, job.outputs["report"].sha256)).decode()
    assert "| Gnomish Mines |" in report and "46.0%" in report
    assert _metric(running, "maestro_evaluator_env_steps_total") == 240
    assert _metric(running, 'maestro_evaluator_episodes_total{') == 2


def test_skill_functions_default_to_those_the_checkpoint_records(service, artifacts):
    _running, stub, store, _channel = service
    recorded = put_checkpoint(store, extra={"skill_functions": artifacts["skill_functions"].to_dict()})
    request = _request({"checkpoint": recorded, "policy": artifacts["policy"]}, episodes=1, max_steps=5)
    job = stub.EvaluateTask(request, metadata=GOOD).job
    for response in stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id), metadata=GOOD, timeout=120):
        if response.job.state in TERMINAL:
            assert response.job.state == common_pb2.JOB_STATE_SUCCEEDED, response.job.error.message
            break


def test_evaluations_queue_and_cancel(service, artifacts):
    _running, stub, _store, _channel = service
    first = stub.EvaluateTask(_request(artifacts, episodes=50, request_id="a"), metadata=GOOD).job
    second = stub.EvaluateTask(_request(artifacts, episodes=50, request_id="b"), metadata=GOOD).job
    assert stub.GetJob(pb.GetJobRequest(job_id=second.job_id), metadata=GOOD).job.state == \
        common_pb2.JOB_STATE_QUEUED
    for job in (second, first):
        stub.CancelJob(pb.CancelJobRequest(job_id=job.job_id), metadata=GOOD)
    for job in (first, second):
        for response in stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id), metadata=GOOD, timeout=60):
            if response.job.state in TERMINAL:
                assert response.job.state == common_pb2.JOB_STATE_CANCELLED
                break


def test_without_codegen_the_evaluation_fails_unavailable(start_service, tmp_path, monkeypatch):
    monkeypatch.setenv("MAESTRO_API_TOKEN", TOKEN)
    running = start_service("evaluator", codegen_address="127.0.0.1:1", torch_threads=1)  # nothing listens there
    store = ArtifactStore(str(tmp_path / "artifacts"))
    refs = {"checkpoint": put_checkpoint(store), "skill_functions": put_code(store, "skill_functions", SKILL_FUNCTIONS)}
    stub = pb_grpc.EvaluatorServiceStub(open_channel(running.address))
    job = stub.EvaluateTask(_request(refs, episodes=1), metadata=GOOD).job
    for response in stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id), metadata=GOOD, timeout=120):
        job = response.job
        if job.state in TERMINAL:
            break
    assert job.state == common_pb2.JOB_STATE_FAILED and job.error.code == "UNAVAILABLE"
    assert "pass a policy artifact" in job.error.message and "results" not in job.outputs


def test_a_channel_with_call_metadata_sends_the_token_on_every_call_streams_included(service):
    from maestro_common.client import with_call_metadata

    running, _stub, _store, _channel = service
    channel = with_call_metadata(open_channel(running.address), GOOD)
    try:
        stub = pb_grpc.EvaluatorServiceStub(channel)
        assert len(stub.ListTasks(pb.ListTasksRequest()).tasks) == 9
        assert not stub.ListJobs(pb.ListJobsRequest()).jobs
        with pytest.raises(grpc.RpcError) as error:  # authenticated: the job is simply unknown
            next(iter(stub.WatchJob(pb.WatchJobRequest(job_id="0" * 32))))
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as error:  # an explicit header wins over the channel's
            stub.ListJobs(pb.ListJobsRequest(), metadata=(("authorization", "Bearer wrong"),))
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        channel.close()
