"""Thin gRPC layer of the llm-annotator: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

from maestro.annotator.v1 import annotator_pb2 as pb
from maestro.annotator.v1 import annotator_pb2_grpc as pb_grpc
from maestro_common.errors import not_served_yet
from maestro_common.job_rpcs import JobRpcs
from maestro_common.runtime import ServiceContext


class AnnotatorServicer(JobRpcs, pb_grpc.AnnotatorServiceServicer):
    """Serves the job RPCs; LLM annotation is not in this release, so its RPCs answer UNIMPLEMENTED."""

    pb2 = pb

    def __init__(self, context: ServiceContext):
        self.context, self.jobs = context, context.jobs

    def AnnotateDataset(self, request, context):
        raise not_served_yet("llm-annotator", "AnnotateDataset")
