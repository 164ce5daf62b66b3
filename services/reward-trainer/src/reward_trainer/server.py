"""Wires the reward-trainer into the shared runtime: `python -m reward_trainer` runs `main`."""

from __future__ import annotations

from maestro.reward.v1 import reward_pb2_grpc as pb_grpc
from maestro_common import runtime
from maestro_common.catalog import service_info
from maestro_common.runtime import Built, Service, ServiceContext
from reward_trainer.config import RewardTrainerSettings
from reward_trainer.servicer import RewardTrainerServicer


def build(context: ServiceContext) -> Built:
    return Built(servicer=RewardTrainerServicer(context))


SERVICE = Service(
    info=service_info("reward-trainer"),
    settings_cls=RewardTrainerSettings,
    add_servicer=pb_grpc.add_RewardServiceServicer_to_server,
    build=build,
)


def main() -> None:
    runtime.main(SERVICE)
