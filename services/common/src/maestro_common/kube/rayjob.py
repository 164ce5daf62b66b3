"""TrainSkills as a KubeRay RayJob: build it, submit it, mirror its status, cancel it.

The skill-learner's TrainSkills handler calls `run_rayjob(context, kube, config, store)` when
MAESTRO_TRAINING_BACKEND=rayjob. It

1. stores the job's TrainSkillsRequest bytes in the artifact store and builds a RayJob
   (`build_rayjob`) whose entrypoint runs the skill-learner's training module on the Ray cluster it
   creates: `python -m <entry_module> --request-uri URI --request-sha256 SHA --job-id ID` (a head
   group without GPUs and one GPU worker group; the entrypoint asks for half a GPU
   (`DRIVER_GPU_SHARE`), so the driver, which is the learner, runs on a GPU worker and the env-runner
   actors, spread over every pod's CPUs, split the GPU time left for their own inference; the
   given image, the artifact store settings as environment variables, hardened containers);
2. creates it through the custom-objects API (a 400/422 from the API server fails the job with the
   API's own message; a 409 for the same job id adopts the existing RayJob, so a restarted service
   never submits twice) and saves its name in the job checkpoint;
3. polls it, mapping `status.jobDeploymentStatus` / `status.jobStatus` onto the job store's states
   (`rayjob_state`), and mirrors the run report that the training module writes under the
   artifact root (`write_run_report` / `read_run_report`: env steps, metrics, checkpoints as
   ArtifactRefs) into the job's progress, metrics and outputs;
4. on cancel deletes the RayJob (KubeRay then removes its RayCluster) and ends CANCELLED; on a
   service shutdown leaves it running and raises `JobInterrupted`, so a resumable handler adopts it
   again from the checkpoint when the service restarts.

The RBAC this needs in the RayJob namespace: rayjobs.ray.io get, create, delete (`RBAC_RULES`).
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
import shlex
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import fsspec

from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.errors import AlreadyExists, Cancelled, FailedPrecondition, Internal, NotFound
from maestro_common.jobs.runner import JobContext, JobInterrupted
from maestro_common.jobs.store import JobState, JobStore
from maestro_common.kube.client import KubeClient

GROUP, VERSION, PLURAL, KIND = "ray.io", "v1", "rayjobs", "RayJob"
log = logging.getLogger(__name__)
JOB_ID_LABEL = "maestro.io/job-id"
MANAGED_BY = {"app.kubernetes.io/managed-by": "maestro-skill-learner", "app.kubernetes.io/component": "training"}
REPORT_DIR = "rayjob-runs"
"""Directory under the artifact root where a RayJob's training module writes its run report."""
DRIVER_GPU_SHARE = 0.5
"""GPUs the entrypoint (the driver, i.e. the learner) reserves; the env runners split what is left."""
RBAC_RULES = [{"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["create", "delete", "get"]}]
"""Exactly the rights the RayJob backend uses in its namespace (the chart's Role should grant these)."""
_NAME_SAFE = re.compile(r"[^a-z0-9-]")
HARDENED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"}}


@dataclass(frozen=True)
class RayJobConfig:
    """How training RayJobs are built; the skill-learner settings MAESTRO_RAYJOB_* fill it."""

    namespace: str
    """Namespace of the RayJobs (the KubeRay operator must watch it)."""
    image: str
    """Image of the head, the workers and the submitter: the skill-learner image (ray, torch, nle, this code)."""
    artifact_root: str
    """MAESTRO_ARTIFACT_ROOT as the Ray pods see it: an object-store URL, or a path on `artifact_claim`."""
    entry_module: str = "skill_learner.rayjob_entry"
    """Python module the entrypoint runs with --request-uri/--request-sha256/--job-id."""
    ray_version: str = "2.60.0"
    """Ray version in the image (KubeRay's rayVersion)."""
    worker_replicas: int = 1
    """GPU worker pods."""
    worker_gpus: int = 1
    """nvidia.com/gpu per worker pod."""
    worker_cpu: str = "8"
    """CPU request = limit per worker (env runners live here)."""
    worker_memory: str = "32Gi"
    """Memory request = limit per worker."""
    head_cpu: str = "2"
    """CPU request = limit of the head (the driver runs here)."""
    head_memory: str = "8Gi"
    """Memory request = limit of the head."""
    shm_size: str = "8Gi"
    """Size of the memory-backed /dev/shm (Ray's object store) per pod."""
    artifact_claim: str = ""
    """PersistentVolumeClaim mounted at `artifact_root` when that is a path (ReadWriteMany); empty = none."""
    env_secret: str = ""
    """Secret whose keys become environment variables (object-store credentials); empty = none."""
    ray_auth_mode: str = "token"
    """KubeRay authOptions.mode of the RayCluster: "token" (KubeRay makes and wires the token) or "disabled"."""
    training_device: str = "cuda"
    """MAESTRO_TRAINING_DEVICE inside the RayJob."""
    active_deadline_seconds: int = 0
    """KubeRay fails the RayJob after this many seconds; 0 = no deadline."""
    ttl_seconds_after_finished: int = 600
    """How long KubeRay keeps the finished RayCluster for inspection before deleting it."""
    extra_env: dict[str, str] = field(default_factory=dict)
    """More environment variables for every Ray container."""
    run_as_user: int = 10001
    """uid = gid = fsGroup of every Ray pod: the images' non-root user, which owns what lands on the artifact PVC."""


@dataclass(frozen=True)
class RayJobView:
    """What the job store needs from a RayJob's status."""

    state: JobState
    """RUNNING while anything is in progress, then SUCCEEDED or FAILED."""
    stage: str
    """A short stage for progress ("Initializing", "Running/RUNNING", ...)."""
    message: str
    """KubeRay's reason and message, for FAILED jobs and progress lines."""


def rayjob_name(job_id: str) -> str:
    """The RayJob's name for a job id: DNS-1123, short enough for KubeRay's derived names."""
    cleaned = _NAME_SAFE.sub("", job_id.lower())[:16] or uuid.uuid4().hex[:16]
    return f"maestro-train-{cleaned}"


def build_rayjob(job_id: str, request: ArtifactRef, config: RayJobConfig) -> dict[str, Any]:
    """The RayJob object for one TrainSkills job whose request bytes are the artifact `request`."""
    entrypoint = " ".join(["python", "-m", config.entry_module, "--request-uri", shlex.quote(request.uri),
                           "--request-sha256", request.sha256, "--job-id", shlex.quote(job_id)])
    spec: dict[str, Any] = {
        "entrypoint": entrypoint,
        "submissionMode": "K8sJobMode",
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": config.ttl_seconds_after_finished,
        "backoffLimit": 0,
        # the driver is the learner: it runs on a GPU worker (the head has no GPU), env runners anywhere
        "entrypointNumCpus": 1,
        "entrypointNumGpus": DRIVER_GPU_SHARE if config.worker_gpus else 0,
        "rayClusterSpec": {
            "rayVersion": config.ray_version,
            "authOptions": {"mode": config.ray_auth_mode},
            "headGroupSpec": {
                "rayStartParams": {"num-gpus": "0", "dashboard-host": "0.0.0.0"},
                "template": _pod_template("ray-head", config, cpu=config.head_cpu, memory=config.head_memory, gpus=0),
            },
            "workerGroupSpecs": [{
                "groupName": "gpu",
                "replicas": config.worker_replicas,
                "minReplicas": config.worker_replicas,
                "maxReplicas": config.worker_replicas,
                "rayStartParams": {"num-gpus": str(config.worker_gpus)},
                "template": _pod_template("ray-worker", config, cpu=config.worker_cpu, memory=config.worker_memory,
                                          gpus=config.worker_gpus),
            }],
        },
    }
    if config.active_deadline_seconds:
        spec["activeDeadlineSeconds"] = config.active_deadline_seconds
    spec["submitterPodTemplate"] = _submitter_template(config)
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND,
            "metadata": {"name": rayjob_name(job_id), "namespace": config.namespace,
                         "labels": {JOB_ID_LABEL: _NAME_SAFE.sub("-", job_id.lower())[:63].strip("-") or "job",
                                    **MANAGED_BY}},
            "spec": spec}


def _pod_template(container: str, config: RayJobConfig, *, cpu: str, memory: str, gpus: int) -> dict[str, Any]:
    env = [{"name": "MAESTRO_ARTIFACT_ROOT", "value": config.artifact_root},
           {"name": "MAESTRO_TRAINING_DEVICE", "value": config.training_device},
           *({"name": key, "value": value} for key, value in sorted(config.extra_env.items()))]
    resources: dict[str, str] = {"cpu": cpu, "memory": memory}
    if gpus:
        resources["nvidia.com/gpu"] = str(gpus)
    mounts = [{"name": "shm", "mountPath": "/dev/shm"}]
    volumes: list[dict[str, Any]] = [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": config.shm_size}}]
    if config.artifact_claim:
        mounts.append({"name": "artifacts", "mountPath": config.artifact_root})
        volumes.append({"name": "artifacts", "persistentVolumeClaim": {"claimName": config.artifact_claim}})
    spec_container: dict[str, Any] = {"name": container, "image": config.image, "env": env,
                                      "resources": {"requests": resources, "limits": dict(resources)},
                                      "securityContext": HARDENED, "volumeMounts": mounts}
    if config.env_secret:
        spec_container["envFrom"] = [{"secretRef": {"name": config.env_secret}}]
    return {"metadata": {"labels": dict(MANAGED_BY)},
            "spec": {"automountServiceAccountToken": False, "enableServiceLinks": False,
                     "securityContext": _pod_security(config), "containers": [spec_container], "volumes": volumes}}


def _pod_security(config: RayJobConfig) -> dict[str, Any]:
    uid = config.run_as_user
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
            "fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": {"type": "RuntimeDefault"}}


def _submitter_template(config: RayJobConfig) -> dict[str, Any]:
    """The submitter pod (K8sJobMode): hardened and labelled like the Ray pods; KubeRay fills in its
    `ray job submit` command (the container has none) and the dashboard address."""
    resources = {"cpu": "500m", "memory": "512Mi"}
    return {"metadata": {"labels": {**MANAGED_BY, "maestro.io/rayjob-role": "submitter"}},
            "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False, "enableServiceLinks": False,
                     "securityContext": _pod_security(config),
                     "containers": [{"name": "ray-job-submitter", "image": config.image,
                                     "resources": {"requests": resources, "limits": dict(resources)},
                                     "securityContext": HARDENED}]}}


def rayjob_state(obj: dict[str, Any]) -> RayJobView:
    """Map a RayJob's status (KubeRay v1) onto the job store's states."""
    status = obj.get("status") or {}
    deployment, job = status.get("jobDeploymentStatus") or "", status.get("jobStatus") or ""
    detail = "; ".join(part for part in (status.get("reason", ""), status.get("message", "")) if part)
    stage = "/".join(part for part in (deployment or "New", job) if part)
    if deployment == "Complete" and job == "SUCCEEDED":
        return RayJobView(JobState.SUCCEEDED, stage, detail)
    if deployment in ("Complete", "Failed", "ValidationFailed"):
        return RayJobView(JobState.FAILED, stage, detail or f"the RayJob ended with job status {job or 'unknown'}")
    return RayJobView(JobState.RUNNING, stage, detail)


# ----- the run report, written by the training module inside the RayJob --------------------------

def report_uri(artifact_root: str, job_id: str) -> str:
    """Where the training module of job `job_id` writes its run report (a small mutable JSON file)."""
    return posixpath.join(artifact_root.rstrip("/"), REPORT_DIR, _NAME_SAFE.sub("-", job_id.lower()), "report.json")


def write_run_report(artifact_root: str, job_id: str, *, env_steps: int, env_steps_total: int,
                     metrics: dict[str, float] | None = None, outputs: dict[str, ArtifactRef] | None = None,
                     message: str = "") -> None:
    """Replace the run report atomically (temporary name, then move). Call it after every checkpoint."""
    report = {"env_steps": env_steps, "env_steps_total": env_steps_total, "metrics": metrics or {},
              "outputs": {name: ref.to_dict() for name, ref in (outputs or {}).items()}, "message": message,
              "written_at": time.time()}
    uri = report_uri(artifact_root, job_id)
    fs, path = fsspec.core.url_to_fs(uri)
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    temporary = f"{path}.{uuid.uuid4().hex}.tmp"
    with fs.open(temporary, "w") as handle:
        handle.write(json.dumps(report))
    fs.mv(temporary, path)


def read_run_report(artifact_root: str, job_id: str) -> dict[str, Any] | None:
    """The latest run report, or None before the training module wrote one."""
    fs, path = fsspec.core.url_to_fs(report_uri(artifact_root, job_id))
    try:
        with fs.open(path, "r") as handle:
            return json.loads(handle.read())
    except FileNotFoundError:
        return None
    except ValueError as error:
        raise Internal(f"the run report of job {job_id} at {path} is not JSON: {error}") from None


class RunReporter:
    """For the training module inside the RayJob: copies a job record (in a JobStore local to the driver)
    into the run report every `interval_seconds` and once more at `stop()`, so that the service's
    `run_rayjob` can mirror it. Use: `reporter = RunReporter(store, job_id, artifact_root).start()`,
    run the training handler, then `reporter.stop()`."""

    def __init__(self, jobs: JobStore, job_id: str, artifact_root: str, *, report_as: str | None = None,
                 interval_seconds: float = 10.0):
        self.jobs, self.job_id, self.artifact_root = jobs, job_id, artifact_root
        self.report_as = report_as or job_id
        """The service's job id, under which the report is written (the local job's id by default)."""
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="run-reporter", daemon=True)

    def write_once(self) -> None:
        """Write the report from the job record as it is now."""
        record = self.jobs.get(self.job_id)
        write_run_report(self.artifact_root, self.report_as, env_steps=record.progress_done,
                         env_steps_total=record.progress_total, metrics=record.metrics, outputs=record.outputs,
                         message=record.error_message or record.message)

    def start(self) -> RunReporter:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and write the final report."""
        self._stop.set()
        self._thread.join()
        self.write_once()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self.write_once()
            except Exception:
                log.warning("could not write the run report of job %s; retrying", self.job_id, exc_info=True)


# ----- the job handler's side --------------------------------------------------------------------

class RayJobs:
    """Create, read and delete training RayJobs in one namespace, errors mapped to domain errors."""

    def __init__(self, kube: KubeClient, namespace: str):
        self.kube, self.namespace = kube, namespace

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self.kube.call("create", "rayjobs.ray.io", self.namespace,
                              self.kube.custom.create_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL,
                              obj)

    def get(self, name: str) -> dict[str, Any]:
        return self.kube.call("get", "rayjobs.ray.io", self.namespace, self.kube.custom.get_namespaced_custom_object,
                              GROUP, VERSION, self.namespace, PLURAL, name)

    def delete(self, name: str) -> bool:
        """Delete the RayJob (its RayCluster and pods go with it); False if it was already gone."""
        return self.kube.delete_quietly("rayjobs.ray.io", self.namespace,
                                        self.kube.custom.delete_namespaced_custom_object,
                                        GROUP, VERSION, self.namespace, PLURAL, name, propagation_policy="Background")


def submit(rayjobs: RayJobs, job_id: str, request: ArtifactRef, config: RayJobConfig) -> str:
    """Create the job's RayJob, or adopt the one already there for the same job id; returns its name."""
    obj = build_rayjob(job_id, request, config)
    name = obj["metadata"]["name"]
    try:
        rayjobs.create(obj)
    except AlreadyExists:
        existing = rayjobs.get(name)
        owner = (existing.get("metadata", {}).get("labels") or {}).get(JOB_ID_LABEL)
        if owner != obj["metadata"]["labels"][JOB_ID_LABEL]:
            raise FailedPrecondition(f"RayJob {config.namespace}/{name} already exists and belongs to another "
                                     f"job ({owner!r}); delete it or pick another namespace") from None
    return name


def run_rayjob(context: JobContext, kube: KubeClient, config: RayJobConfig, store: ArtifactStore, *,
               poll_seconds: float = 5.0) -> dict[str, ArtifactRef]:
    """Run one TrainSkills job as a RayJob and mirror it into the job store; returns the outputs.

    Raises `Cancelled` (after deleting the RayJob) when the job is cancelled, `JobInterrupted` when the
    service shuts down (the RayJob keeps running and is adopted on restart), `FailedPrecondition` when
    the API rejects the RayJob (with the API's message) and `Internal` when the RayJob fails.
    """
    rayjobs = RayJobs(kube, config.namespace)
    name = context.checkpoint.get("rayjob")
    if name is None:
        request = store.put_bytes(context.request, name="train_skills_request.pb")
        context.report_progress(0, stage="submitting", message=f"creating RayJob in namespace {config.namespace}")
        name = submit(rayjobs, context.job_id, request, config)
        context.save_checkpoint({**context.checkpoint, "rayjob": name, "request": request.to_dict()})
    seen: dict[str, ArtifactRef] = {}
    while True:
        if context.cancel_requested:
            rayjobs.delete(name)
            raise Cancelled(f"job {context.job_id} was cancelled; RayJob {config.namespace}/{name} was deleted")
        context.raise_if_stopping()
        try:
            view = rayjob_state(rayjobs.get(name))
        except NotFound:
            raise Internal(f"RayJob {config.namespace}/{name} disappeared (deleted outside this service)") from None
        outputs, report = _mirror_report(context, config, view, seen)
        if view.state is JobState.SUCCEEDED:
            if "checkpoint" not in outputs:
                raise Internal(f"RayJob {config.namespace}/{name} succeeded but its training module reported no "
                               f"checkpoint at {report_uri(config.artifact_root, context.job_id)}")
            return outputs
        if view.state is JobState.FAILED:
            told = f"; the training module reported: {report['message']}" if report.get("message") else ""
            raise Internal(f"RayJob {config.namespace}/{name} failed ({view.stage}): {view.message}{told}")
        _sleep(context, poll_seconds)


def _mirror_report(context: JobContext, config: RayJobConfig, view: RayJobView,
                   seen: dict[str, ArtifactRef]) -> tuple[dict[str, ArtifactRef], dict[str, Any]]:
    """Copy the run report's progress, metrics and new outputs into the job record; returns (outputs, report)."""
    report = read_run_report(config.artifact_root, context.job_id) or {}
    done, total = int(report.get("env_steps", 0)), int(report.get("env_steps_total", 0)) or None
    context.report_progress(done, total, unit="env steps", stage=f"rayjob {view.stage}",
                            message=report.get("message") or view.message)
    if report.get("metrics"):
        context.set_metrics({key: float(value) for key, value in report["metrics"].items()})
    for output, data in (report.get("outputs") or {}).items():
        ref = ArtifactRef.from_dict(data)
        if seen.get(output) != ref:
            context.add_output(output, ref)
            seen[output] = ref
    return dict(seen), report


def _sleep(context: JobContext, seconds: float) -> None:
    """Wait between polls, waking early for a cancel or a shutdown."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if context.cancel_requested or context.stopping:
            return
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


__all__ = ["RBAC_RULES", "JobInterrupted", "RayJobConfig", "RayJobView", "RayJobs", "build_rayjob", "rayjob_name",
           "RunReporter", "rayjob_state", "read_run_report", "report_uri", "run_rayjob", "submit", "write_run_report"]
