"""Thin gRPC layer of codegen: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

from codegen.generate import PROMPT_VERSIONS
from codegen.generate_job import (
    GENERATE_POLICY,
    GENERATE_SKILL_FUNCTIONS,
    golden_suite,
    policy_goal,
    skills_from_request,
)
from codegen.harness import problems_of, run_generated
from codegen.metrics import CodegenMetrics
from codegen.sandbox import SandboxLimits
from maestro.codegen.v1 import codegen_pb2 as pb
from maestro.codegen.v1 import codegen_pb2_grpc as pb_grpc
from maestro_common.errors import InvalidArgument
from maestro_common.generated.validator import format_issues, validate
from maestro_common.job_rpcs import JobRpcs, job_to_proto
from maestro_common.runtime import ServiceContext
from maestro_common.validation import require_range, require_request_id, require_text

MAX_LIMITS = {"cpu_seconds": 60, "wall_seconds": 120, "memory_bytes": 2 << 30, "output_bytes": 1 << 20,
              "file_bytes": 16 << 20}
"""The most a RunTests request may ask for, so one call cannot tie the service up."""
ROLES = {pb.CODE_ROLE_SKILL_FUNCTIONS: "skill_functions", pb.CODE_ROLE_POLICY: "policy"}
LIMIT_HIT = {"none": pb.LIMIT_HIT_NONE, "cpu": pb.LIMIT_HIT_CPU, "wall": pb.LIMIT_HIT_WALL,
             "memory": pb.LIMIT_HIT_MEMORY, "output": pb.LIMIT_HIT_OUTPUT, "file_size": pb.LIMIT_HIT_FILE_SIZE}


def _role(value: int) -> str:
    if value not in ROLES:
        raise InvalidArgument("role", "choose CODE_ROLE_SKILL_FUNCTIONS or CODE_ROLE_POLICY")
    return ROLES[value]


def _issues(issues) -> list[pb.ValidationIssue]:
    return [pb.ValidationIssue(line=i.line, column=i.column, message=i.message) for i in issues]


class CodegenServicer(JobRpcs, pb_grpc.CodegenServiceServicer):
    pb2 = pb

    def __init__(self, context: ServiceContext, metrics: CodegenMetrics):
        self.context, self.jobs, self.settings, self.metrics = context, context.jobs, context.settings, metrics

    def ValidateCode(self, request, context):
        require_text("code", request.code, required=True, max_len=self.settings.max_code_chars)
        issues = validate(request.code, _role(request.role))
        return pb.ValidateCodeResponse(valid=not issues, issues=_issues(issues))

    def RunTests(self, request, context):
        require_text("code", request.code, required=True, max_len=self.settings.max_code_chars)
        require_text("test_code", request.test_code, max_len=self.settings.max_code_chars)
        role = _role(request.role)
        issues = validate(request.code, role)
        if issues:
            raise InvalidArgument("code", "the code fails validation:\n" + format_issues(issues))
        limits = SandboxLimits.with_defaults(request.limits)
        for field, ceiling in MAX_LIMITS.items():
            require_range(f"limits.{field}", getattr(limits, field), 0, ceiling)
        result = run_generated(role, request.code, request.test_code, limits)
        passed = not problems_of(result)
        self.metrics.sandbox_run(result, passed)
        return pb.RunTestsResponse(passed=passed, exit_status=result.exit_status,
                                   stdout=result.stdout, stderr=result.stderr, wall_seconds=result.wall_seconds,
                                   cpu_seconds=result.cpu_seconds, limit_hit=LIMIT_HIT[result.limit_hit])

    def GenerateSkillFunctions(self, request, context):
        skills_from_request(request.skills)
        self._check_generation(request)
        record = self.context.submit(GENERATE_SKILL_FUNCTIONS, request.SerializeToString(),
                                     request_id=require_request_id(request.request_id))
        return pb.GenerateSkillFunctionsResponse(job=job_to_proto(record))

    def GeneratePolicy(self, request, context):
        policy_goal(request)
        golden_suite(request)
        skills_from_request(request.skills)
        self._check_generation(request)
        record = self.context.submit(GENERATE_POLICY, request.SerializeToString(),
                                     request_id=require_request_id(request.request_id))
        return pb.GeneratePolicyResponse(job=job_to_proto(record))

    @staticmethod
    def _check_generation(request) -> None:
        require_range("max_refinements", request.max_refinements, 1, 10, zero_means="3")
        require_range("llm.max_tokens", request.llm.max_tokens, 64, 8192, zero_means="the service's default")
        if request.prompt_version not in ("", *PROMPT_VERSIONS):
            raise InvalidArgument("prompt_version", f"unknown version {request.prompt_version!r}; available: "
                                  f"{', '.join(PROMPT_VERSIONS)}")
        if request.llm.base_url and not request.llm.model:
            raise InvalidArgument("llm.model", "required with llm.base_url: the model name that server serves")
