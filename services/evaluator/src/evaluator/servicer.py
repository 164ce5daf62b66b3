"""Thin gRPC layer of the evaluator: protobuf in, domain calls, protobuf out. Auth wraps it (auth.py)."""

from __future__ import annotations

from evaluator.detectors import SUCCESS_RATE
from evaluator.evaluate_job import EVALUATE_TASK
from evaluator.plan import plan_from_request
from evaluator.tasks import TASKS
from maestro.evaluator.v1 import evaluator_pb2 as pb
from maestro.evaluator.v1 import evaluator_pb2_grpc as pb_grpc
from maestro_common.job_rpcs import JobRpcs, job_to_proto
from maestro_common.runtime import ServiceContext
from maestro_common.validation import require_request_id

RPC_METHODS = ("ListTasks", "EvaluateTask", "GetJob", "WatchJob", "CancelJob", "ListJobs")
"""Every EvaluatorService RPC (all of them require the bearer token)."""


def task_to_proto(task) -> pb.Task:
    metric = pb.TASK_METRIC_SUCCESS_RATE if task.metric == SUCCESS_RATE else pb.TASK_METRIC_MEAN_COUNT
    return pb.Task(task_id=task.task_id, title=task.title, description=task.description, metric=metric,
                   check_description=task.check, paper_value=task.paper_value, paper_baseline=task.paper_baseline,
                   milestones=list(task.make_detector().milestones))


class EvaluatorServicer(JobRpcs, pb_grpc.EvaluatorServiceServicer):
    pb2 = pb

    def __init__(self, context: ServiceContext):
        self.context, self.jobs, self.settings = context, context.jobs, context.settings

    def ListTasks(self, request, context):
        return pb.ListTasksResponse(tasks=[task_to_proto(task) for task in TASKS])

    def EvaluateTask(self, request, context):
        plan_from_request(request, self.settings, self.context.artifacts)
        record = self.context.submit(EVALUATE_TASK, request.SerializeToString(),
                                     request_id=require_request_id(request.request_id))
        return pb.EvaluateTaskResponse(job=job_to_proto(record))

    def CancelJob(self, request, context):
        if self.context.runner is not None and request.job_id:
            from maestro_common.job_rpcs import _require_job_id

            return pb.CancelJobResponse(job=job_to_proto(self.context.runner.cancel(_require_job_id(request.job_id))))
        return super().CancelJob(request, context)
