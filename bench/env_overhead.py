"""Steps per second of the project's NetHack env against raw NLE, in one process and in N.

Three sides play the same character with the same NetHack options and observation arrays, the same
episode seeds (NetHack seeded through its own core/disp seeds) and the same movement-only random
action sequence; an episode that ends is reset with the next seed inside the timed loop on every
side. "Raw NLE" is NLE's own gym environment, `nle.env.base.NLE`; "lowlevel" is the floor under
both, `nle.nethack.Nethack` with only Space/Escape prompt handling. Rounds of the sides alternate
and the median round of each side is reported; in N-process runs every process starts its timed
loop at a barrier and the throughput is all steps over the slowest process's time.

    python bench/env_overhead.py [--steps 50000] [--procs N] [--repeats 3] [--out PATH]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import time
from pathlib import Path

from nle import nethack
from nle.env.base import NLE

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import write_result  # noqa: E402

from maestro_common.nethack.actions import ACTION_KEYS, COMPASS
from maestro_common.nethack.env import EnvConfig, derive_seeds, make_env, nethack_options

WARMUP_STEPS = 200
SEED_BASE = 1000


def _raw_env(config: EnvConfig) -> NLE:
    return NLE(
        character=config.character,
        max_episode_steps=config.max_episode_steps,
        observation_keys=config.observation_keys,
        actions=[ACTION_KEYS[a] for a in COMPASS],
        options=nethack_options(config),
        spawn_monsters=config.spawn_monsters,
        fix_moon_phase=config.fix_moon_phase,
    )


class _LowLevel:
    """The floor under both envs: nle.nethack.Nethack with the least prompt handling that keeps a
    game going (Space for --More--, Escape for questions and text entry), nothing else."""

    def __init__(self, config: EnvConfig):
        keys = tuple(config.observation_keys) + ("internal", "program_state", "misc")
        self._nethack = nethack.Nethack(
            observation_keys=keys, playername="Agent-" + config.character, ttyrec=None,
            options=nethack_options(config), spawn_monsters=config.spawn_monsters,
            fix_moon_phase=config.fix_moon_phase,
        )
        self._keys = [ACTION_KEYS[a] for a in COMPASS]
        self._max_steps = config.max_episode_steps
        self._steps = 0
        obs = dict(zip(keys, self._nethack.reset()))
        self._misc, self._state = obs["misc"], obs["program_state"]

    def reset(self, seed: int) -> None:
        self._nethack.set_initial_seeds(*derive_seeds(seed), False)
        self._nethack.reset()
        while not self._state[3]:
            self._nethack.step(ord(" "))
        self._steps = 0

    def step(self, i: int) -> bool:
        _, done = self._nethack.step(self._keys[i])
        while not done and self._misc.any():
            _, done = self._nethack.step(ord(" ") if self._misc[2] else 27)
        self._steps += 1
        return done or self._steps >= self._max_steps

    def close(self) -> None:
        self._nethack.close()


def _run(kind: str, steps: int, worker: int, barrier=None) -> tuple[int, float]:
    """Plays `steps` movement steps on one env; returns (steps, seconds of the timed loop)."""
    config = EnvConfig()
    rng = random.Random(worker)
    episode = [0]

    def next_seed() -> int:
        episode[0] += 1
        return SEED_BASE + 1000 * worker + episode[0]

    if kind == "raw":
        env = _raw_env(config)

        def reset() -> None:
            env.seed(*derive_seeds(next_seed()), False)
            env.reset()

        def step(i: int) -> bool:
            _, _, terminated, truncated, _ = env.step(i)
            return terminated or truncated
    elif kind == "lowlevel":
        env = _LowLevel(config)

        def reset() -> None:
            env.reset(next_seed())

        def step(i: int) -> bool:
            return env.step(i)
    else:
        env = make_env(config)
        moves = [int(a) for a in COMPASS]

        def reset() -> None:
            env.reset(next_seed())

        def step(i: int) -> bool:
            _, _, terminated, truncated, _ = env.step(moves[i])
            return terminated or truncated

    try:
        reset()
        for _ in range(WARMUP_STEPS):
            if step(rng.randrange(8)):
                reset()
        choices = [rng.randrange(8) for _ in range(steps)]
        episode[0] = 0
        reset()
        if barrier is not None:
            barrier.wait()
        start = time.perf_counter()
        for i in choices:
            if step(i):
                reset()
        elapsed = time.perf_counter() - start
    finally:
        env.close()
    return steps, elapsed


_barrier = None


def _init(barrier) -> None:
    global _barrier
    _barrier = barrier


def _pool_worker(args: tuple[str, int, int]) -> tuple[int, float]:
    kind, steps, worker = args
    return _run(kind, steps, worker, _barrier)


def measure(kind: str, steps: int, procs: int) -> float:
    """Total steps per second of `procs` processes playing `steps` steps each."""
    if procs == 1:
        n, seconds = _run(kind, steps, 0)
        return n / seconds
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(procs)
    with context.Pool(procs, initializer=_init, initargs=(barrier,)) as pool:
        results = pool.map(_pool_worker, [(kind, steps, w) for w in range(procs)], chunksize=1)
    return sum(n for n, _ in results) / max(seconds for _, seconds in results)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50_000, help="timed steps per process")
    parser.add_argument("--procs", type=int, default=os.cpu_count() or 1,
                        help="processes of the parallel measurement")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds per side")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "results", "env_overhead.json"))
    args = parser.parse_args(argv)

    results: dict[str, dict[int, list[float]]] = {"raw": {}, "project": {}, "lowlevel": {}}
    for procs in sorted({1, args.procs}):
        for _ in range(args.repeats):
            for kind in ("raw", "project", "lowlevel"):
                rate = measure(kind, args.steps, procs)
                results[kind].setdefault(procs, []).append(rate)
                print(f"{kind:8s} {procs:3d} proc: {rate:12.0f} steps/s", flush=True)

    n = args.procs
    metrics, anchors, ratios = {}, {}, {}
    for procs in sorted({1, n}):
        raw = statistics.median(results["raw"][procs])
        project = statistics.median(results["project"][procs])
        metrics[f"overhead_fraction_{procs}proc"] = round(1.0 - project / raw, 4)
        metrics[f"project_env_steps_per_s_{procs}proc"] = round(project)
        anchors[f"raw_nle_steps_per_s_{procs}proc"] = round(raw)
        lowlevel = statistics.median(results["lowlevel"][procs])
        anchors[f"nethack_lowlevel_steps_per_s_{procs}proc"] = round(lowlevel)
        ratios[f"project_over_raw_{procs}proc"] = round(project / raw, 4)
        ratios[f"project_over_lowlevel_{procs}proc"] = round(project / lowlevel, 4)
    if n != 1:
        ratios[f"project_scaling_{n}proc_over_1proc"] = round(
            metrics[f"project_env_steps_per_s_{n}proc"]
            / metrics["project_env_steps_per_s_1proc"], 3)
        ratios[f"raw_scaling_{n}proc_over_1proc"] = round(
            anchors[f"raw_nle_steps_per_s_{n}proc"] / anchors["raw_nle_steps_per_s_1proc"], 3)

    return write_result(
        "env_overhead", args.out, metrics=metrics, anchors=anchors, ratios=ratios,
        extra={"rounds": {kind: {str(p): [round(r) for r in rates] for p, rates in per.items()}
                          for kind, per in results.items()}},
        notes=(
            "Movement-only random actions (8 compass keys), human neutral male Monk, no pet, same "
            "NetHack options, observation arrays and episode seeds on every side; resets inside "
            "the timed loop on every side. Raw = nle.env.base.NLE (the gym env, which copies every "
            "observation array each step to compute its score reward). Project = MaestroEnv, "
            "which drives nle.nethack.Nethack directly (prompt handling, macros, message hiding) "
            "and returns NLE's buffers without copying, so it can be faster than raw: a negative "
            "overhead_fraction means the project env is faster. overhead_fraction = 1 - "
            "project/raw, from the median of the alternating rounds. A third side, 'lowlevel', "
            "is the floor under both: nle.nethack.Nethack with only Space/Escape prompt handling; "
            "1 - project_over_lowlevel is the cost of everything the project env adds."
        ),
    )


if __name__ == "__main__":
    main()
