"""Wires the evaluator into the shared runtime: `python -m evaluator` runs `main`."""

from __future__ import annotations

from evaluator.config import EvaluatorSettings
from evaluator.servicer import EvaluatorServicer
from maestro.evaluator.v1 import evaluator_pb2_grpc as pb_grpc
from maestro_common import runtime
from maestro_common.catalog import service_info
from maestro_common.runtime import Built, Service, ServiceContext


def build(context: ServiceContext) -> Built:
    return Built(servicer=EvaluatorServicer(context))


SERVICE = Service(
    info=service_info("evaluator"),
    settings_cls=EvaluatorSettings,
    add_servicer=pb_grpc.add_EvaluatorServiceServicer_to_server,
    build=build,
)


def main() -> None:
    runtime.main(SERVICE)
