"""The training engine: Ray env-runner actors that act with their own copy of the policy, and the APPO learner.

    env-runner actors (Ray, one process each)                  this process (the Ray driver)
    ┌──────────────────────────────────────────┐  rollout(w)   ┌──────────────────────────────────────────┐
    │ EnvRunner: envs in 2 groups, options     │ <──────────── │ publishes weights w (ray.put of the flat │
    │ runtime per env, encode_observations     │               │ vector, numbered by learner version)     │
    │ RunnerPolicy: network copy on its GPU    │  Rollout      │ batches of B x T -> rewards (reward      │
    │ share as a CUDA graph (or on its CPU),   │ ────────────> │ models, one call per skill, cached) ->   │
    │ GRU state per env, action sampling       │ (object store)│ Learner (APPO, V-trace)                  │
    │ -> [T+1, 64] trajectories per rollout    │               │                                          │
    └──────────────────────────────────────────┘               └──────────────────────────────────────────┘

Each actor plays whole rollouts of T steps in all its environments and sends them back as numpy
trajectory batches; the driver only scores and trains. Every actor always has `ROLLOUTS_IN_FLIGHT`
requests queued, so it never waits for the driver; each request carries the newest published
weights, which the actor loads between rollouts (the policy lag this causes is recorded per update,
and V-trace corrects for it). Inside an actor the two groups of environments are double-buffered:
the device computes one group's actions while the actor steps the other. Actors get an equal share
of the GPUs Ray has free (`num_gpus`; `runner_gpu_share`) when the learner runs on CUDA and there are
any, else they infer on their CPU. The same code runs on one machine (`ray.init()` starts a local Ray) and on a
RayCluster (`RAY_ADDRESS` names it; `ray.init()` connects to it): there is no second implementation.

The engine is plain logic: the job (`train_job.py`) gives it a stop check and a checkpoint callback;
an observer (metrics, TensorBoard) hears about steps, episodes and updates.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from maestro_common.generated.contract import SKILL_NAMES
from skill_learner.inference import PublishedWeights, weights_vector
from skill_learner.learner import Learner, UpdateStats
from skill_learner.plan import APPOConfig
from skill_learner.rewards import SkillRewards
from skill_learner.rollouts import Trajectories
from skill_learner.runner import EnvRunner, Rollout, RunnerSpec

log = logging.getLogger(__name__)

ROLLOUTS_IN_FLIGHT = 2
"""Rollout requests queued per actor: while the driver handles one, the actor plays the next."""
DRIVER_CUDA_THREADS = 1
"""torch CPU threads of the driver while it trains on CUDA: its math runs on the GPU, and a pool of idle
threads spinning on every core slows the runners down (measured: 33k -> 43k env steps/s on 16 cores)."""


class TrainingObserver:
    """Hears what the engine does (the service's metrics and TensorBoard implement it); the base ignores it."""

    def on_steps(self, env_steps: int, new_steps: int, steps_per_s: float) -> None:
        """After each batch of rollouts received: total env steps and the recent rate."""

    def on_transitions(self, skills: np.ndarray, raw: np.ndarray, shaped: np.ndarray) -> None:
        """The acting skill, raw reward-model output and shaped reward of every transition of a batch."""

    def on_episode(self, summary: dict[str, Any]) -> None:
        """An episode ended: the runner's summary (steps, score, max depth, skill timeline)."""

    def on_skill_returns(self, returns: dict[str, float]) -> None:
        """The shaped return each skill earned in an episode (known once its last batch is scored)."""

    def on_update(self, stats: UpdateStats, env_steps: int) -> None:
        """A learner update finished."""


@dataclass
class TrainState:
    """Counters that a checkpoint saves and a resumed run starts from."""

    env_steps: int = 0
    episodes: int = 0
    episode_counters: dict[int, int] = field(default_factory=dict)
    """Episodes started per env index."""
    sampler_states: dict[int, dict[str, Any]] = field(default_factory=dict)
    """State of each runner's action-sampling generator, by runner number (numpy bit-generator state)."""

    def to_json(self) -> dict[str, Any]:
        return {"env_steps": self.env_steps, "episodes": self.episodes,
                "episode_counters": {str(k): v for k, v in self.episode_counters.items()},
                "sampler_states": {str(k): v for k, v in self.sampler_states.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainState:
        return cls(env_steps=int(data["env_steps"]), episodes=int(data["episodes"]),
                   episode_counters={int(k): int(v) for k, v in data["episode_counters"].items()},
                   sampler_states={int(k): v for k, v in data.get("sampler_states", {}).items()})


def init_ray(attempts: int = 3) -> None:
    """Connect to Ray: the RayCluster in RAY_ADDRESS, else a Ray started on this machine.

    A local Ray occasionally fails to come up on a loaded machine ("node timed out during startup");
    it is retried a few times before the error reaches the job.
    """
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    for attempt in range(1, attempts + 1):
        try:
            # "local" starts a Ray of our own; it never attaches to another Ray that happens to run here
            ray.init(address=os.environ.get("RAY_ADDRESS") or "local", include_dashboard=False,
                     log_to_driver=False, logging_level=logging.WARNING, configure_logging=False)
            return
        except Exception:
            ray.shutdown()
            if attempt == attempts:
                raise
            log.warning("ray did not start (attempt %d of %d); retrying", attempt, attempts)


def runner_gpu_share(learner_device: torch.device, free_gpus: float, runners: int) -> float:
    """The GPU share (`num_gpus`) of each runner: an equal split of the GPUs that Ray has free when
    training starts (under a RayJob the driver already holds its own share), at most one each, when the
    learner runs on CUDA; else 0 (the runners infer on their CPU)."""
    if learner_device.type != "cuda" or free_gpus <= 0:
        return 0.0
    return math.floor(min(1.0, free_gpus / runners) * 10_000) / 10_000  # Ray counts GPUs in 1e-4 units


class Engine:
    """Runs APPO until `config.env_steps` or until told to stop; see the module docstring."""

    def __init__(self, config: APPOConfig, network: nn.Module, rewards: SkillRewards, *, skill_code: dict[str, str],
                 policy_code: str, device: torch.device, state: TrainState | None = None,
                 observer: TrainingObserver | None = None):
        self.config, self.network, self.rewards, self.device = config, network, rewards, device
        self.skill_code, self.policy_code = skill_code, policy_code
        self.state = state or TrainState()
        self.observer = observer or TrainingObserver()
        self.learner = Learner(network, config, device)
        self.batch_trajectories = config.batch_size // config.rollout_length
        self.queue: list[Trajectories] = []
        self.queued = 0
        self.returns = np.zeros((config.num_envs, len(SKILL_NAMES)), dtype=np.float64)
        self.active = np.zeros((config.num_envs, len(SKILL_NAMES)), dtype=bool)
        self.last_update: UpdateStats | None = None
        self.weights: PublishedWeights | None = None
        self.published_at = 0.0
        self.timings = {"wait": 0.0, "get": 0.0, "ingest": 0.0, "train": 0.0, "publish": 0.0}
        """Seconds the driver spent waiting for rollouts, fetching them, taking them in, training, publishing."""
        self.runner_seconds = {"env": 0.0, "policy": 0.0, "device_wait": 0.0}
        """Seconds the runners spent (summed over runners) stepping environments, and on the rest of their
        rollouts (`Rollout.policy_seconds`: mostly inference), of which waiting for the device."""
        self.rollouts_received = 0

    # -- plumbing ---------------------------------------------------------------------------------

    def runner_specs(self, device: str) -> list[RunnerSpec]:
        """One spec per runner; `device` is where the runners infer ("cpu" or "cuda")."""
        specs, start = [], 0
        network_config = self.network.config.to_json()  # type: ignore[union-attr]
        for index, count in enumerate(self.config.envs_per_runner):
            indices = tuple(range(start, start + count))
            start += count
            specs.append(RunnerSpec(index=index, env_indices=indices, skill_code=self.skill_code,
                                    policy_code=self.policy_code, seed=self.config.seed,
                                    skill_turns=self.config.skill_turns,
                                    max_episode_steps=self.config.max_episode_steps,
                                    rollout_length=self.config.rollout_length, network_config=network_config,
                                    device=device, bf16=self.learner.autocast,
                                    episode_counters={i: self.state.episode_counters.get(i, 0) for i in indices},
                                    sampler_state=self.state.sampler_states.get(index)))
        return specs

    def export_state(self) -> TrainState:
        """The counters to checkpoint (runner states as of the last `run` capture)."""
        return self.state

    # -- weights ----------------------------------------------------------------------------------

    def publish(self, force: bool = False) -> None:
        """Put the learner's weights into the object store when newer than the published ones (at most once
        per `config.publish_interval_s`, unless forced)."""
        import ray

        now = time.perf_counter()
        if not force and self.weights is not None and (self.weights.version == self.learner.version
                                                       or now - self.published_at < self.config.publish_interval_s):
            return
        self.weights = PublishedWeights(self.learner.version, ray.put(weights_vector(self.network)))
        self.published_at = time.perf_counter()
        self.timings["publish"] += self.published_at - now

    # -- rollouts and training --------------------------------------------------------------------

    def ingest(self, rollout: Rollout) -> None:
        """Count a rollout's steps and episodes and queue its trajectories for the learner."""
        trajectories = rollout.trajectories
        self.state.env_steps += trajectories.length * trajectories.batch_size
        for summary in rollout.episodes:
            self.state.episodes += 1
            self.observer.on_episode(summary)
        self.runner_seconds["env"] += rollout.env_seconds
        self.runner_seconds["policy"] += rollout.policy_seconds
        self.runner_seconds["device_wait"] += rollout.wait_seconds
        self.rollouts_received += 1
        self.queue.append(trajectories)
        self.queued += trajectories.batch_size

    def _rewards(self, batch: Trajectories) -> None:
        """Shaped rewards of a whole batch, one reward-model call per skill with unseen inputs."""
        shape = batch.reward_skills.shape
        skills = batch.reward_skills.reshape(-1)
        raw = self.rewards.raw(skills, batch.messages.reshape(-1).tolist(), batch.depth_signs.reshape(-1))
        shaped = self.rewards.shaped(skills, raw, batch.message_counts.reshape(-1), batch.score_deltas.reshape(-1))
        self.observer.on_transitions(skills, raw, shaped)
        shaped = shaped.reshape(shape)
        batch.rewards = shaped
        # per-episode shaped return of each skill: trajectories of one env arrive in order
        dones = batch.dones > 0
        for column in range(shape[1]):
            env, ends = batch.env_indices[column], np.flatnonzero(dones[:, column])
            start = 0
            for end in [*ends.tolist(), shape[0] - 1]:
                np.add.at(self.returns[env], batch.reward_skills[start:end + 1, column], shaped[start:end + 1, column])
                self.active[env, batch.reward_skills[start:end + 1, column]] = True
                if end in ends:
                    self.observer.on_skill_returns({SKILL_NAMES[k]: float(self.returns[env, k])
                                                    for k in np.flatnonzero(self.active[env])})
                    self.returns[env] = 0.0
                    self.active[env] = False
                start = end + 1

    def train_ready(self) -> None:
        """One learner update per full batch of queued trajectories."""
        dim = self.learner.batch_dim
        while self.queued >= self.batch_trajectories:
            batch = Trajectories.concat(self.queue, dim) if len(self.queue) > 1 else self.queue[0]
            batch, rest = batch.split(self.batch_trajectories, dim)
            self.queue = [rest] if rest.batch_size else []
            self.queued = rest.batch_size
            self._rewards(batch)
            self.last_update = self.learner.train(batch)
            self.observer.on_update(self.last_update, self.state.env_steps)

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, should_stop: Callable[[], bool], on_checkpoint: Callable[[Engine], None]) -> str:
        """Train until the step budget ("done") or until `should_stop()` ("stopped"); checkpoints on the way."""
        import ray

        init_ray()
        threads = torch.get_num_threads()
        if self.device.type == "cuda":
            torch.set_num_threads(DRIVER_CUDA_THREADS)
        gpus = runner_gpu_share(self.device, ray.available_resources().get("GPU", 0.0), self.config.env_runners)
        remote_runner = ray.remote(num_cpus=1, num_gpus=gpus)(EnvRunner)
        actors = [remote_runner.remote(spec) for spec in self.runner_specs("cuda" if gpus else "cpu")]
        pending: dict[Any, tuple[int, int]] = {}
        sequence = itertools.count()

        def request(index: int) -> None:
            pending[actors[index].rollout.remote(self.weights)] = (index, next(sequence))

        try:
            self.publish(force=True)
            for index in range(len(actors)):
                for _ in range(ROLLOUTS_IN_FLIGHT):
                    request(index)
            next_checkpoint = (self.state.env_steps // self.config.checkpoint_every + 1) * self.config.checkpoint_every
            rate_mark, rate_steps = time.perf_counter(), self.state.env_steps
            while self.state.env_steps < self.config.env_steps:
                mark = time.perf_counter()
                ready, rest = ray.wait(list(pending), num_returns=1)
                if rest:
                    more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                    ready = ready + more
                ready.sort(key=lambda ref: pending[ref][1])  # one actor's rollouts in the order it played them
                fetched = time.perf_counter()
                rollouts = ray.get(ready)
                got = time.perf_counter()
                before = self.state.env_steps
                for ref, rollout in zip(ready, rollouts):
                    request(pending.pop(ref)[0])
                    self.ingest(rollout)
                now = time.perf_counter()
                self.timings["wait"] += fetched - mark
                self.timings["get"] += got - fetched
                self.timings["ingest"] += now - got
                if now - rate_mark >= 1.0:
                    rate = (self.state.env_steps - rate_steps) / (now - rate_mark)
                    rate_mark, rate_steps = now, self.state.env_steps
                    self.observer.on_steps(self.state.env_steps, self.state.env_steps - before, rate)
                self.train_ready()
                self.timings["train"] += time.perf_counter() - now
                self.publish()
                if self.state.env_steps >= next_checkpoint and self.learner.version > 0:
                    self._capture_runner_states(actors)
                    on_checkpoint(self)
                    next_checkpoint += self.config.checkpoint_every
                if should_stop():
                    self._capture_runner_states(actors)
                    return "stopped"
            self._capture_runner_states(actors)
            return "done"
        finally:
            for actor in actors:
                ray.kill(actor)
            torch.set_num_threads(threads)

    def _capture_runner_states(self, actors: list) -> None:
        """Episode counters and sampler states of every runner, into `state` (for a checkpoint)."""
        import ray

        for index, part in enumerate(ray.get([actor.runner_state.remote() for actor in actors])):
            self.state.episode_counters.update(part["episode_counters"])
            self.state.sampler_states[index] = part["sampler_state"]
