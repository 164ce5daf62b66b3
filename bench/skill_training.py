"""Skill training (APPO on Ray env runners): end-to-end env steps/s with the reward models in the loop.

Usage: python bench/skill_training.py --plot-history HISTORY.json OUT.png   (training curves), or
       python bench/skill_training.py [--seconds S] [--runners R] [--envs N] [--device cuda|cpu]
           [--precision bf16|fp32] [--inputs DIR] [--state-in PATH] [--state-out PATH]
           [--history PATH] [--eval-seeds K] [--out PATH]

Measured in one run, on one machine:
- anchors: raw env steps/s of R Ray actors x 8 MaestroEnv each with movement-only random actions
  (the env-side bound), and the learner's own forward+backward samples/s on a [32, 128] batch;
- metric: the training engine (the same code the TrainSkills job runs: Ray env runners with the
  options runtime, generated code and their own batched inference, reward models, APPO learner) for
  S seconds; env steps/s over the run after a warm-up, and the ratios to both anchors; where the
  driver's time went (waiting, fetching, taking rollouts in, training, publishing weights) and the
  runners' (stepping environments vs inference);
- history (optional): per window, env steps, steps/s, per-skill mean shaped reward and reward-model
  output, mean episode max depth; --state-in/--state-out continue a run across calls;
- Descender check (optional): the Descender played alone on K fixed seeds, trained vs untrained.

Inputs (reward-model bundle + code artifacts) come from --inputs (an artifact store holding
`inputs.json`), else they are made here: reward models trained briefly on synthetic labels and the
reference skill functions / pi_T packaged as codegen artifacts (tests/skill_learner/training_inputs.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT / "tests" / "skill_learner"))
from benchlib import write_result  # noqa: E402

from maestro_common.artifacts import ArtifactRef, ArtifactStore  # noqa: E402
from maestro_common.generated.contract import SKILL_NAMES  # noqa: E402

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def make_inputs(directory: str) -> tuple[ArtifactStore, dict[str, ArtifactRef]]:
    store = ArtifactStore(directory)
    index = Path(directory) / "inputs.json"
    if index.exists():
        return store, {k: ArtifactRef.from_dict(v) for k, v in json.loads(index.read_text()).items()}
    from training_inputs import make_code_artifacts, make_reward_bundle

    bundle = make_reward_bundle(store, pairs=4000, epochs=5)
    skills, policy = make_code_artifacts(store)
    refs = {"reward_models": bundle, "skill_functions": skills, "training_policy": policy}
    index.write_text(json.dumps({k: v.to_dict() for k, v in refs.items()}))
    return store, refs


def raw_env_rate(runners: int, envs_per_runner: int, seconds: float) -> float:
    """Env steps/s of `runners` Ray actors stepping MaestroEnvs with random movement actions."""
    import ray

    from skill_learner.engine import init_ray

    init_ray()

    @ray.remote(num_cpus=1)
    class RawRunner:
        def __init__(self, n: int, seed: int):
            from maestro_common.nethack.env import EnvConfig, MaestroEnv

            self.envs = [MaestroEnv(EnvConfig()) for _ in range(n)]
            self.rng = np.random.default_rng(seed)
            self.seed = seed * 1000
            for env in self.envs:
                self.seed += 1
                env.reset(self.seed)

        def run(self, seconds: float) -> int:
            steps, end = 0, time.perf_counter() + seconds
            while time.perf_counter() < end:
                for env in self.envs:
                    _, _, term, trunc, _ = env.step(int(self.rng.integers(1, 9)))
                    steps += 1
                    if term or trunc:
                        self.seed += 1
                        env.reset(self.seed)
            return steps

    actors = [RawRunner.remote(envs_per_runner, i) for i in range(runners)]
    ray.get([a.run.remote(0.5) for a in actors])
    started = time.perf_counter()
    total = sum(ray.get([a.run.remote(seconds) for a in actors]))
    rate = total / (time.perf_counter() - started)
    for actor in actors:
        ray.kill(actor)
    return rate


def learner_rate(device: torch.device, precision: str, seconds: float) -> float:
    """Samples/s of Learner.train on a [32, 128] batch of real encoded observations."""
    from maestro_common.nethack.env import EnvConfig, MaestroEnv
    from maestro_common.skillnet import SkillNetwork, encode_observations
    from skill_learner.learner import Learner
    from skill_learner.plan import APPOConfig
    from skill_learner.rollouts import Trajectories

    T, B = 32, 128
    env = MaestroEnv(EnvConfig())
    obs = env.reset(1)
    encoded = encode_observations([obs] * B, np.zeros(B, dtype=np.int64))
    env.close()
    features = {k: np.broadcast_to(v, (T + 1, *v.shape)).copy() for k, v in encoded.items()}
    rng = np.random.default_rng(0)
    network = SkillNetwork().to(device)
    config = APPOConfig(device=str(device), precision=precision)
    learner = Learner(network, config, device)
    batch = Trajectories(features=features, actions=rng.integers(0, 28, (T, B)),
                         log_probs=np.full((T, B), -np.log(28.0), dtype=np.float32),
                         reward_skills=np.zeros((T, B), dtype=np.int64), messages=np.full((T, B), "", dtype=object),
                         depth_signs=np.zeros((T, B), dtype=np.int8), message_counts=np.ones((T, B), dtype=np.int64),
                         score_deltas=np.zeros((T, B), dtype=np.float32),
                         dones=(rng.random((T, B)) < 0.01).astype(np.float32),
                         initial_state=network.initial_state(B, "cpu").numpy(),
                         policy_versions=np.zeros(B, dtype=np.int64), env_indices=np.arange(B),
                         rewards=rng.random((T, B)).astype(np.float32))
    for _ in range(3):
        learner.train(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        learner.train(batch)
        count += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return count * T * B / (time.perf_counter() - started)


class History:
    """Per-window training curves (the TrainingObserver the bench plugs into the engine)."""

    def __init__(self, window_s: float, offset_steps: int = 0):
        from skill_learner.engine import TrainingObserver

        class Observer(TrainingObserver):
            pass

        self.observer = Observer()
        self.observer.on_transitions = self.on_transitions  # type: ignore[method-assign]
        self.observer.on_episode = self.on_episode  # type: ignore[method-assign]
        self.observer.on_update = self.on_update  # type: ignore[method-assign]
        self.window_s, self.rows, self.all_lags = window_s, [], []
        self._reset()
        self.mark = time.perf_counter()
        self.env_steps = offset_steps
        self.mark_steps = offset_steps

    def _reset(self) -> None:
        n = len(SKILL_NAMES)
        self.shaped, self.raw, self.count = np.zeros(n), np.zeros(n), np.zeros(n)
        self.depths, self.descender_returns, self.updates, self.entropy, self.lag = [], [], 0, [], []

    def on_transitions(self, skills, raw, shaped) -> None:
        valid = skills >= 0
        np.add.at(self.shaped, skills[valid], shaped[valid])
        np.add.at(self.raw, skills[valid], raw[valid])
        np.add.at(self.count, skills[valid], 1)
        self.env_steps += int(valid.sum())
        self.flush()

    def on_episode(self, summary) -> None:
        self.depths.append(summary["max_depth"])

    def on_update(self, stats, env_steps) -> None:
        self.updates += 1
        self.entropy.append(stats.entropy)
        self.lag.append(stats.policy_lag)
        self.all_lags.append(stats.policy_lag)
        self.learner_seconds = getattr(self, "learner_seconds", 0.0) + stats.seconds
        self.learner_samples = getattr(self, "learner_samples", 0) + stats.samples

    def flush(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.mark < self.window_s:
            return
        row = {"t": now, "env_steps": self.env_steps,
               "steps_per_s": (self.env_steps - self.mark_steps) / max(now - self.mark, 1e-9),
               "episodes": len(self.depths), "mean_max_depth": float(np.mean(self.depths)) if self.depths else None,
               "updates": self.updates, "entropy": float(np.mean(self.entropy)) if self.entropy else None,
               "policy_lag": float(np.mean(self.lag)) if self.lag else None}
        for i, skill in enumerate(SKILL_NAMES):
            if self.count[i]:
                row[f"shaped/{skill}"] = self.shaped[i] / self.count[i]
                row[f"raw/{skill}"] = self.raw[i] / self.count[i]
                row[f"steps/{skill}"] = int(self.count[i])
        self.rows.append(row)
        self._reset()
        self.mark, self.mark_steps = now, self.env_steps


def plot_history(history_path: str, out: str) -> None:
    """Training curves from a history JSON (`skill_training_history*.json`) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(Path(history_path).read_text())
    rows = data["rows"]
    steps = np.array([r["env_steps"] for r in rows]) / 1e6
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    for skill in ("Discoverer", "Descender", "Ascender"):
        xs = [s for s, r in zip(steps, rows) if f"shaped/{skill}" in r]
        ys = [r[f"shaped/{skill}"] for r in rows if f"shaped/{skill}" in r]
        axes[0, 0].plot(xs, ys, label=skill)
    axes[0, 0].set_title("mean shaped reward per step of the acting skill")
    axes[0, 0].legend()
    depth = [(s, r["mean_max_depth"]) for s, r in zip(steps, rows) if r["mean_max_depth"] is not None]
    axes[0, 1].plot([d[0] for d in depth], [d[1] for d in depth])
    check = data.get("descender_check")
    title = "mean deepest level of finished episodes (pi_T)"
    if check:
        title += (f"\nDescender alone, {len(check['seeds'])} seeds: trained {check['trained_mean']:.2f}, "
                  f"untrained {check['untrained_mean']:.2f}")
    axes[0, 1].set_title(title)
    axes[1, 0].plot(steps, [r["entropy"] or np.nan for r in rows])
    axes[1, 0].set_title("policy entropy")
    axes[1, 1].plot(steps, [r["steps_per_s"] for r in rows])
    axes[1, 1].set_title("env steps/s")
    segments = [i for i in range(1, len(rows)) if rows[i]["segment"] != rows[i - 1]["segment"]]
    for ax in axes.flat:
        ax.set_xlabel("env steps (millions)")
        for i in segments:
            ax.axvline(steps[i], color="grey", linestyle=":", linewidth=1)
    fig.suptitle(f"Skill training on {data['machine']} (dotted: the run was stopped and resumed)")
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)


def main() -> None:
    if "--plot-history" in sys.argv:
        at = sys.argv.index("--plot-history")
        plot_history(sys.argv[at + 1], sys.argv[at + 2])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds excluded from the rate")
    parser.add_argument("--runners", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--envs", type=int, default=0, help="environments in all (0: 64 per runner)")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="bf16" if torch.cuda.is_available() else "fp32")
    parser.add_argument("--inputs", default="")
    parser.add_argument("--state-in", default="")
    parser.add_argument("--state-out", default="")
    parser.add_argument("--weights-out", default="")
    parser.add_argument("--weights-in", default="", help="continue from weights only (bf16 file; fresh optimizer)")
    parser.add_argument("--offset-steps", type=int, default=0, help="env steps the --weights-in network has seen")
    parser.add_argument("--history", default="")
    parser.add_argument("--eval-seeds", type=int, default=0)
    parser.add_argument("--eval-steps", type=int, default=2000)
    parser.add_argument("--anchor-seconds", type=float, default=10.0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "skill_training.json"))
    parser.add_argument("--machine", default=None)
    args = parser.parse_args()

    from maestro_common.skillnet import SkillNetwork
    from skill_learner.engine import Engine, TrainState
    from skill_learner.evaluate import skill_depths
    from skill_learner.inputs import load_inputs
    from skill_learner.plan import APPOConfig
    from skill_learner.rewards import SkillRewards
    from skill_learner.train_job import read_state, write_state

    device = torch.device(args.device)
    store, refs = make_inputs(args.inputs or tempfile.mkdtemp(prefix="skill-inputs-"))
    inputs = load_inputs(store, refs["reward_models"], refs["skill_functions"], refs["training_policy"],
                         device=str(device), precision=args.precision)
    anchors = {}
    if args.anchor_seconds > 0:
        anchors["raw_env_steps_per_s_ray"] = raw_env_rate(args.runners, 8, args.anchor_seconds)
        anchors["learner_samples_per_s"] = learner_rate(device, args.precision, args.anchor_seconds)
        print("anchors", anchors, flush=True)

    num_envs = args.envs or 64 * args.runners
    config = APPOConfig(env_steps=10**12, num_envs=num_envs, env_runners=args.runners, batch_size=args.batch,
                        checkpoint_every=10**12, device=str(device), precision=args.precision, seed=0)
    torch.manual_seed(0)
    fresh = SkillNetwork()  # the untrained network: the same initialisation the run started from
    torch.manual_seed(0)
    network, state, version, optimizer = SkillNetwork().to(device), TrainState(), 0, None
    if args.state_in:
        payload = read_state(Path(args.state_in))
        network.load_state_dict(payload["network"])
        state = TrainState.from_json(payload["train_state"])
        version, optimizer = payload["learner_version"], payload["optimizer"]
    elif args.weights_in:
        weights = torch.load(args.weights_in, map_location="cpu")
        network.load_state_dict({k: v.float() for k, v in weights.items()})
        state = TrainState(env_steps=args.offset_steps)
    history = History(10.0, state.env_steps)
    engine = Engine(config, network, SkillRewards(inputs.bundle), skill_code=inputs.skill_code,
                    policy_code=inputs.policy_code, device=device, state=state, observer=history.observer)
    if optimizer is not None:
        engine.learner.optimizer.load_state_dict(optimizer)
    engine.learner.version = version
    start_steps = state.env_steps
    marks: dict[str, tuple[float, int]] = {}
    started = time.perf_counter()

    def should_stop() -> bool:
        elapsed = time.perf_counter() - started
        if "warm" not in marks and elapsed >= args.warmup:
            marks["warm"] = (time.perf_counter(), engine.state.env_steps)
        return elapsed >= args.seconds

    engine.run(should_stop, lambda e: None)
    ended = time.perf_counter()
    history.flush(force=True)
    warm_t, warm_steps = marks.get("warm", (started, start_steps))
    rate = (engine.state.env_steps - warm_steps) / max(ended - warm_t, 1e-9)
    learner_busy = getattr(history, "learner_seconds", 0.0)
    print(f"trained {engine.state.env_steps - start_steps:,} steps, {rate:,.0f} steps/s after warm-up", flush=True)
    if args.state_out:
        written = write_state(Path(args.state_out).parent, engine, keep=1)
        written.rename(args.state_out)
    if args.weights_out:
        torch.save({k: v.detach().to("cpu", torch.bfloat16) for k, v in network.state_dict().items()},
                   args.weights_out)
    key = "train_env_steps_per_s_gpu" if device.type == "cuda" else "train_env_steps_per_s_cpu"
    metrics = {key: rate, "learner_busy_fraction": learner_busy / max(ended - started, 1e-9),
               "reward_cache_hit_rate": engine.rewards.hit_rate, "env_steps_total": float(engine.state.env_steps)}
    ratios = {}
    if anchors:
        ratios = {"vs_raw_env_ray": rate / anchors["raw_env_steps_per_s_ray"],
                  "vs_learner_bound": rate / anchors["learner_samples_per_s"]}
    extra = {"driver_seconds": {k: round(v, 2) for k, v in engine.timings.items()},
             "runner_seconds": {k: round(v, 2) for k, v in engine.runner_seconds.items()},
             "rollouts_received": engine.rollouts_received,
             "mean_policy_lag": float(np.mean(history.all_lags)) if history.all_lags else None}
    print("driver", extra, flush=True)
    if args.eval_seeds:
        seeds = list(range(10_000, 10_000 + args.eval_seeds))
        trained = skill_depths(network.float(), seeds=seeds, max_steps=args.eval_steps, device=device)
        untrained = skill_depths(fresh, seeds=seeds, max_steps=args.eval_steps, device=device)
        extra["descender_check"] = {"seeds": seeds, "max_steps": args.eval_steps,
                                    "trained_max_depths": trained.max_depths,
                                    "untrained_max_depths": untrained.max_depths,
                                    "trained_mean": trained.mean, "untrained_mean": untrained.mean}
        metrics["descender_mean_max_depth_trained"] = trained.mean
        metrics["descender_mean_max_depth_untrained"] = untrained.mean
    if args.history:
        Path(args.history).write_text(json.dumps(history.rows))
    where_runners_infer = "on a share of the GPU" if device.type == "cuda" else "on CPU"
    notes = (f"{args.runners} Ray env runners x {num_envs // args.runners} envs (2 groups each, double-buffered), "
             f"each runner inferring with its own copy of the network ({where_runners_infer}) and sending whole "
             f"rollouts; learner on {device} ({args.precision}), batch {args.batch}, rollout 32; the "
             "reward models (5 char-CNNs trained on synthetic labels) run in the loop with the (skill, message, "
             "depth sign) cache; reference skill functions and pi_T as generated code; rate measured after a "
             f"{args.warmup:.0f} s warm-up over a {args.seconds:.0f} s run. Anchors from the same run: "
             "raw_env_steps_per_s_ray = the same number of Ray actors x 8 MaestroEnv with random movement actions; "
             "learner_samples_per_s = Learner.train alone on a [32, 128] batch.")
    write_result("skill_training_throughput", args.out, metrics=metrics, anchors=anchors, ratios=ratios,
                 notes=notes, machine=args.machine, extra=extra)


if __name__ == "__main__":
    main()
