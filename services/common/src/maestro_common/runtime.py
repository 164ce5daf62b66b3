"""`serve()`: the one way every service runs, in a cluster pod and in local mode alike.

A service describes itself with a `Service` (its catalog entry, how to add its servicer to a
server, and a `build` function that gets a `ServiceContext`); `serve` does the rest:
settings, JSON logs, Prometheus registry and exporter, the interceptor that maps domain errors
to status codes, the gRPC health service (NOT_SERVING until the service is ready), reflection,
the persistent job runner, and graceful shutdown on SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily

from maestro_common.artifacts import ArtifactStore
from maestro_common.catalog import ServiceInfo
from maestro_common.errors import Unavailable
from maestro_common.jobs.runner import HandlerSpec, JobRunner
from maestro_common.jobs.store import JobRecord, JobState, JobStore
from maestro_common.logs import configure_logging
from maestro_common.metrics import GrpcServerMetrics, ServerInterceptor
from maestro_common.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass
class ServiceContext:
    """What a service's `build` function gets: its settings and the shared facilities."""

    info: ServiceInfo
    settings: ServiceSettings
    registry: CollectorRegistry
    artifacts: ArtifactStore
    jobs: JobStore
    runner: JobRunner | None = None
    """Set by `serve` once the handlers are known; servicers submit jobs through `submit`."""

    def submit(self, kind: str, request: bytes, *, request_id: str | None = None) -> JobRecord:
        """Queue a job of `kind` (idempotent per request_id) and return its record."""
        if self.runner is None:
            raise Unavailable(f"{self.info.name} is still starting; retry in a moment")
        return self.runner.submit(kind, request, request_id=request_id)


@dataclass
class Built:
    """What `build` returns: the servicer, its job handlers, and an optional warm-up."""

    servicer: Any
    handlers: dict[str, HandlerSpec] = field(default_factory=dict)
    warmup: Callable[[], None] | None = None
    """Runs in the background after the port opens; health stays NOT_SERVING until it returns."""


@dataclass
class Service:
    info: ServiceInfo
    settings_cls: type[ServiceSettings]
    add_servicer: Callable[[Any, grpc.Server], None]
    """The generated add_<Name>Servicer_to_server function."""
    build: Callable[[ServiceContext], Built]


class JobStateCollector:
    """Exports `<prefix>_jobs{state}`: how many jobs are in each state, read from the store on scrape."""

    def __init__(self, prefix: str, store: JobStore):
        self.prefix, self.store = prefix, store

    def collect(self):
        family = GaugeMetricFamily(f"{self.prefix}_jobs", "Jobs in the job store, by state.", labels=["state"])
        counts = self.store.count_by_state()
        for state in JobState:
            family.add_metric([state.value], counts.get(state, 0))
        yield family


class RunningService:
    """A started service: its bound ports and the means to stop it."""

    def __init__(self, server: grpc.Server, port: int, metrics_port: int | None, runner: JobRunner,
                 health_servicer: health.HealthServicer, info: ServiceInfo, grace: float, http=None):
        self.server, self.port, self.metrics_port = server, port, metrics_port
        self.runner, self.health, self.info, self.grace = runner, health_servicer, info, grace
        self._http = http
        self._stopped = threading.Event()
        self.ready = threading.Event()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, grace: float | None = None) -> None:
        """Graceful stop: NOT_SERVING, stop taking jobs, let running work end, close the server."""
        if self._stopped.is_set():
            return
        grace = self.grace if grace is None else grace
        log.info("shutting down", extra={"grace_seconds": grace})
        self.health.enter_graceful_shutdown()
        self.runner.stop(timeout=grace)
        self.server.stop(grace).wait()
        if self._http is not None:
            self._http.shutdown()
        self._stopped.set()

    def wait(self) -> None:
        self._stopped.wait()


def serve(service: Service, settings: ServiceSettings | None = None, *, install_signal_handlers: bool = False,
          registry: CollectorRegistry | None = None) -> RunningService:
    """Start `service` and return at once; the caller waits or stops it."""
    info = service.info
    settings = settings or service.settings_cls()
    registry = registry or CollectorRegistry()
    data_dir = settings.resolved_data_dir(info.name)
    data_dir.mkdir(parents=True, exist_ok=True)
    jobs = JobStore(str(data_dir / "jobs.sqlite"))
    artifacts = ArtifactStore(settings.resolved_artifact_root())
    context = ServiceContext(info, settings, registry, artifacts, jobs)
    built = service.build(context)

    runner = JobRunner(jobs, built.handlers, max_concurrent=settings.max_concurrent_jobs, name=info.name,
                       on_transition=_transition_counter(info, registry))
    context.runner = runner
    registry.register(JobStateCollector(info.metric_prefix, jobs))

    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.max_rpc_workers, thread_name_prefix=info.name),
        interceptors=[ServerInterceptor(GrpcServerMetrics(registry))],
        options=options,
    )
    service.add_servicer(built.servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", info.grpc_service):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    reflection.enable_server_reflection(
        (info.grpc_service, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    # TLS when the settings carry server credentials (the evaluator's MAESTRO_TLS_*), else plaintext.
    credentials = settings.server_credentials() if hasattr(settings, "server_credentials") else None
    port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    if port == 0:
        raise SystemExit(f"{info.name}: cannot bind {settings.grpc_host}:{settings.grpc_port}; "
                         f"set MAESTRO_GRPC_PORT to a free port")
    http, metrics_port = None, None
    if settings.metrics_port >= 0:
        http, _thread = start_http_server(settings.metrics_port, addr=settings.grpc_host, registry=registry)
        metrics_port = http.server_port
    server.start()
    running = RunningService(server, port, metrics_port, runner, health_servicer, info,
                             settings.shutdown_grace_seconds, http)
    log.info("listening", extra={"grpc_port": port, "metrics_port": metrics_port,
                                 "artifact_root": settings.resolved_artifact_root(), "data_dir": str(data_dir)})

    def become_ready() -> None:
        try:
            if built.warmup is not None:
                built.warmup()
            runner.start()
        except Exception:  # noqa: BLE001 - a service that cannot warm up stays NOT_SERVING
            log.exception("warm-up failed; the service stays NOT_SERVING")
            return
        for name in ("", info.grpc_service):
            health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        running.ready.set()
        log.info("serving")

    threading.Thread(target=become_ready, name=f"{info.name}-warmup", daemon=True).start()
    if install_signal_handlers:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: threading.Thread(target=running.stop, daemon=True).start())
    return running


def main(service: Service) -> None:
    """Entry point of `python -m <package>`: load settings, log as JSON, serve until SIGTERM."""
    from maestro_common.settings import load_settings

    settings = load_settings(service.settings_cls)
    configure_logging(service.info.name, settings.log_level)
    running = serve(service, settings, install_signal_handlers=True)
    running.wait()


def _transition_counter(info: ServiceInfo, registry: CollectorRegistry) -> Callable[[str, JobState], None]:
    from prometheus_client import Counter

    counter = Counter(f"{info.metric_prefix}_job_transitions_total",
                      "Job state transitions, by job kind and new state.", ["kind", "state"], registry=registry)
    return lambda kind, state: counter.labels(kind, JobState(state).value).inc()
