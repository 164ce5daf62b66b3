"""Annotation throughput of each judge mode with the embedded model, against llama.cpp's own bound.

Usage: python bench/annotation.py [--pairs 24] [--cot-pairs 4] [--model NAME] [--out bench/results/annotation.json]

A dataset is collected here (random macro-action policy), turned into observations at the paper's
100-step snapshots and paired; each mode labels the pairs for one skill (Descender) with a fresh
answer cache, so the hit rate is the within-run deduplication. The anchor, measured in the same
run on the same model, is llama.cpp's raw prompt processing: a cold 512-token prompt, in tokens/s;
the bound for a mode is that rate divided by the mode's prompt tokens per pair as if nothing were
cached. CoT generates up to --cot-max-tokens tokens per pair, so it runs on fewer pairs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import write_result  # noqa: E402

from llm_annotator.cache import ResponseCache  # noqa: E402
from llm_annotator.judge import Judge, JudgeSettings  # noqa: E402
from llm_annotator.observations import build_observations, sample_pairs  # noqa: E402
from llm_annotator.prompts import load_prompt  # noqa: E402
from maestro_common.llm import DEFAULT_EMBEDDED_MODEL, LlmConfig, make_client  # noqa: E402
from maestro_common.nethack.dataset import collect_episodes  # noqa: E402
from maestro_common.nethack.env import EnvConfig  # noqa: E402
from maestro_common.nethack.skills import skill_by_name  # noqa: E402


def prompt_processing_rate(client) -> float:
    """Tokens/s of a cold 512-token prompt (a text no other prompt shares)."""
    text = " ".join(f"cell{i} holds {i * 7 % 13} gold" for i in range(120))
    start = time.perf_counter()
    completion = client.chat([{"role": "user", "content": text}], max_tokens=1)
    return completion.prompt_tokens / (time.perf_counter() - start)


def run_mode(client, mode: str, pairs, preference: str, cache_dir: Path, max_tokens: int) -> dict:
    judge = Judge(client, load_prompt(mode), ResponseCache(cache_dir / f"{mode}.sqlite"),
                  JudgeSettings(max_tokens=max_tokens))
    calls = hits = prompt_tokens = 0
    labels: dict[str, int] = {}
    start = time.perf_counter()
    for pair in pairs:
        result = judge.judge(pair, preference)
        calls += result.llm_calls
        hits += result.cache_hits
        prompt_tokens += result.prompt_tokens
        labels[result.label] = labels.get(result.label, 0) + 1
    elapsed = time.perf_counter() - start
    uncached_tokens_per_call = prompt_tokens / max(1, calls - hits)
    return {"pairs_per_s": len(pairs) / elapsed, "cache_hit_rate": hits / max(1, calls),
            "prompt_tokens_per_pair_uncached": uncached_tokens_per_call * calls / len(pairs),
            "labels": labels, "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--cot-pairs", type=int, default=4)
    parser.add_argument("--cot-max-tokens", type=int, default=256)
    parser.add_argument("--model", default=DEFAULT_EMBEDDED_MODEL)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "annotation.json"))
    args = parser.parse_args()

    table = collect_episodes(EnvConfig(max_episode_steps=2000), "random", seeds=list(range(101, 109)),
                             episode_ids=[f"e{i}" for i in range(8)], num_workers=2)
    observations = build_observations(table, 100)
    pairs = sample_pairs(observations, args.pairs, seed=0)
    preference = skill_by_name("Descender").judge_preference
    client = make_client(LlmConfig(model=args.model))
    anchor = prompt_processing_rate(client)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode, count, max_tokens in (("pointwise_logprob", args.pairs, 1), ("pairwise_logprob", args.pairs, 1),
                                        ("pairwise_cot", args.cot_pairs, args.cot_max_tokens)):
            results[mode] = run_mode(client, mode, pairs[:count], preference, Path(tmp), max_tokens)
            print(mode, results[mode], flush=True)
    short = {"pointwise_logprob": "pointwise", "pairwise_logprob": "pairwise_logprob", "pairwise_cot": "pairwise_cot"}
    metrics = {f"pairs_per_s_{short[m]}": r["pairs_per_s"] for m, r in results.items()}
    metrics["cache_hit_rate"] = results["pointwise_logprob"]["cache_hit_rate"]
    ratios = {f"{short[m]}_vs_prompt_bound": r["pairs_per_s"] / (anchor / r["prompt_tokens_per_pair_uncached"])
              for m, r in results.items()}
    write_result(
        "annotation", args.out, metrics=metrics,
        anchors={"llama_cpp_prompt_tokens_per_s": anchor},
        ratios=ratios,
        extra={"details": results, "model": args.model, "observations": len(observations)},
        notes=(f"Embedded {args.model} in process (llama.cpp, portable CPU build, all cores), skill Descender, "
               f"{args.pairs} pairs ({args.cot_pairs} for CoT, up to {args.cot_max_tokens} generated tokens), "
               "fresh answer cache per mode; a ratio above 1 means the prefix cache and answer cache beat the "
               "cold prompt-processing bound."),
    )


if __name__ == "__main__":
    main()
