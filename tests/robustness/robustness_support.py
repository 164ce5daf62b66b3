"""Shared helpers of the robustness tests: service processes, job waits, free ports (test code only)."""

from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc

from maestro.common.v1 import common_pb2
from maestro_common.catalog import SERVICES, ServiceInfo

TERMINAL = (common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED,
            common_pb2.JOB_STATE_INTERRUPTED)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def info_of(package: str) -> ServiceInfo:
    return next(info for info in SERVICES if info.package == package)


def pb2_of(info: ServiceInfo):
    """The generated `_pb2` module that defines `info`'s gRPC service."""
    area = info.grpc_service.split(".")[1]
    return importlib.import_module(f"maestro.{area}.v1.{area}_pb2")


def stub_of(info: ServiceInfo, channel: grpc.Channel):
    area = info.grpc_service.split(".")[1]
    module = importlib.import_module(f"maestro.{area}.v1.{area}_pb2_grpc")
    return getattr(module, info.grpc_service.rsplit(".", 1)[1] + "Stub")(channel)


class ServiceProcess:
    """`python -m <package>` as a child process on 127.0.0.1:<port>, state under `home`; killed by pid."""

    def __init__(self, package: str, home: Path, *, port: int | None = None, env: dict[str, str] | None = None,
                 wrapper: list[str] | None = None):
        self.package, self.home = package, Path(home)
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.wrapper = list(wrapper or [])
        self.process: subprocess.Popen | None = None
        self.log_path = self.home / f"{package}.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> ServiceProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, MAESTRO_HOME=str(self.home), MAESTRO_GRPC_HOST="127.0.0.1",
                   MAESTRO_GRPC_PORT=str(self.port), MAESTRO_METRICS_PORT="-1", MAESTRO_LOG_LEVEL="INFO",
                   **self.extra_env)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.wrapper + [sys.executable, "-m", self.package], env=env,
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def wait_serving(self, timeout: float = 120.0) -> None:
        from maestro_common.client import wait_until_serving

        try:
            wait_until_serving(self.address, timeout=timeout)
        except TimeoutError as error:
            raise AssertionError(f"{self.package} did not become SERVING: {error}\n{self.log_tail()}") from None

    def kill9(self) -> None:
        """SIGKILL by pid, then reap it."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def log_tail(self, n_bytes: int = 3000) -> str:
        try:
            return self.log_path.read_bytes()[-n_bytes:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"


def get_job(stub, pb2, job_id: str) -> common_pb2.Job:
    return stub.GetJob(pb2.GetJobRequest(job_id=job_id), timeout=10).job


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll `predicate()` until it returns something truthy; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def wait_terminal(stub, pb2, job_id: str, timeout: float = 240.0) -> common_pb2.Job:
    def done():
        job = get_job(stub, pb2, job_id)
        return job if job.state in TERMINAL else None

    return wait_until(done, timeout, f"job {job_id} to end", interval=0.2)
