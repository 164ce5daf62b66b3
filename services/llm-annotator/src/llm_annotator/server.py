"""Wires the llm-annotator into the shared runtime: `python -m llm_annotator` runs `main`."""

from __future__ import annotations

from llm_annotator.config import AnnotatorSettings
from llm_annotator.servicer import AnnotatorServicer
from maestro.annotator.v1 import annotator_pb2_grpc as pb_grpc
from maestro_common import runtime
from maestro_common.catalog import service_info
from maestro_common.runtime import Built, Service, ServiceContext


def build(context: ServiceContext) -> Built:
    return Built(servicer=AnnotatorServicer(context))


SERVICE = Service(
    info=service_info("llm-annotator"),
    settings_cls=AnnotatorSettings,
    add_servicer=pb_grpc.add_AnnotatorServiceServicer_to_server,
    build=build,
)


def main() -> None:
    runtime.main(SERVICE)
