"""Thin gRPC layer of the llm-annotator: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

from llm_annotator.plan import plan_from_request
from maestro.annotator.v1 import annotator_pb2 as pb
from maestro.annotator.v1 import annotator_pb2_grpc as pb_grpc
from maestro_common.job_rpcs import JobRpcs, job_to_proto
from maestro_common.runtime import ServiceContext
from maestro_common.validation import require_request_id

ANNOTATE_DATASET = "AnnotateDataset"


class AnnotatorServicer(JobRpcs, pb_grpc.AnnotatorServiceServicer):
    pb2 = pb

    def __init__(self, context: ServiceContext):
        self.context, self.jobs = context, context.jobs

    def AnnotateDataset(self, request, context):
        plan_from_request(request, self.context.settings, self.context.artifacts)
        record = self.context.submit(ANNOTATE_DATASET, request.SerializeToString(),
                                     request_id=require_request_id(request.request_id))
        return pb.AnnotateDatasetResponse(job=job_to_proto(record))
