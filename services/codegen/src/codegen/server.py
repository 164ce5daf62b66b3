"""Wires the codegen into the shared runtime: `python -m codegen` runs `main`."""

from __future__ import annotations

from codegen.config import CodegenSettings
from codegen.servicer import CodegenServicer
from maestro.codegen.v1 import codegen_pb2_grpc as pb_grpc
from maestro_common import runtime
from maestro_common.catalog import service_info
from maestro_common.runtime import Built, Service, ServiceContext


def build(context: ServiceContext) -> Built:
    return Built(servicer=CodegenServicer(context))


SERVICE = Service(
    info=service_info("codegen"),
    settings_cls=CodegenSettings,
    add_servicer=pb_grpc.add_CodegenServiceServicer_to_server,
    build=build,
)


def main() -> None:
    runtime.main(SERVICE)
