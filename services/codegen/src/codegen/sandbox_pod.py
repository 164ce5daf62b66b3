"""The pod sandbox: each run of generated code becomes a short-lived, locked-down Pod.

`PodSandbox(kube, PodSandboxConfig(namespace, image)).run_python(files, entry, limits)` has the call shape and the
result of `codegen.sandbox.run_python` (selected with MAESTRO_SANDBOX_BACKEND=pod). One run:

1. creates a ConfigMap holding the files, the run's settings and two programs of the standard
   library only: `maestro_common/kube/sandbox_supervisor.py` and `sandbox_child.py` (the local
   sandbox's lock-down step);
2. creates a Pod in the sandbox namespace that mounts the ConfigMap read-only at /sandbox and a small
   emptyDir (sizeLimit) at /work, with no service-account token, no service links, a non-root uid,
   a read-only root file system, no privilege escalation, every capability dropped, the
   RuntimeDefault seccomp profile, CPU/memory requests = limits, `activeDeadlineSeconds`, an
   optional runtimeClassName (gVisor, Kata) and the label that the chart's deny-all NetworkPolicy
   selects;
3. watches the pod until it ends or a deadline (wall limit + start-up allowance + grace) passes; a
   pod that cannot start fails the run with Kubernetes' reason: at once for ImagePullBackOff,
   ErrImagePull, CreateContainerConfigError and the like (`Unavailable`) and for a quota refusing
   the create (`ResourceExhausted`); at the deadline for a pod left Pending, e.g. Unschedulable
   (`DeadlineExceeded`, quoting the scheduler's message);
4. reads the pod log (byte-capped), deletes the pod and the ConfigMap (always, also on errors), and
   maps the supervisor's report and the container's termination onto `SandboxResult`.

Inside the pod the supervisor (PID 1 of the container, made non-dumpable so that the untrusted
child of the same uid cannot open its /proc entries) copies the files into /work, starts
`sandbox_child.py` exactly as the local sandbox does (resource limits, no new processes, no new
privileges, then `exec python -I -S -B ENTRY`), reads stdout and stderr separately under the output
cap and the wall deadline, and prints one final report line (base64 streams, exit status, CPU
seconds, the cgroup's OOM-kill count) that the service parses. `limit_hit` comes from that report
as in the local sandbox, or from the pod: container reason OOMKilled -> "memory", pod reason
DeadlineExceeded -> "wall".

Image contract (the codegen image is the intended one): the interpreter at `python` (default: the
service's own `sys.executable`) runs the supervisor; because the codegen harness puts the shared
library's directory on `sys.path` (the path where it is installed in the service), the image must
have `maestro_common` at the same place, which holds when the sandbox image is the codegen image.

A sweeper (`sweep`) deletes sandbox pods and ConfigMaps by label: those of this replica at start
(left behind by a crash or restart), and any older than the longest possible run.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import urllib3
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

import maestro_common.kube
from codegen.sandbox import CHILD_SCRIPT, OPEN_FILES, SandboxLimits, SandboxResult, _check_names, _classify, _text
from maestro_common.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    Unavailable,
)
from maestro_common.kube.client import KubeClient, domain_error

SANDBOX_LABEL = "maestro.io/sandbox"
"""Every sandbox object carries this label with value "true"; the chart's deny-all NetworkPolicy selects it
(the chart's `codegen.sandboxPod.podLabels` default)."""
OWNER_LABEL = "maestro.io/sandbox-owner"
"""Which codegen replica created the object (its pod name), for the start-up sweep."""
MANAGED_BY = {"app.kubernetes.io/managed-by": "maestro-codegen", "app.kubernetes.io/component": "sandbox"}
CONTAINER = "run"
FILES_DIR = "/sandbox"
WORK_DIR = "/work"
REPORT_MARKER = "@@maestro-sandbox-report@@ "
log = logging.getLogger(__name__)
SANDBOX_UID = 65532
"""The fixed unprivileged uid/gid of sandbox containers (no account in the image needs it)."""
SUPERVISOR_MEMORY_BYTES = 64 * 1024 * 1024
"""Memory added to the container limit for the supervisor next to the limited child."""
MAX_CONFIGMAP_BYTES = 900 * 1024
"""ConfigMaps hold at most 1 MiB; the files of one run must fit below that with some room."""
RBAC_RULES = [
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "delete", "list"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]
"""Exactly the rights this backend uses in the sandbox namespace (the chart's Role should grant these)."""
WAITING_FAILURES = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError",
                    "CreateContainerError", "RunContainerError", "ErrImageNeverPull", "CrashLoopBackOff"}
"""Container waiting reasons that mean the pod will not run the test (no point waiting longer)."""

SUPERVISOR = Path(maestro_common.kube.__file__).with_name("sandbox_supervisor.py")
"""The pod-side program (standard library only) that runs one sandboxed run inside the pod."""


@dataclass(frozen=True)
class PodSandboxConfig:
    """Where and how sandbox pods run; the codegen settings MAESTRO_SANDBOX_* fill it."""

    namespace: str
    """Namespace of the sandbox pods (a dedicated one, with the deny-all NetworkPolicy and the Role)."""
    image: str
    """Image whose interpreter runs the supervisor: the codegen image (see the module docstring)."""
    runtime_class: str = ""
    """runtimeClassName of the sandbox pods (e.g. "gvisor"); empty = the cluster's default runtime."""
    python: str = ""
    """The interpreter's path inside the image; empty = this service's own `sys.executable`."""
    cpu: str = "1"
    """CPU request = limit of a sandbox container (Kubernetes quantity); CPU seconds are capped separately."""
    startup_seconds: float = 60.0
    """How long a pod may take to be scheduled and started (image pull included) before the run fails."""
    grace_seconds: float = 5.0
    """Extra wait past activeDeadlineSeconds for the kubelet's own verdict before the run is abandoned."""
    network_policy: bool = True
    """The chart installs the deny-all NetworkPolicy selecting `SANDBOX_LABEL` (reported as network_isolated)."""
    owner: str = ""
    """This replica's name for OWNER_LABEL; empty = the host name (the pod name in a cluster)."""


class PodSandbox:
    """Runs sandboxed Python as Kubernetes pods; `run_python` matches `codegen.sandbox.run_python`."""

    def __init__(self, kube: KubeClient, config: PodSandboxConfig):
        if not config.namespace or not config.image:
            raise FailedPrecondition("the pod sandbox needs MAESTRO_SANDBOX_NAMESPACE and MAESTRO_SANDBOX_IMAGE")
        self.kube, self.config = kube, config
        self.owner = _label_value(config.owner or socket.gethostname())

    # ----- the run -------------------------------------------------------------------------------

    def run_python(self, files: dict[str, str], entry: str, limits: SandboxLimits | None = None) -> SandboxResult:
        """Run `python -I -S -B entry` over `files` in a fresh pod; everything created is deleted."""
        limits = SandboxLimits.with_defaults(limits)
        _check_names(files, entry)
        name = f"sandbox-{secrets.token_hex(6)}"
        configmap = build_configmap(name, self.config.namespace, files, entry, limits, self.owner)
        pod = build_pod(name, self.config, limits, self.owner, list(files))
        ns, core = self.config.namespace, self.kube.core
        try:
            self.kube.call("create", "configmaps", ns, core.create_namespaced_config_map, ns, configmap)
            created = self.kube.call("create", "pods", ns, core.create_namespaced_pod, ns, pod)
            final = self._wait(name, created.metadata.resource_version, limits)
            log = self.kube.call("get", "pods/log", ns, core.read_namespaced_pod_log, name, ns,
                                 container=CONTAINER, limit_bytes=_log_cap(limits))
            return _result(final, log, limits, self.config.network_policy, created.spec)
        finally:
            self._delete(name)

    def _wait(self, name: str, resource_version: str, limits: SandboxLimits) -> dict:
        """The pod (as a dict) once it ended; raises when it cannot start or outlives its deadline."""
        ns = self.config.namespace
        deadline = time.monotonic() + limits.wall_seconds + self.config.startup_seconds + self.config.grace_seconds
        last = {"status": {"phase": "Pending"}}
        while (remaining := deadline - time.monotonic()) > 0:
            stream = k8s_watch.Watch()
            events = self.kube.call(
                "watch", "pods", ns, stream.stream, self.kube.core.list_namespaced_pod, ns,
                field_selector=f"metadata.name={name}", resource_version=resource_version,
                timeout_seconds=max(1, int(min(remaining, 30))), _request_timeout=min(remaining, 30) + 5)
            try:
                for event in _guarded(events, ns):
                    if event["type"] == "ERROR":
                        resource_version = ""  # too old: start again from the current state
                        break
                    last = self.kube.api_client.sanitize_for_serialization(event["object"])
                    resource_version = last["metadata"]["resourceVersion"]
                    if event["type"] == "DELETED":
                        raise Unavailable(f"sandbox pod {ns}/{name} was deleted before it finished (evicted "
                                          f"or removed by someone else)")
                    if _ended(last) or _cannot_start(last):
                        _raise_if_not_started(last)
                        return last
                    if time.monotonic() >= deadline:
                        break
            finally:
                stream.stop()
        raise DeadlineExceeded(f"sandbox pod {ns}/{name} did not finish within "
                               f"{limits.wall_seconds + self.config.startup_seconds:.0f} s "
                               f"(wall limit + start-up allowance); last state: {_describe(last)}")

    def _delete(self, name: str) -> None:
        ns, core = self.config.namespace, self.kube.core
        for resource, fn in (("pods", core.delete_namespaced_pod), ("configmaps", core.delete_namespaced_config_map)):
            try:
                self.kube.delete_quietly(resource, ns, fn, name, ns, grace_period_seconds=0)
            except Exception:  # the sweeper removes it later; the run's own outcome matters more
                continue

    # ----- the sweeper ---------------------------------------------------------------------------

    def sweep(self, *, older_than_seconds: float | None = None) -> list[str]:
        """Delete sandbox pods and ConfigMaps of this replica (all ages), and of any replica when older
        than `older_than_seconds` (default: the longest allowed run + start-up + a minute). Returns
        "kind/name" of what was deleted."""
        ns, core = self.config.namespace, self.kube.core
        max_age = older_than_seconds if older_than_seconds is not None else self.max_run_seconds() + 60
        now = datetime.now(timezone.utc)
        deleted = []
        for resource, lister, deleter in (
                ("pods", core.list_namespaced_pod, core.delete_namespaced_pod),
                ("configmaps", core.list_namespaced_config_map, core.delete_namespaced_config_map)):
            listed = self.kube.call("list", resource, ns, lister, ns, label_selector=f"{SANDBOX_LABEL}=true")
            for item in listed.items:
                created = item.metadata.creation_timestamp or now
                mine = (item.metadata.labels or {}).get(OWNER_LABEL) == self.owner
                if mine or (now - created).total_seconds() > max_age:
                    if self.kube.delete_quietly(resource, ns, deleter, item.metadata.name, ns, grace_period_seconds=0):
                        deleted.append(f"{resource}/{item.metadata.name}")
        return deleted

    def start_sweeper(self, interval_seconds: float = 300.0) -> threading.Event:
        """Sweep every `interval_seconds` on a daemon thread (failures are logged, never fatal); set the
        returned event to stop it. Call `sweep()` once yourself at start, so that RBAC problems stop the
        service with their message."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval_seconds):
                try:
                    swept = self.sweep()
                    if swept:
                        log.info("sandbox sweeper deleted leftovers: %s", ", ".join(swept))
                except Exception:
                    log.warning("sandbox sweeper failed; it tries again in %.0f s", interval_seconds, exc_info=True)

        threading.Thread(target=loop, name="sandbox-sweeper", daemon=True).start()
        return stop

    def max_run_seconds(self, ceiling_wall_seconds: float = 120.0) -> float:
        """The longest a run may take: the largest wall limit RunTests accepts plus the start-up allowance."""
        return ceiling_wall_seconds + self.config.startup_seconds + self.config.grace_seconds


# ----- objects -----------------------------------------------------------------------------------

def labels(owner: str) -> dict[str, str]:
    """The labels of every object of a sandbox run."""
    return {SANDBOX_LABEL: "true", OWNER_LABEL: owner, **MANAGED_BY}


def build_configmap(name: str, namespace: str, files: dict[str, str], entry: str, limits: SandboxLimits,
                    owner: str) -> dict:
    """The ConfigMap with the run's files (keys f0, f1 ... mapped to paths by the pod), settings and programs."""
    run = {"entry": entry, "limits": {key: getattr(limits, key) for key in (
        "cpu_seconds", "wall_seconds", "memory_bytes", "output_bytes", "file_bytes", "max_processes")},
           "open_files": OPEN_FILES, "marker": REPORT_MARKER}
    data = {"run.json": json.dumps(run), "supervisor.py": SUPERVISOR.read_text(encoding="utf-8"),
            "sandbox_child.py": CHILD_SCRIPT.read_text(encoding="utf-8")}
    data.update({f"f{index}": text for index, text in enumerate(files.values())})
    size = sum(len(key) + len(value.encode("utf-8")) for key, value in data.items())
    if size > MAX_CONFIGMAP_BYTES:
        raise InvalidArgument("files", f"{size} bytes in all; the pod sandbox carries at most "
                                       f"{MAX_CONFIGMAP_BYTES} bytes of files per run (a ConfigMap)")
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels(owner),
                         "annotations": {"maestro.io/paths": json.dumps(list(files))}},
            "data": data, "immutable": True}


def build_pod(name: str, config: PodSandboxConfig, limits: SandboxLimits, owner: str,
              file_names: list[str]) -> dict:
    """The locked-down Pod that runs the supervisor over the ConfigMap `name`."""
    python = config.python or str(Path(sys.executable))
    memory = limits.memory_bytes + SUPERVISOR_MEMORY_BYTES
    work_bytes = max(16 * 1024 * 1024, 4 * limits.file_bytes)
    resources = {"cpu": config.cpu, "memory": str(memory), "ephemeral-storage": str(work_bytes + 16 * 1024 * 1024)}
    spec = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": math.ceil(limits.wall_seconds + config.startup_seconds),
        "terminationGracePeriodSeconds": 0,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "hostNetwork": False, "hostPID": False, "hostIPC": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": SANDBOX_UID, "runAsGroup": SANDBOX_UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": CONTAINER,
            "image": config.image,
            "imagePullPolicy": "IfNotPresent",
            "command": [python, "-I", "-S", "-B", f"{FILES_DIR}/supervisor.py", FILES_DIR, WORK_DIR],
            "workingDir": WORK_DIR,
            "env": [{"name": "LANG", "value": "C.UTF-8"}],
            "resources": {"requests": resources, "limits": resources},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "privileged": False, "runAsNonRoot": True,
                                "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "files", "mountPath": FILES_DIR, "readOnly": True},
                             {"name": "work", "mountPath": WORK_DIR}],
        }],
        "volumes": [
            {"name": "files", "configMap": {"name": name, "defaultMode": 0o444, "items": _items(file_names)}},
            {"name": "work", "emptyDir": {"sizeLimit": str(work_bytes)}},
        ],
    }
    if config.runtime_class:
        spec["runtimeClassName"] = config.runtime_class
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": config.namespace, "labels": labels(owner)}, "spec": spec}


def _items(file_names: list[str]) -> list[dict]:
    """Map ConfigMap keys onto paths: programs at the top, the run's files under code/ (kept relative)."""
    items = [{"key": key, "path": key} for key in ("run.json", "supervisor.py", "sandbox_child.py")]
    return items + [{"key": f"f{index}", "path": f"code/{path}"} for index, path in enumerate(file_names)]


def network_policy(namespace: str) -> dict:
    """The deny-all (ingress and egress) NetworkPolicy for sandbox pods; the chart renders the same object."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "maestro-sandbox-deny-all", "namespace": namespace, "labels": dict(MANAGED_BY)},
            "spec": {"podSelector": {"matchLabels": {SANDBOX_LABEL: "true"}},
                     "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []}}


# ----- reading the pod ---------------------------------------------------------------------------

def _guarded(events, namespace: str):
    """Iterate a watch stream, mapping failures (the stream is lazy) to domain errors."""
    try:
        yield from events
    except ApiException as error:
        if error.status == 410:  # the resourceVersion is too old: the caller starts again from the current state
            yield {"type": "ERROR"}
            return
        raise domain_error(error, "watch", "pods", namespace) from None
    except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
        raise Unavailable(f"the watch on sandbox pods in namespace {namespace!r} broke: {error}") from None


def _ended(pod: dict) -> bool:
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed")


def _cannot_start(pod: dict) -> bool:
    """A container waiting reason that means the pod will not run. (Unschedulable is not one: an autoscaler
    may add a node; the run waits for it until its deadline, whose error then quotes the scheduler.)"""
    return any(((container.get("state") or {}).get("waiting") or {}).get("reason") in WAITING_FAILURES
               for container in pod.get("status", {}).get("containerStatuses") or [])


def _raise_if_not_started(pod: dict) -> None:
    if not _ended(pod):
        raise Unavailable(f"the sandbox pod cannot run the test: {_describe(pod)}; check the sandbox image "
                          f"(MAESTRO_SANDBOX_IMAGE), pull secrets, quota and node capacity")


def _describe(pod: dict) -> str:
    """Kubernetes' own reason for the pod's state, in one line."""
    status = pod.get("status", {})
    parts = [f"phase {status.get('phase', 'unknown')}"]
    if status.get("reason"):
        parts.append(f"{status['reason']}: {status.get('message', '')}".strip())
    for condition in status.get("conditions") or []:
        if condition.get("status") == "False" and condition.get("reason"):
            parts.append(f"{condition['reason']}: {condition.get('message', '')}".strip())
    for container in status.get("containerStatuses") or []:
        for state, detail in (container.get("state") or {}).items():
            if detail and detail.get("reason"):
                parts.append(f"container {state} {detail['reason']}: {detail.get('message', '')}".strip())
    return "; ".join(parts)


def _terminated(pod: dict) -> dict:
    for container in pod.get("status", {}).get("containerStatuses") or []:
        if container.get("name") == CONTAINER:
            return (container.get("state") or {}).get("terminated") or {}
    return {}


def _log_cap(limits: SandboxLimits) -> int:
    """Bytes of log read: the report carries both streams in base64 plus a little JSON."""
    return 2 * math.ceil((limits.output_bytes + 1) * 4 / 3) + 64 * 1024


def _result(pod: dict, log: str, limits: SandboxLimits, network_policy: bool, spec) -> SandboxResult:
    """The SandboxResult from the supervisor's report, or from the pod's termination when there is none."""
    status, terminated = pod.get("status", {}), _terminated(pod)
    container = spec.containers[0].security_context if spec and spec.containers else None
    filesystem = bool(container and container.read_only_root_filesystem and container.run_as_non_root
                      and not container.allow_privilege_escalation)
    report = None
    for line in reversed((log or "").splitlines()):
        if line.startswith(REPORT_MARKER):
            report = json.loads(line[len(REPORT_MARKER):])
            break
    if report is None:
        if status.get("reason") == "DeadlineExceeded":
            limit = "wall"
        elif terminated.get("reason") == "OOMKilled":
            limit = "memory"
        else:
            raise Internal(f"the sandbox pod ended without a report: {_describe(pod)}; log tail: {(log or '')[-500:]}")
        return SandboxResult(exit_status=-9, stdout="", stderr=f"sandbox pod: {_describe(pod)}\n",
                             wall_seconds=0.0, cpu_seconds=0.0, limit_hit=limit,
                             network_isolated=network_policy, filesystem_isolated=filesystem)
    if not report["status"].startswith("ok"):
        raise Internal(f"the sandbox could not be set up in the pod ({report['status'] or 'no report'})")
    stdout, stderr = (base64.b64decode(report[key]) for key in ("stdout", "stderr"))
    stderr_text = _text(stderr, limits.output_bytes)
    limit = _classify(report["exit_status"], report["killed_for"], report["cpu_seconds"], limits, stderr_text)
    if limit == "none" and report["oom_kills"] > 0:
        limit = "memory"
    return SandboxResult(exit_status=report["exit_status"], stdout=_text(stdout, limits.output_bytes),
                         stderr=stderr_text, wall_seconds=report["wall_seconds"], cpu_seconds=report["cpu_seconds"],
                         limit_hit=limit, network_isolated=network_policy or "network=1" in report["status"],
                         filesystem_isolated=filesystem)


def _label_value(text: str) -> str:
    """`text` made a valid label value (<= 63 characters of [A-Za-z0-9._-], alphanumeric at both ends)."""
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in text)[:63].strip("._-")
    return cleaned or "unknown"
