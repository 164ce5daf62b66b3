"""FakeApiServer: a test double of the Kubernetes API server, for the client paths this project uses.

No real API server can run in the test environment, so this small `http.server` on 127.0.0.1
(port 0) speaks the REST paths that the `kubernetes` Python client calls for pods (create, read,
list, watch, delete), pods/log, configmaps (create, list, delete) and custom objects
(ray.io/v1 rayjobs: create, read, list, delete), with the API server's JSON `Status` errors. It is
a test double, never used by product code. What it does NOT do: admission, schema validation,
defaulting, RBAC evaluation (403s are scripted), garbage collection, resourceVersion conflicts on
update.

Behaviours are scripted:
* `fail(verb, resource, status, message)` makes the next matching call fail (403 Forbidden,
  409 Conflict, 422 Invalid ...);
* `pod_script` decides what the fake kubelet does with each created pod: `FakeKubelet.run_for_real`
  executes the pod's command on this machine (its configMap and emptyDir volumes laid out in
  temporary directories, as an unprivileged user when the tests run as root) and reports its
  output as the pod log and its exit code as the container's termination; `oom_killed`,
  `image_pull_backoff`, `deadline_exceeded` and `unschedulable` script the pod statuses a real
  kubelet or scheduler would report;
* `set_status(resource, name, status)` moves a custom object (a RayJob) along as an operator would.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

TOKEN = "fake-token-for-tests"
_CORE = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<res>pods|configmaps)(?:/(?P<name>[^/]+))?"
                   r"(?:/(?P<sub>log))?$")
_CUSTOM = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<res>[^/]+)"
                     r"(?:/(?P<name>[^/]+))?$")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def _matches(obj: dict, label_selector: str, field_selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, label_selector.split(",")):
        if "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    for term in filter(None, field_selector.split(",")):
        key, value = term.split("=", 1)
        if key == "metadata.name" and obj["metadata"]["name"] != value:
            return False
    return True


class FakeApiServer:
    """The API server double; use as a context manager, point a kubeconfig at it with `write_kubeconfig`."""

    def __init__(self, pod_script: Callable[[FakeApiServer, dict], None] | None = None):
        self.objects: dict[tuple[str, str], dict[str, dict]] = {}  # (namespace, resource) -> name -> object
        self.logs: dict[tuple[str, str], bytes] = {}
        self.events: list[tuple[int, str, str, str, dict]] = []  # (rv, type, namespace, resource, object)
        self.requests: list[tuple[str, str]] = []  # (method, path) in arrival order
        self.rights_used: set[tuple[str, str, str]] = set()  # RBAC (apiGroup, resource, verb) of every request
        self.failures: list[tuple[str, str, int, str]] = []
        self.pod_script = pod_script
        self._rv = 0
        self._lock = threading.Condition()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # ----- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> FakeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            self._lock.notify_all()

    def write_kubeconfig(self, path: Path, *, token: str = TOKEN, namespace: str = "default") -> Path:
        """A kubeconfig whose only context points at this server with a bearer token."""
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}],
        }
        path.write_text(json.dumps(config))
        return path

    # ----- scripting -----------------------------------------------------------------------------

    def fail(self, verb: str, resource: str, status: int, message: str) -> None:
        """The next `verb` ("create", "get", "list", "watch", "delete", "log") on `resource` fails so."""
        with self._lock:
            self.failures.append((verb, resource, status, message))

    def rules_used(self) -> list[dict]:
        """The RBAC rules that exactly cover the requests seen so far (one rule per resource, verbs sorted)."""
        with self._lock:
            used = sorted(self.rights_used)
        rules: dict[tuple[str, str], list[str]] = {}
        for group, resource, verb in used:
            rules.setdefault((group, resource), []).append(verb)
        return [{"apiGroups": [group], "resources": [resource], "verbs": sorted(verbs)}
                for (group, resource), verbs in sorted(rules.items())]

    def get(self, namespace: str, resource: str, name: str) -> dict | None:
        with self._lock:
            obj = self.objects.get((namespace, resource), {}).get(name)
            return copy.deepcopy(obj)

    def names(self, namespace: str, resource: str) -> list[str]:
        with self._lock:
            return sorted(self.objects.get((namespace, resource), {}))

    def put(self, namespace: str, resource: str, obj: dict) -> dict:
        """Store `obj` as if created (no scripted failure, no kubelet), for sweeper tests."""
        with self._lock:
            return self._store("ADDED", namespace, resource, obj)

    def set_status(self, namespace: str, resource: str, name: str, status: dict) -> None:
        """Replace an object's status (as a kubelet or an operator would) and notify watchers."""
        with self._lock:
            obj = self.objects[(namespace, resource)][name]
            obj["status"] = copy.deepcopy(status)
            self._store("MODIFIED", namespace, resource, obj)

    def set_log(self, namespace: str, name: str, data: bytes) -> None:
        with self._lock:
            self.logs[(namespace, name)] = data

    # ----- storage -------------------------------------------------------------------------------

    def _store(self, kind: str, namespace: str, resource: str, obj: dict) -> dict:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self.objects.setdefault((namespace, resource), {})[obj["metadata"]["name"]] = obj
        self.events.append((self._rv, kind, namespace, resource, copy.deepcopy(obj)))
        self._lock.notify_all()
        return copy.deepcopy(obj)

    def _delete(self, namespace: str, resource: str, name: str) -> dict | None:
        obj = self.objects.get((namespace, resource), {}).pop(name, None)
        if obj is not None:
            self._rv += 1
            self.events.append((self._rv, "DELETED", namespace, resource, copy.deepcopy(obj)))
            self._lock.notify_all()
        return obj

    def _take_failure(self, verb: str, resource: str) -> tuple[int, str] | None:
        for index, (v, r, status, message) in enumerate(self.failures):
            if v == verb and r == resource:
                del self.failures[index]
                return status, message
        return None

    # ----- HTTP ----------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server._dispatch(self, "GET")

            def do_POST(self) -> None:
                server._dispatch(self, "POST")

            def do_DELETE(self) -> None:
                server._dispatch(self, "DELETE")

        return Handler

    def _reply(self, handler: BaseHTTPRequestHandler, code: int, body: dict | bytes,
               content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(handler.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        with self._lock:
            self.requests.append((method, url.path))
        if handler.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._reply(handler, 401, _status(401, "Unauthorized", "Unauthorized"))
            return
        match = _CORE.match(url.path) or _CUSTOM.match(url.path)
        if match is None:
            self._reply(handler, 404, _status(404, "NotFound", f"the server could not find {url.path}"))
            return
        namespace, resource, name = match["ns"], match["res"], match["name"]
        sub = match.groupdict().get("sub")
        body = None
        if method == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            body = json.loads(handler.rfile.read(length) or b"{}")
        verb = {"POST": "create", "DELETE": "delete"}.get(method) or (
            "log" if sub else "watch" if query.get("watch") in ("true", "1", "True")
            else "get" if name else "list")
        with self._lock:
            group = match.groupdict().get("group") or ""
            self.rights_used.add((group, f"{resource}/log" if verb == "log" else resource,
                                  "get" if verb == "log" else verb))
            failure = self._take_failure(verb, resource)
        if failure is not None:
            status, message = failure
            reason = {403: "Forbidden", 404: "NotFound", 409: "AlreadyExists", 422: "Invalid"}.get(status, "Error")
            self._reply(handler, status, _status(status, reason, message))
            return
        if verb == "watch":
            self._watch(handler, namespace, resource, query)
            return
        with self._lock:
            code, reply = self._act(verb, namespace, resource, name, body, query)
        if verb == "log" and code == 200:
            self._reply(handler, 200, reply, "text/plain")
        else:
            self._reply(handler, code, reply)
        if verb == "create" and resource == "pods" and code == 201 and self.pod_script is not None:
            threading.Thread(target=self.pod_script, args=(self, reply), daemon=True).start()

    def _act(self, verb: str, namespace: str, resource: str, name: str | None, body: dict | None,
             query: dict) -> tuple[int, dict | bytes]:
        bucket = self.objects.get((namespace, resource), {})
        kind = resource[:-1].capitalize() if resource != "configmaps" else "ConfigMap"
        if verb == "create":
            meta = body.setdefault("metadata", {})
            if meta.get("name") in bucket:
                return 409, _status(409, "AlreadyExists", f'{resource} "{meta["name"]}" already exists')
            meta.update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=_now())
            if resource == "pods":
                body["status"] = {"phase": "Pending"}
            return 201, self._store("ADDED", namespace, resource, body)
        if verb == "list":
            items = [copy.deepcopy(obj) for obj in bucket.values()
                     if _matches(obj, query.get("labelSelector", ""), query.get("fieldSelector", ""))]
            return 200, {"kind": f"{kind}List", "apiVersion": "v1", "items": items,
                         "metadata": {"resourceVersion": str(self._rv)}}
        if name not in bucket:
            return 404, _status(404, "NotFound", f'{resource} "{name}" not found')
        if verb == "get":
            return 200, copy.deepcopy(bucket[name])
        if verb == "log":
            data = self.logs.get((namespace, name), b"")
            limit = int(query.get("limitBytes") or 0)
            return 200, data[:limit] if limit else data
        deleted = self._delete(namespace, resource, name)
        if resource == "configmaps":  # the API server answers a Status for these, the object for the others
            return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                         "details": {"name": name, "kind": resource}}
        return 200, deleted

    def _watch(self, handler: BaseHTTPRequestHandler, namespace: str, resource: str, query: dict) -> None:
        """Stream JSON watch events (one per line) until timeoutSeconds or the client goes away."""
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 30)
        selectors = query.get("labelSelector", ""), query.get("fieldSelector", "")
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.close_connection = True
        with self._lock:
            if query.get("resourceVersion"):
                seen = int(query["resourceVersion"])
                pending = []
            else:
                seen = self._rv
                pending = [("ADDED", copy.deepcopy(obj)) for obj in self.objects.get((namespace, resource), {}).values()]
        try:
            while True:
                for kind, obj in pending:
                    if _matches(obj, *selectors):
                        line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
                        handler.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                        handler.wfile.flush()
                with self._lock:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        handler.wfile.write(b"0\r\n\r\n")
                        return
                    if self._rv <= seen:
                        self._lock.wait(min(remaining, 0.5))
                    pending = [(kind, obj) for rv, kind, ns, res, obj in self.events
                               if rv > seen and ns == namespace and res == resource]
                    seen = self._rv
        except (BrokenPipeError, ConnectionResetError):
            return


class FakeKubelet:
    """Pod scripts for `FakeApiServer(pod_script=...)`: what a kubelet or scheduler would report."""

    @staticmethod
    def run_for_real(server: FakeApiServer, pod: dict) -> None:
        """Run the pod's one container here: its volumes in temporary directories, its output as the log."""
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]
        root = Path(tempfile.mkdtemp(prefix="fake-kubelet-"))
        os.chmod(root, 0o755)
        try:
            mounts = FakeKubelet._lay_out_volumes(server, namespace, pod, root)
            command = container["command"] + container.get("args", [])  # the image's interpreter is this one
            argv = command[:1] + [FakeKubelet._remap(arg, mounts) for arg in command[1:]]
            server.set_status(namespace, "pods", name, {"phase": "Running", "startTime": _now(),
                                                        "containerStatuses": [_running(container["name"])]})
            uid = (pod["spec"].get("securityContext") or {}).get("runAsUser", 65532)
            if os.geteuid() == 0:  # run as the pod's non-root uid (a user namespace keeps the interpreter reachable)
                argv = ["unshare", "--user", f"--map-user={uid}", f"--map-group={uid}", "--", *argv]
            done = subprocess.run(argv, cwd=FakeKubelet._remap(container.get("workingDir", "/"), mounts),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={"LANG": "C.UTF-8"},
                                  timeout=pod["spec"].get("activeDeadlineSeconds", 60))
            server.set_log(namespace, name, done.stdout)
            phase = "Succeeded" if done.returncode == 0 else "Failed"
            server.set_status(namespace, "pods", name, {
                "phase": phase, "containerStatuses": [_terminated(container["name"], done.returncode,
                                                                  "Completed" if phase == "Succeeded" else "Error")]})
        except subprocess.TimeoutExpired:  # what the kubelet does at activeDeadlineSeconds
            FakeKubelet.deadline_exceeded(server, pod)
        except KeyError:  # the pod was deleted while it ran
            pass
        finally:
            shutil.rmtree(root, ignore_errors=True)

    @staticmethod
    def _lay_out_volumes(server: FakeApiServer, namespace: str, pod: dict, root: Path) -> dict[str, str]:
        volumes = {volume["name"]: volume for volume in pod["spec"].get("volumes", [])}
        mounts = {}
        for mount in pod["spec"]["containers"][0].get("volumeMounts", []):
            target = root / mount["name"]
            target.mkdir(mode=0o777)
            os.chmod(target, 0o777)
            volume = volumes[mount["name"]]
            if "configMap" in volume:
                configmap = server.get(namespace, "configmaps", volume["configMap"]["name"])
                data = configmap["data"]
                for item in volume["configMap"].get("items") or [{"key": k, "path": k} for k in data]:
                    path = target / item["path"]
                    path.parent.mkdir(parents=True, exist_ok=True)
                    os.chmod(path.parent, 0o755)
                    path.write_text(data[item["key"]])
                    os.chmod(path, 0o444)
                os.chmod(target, 0o555)
            mounts[mount["mountPath"]] = str(target)
        return mounts

    @staticmethod
    def _remap(arg: str, mounts: dict[str, str]) -> str:
        for mount_path, local in sorted(mounts.items(), key=lambda item: -len(item[0])):
            if arg == mount_path or arg.startswith(mount_path + "/"):
                return local + arg[len(mount_path):]
        return arg

    @staticmethod
    def oom_killed(server: FakeApiServer, pod: dict) -> None:
        """The container is killed by the memory cgroup: reason OOMKilled, exit 137, no report."""
        name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
        container = pod["spec"]["containers"][0]["name"]
        time.sleep(0.1)
        server.set_log(namespace, name, b"")
        server.set_status(namespace, "pods", name, {"phase": "Failed",
                                                    "containerStatuses": [_terminated(container, 137, "OOMKilled")]})

    @staticmethod
    def image_pull_backoff(server: FakeApiServer, pod: dict) -> None:
        """The image cannot be pulled: the pod stays Pending with ImagePullBackOff."""
        name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
        container = pod["spec"]["containers"][0]
        time.sleep(0.1)
        message = f'Back-off pulling image "{container["image"]}"'
        server.set_status(namespace, "pods", name, {"phase": "Pending", "containerStatuses": [
            {"name": container["name"], "ready": False, "restartCount": 0, "image": container["image"],
             "imageID": "", "state": {"waiting": {"reason": "ImagePullBackOff", "message": message}}}]})

    @staticmethod
    def unschedulable(server: FakeApiServer, pod: dict) -> None:
        """No node fits: the pod stays Pending with a PodScheduled=False condition."""
        name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
        time.sleep(0.1)
        server.set_status(namespace, "pods", name, {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/3 nodes are available: 3 Insufficient memory."}]})

    @staticmethod
    def never_scheduled(server: FakeApiServer, pod: dict) -> None:
        """Nothing ever happens to the pod (no scheduler, no kubelet)."""

    @staticmethod
    def deadline_exceeded(server: FakeApiServer, pod: dict) -> None:
        """activeDeadlineSeconds passed: the kubelet kills the pod, phase Failed, reason DeadlineExceeded."""
        name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
        container = pod["spec"]["containers"][0]["name"]
        time.sleep(0.1)
        server.set_status(namespace, "pods", name, {
            "phase": "Failed", "reason": "DeadlineExceeded",
            "message": "Pod was active on the node longer than the specified deadline",
            "containerStatuses": [_terminated(container, 137, "Error")]})


def _running(container: str) -> dict:
    return {"name": container, "ready": True, "restartCount": 0, "image": "", "imageID": "",
            "state": {"running": {"startedAt": _now()}}}


def _terminated(container: str, exit_code: int, reason: str) -> dict:
    return {"name": container, "ready": False, "restartCount": 0, "image": "", "imageID": "",
            "state": {"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": _now(),
                                     "finishedAt": _now()}}}
