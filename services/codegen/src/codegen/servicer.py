"""Thin gRPC layer of the codegen: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

from maestro.codegen.v1 import codegen_pb2 as pb
from maestro.codegen.v1 import codegen_pb2_grpc as pb_grpc
from maestro_common.errors import not_served_yet
from maestro_common.job_rpcs import JobRpcs
from maestro_common.runtime import ServiceContext


class CodegenServicer(JobRpcs, pb_grpc.CodegenServiceServicer):
    """Serves the job RPCs; code generation is not in this release, so its RPCs answer UNIMPLEMENTED."""

    pb2 = pb

    def __init__(self, context: ServiceContext):
        self.context, self.jobs = context, context.jobs

    def GenerateSkillFunctions(self, request, context):
        raise not_served_yet("codegen", "GenerateSkillFunctions")

    def GeneratePolicy(self, request, context):
        raise not_served_yet("codegen", "GeneratePolicy")

    def RunTests(self, request, context):
        raise not_served_yet("codegen", "RunTests")

    def ValidateCode(self, request, context):
        raise not_served_yet("codegen", "ValidateCode")
