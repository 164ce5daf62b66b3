"""Local mode: every service on loopback, one process each, the same code as in a cluster.

`up` starts `python -m <package>` per service with MAESTRO_* variables pointing at
127.0.0.1 and one shared artifact store under $MAESTRO_HOME (the evaluator also gets a bearer
token, made once and kept in $MAESTRO_HOME/local/api-token, mode 0600), records the processes in
$MAESTRO_HOME/local/state.json and waits until each reports SERVING. `down` stops exactly the
processes it recorded (checked by command line, so a reused pid is never signalled).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc

from maestro_common.catalog import SERVICES, ServiceInfo
from maestro_common.client import health_status, wait_until_serving
from maestro_common.settings import maestro_home


@dataclass
class LocalProcess:
    name: str
    pid: int
    address: str
    metrics_port: int
    log_path: str


def state_path() -> Path:
    return maestro_home() / "local" / "state.json"


def token_path() -> Path:
    return maestro_home() / "local" / "api-token"


def api_token() -> str:
    """The evaluator's bearer token for clients: $MAESTRO_API_TOKEN, else the one local mode made."""
    if os.environ.get("MAESTRO_API_TOKEN"):
        return os.environ["MAESTRO_API_TOKEN"]
    try:
        return token_path().read_text().strip()
    except FileNotFoundError:
        return ""


def _local_token() -> str:
    """Local mode's evaluator token: made once (random, 256 bits), kept owner-readable only."""
    path = token_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
        os.replace(tmp, path)
    return path.read_text().strip()


def read_state() -> dict[str, LocalProcess]:
    try:
        data = json.loads(state_path().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return {name: LocalProcess(**entry) for name, entry in data.items()}


def _write_state(state: dict[str, LocalProcess]) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({n: asdict(p) for n, p in state.items()}, indent=2))
    os.replace(tmp, path)


def _is_our_process(proc: LocalProcess, package: str) -> bool:
    """True when `proc.pid` is alive and still runs `python -m <package>`."""
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"-m" in cmdline and package.encode() in cmdline


def service_address(info: ServiceInfo) -> str:
    """Where to reach a service: $MAESTRO_<NAME>_ADDRESS, else local mode's record, else the default port."""
    if os.environ.get(info.address_env):
        return os.environ[info.address_env]
    proc = read_state().get(info.name)
    return proc.address if proc else f"127.0.0.1:{info.grpc_port}"


def ports(info: ServiceInfo, base_port: int | None) -> tuple[int, int]:
    """(gRPC, metrics) port of a service: the catalog's defaults, or a block of ten from `base_port`
    (gRPC base..base+4, metrics base+5..base+9, in catalog order)."""
    if base_port is None:
        return info.grpc_port, info.metrics_port
    index = SERVICES.index(info)
    return base_port + index, base_port + len(SERVICES) + index


def up(*, base_port: int | None = None, timeout: float = 120.0, log=print) -> dict[str, LocalProcess]:
    """Start every service that is not already running; return the state of all five."""
    home = maestro_home()
    logs = home / "local" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    state = read_state()
    started = []
    for info in SERVICES:
        existing = state.get(info.name)
        if existing and _is_our_process(existing, info.package):
            continue
        grpc_port, metrics_port = ports(info, base_port)
        env = dict(os.environ,
                   MAESTRO_GRPC_HOST="127.0.0.1",
                   MAESTRO_GRPC_PORT=str(grpc_port),
                   MAESTRO_METRICS_PORT=str(metrics_port),
                   MAESTRO_HOME=str(home),
                   PYTHONUNBUFFERED="1")
        if info.name == "evaluator":  # the public entry point asks for a token even on loopback
            env["MAESTRO_API_TOKEN"] = _local_token()
        log_path = logs / f"{info.name}.log"
        with open(log_path, "ab") as out:
            process = subprocess.Popen([sys.executable, "-m", info.package], env=env, stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        state[info.name] = LocalProcess(info.name, process.pid, f"127.0.0.1:{grpc_port}", metrics_port,
                                        str(log_path))
        started.append(info)
    _write_state(state)
    for info in started:
        try:
            wait_until_serving(state[info.name].address, timeout=timeout)
        except TimeoutError as error:
            raise RuntimeError(f"{info.name} did not start: {error}. Its log: {state[info.name].log_path}") from None
        log(f"  {info.name:15} SERVING on {state[info.name].address}")
    return state


def down(*, timeout: float = 30.0, log=print) -> None:
    """SIGTERM every recorded service process, SIGKILL after `timeout`, and forget them."""
    state = read_state()
    packages = {info.name: info.package for info in SERVICES}
    alive = [p for p in state.values() if _is_our_process(p, packages.get(p.name, ""))]
    for proc in alive:
        os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in alive:
        while _is_our_process(proc, packages[proc.name]) and time.monotonic() < deadline:
            _reap(proc.pid)
            time.sleep(0.1)
        if _is_our_process(proc, packages[proc.name]):
            os.kill(proc.pid, signal.SIGKILL)
        log(f"  {proc.name:15} stopped (pid {proc.pid})")
    _write_state({})


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status() -> list[tuple[str, str, str, str]]:
    """(service, address, health, pid or '-') for all five services."""
    state = read_state()
    rows = []
    for info in SERVICES:
        address = service_address(info)
        with grpc.insecure_channel(address) as channel:
            health = health_status(channel, info.grpc_service)
        proc = state.get(info.name)
        pid = str(proc.pid) if proc and _is_our_process(proc, info.package) else "-"
        rows.append((info.name, address, health, pid))
    return rows
