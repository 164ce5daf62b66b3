"""The Helm chart: lint --strict, render under every value set, validate every object (built-in kinds
with kubernetes-validate --strict, custom resources against k8s/schemas), and hold the rendered
objects to the promises of the chart (hardening, probes, API access, secrets, GPU placement)."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
import yaml
from k8s_support import (
    CHART,
    CUSTOM_RESOURCE_SCHEMAS,
    KUBERNETES_VERSIONS,
    NAMESPACE,
    SERVICE_NAMES,
    VALUE_SETS,
    custom_resource_errors,
    env_of,
    full,
    named,
    objects,
    pod_specs,
    render,
    run,
    tool,
)

from maestro_common.catalog import SERVICES


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_helm_lint_strict(value_set):
    args = [tool("helm"), "lint", "--strict", str(CHART)]
    for path in VALUE_SETS[value_set]:
        args += ["-f", str(path)]
    result = run(args)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_rendered_object_validates(value_set):
    docs = render(value_set)
    problems = []
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_RESOURCE_SCHEMAS:
            problems += [f"{name}: {error}" for error in custom_resource_errors(doc)]
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                problems.append(f"{name} (k8s {version}): {error.message} at {'/'.join(map(str, error.path))}")
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(f"{name}: no schema for {doc['apiVersion']} {doc['kind']} in k8s {version}")
    assert not problems, "\n".join(problems)


def test_custom_resource_schemas_reject_unknown_fields():
    cluster = objects(render("gpu"), "RayCluster")[0]
    broken = json.loads(json.dumps(cluster))
    broken["spec"]["workerGroupSpecs"][0]["replicaz"] = 2
    del broken["spec"]["headGroupSpec"]["template"]
    errors = custom_resource_errors(broken)
    assert any("replicaz" in e for e in errors) and any("template" in e for e in errors), errors
    monitor = json.loads(json.dumps(objects(render("default"), "ServiceMonitor")[0]))
    monitor["spec"]["endpoints"][0]["interval"] = 15
    assert custom_resource_errors(monitor), "an integer interval must not validate"


def test_value_sets_render_the_expected_objects():
    kinds = {name: {d["kind"] for d in render(name)} for name in VALUE_SETS}
    assert {"RayCluster", "Deployment", "Namespace", "Role"} <= kinds["gpu"]
    assert {"ServiceMonitor", "PrometheusRule", "NetworkPolicy", "HorizontalPodAutoscaler",
            "PodDisruptionBudget", "ConfigMap"} <= kinds["default"]
    assert not kinds["minimal"] & {"ServiceMonitor", "NetworkPolicy", "HorizontalPodAutoscaler", "ConfigMap",
                                   "PodDisruptionBudget", "RayCluster", "Deployment"}
    partial = {d["metadata"]["name"] for d in objects(render("sandbox-existing-namespace"), "StatefulSet")}
    assert partial == {full("codegen"), full("skill-learner"), full("evaluator")}


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_pod_is_hardened(value_set):
    for owner, spec in pod_specs(render(value_set)):
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True and security["seccompProfile"]["type"] == "RuntimeDefault", owner
        assert "automountServiceAccountToken" in spec, owner
        for container in spec["containers"]:
            c = container["securityContext"]
            assert c["readOnlyRootFilesystem"] is True, owner
            assert c["allowPrivilegeEscalation"] is False, owner
            assert c["capabilities"]["drop"] == ["ALL"], owner
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, f"{owner}: /tmp must be a writable volume"


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_services_use_grpc_probes_and_catalog_ports(value_set):
    docs = render(value_set)
    for info in SERVICES:
        found = [d for d in objects(docs, "StatefulSet") if d["metadata"]["name"] == full(info.name)]
        if not found:
            continue
        container = found[0]["spec"]["template"]["spec"]["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": info.grpc_port}, (info.name, probe)
        env = env_of(container)
        assert env["MAESTRO_GRPC_PORT"] == str(info.grpc_port)
        assert env["MAESTRO_METRICS_PORT"] == str(info.metrics_port)
        assert env["MAESTRO_DATA_DIR"].startswith("/data") and env["MAESTRO_ARTIFACT_ROOT"]
        assert container["image"].endswith(f"/maestro-{info.name}:" + container["image"].rsplit(":", 1)[1])
        service = named(docs, "Service", full(info.name))
        assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"grpc": info.grpc_port,
                                                                          "metrics": info.metrics_port}


def test_services_find_each_other_and_the_llm():
    docs = render("gpu")
    annotator = named(docs, "StatefulSet", full("llm-annotator"))["spec"]["template"]["spec"]["containers"][0]
    env = env_of(annotator)
    assert env["MAESTRO_CODEGEN_ADDRESS"] == f"{full('codegen')}:50053"
    assert env["MAESTRO_LLM_BACKEND"] == "vllm"
    assert env["MAESTRO_LLM_BASE_URL"] == f"http://{full('vllm')}:8000/v1"
    assert env["MAESTRO_LLM_MODEL"] == "qwen2.5-coder-7b"
    assert env["MAESTRO_LLM_API_KEY"]["secretKeyRef"]["name"] == full("vllm-api-key")
    vllm = named(docs, "Deployment", full("vllm"))["spec"]["template"]["spec"]
    assert vllm["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert vllm["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert env_of(vllm["containers"][0])["HF_TOKEN"]["secretKeyRef"]["name"] == "hf-token"
    assert any(v.get("persistentVolumeClaim", {}).get("claimName") == f"{full('vllm')}-cache"
               for v in vllm["volumes"])
    learner = env_of(named(docs, "StatefulSet", full("skill-learner"))["spec"]["template"]["spec"]["containers"][0])
    assert learner["RAY_ADDRESS"] == f"ray://{full('ray')}-head-svc:10001"
    assert learner["MAESTRO_ARTIFACT_ROOT"] == "s3://maestro-artifacts/prod"
    default = env_of(named(render("default"), "StatefulSet", full("codegen"))["spec"]["template"]["spec"]
                     ["containers"][0])
    assert "MAESTRO_LLM_BASE_URL" not in default and default["MAESTRO_MODEL_CACHE_DIR"] == "/models"


def test_ray_cluster_has_gpu_workers():
    cluster = objects(render("gpu"), "RayCluster")[0]
    groups = {g["groupName"]: g for g in cluster["spec"]["workerGroupSpecs"]}
    gpu = groups["gpu"]["template"]["spec"]["containers"][0]["resources"]
    assert gpu["limits"]["nvidia.com/gpu"] == 1 and gpu["requests"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in groups["cpu"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert cluster["spec"]["enableInTreeAutoscaling"] is True


def _automount(docs) -> dict[str, bool]:
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"]["automountServiceAccountToken"]
            for d in objects(docs, "StatefulSet")}


def test_only_pods_that_use_the_api_get_a_token_and_a_role():
    assert not any(_automount(render("default")).values())
    assert not objects(render("default"), "Role")
    docs = render("sandbox-existing-namespace")
    mounts = _automount(docs)
    assert mounts == {full("codegen"): True, full("skill-learner"): True, full("evaluator"): False}
    roles = {r["metadata"]["name"]: r for r in objects(docs, "Role")}
    sandbox = roles[full("codegen-sandbox")]
    assert sandbox["metadata"]["namespace"] == "sandboxes"
    # least privilege: exactly the rules the backends declare they use (within pods, pods/log, configmaps
    # and rayjobs; create/get/list/watch/delete at most)
    from codegen.sandbox_pod import RBAC_RULES as SANDBOX_RULES
    from maestro_common.kube.rayjob import RBAC_RULES as RAYJOB_RULES

    assert sandbox["rules"] == SANDBOX_RULES
    rayjobs = roles[full("skill-learner-rayjobs")]
    assert "namespace" not in rayjobs["metadata"]  # the release namespace
    assert rayjobs["rules"] == RAYJOB_RULES
    allowed_verbs = {"create", "get", "list", "watch", "delete"}
    for rule in sandbox["rules"] + rayjobs["rules"]:
        assert set(rule["verbs"]) <= allowed_verbs
        assert set(rule["resources"]) <= {"pods", "pods/log", "configmaps", "rayjobs"}
    bindings = {b["roleRef"]["name"]: b["subjects"] for b in objects(docs, "RoleBinding")}
    assert bindings[full("codegen-sandbox")] == [{"kind": "ServiceAccount", "name": full("codegen"),
                                                  "namespace": NAMESPACE}]
    assert bindings[full("skill-learner-rayjobs")][0]["name"] == full("skill-learner")
    codegen = env_of(named(docs, "StatefulSet", full("codegen"))["spec"]["template"]["spec"]["containers"][0])
    assert codegen["MAESTRO_SANDBOX_BACKEND"] == "pod" and codegen["MAESTRO_SANDBOX_NAMESPACE"] == "sandboxes"
    assert codegen["MAESTRO_SANDBOX_IMAGE"] == "registry.example.com/maestro-sandbox:1.0"
    learner = env_of(named(docs, "StatefulSet", full("skill-learner"))["spec"]["template"]["spec"]["containers"][0])
    assert learner["MAESTRO_TRAINING_BACKEND"] == "rayjob"
    assert learner["MAESTRO_RAYJOB_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert learner["MAESTRO_RAYJOB_IMAGE"] == "registry.example.com/maestro/maestro-skill-learner:2026.11"
    deny = named(docs, "NetworkPolicy", full("codegen-sandbox") + "-deny-all")
    assert deny["metadata"]["namespace"] == "sandboxes" and set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    assert deny["spec"]["podSelector"]["matchLabels"] == {"maestro.io/sandbox": "true"}


def test_gpu_sandbox_namespace_is_created_with_restricted_pod_security():
    docs = render("gpu")
    namespace = objects(docs, "Namespace")[0]
    assert namespace["metadata"]["name"] == f"{NAMESPACE}-sandbox"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    codegen = env_of(named(docs, "StatefulSet", full("codegen"))["spec"]["template"]["spec"]["containers"][0])
    assert codegen["MAESTRO_SANDBOX_RUNTIME_CLASS"] == "gvisor"


def test_evaluator_token_secret_and_tls():
    docs = render("default")
    secret = named(docs, "Secret", full("evaluator-token"))
    assert len(secret["data"]["token"]) >= 40
    evaluator = named(docs, "StatefulSet", full("evaluator"))["spec"]["template"]["spec"]["containers"][0]
    assert env_of(evaluator)["MAESTRO_API_TOKEN"] == {"secretKeyRef": {"name": full("evaluator-token"), "key": "token"}}
    minimal = named(render("minimal"), "Secret", full("evaluator-token"))
    assert minimal["data"]["token"] == "Y2hhbmdlLW1lLWJlZm9yZS1leHBvc2luZw=="  # base64 of the value set's token
    gpu = named(render("gpu"), "StatefulSet", full("evaluator"))
    env = env_of(gpu["spec"]["template"]["spec"]["containers"][0])
    assert env["MAESTRO_TLS_CERT_FILE"] == "/tls/tls.crt" and env["MAESTRO_TLS_KEY_FILE"] == "/tls/tls.key"
    assert named(render("gpu"), "Service", full("evaluator"))["spec"]["type"] == "LoadBalancer"


def test_autoscaling_disruption_budgets_and_persistence():
    docs = render("default")
    hpas = {h["spec"]["scaleTargetRef"]["name"] for h in objects(docs, "HorizontalPodAutoscaler")}
    assert hpas == {full("llm-annotator"), full("evaluator")}
    assert {p["metadata"]["name"] for p in objects(docs, "PodDisruptionBudget")} == {full(n) for n in SERVICE_NAMES}
    for sts in objects(docs, "StatefulSet"):
        scaled = sts["metadata"]["name"] in hpas
        assert ("replicas" in sts["spec"]) is not scaled, "the HPA, not the chart, owns replicas of scaled sets"
        assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    for sts in objects(render("minimal"), "StatefulSet"):
        assert "volumeClaimTemplates" not in sts["spec"]
        assert any(v["name"] == "data" and "emptyDir" in v for v in sts["spec"]["template"]["spec"]["volumes"])


def test_dashboards_ship_as_configmaps_for_the_grafana_sidecar():
    maps = objects(render("default"), "ConfigMap")
    files = sorted(p.name for p in (CHART / "dashboards").glob("*.json"))
    assert sorted(k for m in maps for k in m["data"]) == files and len(files) >= 6
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        for text in config_map["data"].values():
            assert json.loads(text)["uid"]


def test_service_monitor_and_rules_cover_every_service():
    docs = render("gpu")
    monitor = objects(docs, "ServiceMonitor")[0]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selected = [s for s in objects(docs, "Service")
                if all(s["metadata"]["labels"].get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())]
    assert {s["metadata"]["name"] for s in selected} == {full(n) for n in SERVICE_NAMES}
    rule = objects(docs, "PrometheusRule")[0]
    shipped = yaml.safe_load((CHART / "rules" / "maestro-alerts.yaml").read_text())
    assert rule["spec"] == shipped


@pytest.mark.parametrize("flag, message", [
    ("services.codegen.sandbox=docker", "sandbox"),
    ("services.skill-learner.trainingDevice=tpu", "trainingDevice"),
    ("services.evaluator.replicas=-1", "replicas"),
    ("services.evaluator.bogus=1", "bogus"),
    ("vllm.gpus=0", "gpus"),
])
def test_values_schema_rejects_bad_values(flag, message):
    result = run([tool("helm"), "template", "x", str(CHART), "--set", flag])
    assert result.returncode != 0 and message in result.stderr, result.stderr


def _notes(tmp_path, value_set: str) -> str:
    """NOTES.txt as `helm install` prints it (rendered through a copy of the chart: no cluster here)."""
    import shutil

    chart = tmp_path / "maestro"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "NOTES.txt").unlink()
    (chart / "templates" / "_notes.tpl").write_text('{{- define "notes-check" -}}' + notes + "{{- end -}}")
    (chart / "templates" / "notes-check.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-check\ndata:\n  notes: |\n"
        '{{ include "notes-check" . | indent 4 }}\n')
    args = [tool("helm"), "template", "maestro", str(chart), "--namespace", NAMESPACE,
            "--show-only", "templates/notes-check.yaml"]
    for path in VALUE_SETS[value_set]:
        args += ["-f", str(path)]
    result = run(args)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["data"]["notes"]


def test_notes_tell_how_to_call_the_evaluator_and_open_the_dashboards(tmp_path):
    notes = _notes(tmp_path, "default")
    assert "get secret maestro-evaluator-token" in notes
    assert "port-forward svc/maestro-evaluator 50055:50055" in notes
    assert "authorization: Bearer $MAESTRO_API_TOKEN" in notes
    assert "Dashboards: 6 ConfigMaps labelled grafana_dashboard=1" in notes
    gpu = _notes(tmp_path / "gpu", "gpu")
    assert "{.status.loadBalancer.ingress[0].ip}" in gpu and "--tls" in gpu and "-plaintext" not in gpu
    assert "vLLM serves Qwen/Qwen2.5-Coder-7B-Instruct" in gpu and "RayCluster maestro-ray" in gpu
    minimal = _notes(tmp_path / "minimal", "minimal")
    assert "Dashboards:" not in minimal and "ServiceMonitor is off" in minimal


RAYJOB_OBJECT_STORE = ("artifacts.url=s3://bucket/maestro", "artifacts.credentialsSecret=object-store",
                       "services.skill-learner.rayjobWorkerReplicas=3", "services.skill-learner.rayjobWorkerGpus=2")
"""--set flags over the rayjob value set: an object store with credentials and a larger RayJob cluster."""


@pytest.mark.parametrize("value_set, extra", [(name, ()) for name in sorted(VALUE_SETS)]
                         + [("sandbox-existing-namespace", RAYJOB_OBJECT_STORE)])
def test_every_maestro_variable_the_chart_sets_is_a_setting_of_that_service(value_set, extra):
    """A misspelt MAESTRO_* variable would be ignored silently (settings ignore extras): catch it here."""
    import importlib

    unknown = []
    for info in SERVICES:
        found = [d for d in objects(render(value_set, *extra), "StatefulSet")
                 if d["metadata"]["name"] == full(info.name)]
        if not found:
            continue
        fields = importlib.import_module(f"{info.package}.server").SERVICE.settings_cls.model_fields
        for name in env_of(found[0]["spec"]["template"]["spec"]["containers"][0]):
            if not name.startswith("MAESTRO_") or name in ("MAESTRO_HOME",) or name.endswith("_ADDRESS"):
                continue  # MAESTRO_HOME and the peers' addresses are read by maestro_common, not the settings
            if name[len("MAESTRO_"):].lower() not in fields:
                unknown.append(f"{info.name}: {name}")
    assert not unknown, "variables no setting reads:\n" + "\n".join(unknown)


def _learner_env(docs) -> dict[str, object]:
    return env_of(named(docs, "StatefulSet", full("skill-learner"))["spec"]["template"]["spec"]["containers"][0])


def test_rayjob_backend_gets_the_artifact_store_and_cluster_shape():
    """What the RayJob's pods need from the chart: the artifact claim (PVC store) or the object-store
    credentials Secret, and the worker shape; defaults are the settings' own defaults."""
    from skill_learner.config import SkillLearnerSettings

    fields = SkillLearnerSettings.model_fields
    pvc = _learner_env(render("sandbox-existing-namespace"))
    assert pvc["MAESTRO_RAYJOB_ARTIFACT_CLAIM"] == "shared-artifacts"  # the value set's existing claim
    assert pvc["MAESTRO_ARTIFACT_ROOT"] == "/artifacts" and pvc["MAESTRO_RAYJOB_ENV_SECRET"] == ""
    assert pvc["MAESTRO_RAYJOB_WORKER_REPLICAS"] == str(fields["rayjob_worker_replicas"].default) == "1"
    assert pvc["MAESTRO_RAYJOB_WORKER_GPUS"] == str(fields["rayjob_worker_gpus"].default) == "1"
    chart_claim = _learner_env(render("sandbox-existing-namespace", "artifacts.pvc.existingClaim="))
    assert chart_claim["MAESTRO_RAYJOB_ARTIFACT_CLAIM"] == full("artifacts")  # the claim the chart creates
    store = _learner_env(render("sandbox-existing-namespace", *RAYJOB_OBJECT_STORE))
    assert store["MAESTRO_ARTIFACT_ROOT"] == "s3://bucket/maestro"
    assert store["MAESTRO_RAYJOB_ARTIFACT_CLAIM"] == ""  # no volume: the pods read the object store
    assert store["MAESTRO_RAYJOB_ENV_SECRET"] == "object-store"
    assert store["MAESTRO_RAYJOB_WORKER_REPLICAS"] == "3" and store["MAESTRO_RAYJOB_WORKER_GPUS"] == "2"
    settings = SkillLearnerSettings.model_validate(
        {name[len("MAESTRO_"):].lower(): value for name, value in store.items()
         if name.startswith("MAESTRO_RAYJOB_") and isinstance(value, str)})
    assert (settings.rayjob_worker_replicas, settings.rayjob_worker_gpus) == (3, 2)
    assert settings.rayjob_env_secret == "object-store" and settings.rayjob_artifact_claim == ""
    for value_set in ("default", "gpu"):  # the local backend gets none of them
        assert not [name for name in _learner_env(render(value_set)) if name.startswith("MAESTRO_RAYJOB_")]
    policies = {p["metadata"]["name"] for p in objects(render("default"), "NetworkPolicy")}
    assert not {full("skill-learner-rayjobs"), full("skill-learner-rayjob-submitter")} & policies


@pytest.mark.parametrize("flag", ["services.skill-learner.rayjobWorkerReplicas=0",
                                  "services.skill-learner.rayjobWorkerGpus=17"])
def test_values_schema_bounds_the_rayjob_shape_like_the_settings(flag):
    result = run([tool("helm"), "template", "x", str(CHART), "--set", flag])
    assert result.returncode != 0 and flag.split(".")[-1].split("=")[0] in result.stderr, result.stderr
