"""skill-learner settings (environment variables with the MAESTRO_ prefix)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, field_validator

from maestro_common.settings import settings_for


class SkillLearnerSettings(settings_for("skill-learner")):
    collect_num_envs: int = Field(default=max(1, os.cpu_count() or 1), ge=1, le=256)
    """Parallel environments (worker processes) for CollectDataset when a request gives 0."""
    collect_max_envs: int = Field(default=64, ge=1, le=256)
    """Most environments one CollectDataset job may ask for on this replica."""
    training_backend: Literal["local", "rayjob"] = "local"
    """Where TrainSkills runs: "local" (this process is the Ray driver: ray.init() on this machine, or the
    RayCluster named by RAY_ADDRESS) or "rayjob" (a KubeRay RayJob per job through the Kubernetes API)."""
    rayjob_namespace: str = "default"
    """Kubernetes namespace of submitted RayJobs (training_backend=rayjob)."""
    rayjob_image: str = ""
    """Container image of submitted RayJobs (training_backend=rayjob): the skill-learner image."""
    rayjob_worker_replicas: int = Field(default=1, ge=1, le=256)
    """GPU worker pods of a RayJob's RayCluster; the env runners take a CPU each and equal shares of the GPUs
    (their policy inference), the driver (learner) trains on a GPU."""
    rayjob_worker_gpus: int = Field(default=1, ge=1, le=16)
    """nvidia.com/gpu per RayJob worker pod."""
    rayjob_artifact_claim: str = ""
    """PersistentVolumeClaim holding MAESTRO_ARTIFACT_ROOT, mounted at the same path in the RayJob's pods;
    empty when the artifact root is an object-store URL."""
    rayjob_env_secret: str = ""
    """Secret whose keys become environment variables of the RayJob's pods (object-store credentials)."""
    training_device: str = "auto"
    """Device of the learner when a request names none: auto (cuda when available), cpu, cuda or cuda:N; on
    CUDA the env runners also infer on shares of the free GPUs, else on their CPUs."""
    training_precision: Literal["fp32", "bf16"] = "fp32"
    """Learner precision on CUDA when a request names none: fp32 or bf16 autocast (the CPU trains in fp32)."""
    train_env_runners: int = Field(default=max(1, (os.cpu_count() or 2) - 1), ge=1, le=1024)
    """Ray env-runner actors per TrainSkills job when a request gives 0 (each steps many environments)."""
    train_num_envs: int = Field(default=480, ge=2, le=65_536)
    """Environments per TrainSkills job when a request gives 0 (the paper: 480)."""
    train_max_envs: int = Field(default=4096, ge=2, le=65_536)
    """Most environments one TrainSkills job may ask for on this replica."""
    torch_threads: int = Field(default=0, ge=0, le=1024)
    """CPU threads for torch in the learner; 0 keeps torch's default."""

    @field_validator("training_device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()):
            return value
        raise ValueError(f"{value!r} is not a device; use auto, cpu, cuda or cuda:N")
