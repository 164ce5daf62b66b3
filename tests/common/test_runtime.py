"""serve(): health until ready, error mapping, metrics, and SIGTERM/settings behaviour of a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from maestro.codegen.v1 import codegen_pb2, codegen_pb2_grpc
from maestro_common import errors
from maestro_common.catalog import service_info
from maestro_common.runtime import Built, Service, serve
from maestro_common.settings import ServiceSettings


class RaisingCodegenForTest(codegen_pb2_grpc.CodegenServiceServicer):
    """Test double: ValidateCode raises the error class named in request.code ("crash" = RuntimeError)."""

    def ValidateCode(self, request, context):
        if request.code == "ok":
            return codegen_pb2.ValidateCodeResponse(valid=True)
        if request.code == "crash":
            raise RuntimeError("boom")
        if request.code == "InvalidArgument":
            raise errors.InvalidArgument("code", "bad")
        raise getattr(errors, request.code)(f"raised {request.code}")


def _service(warmup=None) -> Service:
    return Service(info=service_info("codegen"), settings_cls=ServiceSettings,
                   add_servicer=codegen_pb2_grpc.add_CodegenServiceServicer_to_server,
                   build=lambda ctx: Built(servicer=RaisingCodegenForTest(), warmup=warmup))


def _settings(tmp_path) -> ServiceSettings:
    return ServiceSettings(grpc_host="127.0.0.1", grpc_port=0, metrics_port=0, data_dir=tmp_path / "data",
                           artifact_root=str(tmp_path / "artifacts"), shutdown_grace_seconds=1)


def _health(address: str, service: str = "") -> int:
    with grpc.insecure_channel(address) as channel:
        request = health_pb2.HealthCheckRequest(service=service)
        return health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status


def test_not_serving_until_warmup_returns(tmp_path):
    release = threading.Event()
    running = serve(_service(warmup=lambda: release.wait(10)), _settings(tmp_path))
    try:
        assert _health(running.address) == health_pb2.HealthCheckResponse.NOT_SERVING
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        assert _health(running.address, "maestro.codegen.v1.CodegenService") == not_serving
        release.set()
        assert running.ready.wait(10)
        assert _health(running.address) == health_pb2.HealthCheckResponse.SERVING
    finally:
        running.stop(0.5)
    # After shutdown nothing answers as SERVING any more.
    with pytest.raises(grpc.RpcError):
        _health(running.address)


@pytest.mark.parametrize("name, expected", [
    ("InvalidArgument", grpc.StatusCode.INVALID_ARGUMENT),
    ("NotFound", grpc.StatusCode.NOT_FOUND),
    ("FailedPrecondition", grpc.StatusCode.FAILED_PRECONDITION),
    ("CorruptArtifact", grpc.StatusCode.DATA_LOSS),
    ("ResourceExhausted", grpc.StatusCode.RESOURCE_EXHAUSTED),
    ("Unimplemented", grpc.StatusCode.UNIMPLEMENTED),
    ("crash", grpc.StatusCode.INTERNAL),
])
def test_domain_errors_map_to_status_codes_and_metrics(tmp_path, name, expected):
    running = serve(_service(), _settings(tmp_path))
    try:
        assert running.ready.wait(10)
        with grpc.insecure_channel(running.address) as channel:
            stub = codegen_pb2_grpc.CodegenServiceStub(channel)
            assert stub.ValidateCode(codegen_pb2.ValidateCodeRequest(code="ok"), timeout=5).valid
            with pytest.raises(grpc.RpcError) as error:
                stub.ValidateCode(codegen_pb2.ValidateCodeRequest(code=name), timeout=5)
        assert error.value.code() == expected
        assert error.value.details()
        if name == "InvalidArgument":
            assert error.value.details().startswith("code:")
        text = urllib.request.urlopen(f"http://127.0.0.1:{running.metrics_port}/metrics", timeout=5).read().decode()
        method = 'grpc_method="ValidateCode",grpc_service="maestro.codegen.v1.CodegenService",grpc_type="unary"'
        assert f'grpc_server_handled_total{{grpc_code="OK",{method}}} 1.0' in text
        assert f'grpc_server_handled_total{{grpc_code="{expected.name}",{method}}} 1.0' in text
        assert "grpc_server_handling_seconds_bucket" in text
        assert 'maestro_codegen_jobs{state="QUEUED"} 0.0' in text
    finally:
        running.stop(0.5)


def _spawn_service(tmp_path, **env):
    environment = dict(os.environ, MAESTRO_HOME=str(tmp_path), MAESTRO_GRPC_HOST="127.0.0.1",
                       MAESTRO_GRPC_PORT="0", MAESTRO_METRICS_PORT="-1", **env)
    return subprocess.Popen([sys.executable, "-m", "evaluator"], env=environment, stderr=subprocess.PIPE, text=True)


def test_process_logs_json_and_stops_gracefully_on_sigterm(tmp_path):
    process = _spawn_service(tmp_path)
    try:
        port = None
        for line in process.stderr:
            entry = json.loads(line)
            assert entry["service"] == "evaluator" and "ts" in entry and "level" in entry
            if entry["msg"] == "listening":
                port = entry["grpc_port"]
            if entry["msg"] == "serving":
                break
        assert port and _health(f"127.0.0.1:{port}") == health_pb2.HealthCheckResponse.SERVING
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert any(json.loads(line)["msg"] == "shutting down" for line in process.stderr.read().splitlines())
    finally:
        if process.poll() is None:
            process.kill()


def test_bad_setting_fails_at_start_with_an_actionable_message(tmp_path):
    process = _spawn_service(tmp_path, MAESTRO_MAX_CONCURRENT_JOBS="lots")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "MAESTRO_MAX_CONCURRENT_JOBS='lots'" in stderr and "valid integer" in stderr
