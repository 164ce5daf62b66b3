"""codegen's domain metrics (maestro_codegen_*), on the service's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from codegen.sandbox import SandboxResult


class CodegenMetrics:
    def __init__(self, registry: CollectorRegistry):
        prefix = "maestro_codegen"
        self.generations = Counter(f"{prefix}_generations_total",
                                   "Finished generations, by role (skill_functions, policy) and outcome (passed, "
                                   "failed).",
                                   ["role", "outcome"], registry=registry)
        self.refinement_rounds = Histogram(f"{prefix}_refinement_rounds",
                                           "LLM writing rounds one generation used (1 = the first answer passed).",
                                           ["role"], buckets=(1, 2, 3, 4, 6, 8, 11), registry=registry)
        self.sandbox_runs = Counter(f"{prefix}_sandbox_runs_total",
                                    "Sandbox runs, by outcome (passed, failed) and the limit hit (none, cpu, wall, "
                                    "memory, output, file_size).", ["outcome", "limit"], registry=registry)
        self.sandbox_seconds = Histogram(f"{prefix}_sandbox_seconds", "Wall time of one sandbox run.",
                                         buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
                                         registry=registry)
        self.llm_tokens = Counter(f"{prefix}_llm_tokens_total", "LLM tokens used by generations, by kind.",
                                  ["kind"], registry=registry)

    def sandbox_run(self, result: SandboxResult, passed: bool) -> None:
        self.sandbox_runs.labels("passed" if passed else "failed", result.limit_hit).inc()
        self.sandbox_seconds.observe(result.wall_seconds)

    def generation(self, role: str, passed: bool, rounds: int, prompt_tokens: int, completion_tokens: int) -> None:
        self.generations.labels(role, "passed" if passed else "failed").inc()
        self.refinement_rounds.labels(role).observe(rounds)
        self.llm_tokens.labels("prompt").inc(prompt_tokens)
        self.llm_tokens.labels("completion").inc(completion_tokens)
