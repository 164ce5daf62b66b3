"""Wires the skill-learner into the shared runtime: `python -m skill_learner` runs `main`."""

from __future__ import annotations

import torch

from maestro.skill_learner.v1 import skill_learner_pb2 as pb
from maestro.skill_learner.v1 import skill_learner_pb2_grpc as pb_grpc
from maestro_common import runtime
from maestro_common.catalog import service_info
from maestro_common.errors import FailedPrecondition
from maestro_common.jobs.runner import HandlerSpec, JobContext
from maestro_common.kube.client import KubeClient
from maestro_common.kube.rayjob import RayJobConfig, run_rayjob
from maestro_common.runtime import Built, Service, ServiceContext
from skill_learner.collect import plan_from_request, run_collection
from skill_learner.config import SkillLearnerSettings
from skill_learner.metrics import SkillLearnerMetrics
from skill_learner.plan import plan_from_request as training_plan
from skill_learner.servicer import COLLECT_DATASET, TRAIN_SKILLS, SkillLearnerServicer
from skill_learner.train_job import run_training, state_dir


def build(context: ServiceContext) -> Built:
    settings: SkillLearnerSettings = context.settings
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    metrics = SkillLearnerMetrics(context.registry)
    data_dir = settings.resolved_data_dir(context.info.name)

    def collect_dataset(job: JobContext) -> None:
        request = pb.CollectDatasetRequest.FromString(job.request)
        plan = plan_from_request(request, default_envs=settings.collect_num_envs, max_envs=settings.collect_max_envs)
        run_collection(job, plan, context.artifacts)

    rayjobs = _rayjob_backend(settings) if settings.training_backend == "rayjob" else None

    def train_skills(job: JobContext) -> None:
        request = pb.TrainSkillsRequest.FromString(job.request)
        plan = training_plan(request, settings, context.artifacts)
        if rayjobs is not None:  # the RayJob trains; this job mirrors its status, progress and outputs
            kube, rayjob_config = rayjobs
            run_rayjob(job, kube, rayjob_config, context.artifacts)
            return
        metrics.open_tensorboard(state_dir(data_dir, job.job_id) / "tensorboard",
                                 purge_step=job.checkpoint.get("env_steps"))
        try:
            run_training(job, plan, context.artifacts, data_dir, observer=metrics)
        finally:
            metrics.close_tensorboard()

    handlers = {
        COLLECT_DATASET: HandlerSpec(collect_dataset, resumable=True,
                                     description="play NLE and write observation shards"),
        TRAIN_SKILLS: HandlerSpec(train_skills, resumable=True,
                                  description="train the skill network with APPO on Ray env runners"),
    }
    return Built(servicer=SkillLearnerServicer(context), handlers=handlers)


def _rayjob_backend(settings: SkillLearnerSettings) -> tuple[KubeClient, RayJobConfig]:
    """The Kubernetes client (in-cluster or kubeconfig; a clear error when neither) and the RayJob shape."""
    config = RayJobConfig(namespace=settings.rayjob_namespace, image=settings.rayjob_image,
                          artifact_root=settings.resolved_artifact_root(),
                          artifact_claim=settings.rayjob_artifact_claim, env_secret=settings.rayjob_env_secret,
                          worker_replicas=settings.rayjob_worker_replicas, worker_gpus=settings.rayjob_worker_gpus)
    if not config.image:
        raise FailedPrecondition("MAESTRO_TRAINING_BACKEND=rayjob needs MAESTRO_RAYJOB_IMAGE (the skill-learner image)")
    return KubeClient.connect(), config


SERVICE = Service(
    info=service_info("skill-learner"),
    settings_cls=SkillLearnerSettings,
    add_servicer=pb_grpc.add_SkillLearnerServiceServicer_to_server,
    build=build,
)


def main() -> None:
    runtime.main(SERVICE)
