"""Wires the reward-trainer into the shared runtime: `python -m reward_trainer` runs `main`."""

from __future__ import annotations

import torch

from maestro.reward.v1 import reward_pb2 as pb
from maestro.reward.v1 import reward_pb2_grpc as pb_grpc
from maestro_common import runtime
from maestro_common.catalog import service_info
from maestro_common.jobs.runner import HandlerSpec, JobContext
from maestro_common.runtime import Built, Service, ServiceContext
from reward_trainer.config import RewardTrainerSettings
from reward_trainer.metrics import RewardTrainerMetrics
from reward_trainer.plan import plan_from_request
from reward_trainer.servicer import RewardTrainerServicer
from reward_trainer.train_job import TRAIN_REWARD_MODELS, run_training


def build(context: ServiceContext) -> Built:
    settings: RewardTrainerSettings = context.settings
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    metrics = RewardTrainerMetrics(context.registry)

    def train_reward_models(job: JobContext) -> None:
        request = pb.TrainRewardModelsRequest.FromString(job.request)
        plan = plan_from_request(request, settings, context.artifacts)
        run_training(job, plan, context.artifacts, observer=metrics)

    handlers = {TRAIN_REWARD_MODELS: HandlerSpec(train_reward_models, resumable=True,
                                                 description="fit one reward model per skill to preference labels")}
    return Built(servicer=RewardTrainerServicer(context, metrics), handlers=handlers)


SERVICE = Service(
    info=service_info("reward-trainer"),
    settings_cls=RewardTrainerSettings,
    add_servicer=pb_grpc.add_RewardServiceServicer_to_server,
    build=build,
)


def main() -> None:
    runtime.main(SERVICE)
