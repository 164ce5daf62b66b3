"""The client helper retries only UNAVAILABLE/RESOURCE_EXHAUSTED and applies a default deadline."""

from __future__ import annotations

import time
from concurrent import futures

import grpc
import pytest

from maestro.codegen.v1 import codegen_pb2, codegen_pb2_grpc
from maestro_common.client import open_channel


class FlakyCodegenForTest(codegen_pb2_grpc.CodegenServiceServicer):
    """Test double: fails the first `failures` calls with `code`, then answers valid=True."""

    def __init__(self, code: grpc.StatusCode, failures: int, delay: float = 0.0):
        self.code, self.failures, self.delay, self.calls = code, failures, delay, 0

    def ValidateCode(self, request, context):
        self.calls += 1
        time.sleep(self.delay)
        if self.calls <= self.failures:
            context.abort(self.code, f"planned failure {self.calls}")
        return codegen_pb2.ValidateCodeResponse(valid=True)


@pytest.fixture
def server_with():
    servers = []

    def start(servicer):
        server = grpc.server(futures.ThreadPoolExecutor(4))
        codegen_pb2_grpc.add_CodegenServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(0)


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED])
def test_retries_transient_codes(server_with, code):
    servicer = FlakyCodegenForTest(code, failures=2)
    channel = open_channel(server_with(servicer))
    assert codegen_pb2_grpc.CodegenServiceStub(channel).ValidateCode(codegen_pb2.ValidateCodeRequest()).valid
    assert servicer.calls == 3


@pytest.mark.parametrize("code", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL,
                                  grpc.StatusCode.FAILED_PRECONDITION])
def test_never_retries_other_codes(server_with, code):
    servicer = FlakyCodegenForTest(code, failures=1)
    channel = open_channel(server_with(servicer))
    with pytest.raises(grpc.RpcError) as error:
        codegen_pb2_grpc.CodegenServiceStub(channel).ValidateCode(codegen_pb2.ValidateCodeRequest())
    assert error.value.code() == code and servicer.calls == 1


def test_default_deadline(server_with):
    servicer = FlakyCodegenForTest(grpc.StatusCode.OK, failures=0, delay=1.0)
    channel = open_channel(server_with(servicer), timeout=0.2)
    with pytest.raises(grpc.RpcError) as error:
        codegen_pb2_grpc.CodegenServiceStub(channel).ValidateCode(codegen_pb2.ValidateCodeRequest())
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
