"""One way to reach the Kubernetes API, and one table from API failures to domain errors.

`load_api_client()` picks the configuration the way an operator expects:

1. an explicit kubeconfig file (argument), else
2. in-cluster configuration when running in a pod (KUBERNETES_SERVICE_HOST is set and the pod's
   service-account token is mounted), else
3. the kubeconfig named by $KUBECONFIG, else ~/.kube/config.

When none of these exists it raises `FailedPrecondition` saying what to provide. `KubeClient.call`
runs one API call and turns its failure into the domain error a caller can act on: 403 becomes
`PermissionDenied` naming the verb, resource and namespace the service account lacks; 409
`AlreadyExists`; 404 `NotFound`; 400/422 (the API server rejected the object) `FailedPrecondition`
with the API's own message; 429/5xx and connection failures `Unavailable`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from maestro_common.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

REQUEST_TIMEOUT_SECONDS = 30.0
"""Client-side timeout of one API request (connect + read), watches excepted."""
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
RBAC_HINT = "grant it in the chart's Role for this service (see k8s/cluster-execution.md)"

T = TypeVar("T")


def load_api_client(kubeconfig: str | os.PathLike[str] | None = None, *, context: str | None = None,
                    retries: int = 2) -> k8s.ApiClient:
    """An ApiClient configured from a kubeconfig file, the in-cluster service account, or neither (error)."""
    configuration = k8s.Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST") and SERVICE_ACCOUNT_TOKEN.exists():
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except ConfigException as error:
            raise FailedPrecondition(f"running in a pod, but the in-cluster Kubernetes configuration is "
                                     f"unusable ({error}); mount the service account token "
                                     f"(automountServiceAccountToken: true) or set KUBECONFIG") from None
    else:
        path = Path(kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
                    or Path.home() / ".kube" / "config").expanduser()
        if not path.is_file():
            raise FailedPrecondition(
                f"no Kubernetes configuration: not running in a pod (KUBERNETES_SERVICE_HOST unset or no "
                f"service-account token) and no kubeconfig at {path}; run inside the cluster, or set "
                f"KUBECONFIG to a kubeconfig file, or choose the local backend")
        try:
            k8s_config.load_kube_config(config_file=str(path), context=context,
                                        client_configuration=configuration)
        except (ConfigException, OSError, ValueError, TypeError) as error:
            raise FailedPrecondition(f"the kubeconfig {path} cannot be used: {error}") from None
    configuration.retries = retries
    return k8s.ApiClient(configuration)


def api_message(error: ApiException) -> str:
    """The API server's own explanation (the Status object's message), else the HTTP reason."""
    try:
        body = json.loads(error.body or "")
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except (TypeError, ValueError):
        pass
    return f"HTTP {error.status} {error.reason or ''}".strip()


def domain_error(error: ApiException, verb: str, resource: str, namespace: str) -> DomainError:
    """The domain error for a failed API call `verb resource` in `namespace`."""
    message = api_message(error)
    where = f"{verb} {resource} in namespace {namespace!r}"
    status = error.status or 0
    if status == 401:
        return Unauthenticated(f"the Kubernetes API refused the credentials for {where}: {message}")
    if status == 403 and "exceeded quota" in message:
        return ResourceExhausted(f"Kubernetes quota forbids {where}: {message}")
    if status == 403:
        return PermissionDenied(f"Kubernetes RBAC forbids {where} for this service account: {message}; "
                                f"{RBAC_HINT}")
    if status == 404:
        return NotFound(f"{where}: not found ({message}); is the namespace right and the CRD installed?")
    if status == 409:
        return AlreadyExists(f"{where}: conflict ({message})")
    if status in (400, 422):
        return FailedPrecondition(f"the Kubernetes API rejected {where}: {message}")
    return Unavailable(f"the Kubernetes API failed {where}: {message}; retrying may help")


class KubeClient:
    """The core and custom-object APIs over one ApiClient, each call mapped to domain errors."""

    def __init__(self, api_client: k8s.ApiClient, *, request_timeout: float = REQUEST_TIMEOUT_SECONDS):
        self.api_client = api_client
        self.core = k8s.CoreV1Api(api_client)
        self.custom = k8s.CustomObjectsApi(api_client)
        self.request_timeout = request_timeout

    @classmethod
    def connect(cls, kubeconfig: str | os.PathLike[str] | None = None, **kwargs: Any) -> KubeClient:
        """A client from `load_api_client(kubeconfig)`."""
        return cls(load_api_client(kubeconfig), **kwargs)

    def call(self, verb: str, resource: str, namespace: str, fn: Callable[..., T], *args: Any,
             **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)` (a generated API method); failures become domain errors."""
        kwargs.setdefault("_request_timeout", self.request_timeout)
        try:
            return fn(*args, **kwargs)
        except ApiException as error:
            raise domain_error(error, verb, resource, namespace) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise Unavailable(f"cannot reach the Kubernetes API to {verb} {resource} in namespace "
                              f"{namespace!r}: {error}") from None

    def delete_quietly(self, resource: str, namespace: str, fn: Callable[..., Any], *args: Any,
                       **kwargs: Any) -> bool:
        """Delete something that may already be gone; True if this call deleted it."""
        try:
            self.call("delete", resource, namespace, fn, *args, **kwargs)
            return True
        except NotFound:
            return False

    def close(self) -> None:
        self.api_client.close()
