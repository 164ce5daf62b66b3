"""Wires codegen into the shared runtime: `python -m codegen` runs `main`.

The service's LLM (embedded by default, or an OpenAI-compatible server) loads during warm-up, so
health reports NOT_SERVING until it is ready. Generated code is validated, run only in the sandbox
here, and written as content-hashed code artifacts that the skill-learner and evaluator load.
"""

from __future__ import annotations

from codegen.config import CodegenSettings
from codegen.generate import PROMPT_VERSION, GenerationSettings, Generator, RunOutcome
from codegen.generate_job import (
    GENERATE_POLICY,
    GENERATE_SKILL_FUNCTIONS,
    golden_suite,
    policy_goal,
    run_policy,
    run_skill_functions,
    skills_from_request,
)
from codegen.harness import outcome_of, run_generated, run_policy_golden, use_sandbox
from codegen.metrics import CodegenMetrics
from codegen.servicer import CodegenServicer
from maestro.codegen.v1 import codegen_pb2 as pb
from maestro.codegen.v1 import codegen_pb2_grpc as pb_grpc
from maestro_common import runtime
from maestro_common.catalog import service_info
from maestro_common.errors import Unavailable
from maestro_common.generated.contract import contract_doc
from maestro_common.generated.validator import validate
from maestro_common.jobs import HandlerSpec, JobContext
from maestro_common.llm import LlmClient, make_client
from maestro_common.runtime import Built, Service, ServiceContext

INFO = service_info("codegen")


def _problems(code: str, role: str) -> list[str]:
    return [str(issue) for issue in validate(code, role)]


def build(context: ServiceContext) -> Built:
    settings: CodegenSettings = context.settings
    metrics = CodegenMetrics(context.registry)
    if settings.sandbox_backend == "pod":
        use_sandbox(_pod_sandbox(settings).run_python)
    loaded: dict[str, LlmClient] = {}

    def run_in_sandbox(role: str, code: str, test_code: str, skill: str = "") -> RunOutcome:
        result = run_generated(role, code, test_code, skill=skill)
        outcome = outcome_of(result)
        metrics.sandbox_run(result, not outcome.problems)
        return outcome

    def golden_check(suite: str):
        def check(code: str) -> list[str]:
            problems = run_policy_golden(code, suite)
            metrics.sandbox_runs.labels("passed" if not problems else "failed", "none").inc()
            return problems
        return check

    def load_model() -> None:
        loaded["default"] = make_client(settings.llm_config())

    def generator_for(request) -> tuple[Generator, LlmClient]:
        if request.llm.base_url:
            client = make_client(settings.llm_config(base_url=request.llm.base_url, model=request.llm.model))
        elif "default" in loaded:
            client = loaded["default"]
        else:
            raise Unavailable("codegen's model is still loading; retry shortly")
        options = GenerationSettings(max_refinements=request.max_refinements or settings.max_refinements,
                                     max_tokens=request.llm.max_tokens or settings.generation_max_tokens,
                                     seed=request.llm.seed, prompt_version=request.prompt_version or PROMPT_VERSION)
        return Generator(client, options, _problems, run_in_sandbox, contract_doc, on_finish=metrics.generation), client

    def release(client: LlmClient) -> None:
        if client is not loaded.get("default"):
            client.close()

    def generate_skill_functions(job: JobContext) -> None:
        request = pb.GenerateSkillFunctionsRequest.FromString(job.request)
        generator, client = generator_for(request)
        try:
            run_skill_functions(job, skills_from_request(request.skills), generator, context.artifacts, client.model)
        finally:
            release(client)

    def generate_policy(job: JobContext) -> None:
        request = pb.GeneratePolicyRequest.FromString(job.request)
        goal, hints = policy_goal(request)
        suite = golden_suite(request)
        check = golden_check(suite) if suite else None
        generator, client = generator_for(request)
        try:
            run_policy(job, goal, hints, skills_from_request(request.skills), generator, context.artifacts,
                       client.model, golden=suite, golden_check=check)
        finally:
            release(client)

    handlers = {
        GENERATE_SKILL_FUNCTIONS: HandlerSpec(generate_skill_functions, description="write skill predicates"),
        GENERATE_POLICY: HandlerSpec(generate_policy, description="write a policy over skills"),
    }
    return Built(servicer=CodegenServicer(context, metrics), handlers=handlers, warmup=load_model)


def _pod_sandbox(settings: CodegenSettings):
    """The pod sandbox, after a first sweep (which also stops the start with a clear message when RBAC or
    the namespace is wrong), with its periodic sweeper running."""
    from codegen.sandbox_pod import PodSandbox, PodSandboxConfig
    from maestro_common.kube import KubeClient

    sandbox = PodSandbox(KubeClient.connect(), PodSandboxConfig(
        namespace=settings.sandbox_namespace, image=settings.sandbox_image,
        runtime_class=settings.sandbox_runtime_class))
    sandbox.sweep()
    sandbox.start_sweeper()
    return sandbox


SERVICE = Service(
    info=INFO,
    settings_cls=CodegenSettings,
    add_servicer=pb_grpc.add_CodegenServiceServicer_to_server,
    build=build,
)


def main() -> None:
    runtime.main(SERVICE)
