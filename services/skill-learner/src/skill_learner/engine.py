"""The training engine: Ray env-runner actors, batched policy inference and the APPO learner.

    env-runner actors (Ray, one process each)      this process (the Ray driver)
    ┌──────────────────────────────┐  step(g, a)   ┌───────────────────────────────────────────────┐
    │ EnvRunner: envs in 2 groups  │ <──────────── │ batched inference on the device (GRU state per │
    │ options runtime per env      │ ────────────> │ env) -> actions; rollouts -> batches of B x T  │
    │ encode_observations          │  GroupResult  │ -> rewards (reward models, one call per skill, │
    └──────────────────────────────┘               │ cached) -> Learner (APPO, V-trace)             │
                                                   └───────────────────────────────────────────────┘

Each actor's environments are split in two groups; both groups of every actor always have a
request in flight, so while the driver infers (or trains) for one group the actor steps the other
(double buffering). Every ready group is served in one forward pass. The same code runs on one
machine (`ray.init()` starts a local Ray) and on a RayCluster (`RAY_ADDRESS` names it; `ray.init()`
connects to it): there is no second implementation.

The engine is plain logic: the job (`train_job.py`) gives it a stop check and a checkpoint callback;
an observer (metrics, TensorBoard) hears about steps, episodes and updates.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from maestro_common.generated.contract import SKILL_NAMES
from skill_learner.learner import Learner, UpdateStats
from skill_learner.plan import APPOConfig
from skill_learner.rewards import SkillRewards
from skill_learner.rollouts import GroupRollout, Trajectories
from skill_learner.runner import EnvRunner, GroupResult, RunnerSpec

log = logging.getLogger(__name__)


class TrainingObserver:
    """Hears what the engine does (the service's metrics and TensorBoard implement it); the base ignores it."""

    def on_steps(self, env_steps: int, new_steps: int, steps_per_s: float) -> None:
        """After each served batch of groups: total env steps and the recent rate."""

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
    sample_generator: list[int] | None = None
    """State of the action-sampling generator (a uint8 tensor as a list)."""

    def to_json(self) -> dict[str, Any]:
        return {"env_steps": self.env_steps, "episodes": self.episodes,
                "episode_counters": {str(k): v for k, v in self.episode_counters.items()},
                "sample_generator": self.sample_generator}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainState:
        return cls(env_steps=int(data["env_steps"]), episodes=int(data["episodes"]),
                   episode_counters={int(k): int(v) for k, v in data["episode_counters"].items()},
                   sample_generator=data.get("sample_generator"))


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
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(config.seed)
        if self.state.sample_generator is not None:
            self.generator.set_state(torch.tensor(self.state.sample_generator, dtype=torch.uint8))
        self.batch_trajectories = config.batch_size // config.rollout_length
        self.queue: list[Trajectories] = []
        self.queued = 0
        self.core = network.initial_state(config.num_envs, device)
        self.initial_core = network.initial_state(config.num_envs, device)
        self.returns = np.zeros((config.num_envs, len(SKILL_NAMES)), dtype=np.float64)
        self.active = np.zeros((config.num_envs, len(SKILL_NAMES)), dtype=bool)
        self.rollouts: dict[tuple[int, int], GroupRollout] = {}
        self.last_update: UpdateStats | None = None
        self.timings = {"wait": 0.0, "get": 0.0, "serve": 0.0, "train": 0.0}
        """Seconds the driver spent waiting for runners, fetching results, serving them and training."""
        self.served_batches = 0
        self.served_envs = 0

    # -- plumbing ---------------------------------------------------------------------------------

    def runner_specs(self) -> list[RunnerSpec]:
        specs, start = [], 0
        for count in self.config.envs_per_runner:
            indices = tuple(range(start, start + count))
            start += count
            specs.append(RunnerSpec(env_indices=indices, skill_code=self.skill_code, policy_code=self.policy_code,
                                    seed=self.config.seed, skill_turns=self.config.skill_turns,
                                    max_episode_steps=self.config.max_episode_steps,
                                    episode_counters={i: self.state.episode_counters.get(i, 0) for i in indices}))
        return specs

    def export_state(self) -> TrainState:
        self.state.sample_generator = self.generator.get_state().tolist()
        return self.state

    # -- inference --------------------------------------------------------------------------------

    @torch.inference_mode()
    def act(self, features: dict[str, np.ndarray], env_indices: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                      torch.Tensor]:
        """Sampled actions, their log-probabilities and the recurrent state rows before acting."""
        dim = self.learner.batch_dim
        rows = torch.as_tensor(env_indices, device=self.device)
        state = self.core.index_select(dim, rows)
        inputs = {key: torch.from_numpy(value).to(self.device, non_blocking=True).unsqueeze(0)
                  for key, value in features.items()}
        self.network.eval()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.learner.autocast):
            logits, _, new_state = self.network(inputs, state)
        log_probs = torch.log_softmax(logits[0].float(), dim=-1).cpu()
        actions = torch.multinomial(log_probs.exp(), 1, generator=self.generator).squeeze(1)
        chosen = log_probs.gather(1, actions.unsqueeze(1)).squeeze(1)
        self.core.index_copy_(dim, rows, new_state.to(self.core.dtype))
        return actions.numpy(), chosen.numpy(), state

    # -- one served group -------------------------------------------------------------------------

    def _record_outcome(self, key: tuple[int, int], result: GroupResult) -> None:
        """The reward inputs and episode ends of the transition the runner just played."""
        self.rollouts[key].add_outcome(result.acted_skills, result.messages, result.depth_signs,
                                       result.message_counts, result.score_deltas, result.dones)
        self.state.env_steps += len(result.acted_skills)
        for summary in result.episodes:
            self.state.episodes += 1
            self.observer.on_episode(summary)
        if result.dones.any():
            rows = torch.as_tensor(result.env_indices[result.dones], device=self.device)
            dim = self.learner.batch_dim
            self.core.index_copy_(dim, rows, self.initial_core.index_select(dim, rows))

    def _rewards(self, batch: Trajectories) -> None:
        """Shaped rewards of a whole batch, one reward-model call per skill with unseen inputs."""
        shape = batch.reward_skills.shape
        skills = batch.reward_skills.reshape(-1)
        raw = self.rewards.raw(skills, batch.messages.reshape(-1).tolist(), batch.depth_signs.reshape(-1))
        shaped = self.rewards.shaped(skills, raw, batch.message_counts.reshape(-1), batch.score_deltas.reshape(-1))
        self.observer.on_transitions(skills, raw, shaped)
        shaped = shaped.reshape(shape)
        batch.rewards = torch.from_numpy(shaped)
        # per-episode shaped return of each skill: trajectories of one env arrive in order
        dones = batch.dones.numpy() > 0
        envs = batch.env_indices.numpy()
        for column in range(shape[1]):
            env, ends = envs[column], np.flatnonzero(dones[:, column])
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

    def _serve(self, ready: list[tuple[tuple[int, int], GroupResult]]) -> list[tuple[tuple[int, int], np.ndarray]]:
        """Actions for every ready group, in one forward pass."""
        for key, result in ready:
            if key not in self.rollouts:
                self.rollouts[key] = GroupRollout(result.env_indices, self.config.rollout_length)
            elif (result.acted_skills >= 0).all():
                self._record_outcome(key, result)
            rollout = self.rollouts[key]
            if rollout.ready():
                self._enqueue(rollout.take(result.features, result.skills))
        features = {name: np.concatenate([r.features[name] for _, r in ready]) for name in ready[0][1].features}
        env_indices = np.concatenate([r.env_indices for _, r in ready])
        actions, log_probs, state = self.act(features, env_indices)
        out, start = [], 0
        for key, result in ready:
            n = len(result.env_indices)
            part = slice(start, start + n)
            state_part = state.narrow(self.learner.batch_dim, start, n)
            self.rollouts[key].add_decision({name: value[part] for name, value in features.items()}, result.skills,
                                            state_part, actions[part], log_probs[part], self.learner.version)
            out.append((key, actions[part]))
            start += n
        return out

    def _enqueue(self, trajectories: Trajectories) -> None:
        self.queue.append(trajectories)
        self.queued += trajectories.batch_size

    def _train_ready(self) -> None:
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
        remote_runner = ray.remote(num_cpus=1)(EnvRunner)
        actors = [remote_runner.remote(spec) for spec in self.runner_specs()]
        pending: dict[Any, tuple[int, int]] = {}
        try:
            groups = ray.get([actor.group_count.remote() for actor in actors])
            for index, (actor, count) in enumerate(zip(actors, groups)):
                for group in range(count):
                    pending[actor.start.remote(group)] = (index, group)
            next_checkpoint = (self.state.env_steps // self.config.checkpoint_every + 1) * self.config.checkpoint_every
            rate_mark, rate_steps = time.perf_counter(), self.state.env_steps
            while self.state.env_steps < self.config.env_steps:
                mark = time.perf_counter()
                ready_refs, _ = ray.wait(list(pending), num_returns=1)
                more, _ = ray.wait([r for r in pending if r not in ready_refs], num_returns=len(pending) - 1,
                                   timeout=0) if len(pending) > 1 else ([], [])
                ready_refs = list(ready_refs) + list(more)
                fetched = time.perf_counter()
                results = ray.get(ready_refs)
                ready = [(pending.pop(ref), result) for ref, result in zip(ready_refs, results)]
                before = self.state.env_steps
                served = time.perf_counter()
                for (index, group), actions in self._serve(ready):
                    pending[actors[index].step.remote(group, actions)] = (index, group)
                now = time.perf_counter()
                self.timings["wait"] += fetched - mark
                self.timings["get"] += served - fetched
                self.timings["serve"] += now - served
                self.served_batches += 1
                self.served_envs += sum(len(result.env_indices) for _, result in ready)
                if now - rate_mark >= 1.0:
                    rate = (self.state.env_steps - rate_steps) / (now - rate_mark)
                    rate_mark, rate_steps = now, self.state.env_steps
                    self.observer.on_steps(self.state.env_steps, self.state.env_steps - before, rate)
                self._train_ready()
                self.timings["train"] += time.perf_counter() - now
                if self.state.env_steps >= next_checkpoint and self.learner.version > 0:
                    self.state.episode_counters = self._counters(actors)
                    on_checkpoint(self)
                    next_checkpoint += self.config.checkpoint_every
                if should_stop():
                    self.state.episode_counters = self._counters(actors)
                    return "stopped"
            self.state.episode_counters = self._counters(actors)
            return "done"
        finally:
            for actor in actors:
                ray.kill(actor)

    def _counters(self, actors: list) -> dict[int, int]:
        import ray

        counters: dict[int, int] = {}
        for part in ray.get([actor.episode_counters.remote() for actor in actors]):
            counters.update(part)
        return counters
