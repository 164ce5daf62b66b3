"""Cluster-native execution through the Kubernetes API.

`client` reaches the API (in-cluster configuration or a kubeconfig) and maps its failures to domain
errors; `rayjob` builds, submits, mirrors and cancels KubeRay RayJobs for skill training. The pod
sandbox of generated code lives in the codegen service (`codegen.sandbox_pod`) on top of `client`.
"""

from maestro_common.kube.client import KubeClient, load_api_client

__all__ = ["KubeClient", "load_api_client"]
