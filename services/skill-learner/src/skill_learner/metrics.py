"""The skill-learner's domain metrics (maestro_skill_learner_*) and TensorBoard events.

Glossary (Prometheus name -> TensorBoard tag):
- env_steps_total, env_steps_per_second              -> throughput/env_steps_per_s
- episode_return{skill}: shaped return a skill earned in an episode (last episode)  -> return/<skill>
- shaped_reward{skill}: mean shaped reward per step of the skill (recent window)  -> shaped_reward/<skill>
- reward_model_output{skill}: mean raw reward-model output (recent window)        -> reward_model/<skill>
- skill_duration_steps{skill} (histogram), skill_selections_total{skill}          -> skill_steps/<skill>
- loss{kind=policy|value|entropy|total}, entropy, policy_lag                      -> loss/<kind>, ...
- learner_samples_per_second: samples per second of the learner's forward+backward -> throughput/learner
- episode max depth                                                               -> episode/max_depth
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from maestro_common.generated.contract import SKILL_NAMES
from skill_learner.engine import TrainingObserver
from skill_learner.learner import UpdateStats

PREFIX = "maestro_skill_learner"
DURATION_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class SkillLearnerMetrics(TrainingObserver):
    def __init__(self, registry: CollectorRegistry):
        self.env_steps = Counter(f"{PREFIX}_env_steps", "Environment steps played by training.", registry=registry)
        self.env_steps_per_second = Gauge(f"{PREFIX}_env_steps_per_second", "Training env steps per second.",
                                          registry=registry)
        self.episode_return = Gauge(f"{PREFIX}_episode_return", "Shaped return a skill earned in the last "
                                    "finished episode.", ["skill"], registry=registry)
        self.shaped_reward = Gauge(f"{PREFIX}_shaped_reward", "Mean shaped reward per step of the skill over the "
                                   "last learner batch.", ["skill"], registry=registry)
        self.reward_model_output = Gauge(f"{PREFIX}_reward_model_output", "Mean raw reward-model output of the "
                                         "skill over the last learner batch.", ["skill"], registry=registry)
        self.skill_duration = Histogram(f"{PREFIX}_skill_duration_steps", "Env steps a skill ran before it ended.",
                                        ["skill"], buckets=DURATION_BUCKETS, registry=registry)
        self.skill_selections = Counter(f"{PREFIX}_skill_selections", "Times a skill was chosen by pi_T.",
                                        ["skill"], registry=registry)
        self.loss = Gauge(f"{PREFIX}_loss", "Loss terms of the last learner update.", ["kind"], registry=registry)
        self.entropy = Gauge(f"{PREFIX}_entropy", "Mean policy entropy of the last learner update.",
                             registry=registry)
        self.policy_lag = Gauge(f"{PREFIX}_policy_lag", "Mean learner updates between acting and learning.",
                                registry=registry)
        self.learner_samples_per_second = Gauge(f"{PREFIX}_learner_samples_per_second",
                                                "Samples per second of the learner's forward and backward pass.",
                                                registry=registry)
        self.writer: Any = None

    def open_tensorboard(self, directory: Path, purge_step: int | None = None) -> None:
        """Also write TensorBoard events to `directory` (a resumed job purges events after its step)."""
        from torch.utils.tensorboard import SummaryWriter

        self.close_tensorboard()
        self.writer = SummaryWriter(str(directory), purge_step=purge_step)

    def close_tensorboard(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _scalar(self, tag: str, value: float, step: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(tag, value, step)

    def on_steps(self, env_steps: int, new_steps: int, steps_per_s: float) -> None:
        self.env_steps_per_second.set(steps_per_s)
        self._scalar("throughput/env_steps_per_s", steps_per_s, env_steps)
        self._env_steps_now = env_steps

    def on_transitions(self, skills: np.ndarray, raw: np.ndarray, shaped: np.ndarray) -> None:
        self.env_steps.inc(int((skills >= 0).sum()))
        for index in np.unique(skills[skills >= 0]).tolist():
            rows = skills == index
            self.shaped_reward.labels(SKILL_NAMES[index]).set(float(shaped[rows].mean()))
            self.reward_model_output.labels(SKILL_NAMES[index]).set(float(raw[rows].mean()))

    def on_skill_returns(self, returns: dict[str, float]) -> None:
        step = getattr(self, "_env_steps_now", 0)
        for skill, value in returns.items():
            self.episode_return.labels(skill).set(value)
            self._scalar(f"return/{skill}", value, step)

    def on_episode(self, summary: dict[str, Any]) -> None:
        step = getattr(self, "_env_steps_now", 0)
        for record in summary["skills"]:
            self.skill_selections.labels(record["skill"]).inc()
            if record["steps"] is not None:
                self.skill_duration.labels(record["skill"]).observe(record["steps"])
        self._scalar("episode/max_depth", summary["max_depth"], step)
        self._scalar("episode/steps", summary["steps"], step)

    def on_update(self, stats: UpdateStats, env_steps: int) -> None:
        for kind, value in (("policy", stats.loss_policy), ("value", stats.loss_value),
                            ("entropy", stats.loss_entropy), ("total", stats.loss_total)):
            self.loss.labels(kind).set(value)
            self._scalar(f"loss/{kind}", value, env_steps)
        self.entropy.set(stats.entropy)
        self.policy_lag.set(stats.policy_lag)
        rate = stats.samples / stats.seconds if stats.seconds > 0 else 0.0
        self.learner_samples_per_second.set(rate)
        for tag, value in (("policy/entropy", stats.entropy), ("policy/lag", stats.policy_lag),
                           ("policy/clip_fraction", stats.clip_fraction), ("policy/grad_norm", stats.grad_norm),
                           ("throughput/learner_samples_per_s", rate)):
            self._scalar(tag, value, env_steps)
