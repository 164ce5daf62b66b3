"""The annotator's domain metrics (maestro_llm_annotator_*), on the service's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from llm_annotator.judge import Judgement


class AnnotatorMetrics:
    def __init__(self, registry: CollectorRegistry):
        prefix = "maestro_llm_annotator"
        self.pairs = Counter(f"{prefix}_pairs_total", "Pairs labelled, by skill and label (the label mix).",
                             ["skill", "label"], registry=registry)
        self.llm_calls = Counter(f"{prefix}_llm_calls_total", "Judge prompts, by whether the answer cache served them.",
                                 ["cached"], registry=registry)
        self.tokens = Counter(f"{prefix}_tokens_total", "LLM tokens paid for (cache hits excluded), by kind.",
                              ["kind"], registry=registry)
        self.parse_failures = Counter(f"{prefix}_parse_failures_total",
                                      "Pairs whose answer gave no usable verdict (label unknown).", ["skill"],
                                      registry=registry)
        self.pair_latency = Histogram(f"{prefix}_pair_llm_seconds", "LLM time spent on one pair (cache misses).",
                                      buckets=(0.01, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128), registry=registry)

    def on_pair(self, skill: str, judgement: Judgement) -> None:
        self.pairs.labels(skill, judgement.label).inc()
        self.llm_calls.labels("true").inc(judgement.cache_hits)
        self.llm_calls.labels("false").inc(judgement.llm_calls - judgement.cache_hits)
        self.tokens.labels("prompt").inc(judgement.prompt_tokens)
        self.tokens.labels("completion").inc(judgement.completion_tokens)
        if judgement.parse_failed:
            self.parse_failures.labels(skill).inc()
        if judgement.latency_s:
            self.pair_latency.observe(judgement.latency_s)
