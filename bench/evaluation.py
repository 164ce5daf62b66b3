"""Evaluation throughput: env steps/s of frozen skills playing a task, against the bare env in the same run.

What is timed is the evaluator's own episode loop (`evaluator.episodes.play_parallel`): `--workers`
processes, each with `--envs` MaestroEnv games stepped in lockstep, one batched forward pass of the
full-size skill network per step (CUDA when `--device cuda`, bf16 not used), the options runtime
(hand-written skill functions and the Gnomish Mines task policy) and the task's detector reading
every observation. Weights are freshly initialised: throughput does not depend on their values.

Anchor (same run, same machine): MaestroEnv alone with random compass moves, in `--workers`
processes (the env-side bound of the loop above).

    python bench/evaluation.py --device cpu --workers 1 --envs 8 --threads 1      # this machine
    python bench/evaluation.py --device cuda --workers 16 --envs 16 --out bench/results/evaluation-h100.json
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "evaluator"))
from benchlib import write_result  # noqa: E402
from evaluator_helpers import MINES_POLICY, SKILL_FUNCTIONS  # noqa: E402

from evaluator.episodes import PlaySpec, play_parallel  # noqa: E402
from maestro_common.nethack.actions import COMPASS  # noqa: E402
from maestro_common.nethack.env import make_env  # noqa: E402
from maestro_common.skillnet import SkillNetConfig, SkillNetwork  # noqa: E402


def _env_worker(steps: int, seed: int, out) -> None:
    env = make_env()
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    done = 0
    start = time.perf_counter()
    while done < steps:
        _obs, _r, terminated, truncated, _info = env.step(int(COMPASS[rng.integers(len(COMPASS))]))
        done += 1
        if terminated or truncated:
            env.reset(seed=seed + done)
    out.put((done, time.perf_counter() - start))
    env.close()


def env_anchor(workers: int, steps: int) -> float:
    """Steps/s of bare MaestroEnv games with random compass moves, one game per process."""
    context = mp.get_context("spawn")
    out = context.Queue()
    processes = [context.Process(target=_env_worker, args=(steps, 1000 + i, out)) for i in range(workers)]
    for process in processes:
        process.start()
    results = [out.get() for _ in processes]
    for process in processes:
        process.join()
    return sum(done / seconds for done, seconds in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--workers", type=int, default=1, help="processes playing episodes")
    parser.add_argument("--envs", type=int, default=8, help="environments per process (the inference batch)")
    parser.add_argument("--episodes-per-env", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=300, help="steps per episode")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads per process (0 = default)")
    parser.add_argument("--anchor-steps", type=int, default=5000)
    parser.add_argument("--note", default="", help="appended to the notes (machine load, what was varied)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "evaluation.json"))
    args = parser.parse_args()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device

    config = SkillNetConfig()
    torch.manual_seed(0)
    network = SkillNetwork(config)
    spec = PlaySpec(network_config=config.to_json(), state_dict=network.state_dict(), device=device,
                    skill_functions_code=SKILL_FUNCTIONS, policy_code=MINES_POLICY, task_id="gnomish_mines",
                    num_envs=args.envs, max_steps=args.max_steps, skill_turns=50, rng_seed=0,
                    torch_threads=args.threads)
    seeds = list(range(args.workers * args.envs * args.episodes_per_env))
    anchor = env_anchor(args.workers, args.anchor_steps)
    result = play_parallel(spec, seeds, workers=args.workers)
    rate = result.env_steps / result.seconds
    kind = "gpu" if device.startswith("cuda") else "cpu"
    where = f"{device} ({torch.cuda.get_device_name(0)})" if kind == "gpu" else device
    write_result(
        "evaluation", args.out,
        metrics={f"eval_env_steps_per_s_{kind}": rate},
        anchors={f"maestro_env_steps_per_s_{args.workers}proc": anchor},
        ratios={"eval_over_bare_env": rate / anchor},
        notes=(f"{args.workers} worker process(es) x {args.envs} envs, {len(seeds)} episodes of at most "
               f"{args.max_steps} steps ({result.env_steps} steps in {result.seconds:.1f} s of playing, the "
               f"slowest process's; {result.wall_seconds:.1f} s wall with process start-up); full-size "
               f"SkillNetwork on {where} (fp32, fresh weights); options runtime with "
               "hand-written skill functions and the Gnomish Mines policy; the Gnomish Mines detector on every "
               f"observation; torch threads per process {args.threads or 'default'}. Anchor: bare MaestroEnv "
               "with random compass moves in the same number of processes, measured in the same run. " + args.note),
    )


if __name__ == "__main__":
    main()
