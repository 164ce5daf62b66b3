"""Training as a KubeRay RayJob: the object passes the RayJob schema we keep (and its pod templates pass
kubernetes-validate --strict); submission, status mirroring, cancellation and API rejection work through
the real job runner against FakeApiServer (a test double of the API server, scripted as KubeRay would)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import fsspec
import jsonschema
import kubernetes_validate
import pytest

from kube.fake_apiserver import FakeApiServer
from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.errors import FailedPrecondition
from maestro_common.jobs import HandlerSpec, JobRunner, JobState, JobStore
from maestro_common.kube.client import KubeClient
from maestro_common.kube.rayjob import (
    JOB_ID_LABEL,
    RBAC_RULES,
    RayJobConfig,
    RayJobs,
    RunReporter,
    build_rayjob,
    rayjob_name,
    rayjob_state,
    read_run_report,
    run_rayjob,
    submit,
    write_run_report,
)

SCHEMA = Path(__file__).resolve().parents[2] / "k8s" / "schemas" / "ray.io_rayjobs.json"
NS = "maestro-training"
REQUEST = ArtifactRef(uri="s3://bucket/artifacts/sha256/ab/" + "ab" * 32 + "/train_skills_request.pb",
                      sha256="ab" * 32, size_bytes=10)


def config(tmp_path: Path, **overrides) -> RayJobConfig:
    return RayJobConfig(namespace=NS, image="registry.example/maestro/skill-learner:1.0",
                        artifact_root=str(tmp_path / "artifacts"), **overrides)


def rayjob_schema() -> dict:
    assert SCHEMA.is_file(), f"the RayJob schema {SCHEMA} is missing: the chart's schemas must include it"
    return json.loads(SCHEMA.read_text())


# ----- the object --------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides", [{}, {"artifact_claim": "artifacts", "env_secret": "s3-credentials",
                                            "active_deadline_seconds": 86400, "worker_replicas": 2,
                                            "extra_env": {"RAY_AUTH_MODE": "disabled"}}])
def test_the_rayjob_passes_its_schema_and_its_pods_pass_strict_validation(tmp_path, overrides):
    obj = build_rayjob("0123456789abcdef0123456789abcdef", REQUEST, config(tmp_path, **overrides))
    jsonschema.Draft202012Validator(rayjob_schema()).validate(obj)
    cluster = obj["spec"]["rayClusterSpec"]
    templates = [cluster["headGroupSpec"]["template"], obj["spec"]["submitterPodTemplate"]]
    templates += [group["template"] for group in cluster["workerGroupSpecs"]]
    for template in templates:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **template["metadata"]},
               "spec": template["spec"]}
        kubernetes_validate.validate(pod, kubernetes_validate.latest_version(), strict=True)


def test_the_schema_check_is_not_vacuous(tmp_path):
    obj = build_rayjob("j1", REQUEST, config(tmp_path))
    obj["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"] = "two"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(rayjob_schema()).validate(obj)


def test_the_rayjob_runs_the_training_module_on_gpu_workers(tmp_path):
    obj = build_rayjob("0123456789abcdef0123456789abcdef", REQUEST, config(tmp_path))
    spec = obj["spec"]
    assert spec["entrypoint"] == ("python -m skill_learner.rayjob_entry --request-uri " + REQUEST.uri
                                  + " --request-sha256 " + REQUEST.sha256 + " --job-id 0123456789abcdef0123456789abcdef")
    assert spec["shutdownAfterJobFinishes"] is True and spec["backoffLimit"] == 0
    assert spec["entrypointNumGpus"] == 0.5  # the driver (the learner) lands on a GPU worker, runners share it
    worker = spec["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1" and "nvidia.com/gpu" not in head["resources"]["limits"]
    assert {"name": "MAESTRO_ARTIFACT_ROOT", "value": str(tmp_path / "artifacts")} in worker["env"]
    assert worker["securityContext"]["allowPrivilegeEscalation"] is False
    pod_security = spec["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] and pod_security["runAsUser"] == pod_security["fsGroup"] == 10001
    assert len(obj["metadata"]["name"]) <= 47 and obj["metadata"]["labels"][JOB_ID_LABEL]


@pytest.mark.parametrize("status, state", [
    ({}, JobState.RUNNING),
    ({"jobDeploymentStatus": "Initializing"}, JobState.RUNNING),
    ({"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"}, JobState.RUNNING),
    ({"jobDeploymentStatus": "Running", "jobStatus": "FAILED"}, JobState.RUNNING),  # until KubeRay settles it
    ({"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}, JobState.SUCCEEDED),
    ({"jobDeploymentStatus": "Complete", "jobStatus": "STOPPED"}, JobState.FAILED),
    ({"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "reason": "AppFailed"}, JobState.FAILED),
    ({"jobDeploymentStatus": "Failed", "reason": "DeadlineExceeded"}, JobState.FAILED),
    ({"jobDeploymentStatus": "ValidationFailed", "message": "bad spec"}, JobState.FAILED),
])
def test_status_mapping(status, state):
    view = rayjob_state({"status": status})
    assert view.state is state
    if status.get("reason"):
        assert status["reason"] in view.message


def test_the_run_reporter_copies_a_local_job_record(tmp_path):
    root = str(tmp_path / "artifacts")
    with JobStore(tmp_path / "driver-jobs.db") as jobs:
        record, _ = jobs.create("TrainSkills", b"r")
        jobs.update_progress(record.job_id, done=250, total=1000, message="checkpoint at 250 env steps")
        jobs.add_output(record.job_id, "checkpoint", REQUEST)
        jobs.set_metrics(record.job_id, {"entropy": 1.5})
        reporter = RunReporter(jobs, record.job_id, root, report_as="service-job", interval_seconds=0.05).start()
        reporter.stop()
    report = read_run_report(root, "service-job")
    assert (report["env_steps"], report["env_steps_total"], report["metrics"]) == (250, 1000, {"entropy": 1.5})
    assert ArtifactRef.from_dict(report["outputs"]["checkpoint"]) == REQUEST
    assert report["message"] == "checkpoint at 250 env steps"


def test_the_run_report_round_trips(tmp_path):
    root = str(tmp_path / "artifacts")
    assert read_run_report(root, "job1") is None
    write_run_report(root, "job1", env_steps=10, env_steps_total=100, outputs={"checkpoint": REQUEST},
                     metrics={"loss": 0.5})
    report = read_run_report(root, "job1")
    assert report["env_steps"] == 10 and ArtifactRef.from_dict(report["outputs"]["checkpoint"]) == REQUEST


# ----- through the API and the job runner --------------------------------------------------------

@pytest.fixture
def cluster(tmp_path):
    with FakeApiServer() as server:
        kube = KubeClient.connect(server.write_kubeconfig(tmp_path / "kubeconfig"))
        yield server, kube
        kube.close()


def start_runner(tmp_path: Path, kube: KubeClient, cfg: RayJobConfig) -> tuple[JobStore, JobRunner]:
    store = JobStore(tmp_path / "jobs.db")
    artifacts = ArtifactStore(cfg.artifact_root)

    def handler(context):
        for name, ref in run_rayjob(context, kube, cfg, artifacts, poll_seconds=0.05).items():
            context.add_output(name, ref)

    runner = JobRunner(store, {"TrainSkills": HandlerSpec(handler, resumable=True)})
    runner.start()
    return store, runner


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_a_training_job_mirrors_its_rayjob_to_success(cluster, tmp_path):
    server, kube = cluster
    cfg = config(tmp_path)
    store, runner = start_runner(tmp_path, kube, cfg)
    try:
        job = runner.submit("TrainSkills", b"request-bytes")
        name = rayjob_name(job.job_id)
        created = wait_for(lambda: server.get(NS, "rayjobs", name))
        assert created["metadata"]["labels"][JOB_ID_LABEL] == job.job_id
        request_uri = created["spec"]["entrypoint"].split("--request-uri ")[1].split()[0]
        with fsspec.open(request_uri, "rb") as stored:
            assert stored.read() == b"request-bytes"
        server.set_status(NS, "rayjobs", name, {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"})
        checkpoint = ArtifactStore(cfg.artifact_root).put_bytes(b"weights", name="skillnet.safetensors")
        write_run_report(cfg.artifact_root, job.job_id, env_steps=500, env_steps_total=1000,
                         metrics={"env_steps_per_second": 123.0}, outputs={"checkpoint": checkpoint})
        record = wait_for(lambda: (r := store.get(job.job_id)).progress_done == 500
                          and r.stage == "rayjob Running/RUNNING" and "checkpoint" in r.outputs and r)
        assert record.state is JobState.RUNNING and record.progress_total == 1000
        assert record.outputs["checkpoint"] == checkpoint  # mirrored while it runs
        server.set_status(NS, "rayjobs", name, {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"})
        final = wait_for(lambda: (record := store.get(job.job_id)).terminal and record)
        assert final.state is JobState.SUCCEEDED, final.error_message
        assert final.outputs["checkpoint"] == checkpoint and final.metrics["env_steps_per_second"] == 123.0
    finally:
        runner.stop(2)


def test_a_rejected_rayjob_fails_the_job_with_the_api_message(cluster, tmp_path):
    server, kube = cluster
    server.fail("create", "rayjobs", 422, 'RayJob.ray.io "x" is invalid: spec.rayClusterSpec.workerGroupSpecs[0]'
                                          '.replicas: Invalid value: -1: must be >= 0')
    store, runner = start_runner(tmp_path, kube, config(tmp_path))
    try:
        job = runner.submit("TrainSkills", b"r")
        final = wait_for(lambda: (record := store.get(job.job_id)).terminal and record)
        assert final.state is JobState.FAILED and final.error_code == "FAILED_PRECONDITION"
        assert "replicas: Invalid value: -1: must be >= 0" in final.error_message
    finally:
        runner.stop(2)


def test_a_failing_rayjob_fails_the_job_with_kuberay_reason(cluster, tmp_path):
    server, kube = cluster
    store, runner = start_runner(tmp_path, kube, config(tmp_path))
    try:
        job = runner.submit("TrainSkills", b"r")
        name = rayjob_name(job.job_id)
        wait_for(lambda: server.get(NS, "rayjobs", name))
        write_run_report(str(tmp_path / "artifacts"), job.job_id, env_steps=0, env_steps_total=10,
                         message="training diverged: NaN loss")
        server.set_status(NS, "rayjobs", name, {"jobDeploymentStatus": "Failed", "jobStatus": "FAILED",
                                                "reason": "AppFailed", "message": "Job failed with exit code 1"})
        final = wait_for(lambda: (record := store.get(job.job_id)).terminal and record)
        assert final.state is JobState.FAILED and "AppFailed; Job failed with exit code 1" in final.error_message
        assert "the training module reported: training diverged: NaN loss" in final.error_message
    finally:
        runner.stop(2)


def test_cancel_deletes_the_rayjob(cluster, tmp_path):
    server, kube = cluster
    store, runner = start_runner(tmp_path, kube, config(tmp_path))
    try:
        job = runner.submit("TrainSkills", b"r")
        name = rayjob_name(job.job_id)
        wait_for(lambda: ("GET", f"/apis/ray.io/v1/namespaces/{NS}/rayjobs/{name}") in server.requests)
        runner.cancel(job.job_id)
        final = wait_for(lambda: (record := store.get(job.job_id)).terminal and record)
        assert final.state is JobState.CANCELLED
        assert server.names(NS, "rayjobs") == []
        assert ("DELETE", f"/apis/ray.io/v1/namespaces/{NS}/rayjobs/{name}") in server.requests
        assert server.rules_used() == RBAC_RULES  # submit, poll, cancel: create, get, delete and nothing more
    finally:
        runner.stop(2)


def test_a_restarted_service_adopts_its_rayjob_and_refuses_a_strangers(cluster, tmp_path):
    server, kube = cluster
    rayjobs = RayJobs(kube, NS)
    cfg = config(tmp_path)
    name = submit(rayjobs, "job-1", REQUEST, cfg)
    assert submit(rayjobs, "job-1", REQUEST, cfg) == name  # 409 -> same job id -> adopted, not duplicated
    assert server.names(NS, "rayjobs") == [name]
    stranger = server.get(NS, "rayjobs", name)
    stranger["metadata"]["labels"][JOB_ID_LABEL] = "someone-else"
    server.put(NS, "rayjobs", stranger)
    with pytest.raises(FailedPrecondition, match="belongs to another job"):
        submit(rayjobs, "job-1", REQUEST, cfg)


def test_shutdown_leaves_the_rayjob_running_for_the_next_start(cluster, tmp_path):
    server, kube = cluster
    store, runner = start_runner(tmp_path, kube, config(tmp_path))
    job = runner.submit("TrainSkills", b"r")
    name = rayjob_name(job.job_id)
    wait_for(lambda: server.get(NS, "rayjobs", name))
    stopper = threading.Thread(target=runner.stop, args=(5,))
    stopper.start()
    stopper.join()
    assert server.names(NS, "rayjobs") == [name]
    assert wait_for(lambda: store.get(job.job_id).state is JobState.QUEUED)
    assert store.get(job.job_id).checkpoint["rayjob"] == name
