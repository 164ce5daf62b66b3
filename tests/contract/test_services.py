"""Every service starts, reports health, serves reflection and answers every RPC of its contract
with a documented status (never INTERNAL/UNKNOWN, never a made-up result)."""

from __future__ import annotations

import importlib

import grpc
import pytest
from google.protobuf import symbol_database
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from maestro_common.catalog import SERVICES

ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.INVALID_ARGUMENT,
           grpc.StatusCode.NOT_FOUND}


def _descriptor(info):
    module = importlib.import_module(f"maestro.{info.grpc_service.split('.')[1]}.v1."
                                     f"{info.grpc_service.split('.')[1]}_pb2")
    return module.DESCRIPTOR.services_by_name[info.grpc_service.rsplit(".", 1)[1]]


@pytest.mark.parametrize("info", SERVICES, ids=lambda i: i.name)
def test_service_serves_health_reflection_and_every_rpc(info, start_service):
    running = start_service(info.package)
    with grpc.insecure_channel(running.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", info.grpc_service):
            status = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
            assert status == health_pb2.HealthCheckResponse.SERVING

        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        answer = next(reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        listed = {s.name for s in answer.list_services_response.service}
        assert info.grpc_service in listed and "grpc.health.v1.Health" in listed

        service = _descriptor(info)
        db = symbol_database.Default()
        for method in service.methods:
            request_cls = db.GetSymbol(method.input_type.full_name)
            response_cls = db.GetSymbol(method.output_type.full_name)
            path = f"/{service.full_name}/{method.name}"
            if method.server_streaming:
                call = channel.unary_stream(path, request_serializer=request_cls.SerializeToString,
                                            response_deserializer=response_cls.FromString)
                invoke = lambda req, call=call: list(call(req, timeout=5))
            else:
                call = channel.unary_unary(path, request_serializer=request_cls.SerializeToString,
                                           response_deserializer=response_cls.FromString)
                invoke = lambda req, call=call: call(req, timeout=5)
            try:
                invoke(request_cls())
                code = grpc.StatusCode.OK
            except grpc.RpcError as error:
                code = error.code()
                assert error.details(), f"{path} answered {code} without a message"
            assert code in ALLOWED, f"{path} answered {code}"
            if method.name.endswith("Job") and method.name != "ListJobs":
                # An empty job id names the field; an unknown one is NOT_FOUND.
                assert code == grpc.StatusCode.INVALID_ARGUMENT
                with pytest.raises(grpc.RpcError) as missing:
                    invoke(request_cls(job_id="0" * 32))
                assert missing.value.code() == grpc.StatusCode.NOT_FOUND
