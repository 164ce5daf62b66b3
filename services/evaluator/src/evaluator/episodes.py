"""Frozen skills play evaluation episodes: N environments in lockstep, one batched network call per step.

Each environment slot plays its share of the seeds one after another. At every step the
`SkillActor` picks actions for all slots at once (on the GPU when there is one); each env steps;
its `OptionsRuntime` (call-and-return skills under the task policy) updates the active skill; the
`FactsTracker` and the task's detector read the new observation. When an episode ends its record
(seed, outcome, steps, skill timeline, final depth/branch/XP/gold, milestones, progression) is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from evaluator.detectors import Detector
from evaluator.facts import OBSERVATION_KEYS, FactsTracker
from maestro_common.generated.contract import SKILL_NAMES
from maestro_common.generated.loader import SkillFunctions
from maestro_common.nethack.env import DEFAULT_OBSERVATION_KEYS, EnvConfig, MaestroEnv
from maestro_common.options import OptionsRuntime
from maestro_common.options.tracker import branch_name


@dataclass
class EpisodeRecord:
    """One played episode."""

    seed: int
    outcome: float | None
    """1/0 for a success task, the count for a count task, None without a success check."""
    success_step: int | None
    steps: int
    progression: float | None
    milestones: dict[str, int]
    """Milestone -> step first reached."""
    depth: int
    branch: str
    xp_level: int
    gold: int
    kills: int
    end: str
    """"died", "escaped", "truncated" or "other" (NetHack's end when the game ended)."""
    timeline: list[dict] = field(default_factory=list)
    """Skill runs: skill, start_step, end_step, end_reason."""

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class PlayResult:
    records: list[EpisodeRecord]
    env_steps: int
    seconds: float
    """Time spent playing (with several processes: the longest one's, start-up excluded)."""
    wall_seconds: float = 0.0
    """Wall time including process start-up (several processes only)."""


def _end_name(how_done: int | None, truncated: bool) -> str:
    if truncated:
        return "truncated"
    from nle import nethack

    if how_done == int(nethack.ESCAPED):
        return "escaped"
    if how_done is not None and how_done <= int(nethack.DIED) + 12:
        return "died"
    return "other"


class _Slot:
    def __init__(self, env: MaestroEnv, runtime: OptionsRuntime):
        self.env, self.runtime = env, runtime
        self.tracker = FactsTracker()
        self.detector: Detector | None = None
        self.seed: int | None = None
        self.obs = None
        self.skill = 0


def play(seeds: list[int], *, actor, skill_functions: dict[str, SkillFunctions], policy,
         make_detector: Callable[[], Detector] | None, num_envs: int, max_steps: int, skill_turns: int,
         rng_seed: int = 0, on_episode: Callable[[EpisodeRecord], None] | None = None,
         check: Callable[[], None] = lambda: None, on_steps: Callable[[int], None] = lambda n: None) -> PlayResult:
    """Play one episode per seed; `check` is called every step (raises to cancel)."""
    keys = tuple(dict.fromkeys(DEFAULT_OBSERVATION_KEYS + OBSERVATION_KEYS))
    config = EnvConfig(max_episode_steps=max_steps, observation_keys=keys)
    num_envs = max(1, min(num_envs, len(seeds)))
    queue = list(seeds)
    slots: list[_Slot] = []
    records: list[EpisodeRecord] = []
    steps_total, started = 0, time.perf_counter()
    try:
        for index in range(num_envs):
            env = MaestroEnv(config)
            runtime = OptionsRuntime(skill_functions, policy, skill_turns=skill_turns,
                                     rng=np.random.default_rng([rng_seed, index]),
                                     new_items_tracker=env.new_items_tracker)
            slots.append(_Slot(env, runtime))

        def start(index: int) -> bool:
            slot = slots[index]
            if not queue:
                slot.seed = None
                return False
            slot.seed = queue.pop(0)
            slot.obs = slot.env.reset(seed=slot.seed)
            slot.skill = slot.runtime.reset(slot.obs)
            slot.detector = make_detector() if make_detector else None
            facts = slot.tracker.reset(slot.obs)
            if slot.detector:
                slot.detector.update(facts)
            actor.reset_env(index)
            return True

        for index in range(num_envs):
            start(index)
        while any(slot.seed is not None for slot in slots):
            check()
            obs_list = [slot.obs for slot in slots]
            actions = actor.act(obs_list, [slot.skill for slot in slots])
            stepped = 0
            for index, slot in enumerate(slots):
                if slot.seed is None:
                    continue
                action = int(actions[index])
                slot.obs, _reward, terminated, truncated, info = slot.env.step(action)
                stepped += 1
                facts = slot.tracker.update(slot.obs, action)
                if slot.detector:
                    slot.detector.update(facts, game_over=terminated)
                if not (terminated or truncated):
                    slot.skill = slot.runtime.step(slot.obs)
                    continue
                slot.runtime.end_episode()
                how_done = info.get("how_done")
                detector = slot.detector
                if detector:
                    detector.finish(facts, how_done)
                record = EpisodeRecord(
                    seed=slot.seed, outcome=detector.outcome if detector else None,
                    success_step=detector.success_step if detector else None, steps=facts.step,
                    progression=detector.progression if detector else None,
                    milestones=dict(detector.reached) if detector else {}, depth=facts.depth,
                    branch=branch_name(facts.dungeon_number), xp_level=facts.xp_level, gold=facts.gold,
                    kills=facts.kills, end=_end_name(how_done, truncated),
                    timeline=[{"skill": r.skill, "start_step": r.start_step, "end_step": r.end_step,
                               "end_reason": r.end_reason} for r in slot.runtime.timeline],
                )
                if record.timeline:  # the runtime is not stepped on the last observation: the last run ends there
                    last = record.timeline[-1]
                    last["end_step"] = max(last["end_step"] or 0, facts.step)
                records.append(record)
                if on_episode:
                    on_episode(record)
                start(index)
            steps_total += stepped
            on_steps(stepped)
    finally:
        for slot in slots:
            slot.env.close()
    return PlayResult(records=records, env_steps=steps_total, seconds=time.perf_counter() - started)


def summarise(records: list[EpisodeRecord], metric: str | None) -> dict[str, float]:
    """Mean outcome with its standard error, mean progression and steps."""
    out: dict[str, float] = {"episodes": float(len(records))}
    if not records:
        return out
    outcomes = np.array([r.outcome for r in records if r.outcome is not None], dtype=np.float64)
    if metric and outcomes.size:
        out["value"] = float(outcomes.mean())
        out["stderr"] = float(outcomes.std(ddof=1) / np.sqrt(outcomes.size)) if outcomes.size > 1 else 0.0
    progression = [r.progression for r in records if r.progression is not None]
    if progression:
        out["progression"] = float(np.mean(progression))
    out["mean_steps"] = float(np.mean([r.steps for r in records]))
    return out


__all__ = ["EpisodeRecord", "PlayResult", "SKILL_NAMES", "play", "summarise"]


# ---- several processes ------------------------------------------------------------------------

@dataclass(frozen=True)
class PlaySpec:
    """Everything a worker process needs to play (picklable): the network, the code, the task, the budgets."""

    network_config: dict
    state_dict: dict
    """The network's weights (CPU tensors)."""
    device: str
    skill_functions_code: dict[str, str]
    policy_code: str | None
    """select_skill source; None plays the uniformly random policy over skills."""
    task_id: str | None
    num_envs: int
    max_steps: int
    skill_turns: int
    rng_seed: int = 0
    torch_threads: int = 0


def _build(spec: PlaySpec, num_envs: int):
    import torch

    from evaluator.tasks import get_task
    from maestro_common.generated.loader import load_policy, load_skill_functions
    from maestro_common.options import RandomSkillPolicy
    from maestro_common.skillnet import SkillActor, SkillNetConfig, SkillNetwork

    if spec.torch_threads:
        torch.set_num_threads(spec.torch_threads)
    network = SkillNetwork(SkillNetConfig.from_json(spec.network_config))
    network.load_state_dict(spec.state_dict)
    actor = SkillActor(network, spec.device, num_envs, seed=spec.rng_seed)
    policy = load_policy(spec.policy_code) if spec.policy_code is not None else RandomSkillPolicy()
    detector = get_task(spec.task_id).make_detector if spec.task_id else None
    return actor, load_skill_functions(spec.skill_functions_code), policy, detector


def _worker(spec: PlaySpec, seeds: list[int], worker: int, queue) -> None:
    try:
        actor, functions, policy, detector = _build(spec, min(spec.num_envs, len(seeds)))
        result = play(seeds, actor=actor, skill_functions=functions, policy=policy, make_detector=detector,
                      num_envs=spec.num_envs, max_steps=spec.max_steps, skill_turns=spec.skill_turns,
                      rng_seed=spec.rng_seed + 1000 * worker, on_episode=lambda r: queue.put(("episode", r)),
                      on_steps=lambda n: queue.put(("steps", n)) if n else None)
        queue.put(("done", result.seconds))
    except BaseException as error:  # reported to the parent, which fails the job with it
        queue.put(("error", f"{type(error).__name__}: {error}"))


def play_parallel(spec: PlaySpec, seeds: list[int], *, workers: int,
                  on_episode: Callable[[EpisodeRecord], None] | None = None, check: Callable[[], None] = lambda: None,
                  on_steps: Callable[[int], None] = lambda n: None) -> PlayResult:
    """`play` split over `workers` processes (each with `spec.num_envs` envs and its own batched actor)."""
    workers = max(1, min(workers, len(seeds)))
    if workers == 1:
        actor, functions, policy, detector = _build(spec, min(spec.num_envs, len(seeds)))
        result = play(seeds, actor=actor, skill_functions=functions, policy=policy, make_detector=detector,
                      num_envs=spec.num_envs, max_steps=spec.max_steps, skill_turns=spec.skill_turns,
                      rng_seed=spec.rng_seed, on_episode=on_episode, check=check, on_steps=on_steps)
        result.wall_seconds = result.seconds
        return result
    import multiprocessing as mp
    import queue as queue_module

    context = mp.get_context("spawn")
    queue = context.Queue()
    shares = [seeds[index::workers] for index in range(workers)]
    processes = [context.Process(target=_worker, args=(spec, share, index, queue), daemon=True)
                 for index, share in enumerate(shares)]
    started = time.perf_counter()
    records: list[EpisodeRecord] = []
    steps, finished, playing = 0, 0, 0.0
    for process in processes:
        process.start()
    try:
        while finished < workers:
            check()
            try:
                kind, payload = queue.get(timeout=0.2)
            except queue_module.Empty:
                if not any(p.is_alive() for p in processes) and queue.empty():
                    raise RuntimeError("an evaluation worker process died without reporting") from None
                continue
            if kind == "episode":
                records.append(payload)
                if on_episode:
                    on_episode(payload)
            elif kind == "steps":
                steps += payload
                on_steps(payload)
            elif kind == "done":
                finished += 1
                playing = max(playing, payload)
            else:
                raise RuntimeError(f"evaluation worker failed: {payload}")
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join(5)
    wall = time.perf_counter() - started
    return PlayResult(records=records, env_steps=steps, seconds=playing or wall, wall_seconds=wall)
