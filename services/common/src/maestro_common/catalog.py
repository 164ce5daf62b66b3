"""The five services by name: Python package, gRPC service, default ports.

The one place where local mode, the CLI and each service's defaults learn these facts, so a
name is spelled the same everywhere (directory, package, Helm key, metric prefix).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    """Kebab-case name used for the directory, image, Deployment and Helm key."""
    package: str
    """Importable package; `python -m <package>` starts the service."""
    grpc_service: str
    """Fully-qualified gRPC service name (what health checks and reflection report)."""
    grpc_port: int
    """Default gRPC port."""
    metrics_port: int
    """Default Prometheus /metrics port."""

    @property
    def metric_prefix(self) -> str:
        """Prefix of this service's domain metrics, e.g. maestro_skill_learner."""
        return "maestro_" + self.name.replace("-", "_")

    @property
    def address_env(self) -> str:
        """Environment variable that overrides where clients reach this service."""
        return "MAESTRO_" + self.name.replace("-", "_").upper() + "_ADDRESS"


SERVICES: tuple[ServiceInfo, ...] = (
    ServiceInfo("llm-annotator", "llm_annotator", "maestro.annotator.v1.AnnotatorService", 50051, 9101),
    ServiceInfo("reward-trainer", "reward_trainer", "maestro.reward.v1.RewardService", 50052, 9102),
    ServiceInfo("codegen", "codegen", "maestro.codegen.v1.CodegenService", 50053, 9103),
    ServiceInfo("skill-learner", "skill_learner", "maestro.skill_learner.v1.SkillLearnerService", 50054, 9104),
    ServiceInfo("evaluator", "evaluator", "maestro.evaluator.v1.EvaluatorService", 50055, 9105),
)


def service_info(name: str) -> ServiceInfo:
    """The catalog entry for `name`; ValueError listing the valid names otherwise."""
    for info in SERVICES:
        if info.name == name:
            return info
    raise ValueError(f"unknown service {name!r}; known: {', '.join(s.name for s in SERVICES)}")
