"""The pod sandbox backend: its objects pass strict schema validation, and its client logic (create,
watch, log, limits, cleanup, start-up failures, RBAC and quota refusals, the sweeper) works against
FakeApiServer, a test double of the API server whose fake kubelet really runs the pod's command here."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import kubernetes_validate
import pytest
from kube.fake_apiserver import FakeApiServer, FakeKubelet

from codegen import harness
from codegen.sandbox import SandboxLimits
from codegen.sandbox_pod import (
    OWNER_LABEL,
    RBAC_RULES,
    SANDBOX_LABEL,
    PodSandbox,
    PodSandboxConfig,
    build_configmap,
    build_pod,
    labels,
    network_policy,
)
from maestro_common.errors import DeadlineExceeded, PermissionDenied, ResourceExhausted, Unavailable
from maestro_common.kube.client import KubeClient

NS = "maestro-sandbox"
CONFIG = PodSandboxConfig(namespace=NS, image="registry.example/maestro/codegen:1.0", owner="codegen-0",
                          startup_seconds=20)
FAST = SandboxLimits(cpu_seconds=2, wall_seconds=4)
K8S_VERSIONS = ["1.29", kubernetes_validate.latest_version()]


def sandbox_with(script, tmp_path, config: PodSandboxConfig = CONFIG):
    server = FakeApiServer(pod_script=script)  # bound now, served from `with server:`
    kube = KubeClient.connect(server.write_kubeconfig(tmp_path / "kubeconfig"))
    return server, PodSandbox(kube, config)


@pytest.fixture
def real_pods(tmp_path):
    server, sandbox = sandbox_with(FakeKubelet.run_for_real, tmp_path)
    with server:
        yield server, sandbox


def assert_nothing_left(server):
    assert server.names(NS, "pods") == [] and server.names(NS, "configmaps") == []


# ----- objects -----------------------------------------------------------------------------------

@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_object_passes_strict_validation(version):
    files = {"main.py": "print(1)\n", "pkg/helper.py": "X = 1\n"}
    gvisor = PodSandboxConfig(namespace=NS, image="img:1", runtime_class="gvisor", owner="o")
    for obj in (build_configmap("sandbox-1", NS, files, "main.py", FAST, "o"),
                build_pod("sandbox-1", CONFIG, FAST, "o", list(files)),
                build_pod("sandbox-1", gvisor, FAST, "o", list(files)),
                network_policy(NS)):
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_pod_is_locked_down():
    limits = SandboxLimits(memory_bytes=256 << 20, wall_seconds=7)
    pod = build_pod("sandbox-1", PodSandboxConfig(namespace=NS, image="img:1", runtime_class="gvisor"), limits,
                    "o", ["main.py"])
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    assert spec["automountServiceAccountToken"] is False and spec["enableServiceLinks"] is False
    assert spec["restartPolicy"] == "Never" and spec["runtimeClassName"] == "gvisor"
    assert spec["activeDeadlineSeconds"] == 7 + 60
    assert spec["securityContext"]["runAsNonRoot"] and spec["securityContext"]["runAsUser"] >= 1000
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert security["capabilities"] == {"drop": ["ALL"]} and not security["privileged"]
    assert container["resources"]["limits"] == container["resources"]["requests"]
    assert int(container["resources"]["limits"]["memory"]) > limits.memory_bytes
    writable = [m for m in container["volumeMounts"] if not m.get("readOnly")]
    assert [m["mountPath"] for m in writable] == ["/work"]
    assert {"name": "work", "emptyDir": {"sizeLimit": str(16 << 20)}} in spec["volumes"]
    assert pod["metadata"]["labels"][SANDBOX_LABEL] == "true"
    policy = network_policy(NS)["spec"]
    assert policy["podSelector"]["matchLabels"] == {SANDBOX_LABEL: "true"}
    assert policy["ingress"] == [] and policy["egress"] == [] and policy["policyTypes"] == ["Ingress", "Egress"]


# ----- runs through the API ----------------------------------------------------------------------

def test_a_run_reports_streams_and_exit_status_and_cleans_up(real_pods):
    server, sandbox = real_pods
    server.fail("watch", "pods", 410, "too old resource version")  # the watch starts again from the current state
    code = ("import sys\nsys.path.insert(0, '.')\nimport helper\nprint(helper.X, open('data/in.txt').read())\n"
            "open('out.txt', 'w').write('scratch')\nprint('oops', file=sys.stderr)\nsys.exit(3)\n")
    files = {"main.py": code, "helper.py": "X = 42\n", "data/in.txt": "nested"}
    result = sandbox.run_python(files, "main.py", FAST)
    assert (result.exit_status, result.stdout, result.stderr, result.limit_hit) == (3, "42 nested\n", "oops\n", "none")
    assert result.filesystem_isolated and result.network_isolated and not result.passed
    assert_nothing_left(server)
    verbs = [(method, path.rsplit("/", 2)[-2] if path.endswith("/log") else path.split("/")[5]) for method, path
             in server.requests]
    assert verbs[:2] == [("POST", "configmaps"), ("POST", "pods")]
    assert verbs.count(("GET", "pods")) == 2  # the watch that got 410, then the one from the current state


@pytest.mark.parametrize("code, limits, limit_hit", [
    ("import time\ntime.sleep(30)\n", SandboxLimits(cpu_seconds=5, wall_seconds=1), "wall"),
    ("while True:\n    pass\n", SandboxLimits(cpu_seconds=1, wall_seconds=8), "cpu"),
    ("print('x' * 100000)\n", SandboxLimits(output_bytes=1000, wall_seconds=4), "output"),
    ("b = bytearray(400 << 20)\n", SandboxLimits(memory_bytes=128 << 20, wall_seconds=4), "memory"),
])
def test_limits_are_enforced_in_the_pod(real_pods, code, limits, limit_hit):
    server, sandbox = real_pods
    result = sandbox.run_python({"main.py": code}, "main.py", limits)
    assert result.limit_hit == limit_hit, result
    assert not result.passed
    assert_nothing_left(server)


def test_the_codegen_harness_runs_in_a_pod(real_pods, monkeypatch):
    _, sandbox = real_pods
    monkeypatch.setattr(harness, "run_python", sandbox.run_python)
    policy = "def select_skill(ctx, available, state):\n    return available[0]\n"
    result = harness.run_generated("policy", policy, "print('ok', select_skill(None, ['Descender'], {}))\n", FAST)
    assert harness.problems_of(result) == [], result
    assert "ok Descender" in result.stdout


@pytest.mark.parametrize("script, limit_hit", [(FakeKubelet.oom_killed, "memory"),
                                               (FakeKubelet.deadline_exceeded, "wall")])
def test_kubernetes_terminations_map_to_limits(tmp_path, script, limit_hit):
    server, sandbox = sandbox_with(script, tmp_path)
    with server:
        result = sandbox.run_python({"main.py": "print(1)\n"}, "main.py", FAST)
        assert result.limit_hit == limit_hit and result.exit_status != 0
        assert {"memory": "OOMKilled", "wall": "DeadlineExceeded"}[limit_hit] in result.stderr
        assert_nothing_left(server)


def test_an_image_that_cannot_be_pulled_fails_the_run_at_once_with_the_reason(tmp_path):
    server, sandbox = sandbox_with(FakeKubelet.image_pull_backoff, tmp_path)
    with server:
        started = time.monotonic()
        with pytest.raises(Unavailable, match='ImagePullBackOff: Back-off pulling image "registry.example/maestro'):
            sandbox.run_python({"main.py": "print(1)\n"}, "main.py", FAST)
        assert time.monotonic() - started < 5
        assert_nothing_left(server)


@pytest.mark.parametrize("script, reason", [(FakeKubelet.never_scheduled, "phase Pending"),
                                            (FakeKubelet.unschedulable, "Unschedulable: 0/3 nodes are available")])
def test_a_pod_that_never_starts_fails_within_its_deadline(tmp_path, script, reason):
    config = PodSandboxConfig(namespace=NS, image="img:1", owner="o", startup_seconds=1, grace_seconds=0.5)
    server, sandbox = sandbox_with(script, tmp_path, config)
    with server:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=f"did not finish within 2 s.*{reason}"):
            sandbox.run_python({"main.py": "print(1)\n"}, "main.py", SandboxLimits(wall_seconds=1))
        assert time.monotonic() - started < 1 + 1 + 0.5 + 2
        assert_nothing_left(server)


def test_quota_and_rbac_refusals_fail_the_run_and_leave_nothing(tmp_path):
    server, sandbox = sandbox_with(FakeKubelet.run_for_real, tmp_path)
    with server:
        server.fail("create", "pods", 403, 'pods "x" is forbidden: exceeded quota: sandbox, requested: '
                                           'limits.memory=576Mi, used: limits.memory=2Gi, limited: limits.memory=2Gi')
        with pytest.raises(ResourceExhausted, match="exceeded quota"):
            sandbox.run_python({"main.py": "print(1)\n"}, "main.py", FAST)
        assert_nothing_left(server)
        server.fail("create", "configmaps", 403, 'configmaps is forbidden: User "system:serviceaccount:m:codegen" '
                                                 'cannot create resource "configmaps"')
        with pytest.raises(PermissionDenied, match="RBAC forbids create configmaps in namespace 'maestro-sandbox'"):
            sandbox.run_python({"main.py": "print(1)\n"}, "main.py", FAST)
        assert_nothing_left(server)


def test_the_sweeper_removes_leftovers_by_label(tmp_path):
    server, sandbox = sandbox_with(FakeKubelet.never_scheduled, tmp_path)
    old = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def put(resource, name, owner, created, extra_labels=None):
        meta = {"name": name, "namespace": NS, "creationTimestamp": created,
                "labels": extra_labels if extra_labels is not None else labels(owner)}
        obj = {"metadata": meta}
        if resource == "pods":
            obj["spec"] = {"containers": [{"name": "run", "image": "i"}]}
        server.put(NS, resource, obj)

    with server:
        put("pods", "mine", "codegen-0", now)          # this replica crashed mid-run: swept at start
        put("configmaps", "mine", "codegen-0", now)
        put("pods", "other-old", "codegen-1", old)     # another replica's leftover, past any deadline
        put("pods", "other-young", "codegen-1", now)   # another replica's live run: kept
        put("pods", "unrelated", "", old, extra_labels={"app": "x"})  # not a sandbox object: kept
        assert sorted(sandbox.sweep()) == ["configmaps/mine", "pods/mine", "pods/other-old"]
        assert server.names(NS, "pods") == ["other-young", "unrelated"]
        assert server.get(NS, "pods", "other-young")["metadata"]["labels"][OWNER_LABEL] == "codegen-1"


def test_the_periodic_sweeper_runs_until_stopped(tmp_path):
    server, sandbox = sandbox_with(FakeKubelet.never_scheduled, tmp_path)
    with server:
        stop = sandbox.start_sweeper(interval_seconds=0.05)
        try:
            server.put(NS, "configmaps", {"metadata": {"name": "left", "namespace": NS, "labels": labels("codegen-0")}})
            deadline = time.monotonic() + 5
            while server.names(NS, "configmaps") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.names(NS, "configmaps") == []
        finally:
            stop.set()


def test_the_declared_rbac_rules_are_exactly_what_the_backend_uses(real_pods):
    server, sandbox = real_pods
    sandbox.run_python({"main.py": "print(1)\n"}, "main.py", FAST)
    sandbox.sweep()
    assert server.rules_used() == RBAC_RULES
