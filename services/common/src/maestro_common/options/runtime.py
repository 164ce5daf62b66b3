"""`OptionsRuntime`: call-and-return skills under a policy over skills; the rules are in the package docstring."""

from __future__ import annotations

import random as _random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from maestro_common.errors import FailedPrecondition, InvalidArgument
from maestro_common.generated.artifact import CodeArtifact, load_artifact
from maestro_common.generated.contract import SKILL_NAMES, SkillContext, Snapshot
from maestro_common.generated.loader import SkillFunctions
from maestro_common.nethack.features import NewItemsTracker
from maestro_common.options.tracker import GameTracker, Observation

PolicyFunction = Callable[[SkillContext, list[str], dict], str]
"""pi_T: select_skill(ctx, available, state) -> skill name."""

SKILL_INDEX: dict[str, int] = {name: index for index, name in enumerate(SKILL_NAMES)}
"""Skill name -> index in SKILL_NAMES (the one-hot position)."""

END_REASONS: tuple[str, ...] = ("termination", "budget", "precondition", "termination_error", "episode_end")
"""Why a skill ended, as `SkillRecord.end_reason` says it."""

CHOSEN_BY: tuple[str, ...] = ("policy", "fallback", "policy_error")
"""How a skill was chosen: by pi_T, because nothing was available, or after pi_T failed."""

MAX_RECENT_ERRORS = 20
"""Generated-code error messages kept in `OptionsRuntime.recent_errors`."""


def skill_time_budget(skill: str, skill_turns: int) -> int | None:
    """Game turns a skill may run: Discoverer N, Worshipper and Merchant 20 x N, others unbounded (None)."""
    if skill == "Discoverer":
        return skill_turns
    if skill in ("Worshipper", "Merchant"):
        return 20 * skill_turns
    return None


@dataclass
class SkillRecord:
    """One run of a skill in the episode's timeline."""

    skill: str
    """The skill's name."""
    skill_index: int
    """Its index in SKILL_NAMES."""
    start_step: int
    """Runtime step (env steps since reset) at which it started."""
    start_turn: int
    """Game turn at which it started."""
    chosen_by: str
    """"policy", "fallback" (nothing available) or "policy_error" (pi_T failed)."""
    end_step: int | None = None
    """Step at which it ended (None while running)."""
    end_turn: int | None = None
    """Game turn at which it ended (None while running)."""
    end_reason: str | None = None
    """One of END_REASONS (None while running)."""
    interruptions: int = 0
    """Times a precondition interrupted it and pi_T picked it again (it went on)."""

    @property
    def steps(self) -> int | None:
        """Env steps it ran (None while running)."""
        return None if self.end_step is None else self.end_step - self.start_step


class RandomSkillPolicy:
    """Baseline pi_T: uniform among the available skills, using `ctx.random` (so a seeded runtime replays)."""

    def __call__(self, ctx: SkillContext, available: list[str], state: dict) -> str:
        if not available:
            raise FailedPrecondition("RandomSkillPolicy needs at least one available skill")
        return available[min(int(ctx.random * len(available)), len(available) - 1)]


class OptionsRuntime:
    """Call-and-return options for one environment; see `maestro_common.options` for the rules."""

    def __init__(self, skill_functions: Mapping[str, SkillFunctions], policy: PolicyFunction, *, skill_turns: int,
                 rng: np.random.Generator | _random.Random, new_items_tracker: NewItemsTracker | None = None,
                 fallback_skill: str = "Discoverer"):
        unknown = sorted(set(skill_functions) - set(SKILL_NAMES))
        if unknown or not skill_functions:
            raise InvalidArgument("skill_functions",
                                  f"skills must be among {SKILL_NAMES}; got {sorted(skill_functions)}")
        if fallback_skill not in skill_functions:
            raise InvalidArgument("fallback_skill", f"{fallback_skill!r} has no loaded functions")
        if not isinstance(skill_turns, int) or skill_turns <= 0:
            raise InvalidArgument("skill_turns", f"must be a positive integer, got {skill_turns!r}")
        self._functions = {name: skill_functions[name] for name in SKILL_NAMES if name in skill_functions}
        self._policy = policy
        self.skill_turns = skill_turns
        """N: Discoverer lasts N game turns, Worshipper and Merchant 20 x N."""
        self._rng = rng
        self.fallback_skill = fallback_skill
        """The skill run when no initiation holds."""
        self.tracker = GameTracker(new_items_tracker)
        """The episode's game tracker (read it for the current Snapshot)."""
        self.timeline: list[SkillRecord] = []
        """Every skill run of the episode, in order; the last one may be running."""
        self.error_counts: dict[str, int] = {"initiation": 0, "termination": 0, "policy": 0}
        """Generated-code failures caught since construction, per kind."""
        self.recent_errors: deque[str] = deque(maxlen=MAX_RECENT_ERRORS)
        """The last failure messages ("kind: message")."""
        self.decisions = 0
        """Times pi_T was consulted (or the fallback applied) since construction."""
        self.switched = False
        """Whether the last reset/step started a new skill run (a new timeline record)."""
        self._state: dict[str, Any] = {}
        self._step = 0
        self._active: str = ""
        self._start: Snapshot | None = None
        self._merchant = False
        self._worshipper = False

    @classmethod
    def from_artifacts(cls, skill_functions_artifact: CodeArtifact, policy_artifact: CodeArtifact, *,
                       skill_turns: int, rng: np.random.Generator | _random.Random, step_limit: int | None = None,
                       **kwargs: Any) -> OptionsRuntime:
        """A runtime over parsed code artifacts (roles "skill_functions" and "policy"), loaded restricted."""
        if skill_functions_artifact.role != "skill_functions":
            raise InvalidArgument("skill_functions_artifact", f"role is {skill_functions_artifact.role!r}")
        if policy_artifact.role != "policy":
            raise InvalidArgument("policy_artifact", f"role is {policy_artifact.role!r}")
        functions = load_artifact(skill_functions_artifact, step_limit=step_limit)
        policy = load_artifact(policy_artifact, step_limit=step_limit)
        return cls(functions, policy, skill_turns=skill_turns, rng=rng, **kwargs)  # type: ignore[arg-type]

    # -- state ------------------------------------------------------------------------------------

    @property
    def active_skill(self) -> str:
        """The running skill's name ("" before reset)."""
        return self._active

    @property
    def active_index(self) -> int:
        """The running skill's index in SKILL_NAMES."""
        if not self._active:
            raise FailedPrecondition("no skill is running: call reset(obs) first")
        return SKILL_INDEX[self._active]

    @property
    def steps(self) -> int:
        """Env steps seen since reset."""
        return self._step

    @property
    def policy_state(self) -> dict[str, Any]:
        """pi_T's memory for this episode."""
        return self._state

    def skill_one_hot(self) -> np.ndarray:
        """float32 [len(SKILL_NAMES)]: 1 at the running skill."""
        one_hot = np.zeros(len(SKILL_NAMES), dtype=np.float32)
        one_hot[self.active_index] = 1.0
        return one_hot

    # -- the loop ---------------------------------------------------------------------------------

    def reset(self, obs: Observation) -> int:
        """Starts an episode at its first observation; returns the first skill's index."""
        self.tracker.reset(obs)
        self.timeline = []
        self._state = {}
        self._step = 0
        self._active = ""
        self._start = None
        self._merchant = self.tracker.merchant_precondition
        self._worshipper = self.tracker.worshipper_precondition
        self._choose(previous=None)
        return self.active_index

    def step(self, obs: Observation) -> int:
        """After an env step: update, end the skill if it must, choose the next; returns the running index."""
        if not self._active:
            raise FailedPrecondition("OptionsRuntime.step before reset: call reset(first observation)")
        self._step += 1
        self.tracker.update(obs)
        merchant, worshipper = self.tracker.merchant_precondition, self.tracker.worshipper_precondition
        appeared = ((merchant and not self._merchant and self._active != "Merchant")
                    or (worshipper and not self._worshipper and self._active != "Worshipper"))
        self._merchant, self._worshipper = merchant, worshipper
        reason = self._end_reason(appeared)
        self.switched = False
        if reason is not None:
            self._choose(previous=reason)
        return self.active_index

    def end_episode(self, obs: Observation | None = None) -> None:
        """Closes the running record with reason "episode_end" (call when the env reports done)."""
        if obs is not None:
            self._step += 1
            self.tracker.update(obs)
        if self.timeline and self.timeline[-1].end_reason is None:
            self._close(self.timeline[-1], "episode_end")

    def _end_reason(self, precondition_appeared: bool) -> str | None:
        """Why the running skill ends now, or None."""
        ctx = self._context()
        try:
            terminated = self._functions[self._active].termination(ctx)
        except Exception as error:  # generated code: count it, end the skill, never crash the runner
            self._count("termination", error)
            return "termination_error"
        if terminated:
            return "termination"
        budget = skill_time_budget(self._active, self.skill_turns)
        if budget is not None and ctx.turns_since_skill_start >= budget:
            return "budget"
        if precondition_appeared:
            return "precondition"
        return None

    def _context(self) -> SkillContext:
        return self.tracker.context(self._start, self._active, self.skill_turns, self._rng.random())

    def _count(self, kind: str, error: BaseException) -> None:
        self.error_counts[kind] += 1
        self.recent_errors.append(f"{kind}: {type(error).__name__}: {error}")

    def _available(self) -> list[str]:
        """Skills whose initiation holds now, in SKILL_NAMES order (a failing initiation counts as False)."""
        available = []
        for name, functions in self._functions.items():
            try:
                if functions.initiation(self._context()):
                    available.append(name)
            except Exception as error:  # generated code
                self._count("initiation", error)
        return available

    def _choose(self, previous: str | None) -> None:
        """Ends the running skill for `previous` (a reason) and starts the one pi_T picks."""
        self.decisions += 1
        available = self._available()
        chosen_by = "policy"
        if not available:
            choice, chosen_by = self.fallback_skill, "fallback"
        else:
            try:
                choice = self._policy(self._context(), list(available), self._state)
                if choice not in available:
                    raise FailedPrecondition(f"pi_T chose {choice!r}, not among the available {available}")
            except Exception as error:  # generated code
                self._count("policy", error)
                choice, chosen_by = available[0], "policy_error"
        running = self.timeline[-1] if self.timeline and self.timeline[-1].end_reason is None else None
        if running is not None and previous == "precondition" and choice == running.skill:
            running.interruptions += 1  # the interrupted skill goes on with its start and budget
            return
        if running is not None:
            self._close(running, previous or "termination")
        now = self.tracker.snapshot()
        self._active, self._start = choice, now
        self.switched = True
        self.timeline.append(SkillRecord(skill=choice, skill_index=SKILL_INDEX[choice], start_step=self._step,
                                         start_turn=now.turn, chosen_by=chosen_by))

    def _close(self, record: SkillRecord, reason: str) -> None:
        record.end_step, record.end_turn, record.end_reason = self._step, self.tracker.snapshot().turn, reason
