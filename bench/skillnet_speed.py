"""Speed of the skill network and its featuriser: forward/backward samples/s at T=32, B=64, obs/s encoded.

Measures, on real NetHack observations (seeded random compass moves):
- featuriser: `encode_observations` at batch 64 (obs/s), against two anchors measured in the same run:
  rendering the 72x72 RGB crop in numpy (`render_crop`, what shipping pixels would cost) and the
  single-process env step rate (the rate one env produces observations);
- network on the CPU (fp32): a learner step's forward + backward over [T=32, B=64] (samples/s), and
  batched acting (`act_step`, B=64, no grad);
- the same on CUDA under bf16 autocast when a GPU is present.

    python bench/skillnet_speed.py [--out bench/results/skillnet_speed.json] [--iters 3] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import write_result  # noqa: E402

from maestro_common.nethack.actions import COMPASS
from maestro_common.nethack.env import make_env
from maestro_common.skillnet import SkillNetwork, encode_observations, inputs_to_tensors
from maestro_common.skillnet.atlas import render_crop
from maestro_common.skillnet.network import parameter_count

T, B = 32, 64


def collect(n: int) -> tuple[list[dict], float]:
    """`n` observation copies from seeded games, and the env's steps/s while making them."""
    env = make_env()
    rng = np.random.default_rng(0)
    frames, seed = [], 0
    obs = env.reset(seed)
    started = time.perf_counter()
    for _ in range(n):
        obs, _, done, truncated, _ = env.step(int(rng.choice(COMPASS)))
        frames.append({k: v.copy() for k, v in obs.items()})
        if done or truncated:
            seed += 1
            obs = env.reset(seed)
    elapsed = time.perf_counter() - started
    env.close()
    return frames, n / elapsed


def best_rate(function, items: int, iters: int) -> float:
    """items/s of the median of `iters` timed calls (after one warm-up)."""
    function()
    times = []
    for _ in range(iters):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return items / statistics.median(times)


def network_rates(network: SkillNetwork, inputs: dict, device: str, iters: int, bf16: bool
                  ) -> tuple[float, float, float]:
    """(learn samples/s over [T, B], the same with episode starts inside the batch, acting samples/s at B)."""
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    tm = inputs_to_tensors({k: v.reshape(T, B, *v.shape[1:]) for k, v in inputs.items()}, device)
    step_inputs = {k: v[0] for k, v in tm.items()}
    context = (torch.autocast(device, dtype=torch.bfloat16) if bf16 else torch.autocast(device, enabled=False))

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    starts = torch.zeros(T, B, dtype=torch.bool, device=device)
    starts[T // 2, ::2] = True  # half the envs begin an episode mid-batch: the GRU runs step by step
    with_starts = {**tm, "episode_start": starts}

    def learn(batch: dict = tm) -> None:
        with context:
            logits, values, _ = network(batch, network.initial_state(B, device))
        loss = -torch.log_softmax(logits, -1)[..., 0].mean() + values.pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sync()

    @torch.no_grad()
    def act() -> None:
        with context:
            network.act_step(step_inputs, network.initial_state(B, device))
        sync()

    return (best_rate(learn, T * B, iters), best_rate(lambda: learn(with_starts), T * B, iters),
            best_rate(act, B, iters * 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "skillnet_speed.json"))
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    frames, env_steps_per_s = collect(T * B)
    skills = np.arange(len(frames)) % 5
    batches = [(frames[i:i + 64], skills[i:i + 64]) for i in range(0, len(frames), 64)]
    encode_rate = best_rate(lambda: [encode_observations(f, s) for f, s in batches], len(frames), args.iters)
    encoded = encode_observations(frames, skills)
    render_rate = best_rate(lambda: render_crop(encoded["crop_chars"], encoded["crop_colors"]), len(frames),
                            args.iters)

    network = SkillNetwork()
    learn_cpu, resets_cpu, act_cpu = network_rates(network, encoded, "cpu", args.iters, bf16=False)
    metrics = {"featuriser_obs_per_s": encode_rate, "cpu_fp32_learn_samples_per_s": learn_cpu,
               "cpu_fp32_learn_with_resets_samples_per_s": resets_cpu, "cpu_fp32_act_samples_per_s": act_cpu,
               "parameters": float(parameter_count(network))}
    if torch.cuda.is_available():
        gpu_net = SkillNetwork().cuda()
        learn_gpu, resets_gpu, act_gpu = network_rates(gpu_net, encoded, "cuda", max(args.iters, 5), bf16=True)
        metrics.update(cuda_bf16_learn_samples_per_s=learn_gpu, cuda_bf16_learn_with_resets_samples_per_s=resets_gpu,
                       cuda_bf16_act_samples_per_s=act_gpu)
    anchors = {"numpy_render_72x72_obs_per_s": render_rate, "env_steps_per_s_one_process": env_steps_per_s}
    ratios = {"featuriser_vs_render": encode_rate / render_rate,
              "featuriser_vs_env_steps": encode_rate / env_steps_per_s}
    machine = None
    if torch.cuda.is_available():
        machine = f"{torch.cuda.get_device_name(0)}; {torch.get_num_threads()} torch CPU threads"
    write_result("skillnet_speed", args.out, metrics=metrics, anchors=anchors, ratios=ratios, machine=machine,
                 notes=(f"T={T}, B={B}; real NetHack observations (seeded random compass moves); torch CPU threads "
                        f"{args.threads}; learn = forward + backward + Adam step over [T, B] (fp32 on CPU, bf16 "
                        "autocast on CUDA); with_resets = the same with episode starts mid-batch; act = act_step at "
                        "B=64 without grad; featuriser = encode_observations "
                        "at batch 64 (crop codes, the 72x72 image is rendered inside the network)."))


if __name__ == "__main__":
    main()
