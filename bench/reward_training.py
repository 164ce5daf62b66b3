"""Reward models: training pairs/s, in-process scoring observations/s, and the Score RPC on loopback.

Usage: python bench/reward_training.py [--part cpu|gpu|all] [--pairs N] [--out PATH]

- cpu: training pairs/s on the CPU (realistic message repetition), in-process scoring at batch 4096,
  and the Score RPC of a real reward-trainer on loopback (CPU) with 4096 observations per request.
  Anchors: a plain fp32 matmul GFLOP/s and the raw model forward observations/s on the same CPU.
- gpu: training pairs/s on CUDA (realistic repetition in fp32 and bf16, and all-unique messages),
  the projected time of the paper's 661k pairs x 20 epochs, bundle scoring at batch 4096 (fp32
  and bf16, with the per-batch de-duplication of (message, depth sign)), and the raw model forward
  at batch 4096 (tokens already on the GPU). Anchors: bf16 and fp32 matmul TFLOP/s.

Synthetic data: 60% empty messages, the rest from a pool of 5,000 with a Zipf tail (s=1.3), as in
NetHack play where most messages are empty and the rest repeat; "unique" gives every observation
its own message (the worst case for de-duplication).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import write_result  # noqa: E402

from maestro_common.artifacts import ArtifactStore  # noqa: E402
from maestro_common.reward.bundle import SkillMetadata, export_skill, load_bundle, write_bundle  # noqa: E402
from maestro_common.reward.model import (  # noqa: E402
    INPUT_SPEC_VERSION,
    RewardModel,
    depth_sign,
    encode_messages,
)
from maestro_common.reward.synthetic import message_pool  # noqa: E402
from maestro_common.reward.training import PairSet, TrainingConfig, train_skill  # noqa: E402

PAPER_PAIRS, PAPER_EPOCHS = 661_000, 20


def observations(n: int, *, seed: int = 0, unique: bool = False) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    if unique:
        messages = [f"You kill the newt! ({i})" for i in range(n)]
    else:
        pool = np.array(message_pool(5000, rng), dtype=object)
        ranks = np.minimum(rng.zipf(1.3, n) - 1, len(pool) - 1)
        messages = np.where(rng.random(n) < 0.6, "", pool[ranks]).tolist()
    return messages, rng.choice(np.array([-1, 0, 0, 0, 1]), size=n)


def pair_data(n_pairs: int, *, seed: int = 0, unique: bool = False) -> PairSet:
    """A PairSet built directly (no label table): Descender-like labels from the depth sign."""
    messages, depth = observations(2 * n_pairs, seed=seed, unique=unique)
    index: dict[str, int] = {}
    ids = torch.tensor([index.setdefault(m, len(index)) for m in messages])
    signs = depth_sign(depth)
    first, second = signs[0::2], signs[1::2]
    target = torch.where(second > first, 1.0, torch.where(second < first, 0.0, 0.5)).float()
    return PairSet("Descender", encode_messages(list(index)), ids[0::2].clone(), ids[1::2].clone(),
                   first.clone(), second.clone(), target)


def train_rate(pairs: PairSet, device: str, *, epochs: int = 1, precision: str = "fp32", dedupe: bool = True) -> float:
    config = TrainingConfig(epochs=epochs, batch_size=1000, learning_rate=1e-5, validation_fraction=0.01,
                            device=device, precision=precision, dedupe_messages=dedupe)
    warm = PairSet(pairs.skill, pairs.tokens, pairs.first_index[:5000], pairs.second_index[:5000],
                   pairs.first_sign[:5000], pairs.second_sign[:5000], pairs.target[:5000])
    train_skill(warm, TrainingConfig(epochs=1, device=device, precision=precision, dedupe_messages=dedupe))
    return train_skill(pairs, config).metrics["pairs_per_s"]


def matmul_flops(device: str, dtype: torch.dtype, n: int) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    reps = 20 if device == "cuda" else 3
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - start)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def forward_rate(device: str, batch: int, precision: str = "fp32", seconds: float = 2.0) -> float:
    """Raw model forward observations/s at `batch`, distinct random messages, inputs already on the device."""
    model = RewardModel().to(device).eval()
    tokens = torch.randint(1, 128, (batch, 256), dtype=torch.uint8, device=device)
    signs = torch.zeros(batch, dtype=torch.int8, device=device)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    with torch.inference_mode(), torch.autocast(device, dtype=dtype, enabled=precision == "bf16" and device == "cuda"):
        for _ in range(3):
            model(tokens, signs)
        sync(device)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model(tokens, signs)
            n += 1
            if device == "cuda" and n % 20:
                continue
            sync(device)
        sync(device)
        return n * batch / (time.perf_counter() - start)


def make_bundle(store: ArtifactStore, skills=("Descender",)):
    refs = {}
    for i, skill in enumerate(skills):
        torch.manual_seed(i)
        meta = SkillMetadata(skill=skill, input_spec_version=INPUT_SPEC_VERSION,
                             model_config=RewardModel().config.to_json(),
                             weights_sha256="", mean=0.0, std=1.0, quantiles={"0.85": 0.5}, threshold_quantile=0.85,
                             threshold=0.5)
        refs[skill] = export_skill(store, RewardModel(), meta)
    return write_bundle(store, refs)


def bundle_rate(store, ref, device: str, precision: str, batch: int = 4096, seconds: float = 2.0) -> float:
    bundle = load_bundle(store, ref, device=device, precision=precision, batch_size=batch)
    batches = [observations(batch, seed=s) for s in range(8)]
    counts = np.ones(batch, dtype=np.int64)
    bundle.score([], *batches[0], counts)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        messages, depth = batches[n % len(batches)]
        bundle.score([], messages, depth, counts)
        n += 1
    return n * batch / (time.perf_counter() - start)


def cpu_part(args, metrics, anchors, ratios, notes):
    pairs = pair_data(args.cpu_pairs, seed=1)
    metrics["train_pairs_per_s_cpu"] = train_rate(pairs, "cpu")
    metrics["train_pairs_per_s_cpu_unique_messages"] = train_rate(pair_data(2000, seed=2, unique=True), "cpu")
    anchors["cpu_matmul_fp32_gflops"] = matmul_flops("cpu", torch.float32, 1024) / 1e9
    anchors["cpu_model_forward_obs_per_s_b4096_unique"] = forward_rate("cpu", 4096)
    with tempfile.TemporaryDirectory() as tmp:
        store = ArtifactStore(str(Path(tmp) / "artifacts"))
        ref = make_bundle(store)
        metrics["infer_obs_per_s_cpu_b4096"] = bundle_rate(store, ref, "cpu", "fp32")
        metrics["score_rpc_obs_per_s"] = score_rpc_rate(tmp, ref)
    ratios["score_rpc_over_in_process_cpu"] = metrics["score_rpc_obs_per_s"] / metrics["infer_obs_per_s_cpu_b4096"]
    ratios["cpu_train_dedupe_speedup"] = (
        metrics["train_pairs_per_s_cpu"] / metrics["train_pairs_per_s_cpu_unique_messages"])
    notes.append(f"cpu: training on {args.cpu_pairs} pairs, 1 epoch, batch 1000; Score RPC: one Descender model, "
                 "4096 observations per request, one client, loopback")


def score_rpc_rate(tmp: str, ref, batch: int = 4096, seconds: float = 3.0) -> float:
    import grpc

    from maestro.reward.v1 import reward_pb2 as pb
    from maestro.reward.v1 import reward_pb2_grpc as pb_grpc
    from maestro_common.runtime import serve
    from reward_trainer.server import SERVICE

    settings = SERVICE.settings_cls(grpc_host="127.0.0.1", grpc_port=0, metrics_port=-1, data_dir=Path(tmp) / "d",
                                    artifact_root=str(Path(tmp) / "artifacts"), shutdown_grace_seconds=1,
                                    max_message_bytes=64 * 1024 * 1024)
    running = serve(SERVICE, settings)
    running.ready.wait(30)
    try:
        requests = []
        for s in range(4):
            messages, depth = observations(batch, seed=10 + s)
            request = pb.ScoreRequest(observations=[
                pb.RewardObservation(message=m, depth_change=int(d), episode_message_count=1)
                for m, d in zip(messages, depth)])
            request.reward_models.uri, request.reward_models.sha256 = ref.uri, ref.sha256
            requests.append(request)
        options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
        with grpc.insecure_channel(running.address, options=options) as channel:
            stub = pb_grpc.RewardServiceStub(channel)
            stub.Score(requests[0], timeout=60)
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                stub.Score(requests[n % len(requests)], timeout=60)
                n += 1
            return n * batch / (time.perf_counter() - start)
    finally:
        running.stop(1)


def gpu_part(args, metrics, anchors, ratios, notes):
    assert torch.cuda.is_available(), "no CUDA device"
    anchors["gpu_matmul_bf16_tflops"] = matmul_flops("cuda", torch.bfloat16, 8192) / 1e12
    anchors["gpu_matmul_fp32_tflops"] = matmul_flops("cuda", torch.float32, 8192) / 1e12
    pairs = pair_data(args.pairs, seed=1)
    metrics["train_pairs_per_s_gpu"] = train_rate(pairs, "cuda", epochs=args.epochs)
    metrics["train_pairs_per_s_gpu_bf16"] = train_rate(pairs, "cuda", epochs=args.epochs, precision="bf16")
    unique = pair_data(100_000, seed=2, unique=True)
    metrics["train_pairs_per_s_gpu_unique_messages"] = train_rate(unique, "cuda")
    metrics["train_pairs_per_s_gpu_no_dedupe"] = train_rate(unique, "cuda", dedupe=False)
    work = PAPER_PAIRS * PAPER_EPOCHS
    metrics["projected_661k_x20_seconds_gpu"] = work / metrics["train_pairs_per_s_gpu"]
    metrics["projected_661k_x20_seconds_gpu_unique_messages"] = (
        work / metrics["train_pairs_per_s_gpu_unique_messages"])
    anchors["gpu_model_forward_obs_per_s_b4096_fp32"] = forward_rate("cuda", 4096)
    anchors["gpu_model_forward_obs_per_s_b4096_bf16"] = forward_rate("cuda", 4096, "bf16")
    with tempfile.TemporaryDirectory() as tmp:
        store = ArtifactStore(str(Path(tmp) / "artifacts"))
        ref = make_bundle(store)
        metrics["infer_obs_per_s_gpu_b4096"] = bundle_rate(store, ref, "cuda", "fp32")
        metrics["infer_obs_per_s_gpu_b4096_bf16"] = bundle_rate(store, ref, "cuda", "bf16")
    ratios["projected_661k_x20_over_5min_goal"] = metrics["projected_661k_x20_seconds_gpu"] / 300
    ratios["infer_b4096_over_1M_goal"] = metrics["infer_obs_per_s_gpu_b4096"] / 1e6
    ratios["raw_forward_fp32_over_1M_goal"] = anchors["gpu_model_forward_obs_per_s_b4096_fp32"] / 1e6
    ratios["bundle_over_raw_forward_fp32"] = (
        metrics["infer_obs_per_s_gpu_b4096"] / anchors["gpu_model_forward_obs_per_s_b4096_fp32"])
    notes.append(f"gpu: {torch.cuda.get_device_name()}; training {args.pairs} pairs x {args.epochs} epochs, batch 1000 "
                 "(unique-message runs: 100k pairs, 1 epoch); bundle scoring includes encoding the messages on the "
                 "CPU and de-duplicating (message, depth sign) per batch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("cpu", "gpu", "all"), default="cpu")
    parser.add_argument("--pairs", type=int, default=661_000, help="training pairs for the GPU run")
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed on the GPU")
    parser.add_argument("--cpu-pairs", type=int, default=20_000)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "reward_training.json"))
    args = parser.parse_args()
    metrics, anchors, ratios, notes = {}, {}, {}, []
    if args.part in ("cpu", "all"):
        cpu_part(args, metrics, anchors, ratios, notes)
    if args.part in ("gpu", "all"):
        gpu_part(args, metrics, anchors, ratios, notes)
    notes.append("synthetic messages: 60% empty, the rest from a 5,000-message pool with a Zipf(1.3) tail; goals: "
                 "661k pairs x 20 epochs under 5 min on one H100, >= 1M observations/s at batch 4096")
    write_result("reward_training", args.out, metrics=metrics, anchors=anchors, ratios=ratios, notes="; ".join(notes),
                 extra={"threads": torch.get_num_threads()})


if __name__ == "__main__":
    main()
