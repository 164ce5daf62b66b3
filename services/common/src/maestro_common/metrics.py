"""Prometheus metrics: the standard grpc_server_* family, and the interceptor that records them.

The same interceptor maps domain errors to gRPC status codes (the one table lives in
`maestro_common.errors`), so what a caller sees and what the metrics count always agree.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from maestro_common.errors import DomainError, InvalidArgument, status_name

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class GrpcServerMetrics:
    """grpc_server_* metrics with the label names of go-grpc-prometheus, on an injected registry."""

    def __init__(self, registry: CollectorRegistry):
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter("grpc_server_started_total", "RPCs started on the server.", labels, registry=registry)
        self.handled = Counter(
            "grpc_server_handled_total", "RPCs completed on the server, by status code.",
            labels + ["grpc_code"], registry=registry,
        )
        self.msg_received = Counter(
            "grpc_server_msg_received_total", "Messages received by the server.", labels, registry=registry
        )
        self.msg_sent = Counter("grpc_server_msg_sent_total", "Messages sent by the server.", labels, registry=registry)
        self.handling_seconds = Histogram(
            "grpc_server_handling_seconds", "Time from RPC start to completion on the server.",
            labels, buckets=LATENCY_BUCKETS, registry=registry,
        )


class _ObservedCall:
    """Context manager around one RPC: counts it, times it, and maps an escaping error to a status."""

    def __init__(self, metrics: GrpcServerMetrics, labels: tuple[str, str, str], context: grpc.ServicerContext):
        self.metrics, self.labels, self.context = metrics, labels, context

    def __enter__(self) -> "_ObservedCall":
        self.metrics.started.labels(*self.labels).inc()
        if self.labels[0] in ("unary", "server_stream"):
            self.metrics.msg_received.labels(*self.labels).inc()
        self.start = time.perf_counter()
        return self

    def sent(self) -> None:
        self.metrics.msg_sent.labels(*self.labels).inc()

    def __exit__(self, exc_type, error, traceback) -> bool:
        if error is None:
            code, message = _code_of(self.context), None
        elif isinstance(error, GeneratorExit):
            code, message = "CANCELLED", None
        else:
            code, message = _classify(self.context, error)
        self.metrics.handled.labels(*self.labels, code).inc()
        self.metrics.handling_seconds.labels(*self.labels).observe(time.perf_counter() - self.start)
        if message is not None:
            self.context.abort(grpc.StatusCode[code], message)  # raises
        return False


class ServerInterceptor(grpc.ServerInterceptor):
    """Records grpc_server_* metrics and turns DomainError into the mapped status code."""

    def __init__(self, metrics: GrpcServerMetrics):
        self.metrics = metrics

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        service, _, method = handler_call_details.method.lstrip("/").partition("/")
        parse = handler.request_deserializer
        if handler.unary_unary:
            behavior = _parsing(handler.unary_unary, parse, method)
            return handler._replace(unary_unary=self._unary(behavior, ("unary", service, method)),
                                    request_deserializer=None)
        if handler.unary_stream:
            behavior = _parsing(handler.unary_stream, parse, method)
            streaming = self._streaming(behavior, ("server_stream", service, method))
            return handler._replace(unary_stream=streaming, request_deserializer=None)
        if handler.stream_unary:
            return handler._replace(stream_unary=self._unary(handler.stream_unary, ("client_stream", service, method)))
        return handler._replace(stream_stream=self._streaming(handler.stream_stream, ("bidi_stream", service, method)))

    def _unary(self, behavior: Callable, labels: tuple[str, str, str]) -> Callable:
        def wrapper(request, context):
            with _ObservedCall(self.metrics, labels, context) as call:
                response = behavior(request, context)
                call.sent()
                return response

        return wrapper

    def _streaming(self, behavior: Callable, labels: tuple[str, str, str]) -> Callable:
        def wrapper(request, context):
            with _ObservedCall(self.metrics, labels, context) as call:
                for response in behavior(request, context):
                    call.sent()
                    yield response

        return wrapper


def _parsing(behavior: Callable, parse: Callable | None, method: str) -> Callable:
    """`behavior` taking the raw request bytes: bytes that are not a valid request answer INVALID_ARGUMENT
    (gRPC itself would answer INTERNAL "Exception deserializing request!")."""
    if parse is None:
        return behavior

    def parsed(raw, context):
        try:
            request = parse(raw)
        except Exception as error:  # noqa: BLE001 - any parse failure is the caller's malformed request
            raise InvalidArgument("request", f"not a valid {method} request message ({error}); build it with "
                                             "stubs generated from this service's .proto") from None
        return behavior(request, context)

    return parsed


def _code_of(context: grpc.ServicerContext) -> str:
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else "OK"


def _classify(context: grpc.ServicerContext, error: Exception) -> tuple[str, str | None]:
    """The status name and message for `error`; message None when the servicer already aborted."""
    already = context.code()
    if isinstance(already, grpc.StatusCode) and already != grpc.StatusCode.OK:
        return already.name, None
    if isinstance(error, DomainError):
        return status_name(error), error.message
    log.exception("unhandled error in RPC")
    return "INTERNAL", f"internal error ({type(error).__name__}: {error}); see the service log"
