"""The env runner: many NetHack environments, each with its options runtime, stepped in groups.

One `EnvRunner` lives in each Ray env-runner actor (see `engine.py`); it is plain Python, so tests
can also drive it in process. Its environments are split into `groups` (two: double buffering):
while the learner picks actions for one group, the runner steps the other.

Per environment, after every step: the options runtime is told the new observation (and may end
the active skill and let pi_T choose the next); the reward inputs of the transition are recorded
(the skill that acted, the new message, the sign of the depth change since that skill started,
the count of the message in the episode's last 20 messages, the game-score change); a finished
episode is closed and a new one started with the next seed. What goes back to the learner is the
encoded observation for the next decision (`skillnet.encode_observations`) plus those inputs:
a few hundred bytes per environment, never the raw observation.

Seeds. Episode k of environment e plays with `episode_seed(seed, e, k)`, and pi_T's random numbers
come from a generator seeded the same way, so a runner started with the counters saved in a
checkpoint continues the sequence of episodes exactly where the saved run was.
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

MAX_START_ATTEMPTS = 5
"""Seeds tried in a row when a game fails to start (NetHack occasionally stalls at start-up)."""


def episode_seed(base_seed: int, env_index: int, episode: int) -> int:
    """A 63-bit seed for episode `episode` of environment `env_index`."""
    digest = hashlib.blake2b(f"skills:{base_seed}:{env_index}:{episode}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


@dataclass(frozen=True)
class RunnerSpec:
    """Everything an env runner needs to build its environments (picklable: it travels to Ray actors)."""

    env_indices: tuple[int, ...]
    """Global indices of this runner's environments."""
    skill_code: dict[str, str]
    """Generated initiation/termination source per skill (a codegen "skill_functions" artifact's code)."""
    policy_code: str
    """Generated select_skill source (a codegen "policy" artifact's code)."""
    seed: int
    skill_turns: int
    max_episode_steps: int
    episode_counters: dict[int, int] = field(default_factory=dict)
    """Episodes already started per global env index (from a checkpoint); missing = 0."""
    groups: int = 2
    """Groups stepped separately (2 = double buffering)."""


@dataclass
class GroupResult:
    """What one `step`/`start` of a group sends back (numpy arrays, one row per environment)."""

    group: int
    env_indices: np.ndarray
    """int64 [n]: global env index of each row."""
    features: dict[str, np.ndarray]
    """The encoded observations for the next decision (`skillnet.encode_observations`)."""
    skills: np.ndarray
    """int64 [n]: the skill active for the next decision."""
    acted_skills: np.ndarray
    """int64 [n]: the skill that chose the action of the transition just played (-1 at `start`)."""
    messages: list[str]
    """The message after the transition (the reward model's input)."""
    depth_signs: np.ndarray
    """int8 [n]: sign of the depth change since the acting skill started."""
    message_counts: np.ndarray
    """int64 [n]: occurrences of the message in the episode's last 20 messages (>= 1)."""
    score_deltas: np.ndarray
    """float32 [n]: game-score change of the transition."""
    dones: np.ndarray
    """bool [n]: the transition ended the episode (terminated or truncated; a new episode follows)."""
    episodes: list[dict[str, Any]]
    """One summary per episode that ended in this step."""
    step_seconds: float
    """Time spent stepping environments (not encoding)."""


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
    """Steps groups of environments; see the module docstring."""

    def __init__(self, spec: RunnerSpec):
        from maestro_common.generated import load_policy, load_skill_functions

        self.spec = spec
        skill_functions = load_skill_functions(spec.skill_code)
        policy = load_policy(spec.policy_code)
        self.slots = [_EnvSlot(index, spec, skill_functions, policy) for index in spec.env_indices]
        groups = max(1, min(spec.groups, len(self.slots)))
        self.groups = [self.slots[g::groups] for g in range(groups)]

    def group_count(self) -> int:
        """How many groups `start` and `step` take (a method, so Ray actors can answer it)."""
        return len(self.groups)

    def episode_counters(self) -> dict[int, int]:
        """Episodes started per env index (saved in checkpoints)."""
        return {slot.index: slot.episode for slot in self.slots}

    def start(self, group: int) -> GroupResult:
        """Start an episode in every environment of `group`; the first observations."""
        started = time.perf_counter()
        for slot in self.groups[group]:
            slot.start_episode()
        n = len(self.groups[group])
        return self._result(group, time.perf_counter() - started, acted=np.full(n, -1, dtype=np.int64),
                            messages=[""] * n, signs=np.zeros(n, dtype=np.int8),
                            counts=np.ones(n, dtype=np.int64), scores=np.zeros(n, dtype=np.float32),
                            dones=np.zeros(n, dtype=bool), episodes=[])

    def step(self, group: int, actions: np.ndarray) -> GroupResult:
        """Play one action in every environment of `group` (actions in the group's row order)."""
        slots = self.groups[group]
        if len(actions) != len(slots):
            raise ValueError(f"group {group} has {len(slots)} environments but {len(actions)} actions came")
        n = len(slots)
        acted = np.empty(n, dtype=np.int64)
        signs = np.empty(n, dtype=np.int8)
        counts = np.empty(n, dtype=np.int64)
        scores = np.empty(n, dtype=np.float32)
        dones = np.empty(n, dtype=bool)
        messages: list[str] = []
        episodes: list[dict[str, Any]] = []
        started = time.perf_counter()
        for row, (slot, action) in enumerate(zip(slots, actions.tolist())):
            acted[row], message, signs[row], counts[row], scores[row], dones[row], summary = slot.step(action)
            messages.append(message)
            if summary is not None:
                episodes.append(summary)
        return self._result(group, time.perf_counter() - started, acted=acted, messages=messages, signs=signs,
                            counts=counts, scores=scores, dones=dones, episodes=episodes)

    def _result(self, group: int, seconds: float, *, acted, messages, signs, counts, scores, dones,
                episodes) -> GroupResult:
        from maestro_common.skillnet import encode_observations

        slots = self.groups[group]
        skills = np.array([slot.skill for slot in slots], dtype=np.int64)
        features = encode_observations([slot.obs for slot in slots], skills)
        return GroupResult(group=group, env_indices=np.array([s.index for s in slots], dtype=np.int64),
                           features=features, skills=skills, acted_skills=acted, messages=messages,
                           depth_signs=signs, message_counts=counts, score_deltas=scores, dones=dones,
                           episodes=episodes, step_seconds=seconds)

    def close(self) -> None:
        for slot in self.slots:
            slot.env.close()

