"""Wires the evaluator into the shared runtime: `python -m evaluator` runs `main`."""

from __future__ import annotations

from evaluator.auth import TokenCheck, guard
from evaluator.config import EvaluatorSettings
from evaluator.evaluate_job import EVALUATE_TASK, run_evaluation
from evaluator.metrics import EvaluatorMetrics
from evaluator.plan import plan_from_request
from evaluator.servicer import RPC_METHODS, EvaluatorServicer
from maestro.evaluator.v1 import evaluator_pb2 as pb
from maestro.evaluator.v1 import evaluator_pb2_grpc as pb_grpc
from maestro_common import runtime
from maestro_common.catalog import service_info
from maestro_common.jobs.runner import HandlerSpec, JobContext
from maestro_common.runtime import Built, Service, ServiceContext


def build(context: ServiceContext) -> Built:
    settings: EvaluatorSettings = context.settings
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    metrics = EvaluatorMetrics(context.registry)
    token = settings.api_token.get_secret_value() or None
    check = TokenCheck(token, on_failure=lambda reason: metrics.auth_failures.labels(reason).inc())

    def evaluate(job: JobContext) -> None:
        request = pb.EvaluateTaskRequest.FromString(job.request)
        plan = plan_from_request(request, settings, context.artifacts)
        run_evaluation(job, plan, request.llm, context.artifacts, settings, metrics)

    handlers = {EVALUATE_TASK: HandlerSpec(evaluate, description="play a task with frozen skills and report")}
    return Built(servicer=guard(EvaluatorServicer(context), check, RPC_METHODS), handlers=handlers)


SERVICE = Service(
    info=service_info("evaluator"),
    settings_cls=EvaluatorSettings,
    add_servicer=pb_grpc.add_EvaluatorServiceServicer_to_server,
    build=build,
)


def main() -> None:
    runtime.main(SERVICE)
