"""Thin gRPC layer of the skill-learner: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

from maestro.skill_learner.v1 import skill_learner_pb2 as pb
from maestro.skill_learner.v1 import skill_learner_pb2_grpc as pb_grpc
from maestro_common.errors import not_served_yet
from maestro_common.job_rpcs import JobRpcs, job_to_proto
from maestro_common.runtime import ServiceContext
from maestro_common.validation import require_request_id
from skill_learner.collect import plan_from_request

COLLECT_DATASET = "CollectDataset"


class SkillLearnerServicer(JobRpcs, pb_grpc.SkillLearnerServiceServicer):
    pb2 = pb

    def __init__(self, context: ServiceContext):
        self.context, self.jobs, self.settings = context, context.jobs, context.settings

    def CollectDataset(self, request, context):
        plan_from_request(request, default_envs=self.settings.collect_num_envs,
                          max_envs=self.settings.collect_max_envs)
        record = self.context.submit(COLLECT_DATASET, request.SerializeToString(),
                                     request_id=require_request_id(request.request_id))
        return pb.CollectDatasetResponse(job=job_to_proto(record))

    def TrainSkills(self, request, context):
        raise not_served_yet("skill-learner", "TrainSkills")
