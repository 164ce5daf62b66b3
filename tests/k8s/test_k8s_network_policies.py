"""The rendered NetworkPolicies, evaluated the way Kubernetes does (a connection needs the source's
egress and the destination's ingress to allow it; a pod no policy selects is open): the pipeline's
edges are open, everything else is closed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from k8s_support import NAMESPACE, full, named, objects, render


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: dict


def _matches(selector: dict | None, labels: dict) -> bool:
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        present, value = expr["key"] in labels, labels.get(expr["key"])
        ok = {"In": present and value in expr.get("values", []), "NotIn": value not in expr.get("values", []),
              "Exists": present, "DoesNotExist": not present}[expr["operator"]]
        if not ok:
            return False
    return True


def _peer_matches(peer: dict, pod: Pod, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        return False  # CIDRs name endpoints outside the cluster's pods in these checks
    if "namespaceSelector" in peer:
        if not _matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": pod.namespace}):
            return False
    elif pod.namespace != policy_namespace:
        return False
    return _matches(peer.get("podSelector"), pod.labels)


def _rule_allows(rule: dict, peers_key: str, other: Pod, port: int, policy_namespace: str) -> bool:
    ports = rule.get("ports")
    if ports and not any(p.get("port") == port for p in ports):
        return False
    peers = rule.get(peers_key)
    return not peers or any(_peer_matches(peer, other, policy_namespace) for peer in peers)


def _side_allows(policies, pod: Pod, other: Pod, port: int, direction: str) -> bool:
    kind, key, peers = ("Egress", "egress", "to") if direction == "egress" else ("Ingress", "ingress", "from")
    selecting = [p for p in policies if p["metadata"].get("namespace", NAMESPACE) == pod.namespace
                 and kind in p["spec"].get("policyTypes", ["Ingress"]) and _matches(p["spec"]["podSelector"], pod.labels)]
    if not selecting:
        return True
    return any(_rule_allows(rule, peers, other, port, p["metadata"].get("namespace", NAMESPACE))
               for p in selecting for rule in p["spec"].get(key) or [])


def allowed(policies, source: Pod, target: Pod, port: int) -> bool:
    return _side_allows(policies, source, target, port, "egress") and \
        _side_allows(policies, target, source, port, "ingress")


def _pods(docs) -> dict[str, Pod]:
    pods = {}
    for doc in objects(docs, "StatefulSet") + objects(docs, "Deployment"):
        component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        pods[component] = Pod(component, NAMESPACE, doc["spec"]["template"]["metadata"]["labels"])
    for cluster in objects(docs, "RayCluster"):
        pods["ray-head"] = Pod("ray-head", NAMESPACE, cluster["spec"]["headGroupSpec"]["template"]["metadata"]["labels"])
        group = cluster["spec"]["workerGroupSpecs"][0]
        pods["ray-worker"] = Pod("ray-worker", NAMESPACE, group["template"]["metadata"]["labels"])
    pods.update(_rayjob_pods())
    pods["client"] = Pod("client", NAMESPACE, {"maestro.io/client": "true", "app": "cli"})
    pods["outsider"] = Pod("outsider", NAMESPACE, {"app": "something-else"})
    pods["prometheus"] = Pod("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"})
    pods["dns"] = Pod("dns", "kube-system", {"k8s-app": "kube-dns"})
    return pods


def _rayjob_pods() -> dict[str, Pod]:
    """The pods of a training RayJob with the labels skill-learner gives them (maestro_common.kube.rayjob)
    plus those KubeRay adds to Ray pods (head/worker) and to the submitter Job's pod."""
    from maestro_common.artifacts import ArtifactRef
    from maestro_common.kube.rayjob import RayJobConfig, build_rayjob

    request = ArtifactRef(uri="/artifacts/request.pb", sha256="ab" * 32, size_bytes=1)
    spec = build_rayjob("job-1", request, RayJobConfig(namespace=NAMESPACE, image="img", artifact_root="/artifacts"))[
        "spec"]
    cluster = spec["rayClusterSpec"]

    def ray_node(template: dict, node_type: str, group: str) -> dict:
        return {**template["metadata"]["labels"], "ray.io/node-type": node_type, "ray.io/group": group,
                "ray.io/is-ray-node": "yes", "ray.io/cluster": "maestro-train-job-1-x"}

    submitter = {**spec["submitterPodTemplate"]["metadata"]["labels"], "batch.kubernetes.io/job-name": "maestro-train-job-1"}
    return {"rayjob-head": Pod("rayjob-head", NAMESPACE, ray_node(cluster["headGroupSpec"]["template"], "head",
                                                                  "headgroup")),
            "rayjob": Pod("rayjob", NAMESPACE, ray_node(cluster["workerGroupSpecs"][0]["template"], "worker", "gpu")),
            "rayjob-submitter": Pod("rayjob-submitter", NAMESPACE, submitter),
            "kuberay-operator": Pod("kuberay-operator", "ray-system", {"app.kubernetes.io/name": "kuberay-operator"})}


DEFAULT_EDGES = [
    ("client", "llm-annotator", 50051, True), ("client", "reward-trainer", 50052, True),
    ("client", "codegen", 50053, True), ("client", "skill-learner", 50054, True), ("client", "evaluator", 50055, True),
    ("evaluator", "codegen", 50053, True), ("evaluator", "skill-learner", 50054, False),
    ("skill-learner", "reward-trainer", 50052, False), ("skill-learner", "codegen", 50053, False),
    ("outsider", "evaluator", 50055, True),
    ("prometheus", "llm-annotator", 9101, True), ("prometheus", "evaluator", 9105, True),
    ("llm-annotator", "dns", 53, True), ("evaluator", "dns", 53, True),
    ("llm-annotator", "reward-trainer", 50052, False), ("codegen", "skill-learner", 50054, False),
    ("reward-trainer", "codegen", 50053, False), ("evaluator", "reward-trainer", 50052, False),
    ("outsider", "codegen", 50053, False), ("outsider", "codegen", 9103, False), ("client", "codegen", 9103, False),
    ("prometheus", "codegen", 50053, False), ("llm-annotator", "dns", 80, False),
    ("skill-learner", "evaluator", 50055, False),
]

GPU_EDGES = [
    ("llm-annotator", "vllm", 8000, True), ("codegen", "vllm", 8000, True),
    ("reward-trainer", "vllm", 8000, False), ("evaluator", "vllm", 8000, False), ("outsider", "vllm", 8000, False),
    ("skill-learner", "ray-head", 10001, True), ("ray-worker", "ray-head", 6379, True),
    ("ray-head", "ray-worker", 12345, True), ("ray-worker", "reward-trainer", 50052, False),
    ("ray-worker", "llm-annotator", 50051, False), ("codegen", "ray-head", 10001, False),
    ("outsider", "ray-head", 10001, False),
    # the gpu value set narrows the evaluator API to an ipBlock: an in-cluster outsider is refused
    ("outsider", "evaluator", 50055, False), ("client", "evaluator", 50055, True),
]


RAYJOB_EDGES = [  # sandbox-existing-namespace: RayJob training (skill-learner calls codegen), two services off
    ("rayjob", "codegen", 50053, True), ("rayjob", "rayjob", 6379, True), ("rayjob", "dns", 53, True),
    ("rayjob", "evaluator", 50055, False), ("outsider", "rayjob", 6379, False), ("codegen", "rayjob", 6379, False),
    ("prometheus", "rayjob", 8080, True), ("skill-learner", "codegen", 50053, True),
    ("skill-learner", "evaluator", 50055, False), ("rayjob", "rayjob-head", 6379, True),
    ("rayjob-head", "rayjob", 12345, True), ("rayjob-head", "codegen", 50053, True),
    # the submitter reaches the head's dashboard/job port (and DNS), nothing else
    ("rayjob-submitter", "rayjob-head", 8265, True), ("rayjob-submitter", "dns", 53, True),
    ("rayjob-submitter", "rayjob-head", 6379, False), ("rayjob-submitter", "rayjob-head", 10001, False),
    ("rayjob-submitter", "rayjob", 8265, False), ("rayjob-submitter", "codegen", 50053, False),
    ("rayjob-submitter", "skill-learner", 50054, False), ("rayjob-submitter", "evaluator", 50055, False),
    ("rayjob-head", "rayjob-submitter", 8265, False), ("rayjob", "rayjob-submitter", 12345, False),
    ("outsider", "rayjob-submitter", 8080, False), ("prometheus", "rayjob-submitter", 8080, False),
    # the KubeRay operator polls the job's status on the head's dashboard; nobody else reaches port 8265
    ("kuberay-operator", "rayjob-head", 8265, True), ("kuberay-operator", "rayjob-head", 6379, False),
    ("outsider", "rayjob-head", 8265, False), ("skill-learner", "rayjob-head", 8265, False),
    ("codegen", "rayjob-head", 8265, False), ("prometheus", "rayjob-head", 8265, False),
]
CALLS_EDGES = [  # --set services.skill-learner.calls={reward-trainer}, with the gpu set's RayCluster
    ("skill-learner", "reward-trainer", 50052, True), ("ray-worker", "reward-trainer", 50052, True),
    ("ray-head", "reward-trainer", 50052, True), ("skill-learner", "codegen", 50053, False),
    ("ray-worker", "codegen", 50053, False),
]


@pytest.mark.parametrize("value_set, extra, edges", [
    ("default", (), DEFAULT_EDGES), ("gpu", (), GPU_EDGES),
    ("sandbox-existing-namespace", ("services.skill-learner.calls={codegen}",), RAYJOB_EDGES),
    ("gpu", ("services.skill-learner.calls={reward-trainer}",), CALLS_EDGES)])
def test_only_the_pipeline_edges_are_open(value_set, extra, edges):
    docs = render(value_set, *extra)
    policies, pods = objects(docs, "NetworkPolicy"), _pods(docs)
    wrong = [f"{src} -> {dst}:{port} should be {'allowed' if expected else 'denied'}"
             for src, dst, port, expected in edges
             if allowed(policies, pods[src], pods[dst], port) != expected]
    assert not wrong, "\n".join(wrong)


def test_default_deny_selects_every_pod_of_the_release():
    docs = render("gpu")
    deny = named(docs, "NetworkPolicy", full("default-deny"))
    assert deny["spec"].get("ingress") is None and deny["spec"].get("egress") is None
    for pod in _pods(docs).values():
        if pod.name in ("client", "outsider", "prometheus", "dns", "kuberay-operator") or pod.name.startswith("rayjob"):
            continue
        assert _matches(deny["spec"]["podSelector"], pod.labels), f"{pod.name} escapes the default deny"


def test_object_store_and_api_server_egress_only_where_needed():
    docs = render("gpu")
    by_name = {p["metadata"]["name"]: p for p in objects(docs, "NetworkPolicy")}
    cidrs = {name: [peer["ipBlock"]["cidr"] for rule in p["spec"].get("egress") or [] for peer in rule.get("to", [])
                    if "ipBlock" in peer] for name, p in by_name.items()}
    assert cidrs[full("codegen")] == ["10.20.0.0/16", "10.96.0.1/32"]  # object store, then the API server
    assert cidrs[full("evaluator")] == ["10.20.0.0/16"]
    assert cidrs[full("vllm")] == ["0.0.0.0/0"]  # model downloads
