"""The evaluator's domain metrics (maestro_evaluator_*), on the service's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class EvaluatorMetrics:
    def __init__(self, registry: CollectorRegistry):
        prefix = "maestro_evaluator"
        self.episodes = Counter(f"{prefix}_episodes_total", "Evaluation episodes played, by task and outcome "
                                "(success, failure, or count for count tasks).", ["task", "outcome"],
                                registry=registry)
        self.success_rate = Gauge(f"{prefix}_task_success_rate", "Success rate (or mean count) of the last "
                                  "finished evaluation, by task.", ["task"], registry=registry)
        self.env_steps = Counter(f"{prefix}_env_steps_total", "Environment steps played by evaluations.",
                                 registry=registry)
        self.auth_failures = Counter(f"{prefix}_auth_failures_total", "Calls refused for a missing or wrong bearer "
                                     "token, by reason.", ["reason"], registry=registry)
