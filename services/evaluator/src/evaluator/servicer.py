"""Thin gRPC layer of the evaluator: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

from maestro.evaluator.v1 import evaluator_pb2 as pb
from maestro.evaluator.v1 import evaluator_pb2_grpc as pb_grpc
from maestro_common.errors import not_served_yet
from maestro_common.job_rpcs import JobRpcs
from maestro_common.runtime import ServiceContext


class EvaluatorServicer(JobRpcs, pb_grpc.EvaluatorServiceServicer):
    """Serves the job RPCs; task evaluation is not in this release, so its RPCs answer UNIMPLEMENTED."""

    pb2 = pb

    def __init__(self, context: ServiceContext):
        self.context, self.jobs = context, context.jobs

    def ListTasks(self, request, context):
        raise not_served_yet("evaluator", "ListTasks")

    def EvaluateTask(self, request, context):
        raise not_served_yet("evaluator", "EvaluateTask")
