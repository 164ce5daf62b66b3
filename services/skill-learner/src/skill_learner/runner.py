"""The env runner: many NetHack environments with their options runtime, acting with its own copy of the policy.

One `EnvRunner` lives in each Ray env-runner actor (see `engine.py`); it is plain Python, so tests
can also drive it in process. Each call of `rollout` plays T steps in every environment and returns
them as one `Rollout`: a ready-made [T, B] batch of trajectories for the learner. The runner does
its own batched inference (`inference.RunnerPolicy`: the network on the runner's device, the GRU
state of each environment, action sampling) with the newest weights the learner published when the
rollout began. Its environments are split into `groups` (two: double buffering): while the device
computes the next actions of one group, the runner steps the other.

Per environment, after every step: the options runtime is told the new observation (and may end
the active skill and let pi_T choose the next); the reward inputs of the transition are recorded
(the skill that acted, the new message, the sign of the depth change since that skill started,
the count of the message in the episode's last 20 messages, the game-score change); a finished
episode is closed, its GRU state zeroed and a new one started with the next seed. What the
network reads is the encoded observation (`skillnet.encode_observations`), never the raw one; the
rewards themselves are computed in the learner.

Seeds. Episode k of environment e plays with `episode_seed(seed, e, k)`, and pi_T's random numbers
come from a generator seeded the same way, so a runner started with the counters saved in a
checkpoint continues the sequence of episodes exactly where the saved run was; the action
sampler's generator state is saved and restored with them.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maestro_common.errors import Internal
from maestro_common.nethack.env import EnvConfig, MaestroEnv
from maestro_common.nethack.features import BL_DEPTH, message_text
from maestro_common.reward.shaping import EpisodeMessageCounter
from skill_learner.inference import PublishedWeights, RunnerPolicy
from skill_learner.rollouts import GroupRollout, Trajectories

MAX_START_ATTEMPTS = 5
"""Seeds tried in a row when a game fails to start (NetHack occasionally stalls at start-up)."""


def episode_seed(base_seed: int, env_index: int, episode: int) -> int:
    """A 63-bit seed for episode `episode` of environment `env_index`."""
    digest = hashlib.blake2b(f"skills:{base_seed}:{env_index}:{episode}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


@dataclass(frozen=True)
class RunnerSpec:
    """Everything an env runner needs to build its environments and policy (picklable: it travels to Ray actors)."""

    index: int
    """The runner's number (names its action-sampling generator stream)."""
    env_indices: tuple[int, ...]
    """Global indices of this runner's environments."""
    skill_code: dict[str, str]
    """Generated initiation/termination source per skill (a codegen "skill_functions" artifact's code)."""
    policy_code: str
    """Generated select_skill source (a codegen "policy" artifact's code)."""
    seed: int
    """The run's seed: episode seeds and the action sampler derive from it."""
    skill_turns: int
    """N: Discoverer lasts N game turns, Worshipper and Merchant 20 x N."""
    max_episode_steps: int
    """Step cap per episode."""
    rollout_length: int
    """T: steps per rollout (per trajectory)."""
    network_config: dict[str, Any]
    """`SkillNetConfig.to_json()` of the network the learner trains."""
    device: str = "cpu"
    """Where the runner's copy of the network runs: "cpu", or "cuda" in an actor given a share of a GPU."""
    bf16: bool = False
    """Run inference under bf16 autocast (CUDA only), as the learner does."""
    episode_counters: dict[int, int] = field(default_factory=dict)
    """Episodes already started per global env index (from a checkpoint); missing = 0."""
    sampler_state: dict[str, Any] | None = None
    """State of the action-sampling generator (from a checkpoint); None starts its stream afresh."""
    groups: int = 2
    """Groups stepped separately (2 = double buffering)."""


@dataclass
class Rollout:
    """What one `EnvRunner.rollout` sends back."""

    trajectories: Trajectories
    """[T, B] over all of the runner's environments, acted by weights `trajectories.policy_versions`."""
    episodes: list[dict[str, Any]]
    """One summary per episode that ended during the rollout."""
    env_seconds: float
    """Time spent stepping environments (options runtime and encoding included)."""
    policy_seconds: float
    """The rest of the rollout's time: inference (launching forward passes, waiting for them, sampling, loading
    weights) and assembling the batch."""
    wait_seconds: float
    """The part of `policy_seconds` spent waiting for the device to finish a forward pass."""


class _EnvSlot:
    """One environment with its options runtime and episode bookkeeping."""

    def __init__(self, index: int, spec: RunnerSpec, skill_functions, policy):
        from maestro_common.options import OptionsRuntime

        self.index, self.spec = index, spec
        self.env = MaestroEnv(EnvConfig(max_episode_steps=spec.max_episode_steps))
        self.skill_functions, self.policy = skill_functions, policy
        self.runtime_cls = OptionsRuntime
        self.episode = spec.episode_counters.get(index, 0)
        self.counter = EpisodeMessageCounter()
        self.obs: dict[str, np.ndarray] = {}
        self.skill = 0
        self.record_key: tuple[int, int] | None = None
        self.start_depth = 1
        self.max_depth = 1
        self.steps = 0
        self.score = 0.0
        self.start_failures = 0

    def start_episode(self) -> None:
        """Start the next episode; a seed whose game fails to start is skipped (counted) for the next one."""
        for _ in range(MAX_START_ATTEMPTS):
            seed = episode_seed(self.spec.seed, self.index, self.episode)
            self.episode += 1
            try:
                self.obs = self.env.reset(seed)
                break
            except Internal:
                self.start_failures += 1
                self.env.close()
                self.env = MaestroEnv(EnvConfig(max_episode_steps=self.spec.max_episode_steps))
        else:
            raise Internal(f"environment {self.index}: {MAX_START_ATTEMPTS} games in a row failed to start")
        self.runtime = self.runtime_cls(self.skill_functions, self.policy, skill_turns=self.spec.skill_turns,
                                        rng=np.random.default_rng(seed), new_items_tracker=self.env.new_items_tracker)
        self.counter.reset()
        self.skill = self.runtime.reset(self.obs)
        self.max_depth = int(self.obs["blstats"][BL_DEPTH])
        self.steps, self.score = 0, 0.0
        self.record_key = None
        self._note_skill_start()

    def _note_skill_start(self) -> None:
        """Record the depth at which the active skill (timeline record) started."""
        timeline = self.runtime.timeline
        key = (len(timeline), timeline[-1].start_step if timeline else 0)
        if key != self.record_key:
            self.record_key = key
            self.start_depth = int(self.obs["blstats"][BL_DEPTH])

    def step(self, action: int) -> tuple[int, str, int, int, float, bool, dict[str, Any] | None]:
        """(acted skill, message, depth sign, message count, score delta, done, episode summary or None)."""
        acted = self.skill
        self.obs, score_delta, terminated, truncated, _ = self.env.step(int(action))
        self.steps += 1
        self.score += score_delta
        message = message_text(self.obs)
        depth = int(self.obs["blstats"][BL_DEPTH])
        self.max_depth = max(self.max_depth, depth)
        sign = int(np.sign(depth - self.start_depth))
        count = self.counter.observe(message)
        done = terminated or truncated
        summary = None
        if done:
            self.runtime.end_episode(self.obs)
            summary = self._summary(terminated)
            self.start_episode()
        else:
            self.skill = self.runtime.step(self.obs)
            self._note_skill_start()
        return acted, message, sign, count, float(score_delta), done, summary

    def _summary(self, terminated: bool) -> dict[str, Any]:
        records = [{"skill": r.skill, "steps": r.end_step - r.start_step, "turns": r.end_turn - r.start_turn,
                    "reason": r.end_reason} for r in self.runtime.timeline]
        return {"env": self.index, "episode": self.episode - 1, "steps": self.steps, "score": self.score,
                "max_depth": self.max_depth, "died": bool(terminated), "skills": records,
                "code_errors": dict(self.runtime.error_counts), "start_failures": self.start_failures}


class EnvRunner:
    """Plays rollouts with its own copy of the policy; see the module docstring."""

    def __init__(self, spec: RunnerSpec):
        import torch

        from maestro_common.generated import load_policy, load_skill_functions
        from maestro_common.skillnet import SkillNetConfig, SkillNetwork
        from skill_learner.learner import state_batch_dim

        torch.set_num_threads(1)  # one core per runner: stepping and inference share it
        self.spec = spec
        skill_functions = load_skill_functions(spec.skill_code)
        policy = load_policy(spec.policy_code)
        self.slots = [_EnvSlot(index, spec, skill_functions, policy) for index in spec.env_indices]
        groups = max(1, min(spec.groups, len(self.slots)))
        self.groups = [self.slots[g::groups] for g in range(groups)]
        device = torch.device(spec.device)
        network = SkillNetwork(SkillNetConfig.from_json(spec.network_config))
        self.policy = RunnerPolicy(network, [len(g) for g in self.groups], device,
                                   autocast=spec.bf16 and device.type == "cuda",
                                   state_batch_dim=state_batch_dim(network, device),
                                   generator_state=spec.sampler_state, seed=[spec.seed, spec.index])
        self.rollouts = [GroupRollout(np.array([s.index for s in g], dtype=np.int64), spec.rollout_length)
                         for g in self.groups]
        self.features: list[dict[str, np.ndarray]] = []

    def runner_state(self) -> dict[str, Any]:
        """What a checkpoint saves of this runner: episodes started per env index, the sampler's state."""
        return {"episode_counters": {slot.index: slot.episode for slot in self.slots},
                "sampler_state": self.policy.generator_state()}

    def rollout(self, weights: PublishedWeights) -> Rollout:
        """T steps in every environment with `weights` (loaded if newer than the ones in use)."""
        started, waited = time.perf_counter(), self.policy.wait_seconds
        self.policy.load(weights)
        if not self.features:  # the first rollout starts every episode
            for group, slots in enumerate(self.groups):
                for slot in slots:
                    slot.start_episode()
                self.features.append(self._encode(group))
        episodes: list[dict[str, Any]] = []
        env_seconds = 0.0
        for group, rollout in enumerate(self.rollouts):
            rollout.begin(self.policy.state(group))
            self.policy.launch(group, self.features[group])
        for _ in range(self.spec.rollout_length):
            for group, rollout in enumerate(self.rollouts):
                actions, log_probs = self.policy.collect(group)
                rollout.add_decision(self.features[group], actions, log_probs)
                stepped = time.perf_counter()
                dones = self._step(group, actions, rollout, episodes)
                self.features[group] = self._encode(group)
                env_seconds += time.perf_counter() - stepped
                self.policy.reset(group, dones)
                if not rollout.ready():
                    self.policy.launch(group, self.features[group])
        parts = [rollout.take(self.features[group], self.policy.version) for group, rollout in enumerate(self.rollouts)]
        trajectories = Trajectories.concat(parts, self.policy.batch_dim) if len(parts) > 1 else parts[0]
        total = time.perf_counter() - started
        return Rollout(trajectories=trajectories, episodes=episodes, env_seconds=env_seconds,
                       policy_seconds=total - env_seconds, wait_seconds=self.policy.wait_seconds - waited)

    def _step(self, group: int, actions: np.ndarray, rollout: GroupRollout, episodes: list[dict[str, Any]]
              ) -> np.ndarray:
        """Play `actions` in the environments of `group`; record the outcomes; the done flags."""
        slots = self.groups[group]
        n = len(slots)
        acted = np.empty(n, dtype=np.int64)
        signs = np.empty(n, dtype=np.int8)
        counts = np.empty(n, dtype=np.int64)
        scores = np.empty(n, dtype=np.float32)
        dones = np.empty(n, dtype=bool)
        messages: list[str] = []
        for row, (slot, action) in enumerate(zip(slots, actions.tolist())):
            acted[row], message, signs[row], counts[row], scores[row], dones[row], summary = slot.step(action)
            messages.append(message)
            if summary is not None:
                episodes.append(summary)
        rollout.add_outcome(acted, messages, signs, counts, scores, dones)
        return dones

    def _encode(self, group: int) -> dict[str, np.ndarray]:
        """The network inputs of the current observations of `group`."""
        from maestro_common.skillnet import encode_observations

        slots = self.groups[group]
        return encode_observations([slot.obs for slot in slots], np.array([s.skill for s in slots], dtype=np.int64))

    def close(self) -> None:
        for slot in self.slots:
            slot.env.close()
