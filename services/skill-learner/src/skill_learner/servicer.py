"""Thin gRPC layer of the skill-learner: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

from maestro.skill_learner.v1 import skill_learner_pb2 as pb
from maestro.skill_learner.v1 import skill_learner_pb2_grpc as pb_grpc
from maestro_common.job_rpcs import JobRpcs, job_to_proto
from maestro_common.runtime import ServiceContext
from maestro_common.validation import require_request_id
from skill_learner.collect import plan_from_request
from skill_learner.plan import plan_from_request as training_plan

COLLECT_DATASET = "CollectDataset"
TRAIN_SKILLS = "TrainSkills"


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
        training_plan(request, self.settings, self.context.artifacts)  # fields and artifact existence
        record = self.context.submit(TRAIN_SKILLS, request.SerializeToString(),
                                     request_id=require_request_id(request.request_id))
        return pb.TrainSkillsResponse(job=job_to_proto(record))
