"""Thin gRPC layer of the reward-trainer: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

from maestro.reward.v1 import reward_pb2 as pb
from maestro.reward.v1 import reward_pb2_grpc as pb_grpc
from maestro_common.errors import not_served_yet
from maestro_common.job_rpcs import JobRpcs
from maestro_common.runtime import ServiceContext


class RewardTrainerServicer(JobRpcs, pb_grpc.RewardServiceServicer):
    """Serves the job RPCs; reward-model training is not in this release, so its RPCs answer UNIMPLEMENTED."""

    pb2 = pb

    def __init__(self, context: ServiceContext):
        self.context, self.jobs = context, context.jobs

    def TrainRewardModels(self, request, context):
        raise not_served_yet("reward-trainer", "TrainRewardModels")

    def Score(self, request, context):
        raise not_served_yet("reward-trainer", "Score")
