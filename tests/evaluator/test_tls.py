"""TLS on the evaluator's port, with a self-signed certificate made by openssl for the test."""

from __future__ import annotations

import inspect
import shutil
import subprocess

import grpc
import pytest

from maestro_common import runtime
from maestro_common.evaluator_client import EvaluatorClient

TOKEN = "tls-test-token"
RUNTIME_SERVES_TLS = "server_credentials" in inspect.getsource(runtime.serve)


@pytest.fixture
def certificate(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(not RUNTIME_SERVES_TLS, reason="the shared runtime does not bind with server_credentials() yet")
def test_tls_with_token(start_service, certificate, monkeypatch):
    cert, key = certificate
    monkeypatch.setenv("MAESTRO_API_TOKEN", TOKEN)
    running = start_service("evaluator", tls_cert_file=cert, tls_key_file=key)
    with EvaluatorClient(f"localhost:{running.port}", token=TOKEN, root_certificates=cert) as client:
        assert len(client.list_tasks()) == 9
    with EvaluatorClient(f"localhost:{running.port}", token=TOKEN, timeout=5) as plaintext:
        with pytest.raises(grpc.RpcError):
            plaintext.list_tasks()


def test_tls_settings_need_both_files(certificate):
    from evaluator.config import EvaluatorSettings

    cert, key = certificate
    settings = EvaluatorSettings(api_token="x", tls_cert_file=cert, tls_key_file=key)
    assert settings.server_credentials() is not None
    assert EvaluatorSettings(api_token="x").server_credentials() is None
    with pytest.raises(ValueError, match="does not exist"):
        EvaluatorSettings(api_token="x", tls_cert_file=cert, tls_key_file=cert.parent / "missing.pem")
