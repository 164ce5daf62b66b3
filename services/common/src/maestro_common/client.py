"""Calling a MaestroMotif service: channels with deadlines and safe retries.

Retries happen only on UNAVAILABLE and RESOURCE_EXHAUSTED (gRPC's own retry policy, with
exponential backoff), so a call is never repeated after the server may have acted on it for any
other reason. Start RPCs carry a request_id, which makes even a retried start idempotent.
Unary calls get a default deadline when the caller gives none; streams do not (WatchJob may run
as long as its job).
"""

from __future__ import annotations

import json
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

DEFAULT_TIMEOUT_SECONDS = 30.0
RETRYABLE_CODES = ("UNAVAILABLE", "RESOURCE_EXHAUSTED")


def retry_service_config(max_attempts: int = 5, initial_backoff: float = 0.2, max_backoff: float = 5.0) -> str:
    """gRPC service config JSON that retries every method on the retryable codes only."""
    return json.dumps({
        "methodConfig": [{
            "name": [{}],
            "retryPolicy": {
                "maxAttempts": max_attempts,
                "initialBackoff": f"{initial_backoff}s",
                "maxBackoff": f"{max_backoff}s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": list(RETRYABLE_CODES),
            },
        }]
    })


class _DefaultDeadline(grpc.UnaryUnaryClientInterceptor):
    def __init__(self, timeout: float):
        self.timeout = timeout

    def intercept_unary_unary(self, continuation, client_call_details, request):
        if client_call_details.timeout is None:
            client_call_details = client_call_details._replace(timeout=self.timeout)
        return continuation(client_call_details, request)


class _CallMetadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds fixed metadata (e.g. a bearer token) to every call that does not already carry that key."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]):
        self.metadata = metadata

    def _details(self, details):
        present = {key for key, _ in (details.metadata or ())}
        extra = tuple(item for item in self.metadata if item[0] not in present)
        return details._replace(metadata=tuple(details.metadata or ()) + extra) if extra else details

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)


def with_call_metadata(channel: grpc.Channel, metadata: tuple[tuple[str, str], ...]) -> grpc.Channel:
    """`channel` with `metadata` sent on every unary and server-streaming call (none added when empty)."""
    return grpc.intercept_channel(channel, _CallMetadata(metadata)) if metadata else channel


def open_channel(address: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, max_attempts: int = 5,
                 max_message_bytes: int = 4 * 1024 * 1024) -> grpc.Channel:
    """An insecure channel to `address` (host:port) with retries and a default unary deadline."""
    channel = grpc.insecure_channel(address, options=[
        ("grpc.enable_retries", 1),
        ("grpc.service_config", retry_service_config(max_attempts)),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ])
    return grpc.intercept_channel(channel, _DefaultDeadline(timeout))


def health_status(channel: grpc.Channel, service: str = "", timeout: float = 2.0) -> str:
    """SERVING, NOT_SERVING, SERVICE_UNKNOWN, or UNREACHABLE when the server does not answer."""
    try:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout
        )
    except grpc.RpcError as error:
        return "UNREACHABLE" if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) \
            else error.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def wait_until_serving(address: str, service: str = "", timeout: float = 60.0) -> None:
    """Block until the health service at `address` reports SERVING; TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    status = "UNREACHABLE"
    with grpc.insecure_channel(address) as channel:
        while time.monotonic() < deadline:
            status = health_status(channel, service)
            if status == "SERVING":
                return
            time.sleep(0.1)
    raise TimeoutError(f"{address} did not become SERVING within {timeout:.0f}s (last status {status})")
