"""Shared helpers of the Kubernetes checks: the tools (helm, promtool, prometheus), rendering the chart
under the committed value sets, and validating what it renders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "k8s" / "helm" / "maestro"
VALUE_SETS = {
    "default": [],
    "gpu": [ROOT / "k8s" / "helm" / "values" / "gpu.yaml"],
    "minimal": [ROOT / "k8s" / "helm" / "values" / "minimal.yaml"],
    "sandbox-existing-namespace": [ROOT / "k8s" / "helm" / "values" / "sandbox-existing-namespace.yaml"],
}
SCHEMAS = ROOT / "k8s" / "schemas"
CUSTOM_RESOURCE_SCHEMAS = {
    ("ray.io/v1", "RayCluster"): SCHEMAS / "ray.io_rayclusters.json",
    ("ray.io/v1", "RayJob"): SCHEMAS / "ray.io_rayjobs.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SCHEMAS / "monitoring.coreos.com_servicemonitors.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): SCHEMAS / "monitoring.coreos.com_prometheusrules.json",
}
KUBERNETES_VERSIONS = ("1.29.0", "1.34.0")
RELEASE, NAMESPACE = "demo", "ml"
SERVICE_NAMES = ("llm-annotator", "reward-trainer", "codegen", "skill-learner", "evaluator")


def tool(name: str) -> str:
    """Path of `name` (the venv's bin first); skip the test with the install hint when it is missing,
    except under CI, where a missing tool is a failure."""
    candidate = ROOT / ".venv" / "bin" / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed; run `bash scripts/k8s_tools.sh`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)


@lru_cache(maxsize=None)
def render(value_set: str, *extra: str) -> tuple[dict, ...]:
    """Every object `helm template` renders for a value set (plus extra --set flags)."""
    args = [tool("helm"), "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for path in VALUE_SETS[value_set]:
        args += ["-f", str(path)]
    for flag in extra:
        args += ["--set", flag]
    result = run(args)
    assert result.returncode == 0, f"helm template ({value_set} {extra}) failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def objects(docs, kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def named(docs, kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} named {name}, found {len(found)}"
    return found[0]


def full(component: str) -> str:
    return f"{RELEASE}-maestro-{component}"


@lru_cache(maxsize=None)
def custom_resource_validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    schema = json.loads(CUSTOM_RESOURCE_SCHEMAS[(api_version, kind)].read_text())
    return jsonschema.Draft202012Validator(schema)


def custom_resource_errors(doc: dict) -> list[str]:
    """Schema errors of a custom resource (RayCluster, RayJob, ServiceMonitor, PrometheusRule)."""
    validator = custom_resource_validator(doc["apiVersion"], doc["kind"])
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(doc)]


def pod_specs(docs) -> list[tuple[str, dict]]:
    """(owner, pod spec) of every pod template the chart renders, Ray groups included."""
    specs = []
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in ("Deployment", "StatefulSet"):
            specs.append((name, doc["spec"]["template"]["spec"]))
        elif doc["kind"] == "RayCluster":
            specs.append((name + "/head", doc["spec"]["headGroupSpec"]["template"]["spec"]))
            for group in doc["spec"]["workerGroupSpecs"]:
                specs.append((f"{name}/{group['groupName']}", group["template"]["spec"]))
    return specs


def env_of(container: dict) -> dict[str, object]:
    """Environment of a container: name -> value, or the valueFrom dict."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def load_dashboards():
    """The dashboard definitions (k8s/dashboards.py), imported by path."""
    import importlib.util
    import sys

    if "maestro_dashboards" not in sys.modules:
        spec = importlib.util.spec_from_file_location("maestro_dashboards", ROOT / "k8s" / "dashboards.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["maestro_dashboards"] = module
        spec.loader.exec_module(module)
    return sys.modules["maestro_dashboards"]
