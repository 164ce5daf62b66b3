"""The Kubernetes client layer against FakeApiServer (a test double): configuration and error mapping."""

from __future__ import annotations

import socket

import pytest

from kube.fake_apiserver import FakeApiServer
from maestro_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from maestro_common.kube import client as kube_client
from maestro_common.kube.client import KubeClient, load_api_client

CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one", "labels": {"a": "b"}},
             "data": {"k": "v"}}


@pytest.fixture
def server():
    with FakeApiServer() as running:
        yield running


@pytest.fixture
def kube(server, tmp_path):
    client = KubeClient.connect(server.write_kubeconfig(tmp_path / "kubeconfig"))
    yield client
    client.close()


def test_kubeconfig_reaches_the_server_and_round_trips_objects(kube, server):
    created = kube.call("create", "configmaps", "ns", kube.core.create_namespaced_config_map, "ns", CONFIGMAP)
    assert created.metadata.uid and created.data == {"k": "v"}
    listed = kube.call("list", "configmaps", "ns", kube.core.list_namespaced_config_map, "ns", label_selector="a=b")
    assert [item.metadata.name for item in listed.items] == ["one"]
    assert kube.delete_quietly("configmaps", "ns", kube.core.delete_namespaced_config_map, "one", "ns")
    assert not kube.delete_quietly("configmaps", "ns", kube.core.delete_namespaced_config_map, "one", "ns")
    assert server.names("ns", "configmaps") == []


def test_kubeconfig_from_the_environment(server, tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path / "config")))
    assert load_api_client().configuration.host == server.url


def test_no_configuration_at_all_says_what_to_provide(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(FailedPrecondition, match="no Kubernetes configuration.*KUBECONFIG"):
        load_api_client()


def test_an_unusable_kubeconfig_is_named(tmp_path):
    bad = tmp_path / "kubeconfig"
    bad.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    with pytest.raises(FailedPrecondition, match="cannot be used"):
        load_api_client(bad)


def test_in_a_pod_without_a_usable_token_the_error_says_so(tmp_path, monkeypatch):
    token = tmp_path / "token"
    token.write_text("x")
    monkeypatch.setattr(kube_client, "SERVICE_ACCOUNT_TOKEN", token)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    # the client library reads the real token path, which does not exist here
    with pytest.raises(FailedPrecondition, match="in-cluster Kubernetes configuration is unusable"):
        load_api_client()


def test_forbidden_names_the_missing_right(kube, server):
    server.fail("create", "configmaps", 403, 'configmaps is forbidden: User "system:serviceaccount:m:codegen" '
                                             'cannot create resource "configmaps" in API group "" in the namespace "ns"')
    with pytest.raises(PermissionDenied) as caught:
        kube.call("create", "configmaps", "ns", kube.core.create_namespaced_config_map, "ns", CONFIGMAP)
    assert "RBAC forbids create configmaps in namespace 'ns'" in caught.value.message
    assert "cannot create resource" in caught.value.message and "Role" in caught.value.message


def test_quota_refusal_is_resource_exhausted(kube, server):
    server.fail("create", "configmaps", 403, 'configmaps "one" is forbidden: exceeded quota: q, requested: '
                                             'count/configmaps=1, used: count/configmaps=10, limited: count/configmaps=10')
    with pytest.raises(ResourceExhausted, match="exceeded quota"):
        kube.call("create", "configmaps", "ns", kube.core.create_namespaced_config_map, "ns", CONFIGMAP)


def test_conflict_and_not_found(kube):
    kube.call("create", "configmaps", "ns", kube.core.create_namespaced_config_map, "ns", CONFIGMAP)
    with pytest.raises(AlreadyExists, match="already exists"):
        kube.call("create", "configmaps", "ns", kube.core.create_namespaced_config_map, "ns", CONFIGMAP)
    with pytest.raises(NotFound, match="not found"):
        kube.call("get", "pods", "ns", kube.core.read_namespaced_pod, "nope", "ns")


def test_rejected_object_carries_the_api_message(kube, server):
    server.fail("create", "configmaps", 422, 'ConfigMap "one" is invalid: data[bad key]: Invalid value')
    with pytest.raises(FailedPrecondition, match=r"rejected create configmaps.*data\[bad key\]: Invalid value"):
        kube.call("create", "configmaps", "ns", kube.core.create_namespaced_config_map, "ns", CONFIGMAP)


def test_wrong_credentials_are_unauthenticated(server, tmp_path):
    kube = KubeClient.connect(server.write_kubeconfig(tmp_path / "kubeconfig", token="wrong"))
    with pytest.raises(Unauthenticated):
        kube.call("list", "pods", "ns", kube.core.list_namespaced_pod, "ns")


def test_unreachable_api_is_unavailable(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with FakeApiServer() as server:
        path = server.write_kubeconfig(tmp_path / "kubeconfig")
    path.write_text(path.read_text().replace(server.url, f"http://127.0.0.1:{port}"))
    kube = KubeClient(load_api_client(path, retries=0), request_timeout=2)
    with pytest.raises(Unavailable, match="cannot reach the Kubernetes API"):
        kube.call("list", "pods", "ns", kube.core.list_namespaced_pod, "ns")
