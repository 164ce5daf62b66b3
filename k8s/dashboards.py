"""The Grafana dashboards, as data: `python k8s/dashboards.py` writes k8s/helm/maestro/dashboards/*.json.

Each panel names the job kind that feeds it (`feed`: the RPC whose job makes its series appear), which
the live test (tests/k8s/test_dashboards_live.py) uses to run one short job of each kind against
local mode and a real Prometheus, then asserts that every query returns data. Queries use only
`$__rate_interval` and `$__range` (the test substitutes them) and label names that both the chart's
ServiceMonitor and the test's scrape config set (`service` = the component name).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parent / "helm" / "maestro" / "dashboards"
SERVICES = ("llm-annotator", "reward-trainer", "codegen", "skill-learner", "evaluator")
RATE = "$__rate_interval"
RANGE = "$__range"


@dataclass(frozen=True)
class Panel:
    title: str
    exprs: tuple[str, ...]
    """PromQL, one per series group; the legend comes from `legends` (same order)."""
    feed: str
    """The job kind (RPC) whose run makes these series appear, e.g. AnnotateDataset; "any" = any RPC."""
    unit: str = "short"
    kind: str = "timeseries"
    """timeseries, stat, bargauge or table."""
    legends: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: list[list[Panel]] = field(default_factory=list)


def _jobs(service: str) -> str:
    return "maestro_" + service.replace("-", "_")


PIPELINE = Dashboard("maestro-pipeline", "MaestroMotif / Pipeline overview",
                     "Services up, jobs by state, job outcomes and the artifacts they produced.", [
    [Panel("Services up", (f'up{{service=~"{"|".join(SERVICES)}"}}',), "any", kind="stat",
           legends=("{{service}} {{instance}}",), description="1 = Prometheus scrapes the service."),
     Panel("Jobs by state", ('sum by (__name__, state) ({__name__=~"maestro_.+_jobs"})',), "any", kind="bargauge",
           legends=("{{__name__}} {{state}}",), description="Jobs in each service's job store, by state.")],
    [Panel("Job transitions by kind and state", (
        f'sum by (kind, state) (rate({{__name__=~"maestro_.+_job_transitions_total"}}[{RATE}]))',),
        "any", unit="ops", legends=("{{kind}} {{state}}",)),
     Panel("Artifacts produced (succeeded jobs) by kind", (
         f'sum by (kind) (increase({{__name__=~"maestro_.+_job_transitions_total", state="SUCCEEDED"}}[{RANGE}]))',),
         "any", kind="bargauge", legends=("{{kind}}",),
         description="Each succeeded job wrote its outputs (datasets, labels, models, code, checkpoints)."),
     Panel("Failed jobs by kind", (
         f'sum by (kind) (increase({{__name__=~"maestro_.+_job_transitions_total", state=~"FAILED|INTERRUPTED"}}'
         f'[{RANGE}])) or sum by (kind) (increase({{__name__=~"maestro_.+_job_transitions_total"}}[{RANGE}])) * 0',),
         "any", kind="bargauge", legends=("{{kind}}",), description="0 for kinds that ran without failures.")],
])

TRAINING = Dashboard("maestro-training", "MaestroMotif / Training",
                     "Skill training (skill-learner) and reward-model training (reward-trainer).", [
    [Panel("Env steps per second", ("maestro_skill_learner_env_steps_per_second",
                                    f"rate(maestro_skill_learner_env_steps_total[{RATE}])"), "TrainSkills",
           unit="ops", legends=("reported", "from counter")),
     Panel("Learner samples per second", ("maestro_skill_learner_learner_samples_per_second",), "TrainSkills",
           unit="ops", legends=("learner",)),
     Panel("Policy lag", ("maestro_skill_learner_policy_lag",), "TrainSkills", legends=("policy lag",),
           description="Policy versions between the actors' weights and the learner's.")],
    [Panel("Shaped reward by skill", ("maestro_skill_learner_shaped_reward",), "TrainSkills",
           legends=("{{skill}}",)),
     Panel("Episode return by skill", ("maestro_skill_learner_episode_return",), "TrainSkills",
           legends=("{{skill}}",)),
     Panel("Reward-model output by skill", ("maestro_skill_learner_reward_model_output",), "TrainSkills",
           legends=("{{skill}}",))],
    [Panel("Skill selection frequency", (
        f"sum by (skill) (rate(maestro_skill_learner_skill_selections_total[{RATE}])) / ignoring(skill) "
        f"group_left sum(rate(maestro_skill_learner_skill_selections_total[{RATE}]))",), "TrainSkills",
        unit="percentunit", legends=("{{skill}}",)),
     Panel("Skill duration (median steps)", (
         "histogram_quantile(0.5, sum by (le, skill) "
         f"(rate(maestro_skill_learner_skill_duration_steps_bucket[{RATE}])))",), "TrainSkills",
         legends=("{{skill}}",))],
    [Panel("Losses", ("maestro_skill_learner_loss",), "TrainSkills", legends=("{{kind}}",)),
     Panel("Entropy", ("maestro_skill_learner_entropy",), "TrainSkills", legends=("entropy",))],
    [Panel("Reward models: training loss", ("maestro_reward_trainer_training_loss",
                                            "maestro_reward_trainer_validation_loss"), "TrainRewardModels",
           legends=("{{skill}} train", "{{skill}} validation")),
     Panel("Reward models: validation accuracy", ("maestro_reward_trainer_validation_accuracy",),
           "TrainRewardModels", unit="percentunit", legends=("{{skill}}",)),
     Panel("Reward models: pairs per second", ("maestro_reward_trainer_training_pairs_per_second",),
           "TrainRewardModels", unit="ops", legends=("{{skill}}",))],
    [Panel("Score: observations per second", (
        f"sum by (skill) (rate(maestro_reward_trainer_observations_scored_total[{RATE}]))",), "Score",
        unit="ops", legends=("{{skill}}",)),
     Panel("Score latency p95", (
         f"histogram_quantile(0.95, sum by (le) (rate(maestro_reward_trainer_score_seconds_bucket[{RATE}])))",),
         "Score", unit="s", legends=("p95",))],
])

ANNOTATION = Dashboard("maestro-annotation", "MaestroMotif / Annotation",
                       "The LLM judge (llm-annotator): throughput, label mix, cache, parse failures.", [
    [Panel("Pairs per second", (f"sum by (skill) (rate(maestro_llm_annotator_pairs_total[{RATE}]))",),
           "AnnotateDataset", unit="ops", legends=("{{skill}}",)),
     Panel("Label mix", (f"sum by (label) (increase(maestro_llm_annotator_pairs_total[{RANGE}]))",),
           "AnnotateDataset", kind="bargauge", legends=("{{label}}",)),
     Panel("Cache hit ratio", (
         f'sum(rate(maestro_llm_annotator_llm_calls_total{{cached="true"}}[{RATE}])) / '
         f"sum(rate(maestro_llm_annotator_llm_calls_total[{RATE}]))",), "AnnotateDataset",
         unit="percentunit", legends=("hits",))],
    [Panel("Parse failures", (
        f"sum by (skill) (increase(maestro_llm_annotator_parse_failures_total[{RANGE}])) or "
        f"sum by (skill) (increase(maestro_llm_annotator_pairs_total[{RANGE}])) * 0",), "AnnotateDataset",
        kind="bargauge", legends=("{{skill}}",),
        description="Pairs whose answer gave no usable verdict; 0 for skills labelled without failures."),
     Panel("LLM tokens per second", (f"sum by (kind) (rate(maestro_llm_annotator_tokens_total[{RATE}]))",),
           "AnnotateDataset", unit="ops", legends=("{{kind}}",)),
     Panel("LLM time per pair (p50, p95)", tuple(
         f"histogram_quantile({q}, sum by (le) (rate(maestro_llm_annotator_pair_llm_seconds_bucket[{RATE}])))"
         for q in ("0.5", "0.95")), "AnnotateDataset", unit="s", legends=("p50", "p95"))],
])

CODEGEN = Dashboard("maestro-codegen", "MaestroMotif / Codegen",
                    "Code generation: generations, refinement rounds, sandbox runs and the limits they hit.", [
    [Panel("Generations by role and outcome", (
        f"sum by (role, outcome) (increase(maestro_codegen_generations_total[{RANGE}]))",),
        "GenerateSkillFunctions", kind="bargauge", legends=("{{role}} {{outcome}}",)),
     Panel("Refinement rounds (mean)", (
         f"sum(rate(maestro_codegen_refinement_rounds_sum[{RATE}])) / "
         f"sum(rate(maestro_codegen_refinement_rounds_count[{RATE}]))",), "GenerateSkillFunctions",
         legends=("rounds",)),
     Panel("Refinement rounds (p90)", (
         f"histogram_quantile(0.9, sum by (le) (rate(maestro_codegen_refinement_rounds_bucket[{RATE}])))",),
         "GenerateSkillFunctions", legends=("p90",))],
    [Panel("Sandbox runs by outcome", (
        f"sum by (outcome) (rate(maestro_codegen_sandbox_runs_total[{RATE}]))",), "RunTests", unit="ops",
        legends=("{{outcome}}",)),
     Panel("Sandbox limits hit", (
         f'sum by (limit) (increase(maestro_codegen_sandbox_runs_total{{limit!~"|none"}}[{RANGE}])) or '
         f"sum by (outcome) (increase(maestro_codegen_sandbox_runs_total[{RANGE}])) * 0",), "RunTests",
         kind="bargauge", legends=("{{limit}}{{outcome}}",),
         description="Runs stopped by a limit (cpu, memory, wall, output, ...); 0 while none was hit."),
     Panel("RunTests calls by status", (
         f'sum by (grpc_code) (rate(grpc_server_handled_total{{grpc_method="RunTests"}}[{RATE}]))',), "RunTests",
         unit="ops", legends=("{{grpc_code}}",))],
])

EVALUATION = Dashboard("maestro-evaluation", "MaestroMotif / Evaluation",
                       "Task evaluation: success by task, episodes, env steps and API authentication.", [
    [Panel("Success rate by task", ("maestro_evaluator_task_success_rate",), "EvaluateTask", kind="bargauge",
           unit="percentunit", legends=("{{task}}",)),
     Panel("Episodes by task and outcome", (
         f"sum by (task, outcome) (increase(maestro_evaluator_episodes_total[{RANGE}]))",), "EvaluateTask",
         kind="table", legends=("{{task}} {{outcome}}",))],
    [Panel("Env steps per second", (f"rate(maestro_evaluator_env_steps_total[{RATE}])",), "EvaluateTask",
           unit="ops", legends=("{{instance}}",)),
     Panel("Rejected calls (auth failures)", (f"rate(maestro_evaluator_auth_failures_total[{RATE}])",),
           "EvaluateTask", unit="ops", legends=("{{instance}}",))],
])

GRPC = Dashboard("maestro-grpc", "MaestroMotif / gRPC",
                 "Request rate, errors and latency per service and method (grpc_server_* of every service).", [
    [Panel("Requests per second by service", (
        f"sum by (grpc_service) (rate(grpc_server_handled_total[{RATE}]))",), "any", unit="reqps",
        legends=("{{grpc_service}}",)),
     Panel("Requests by method and code", (
         f"sum by (grpc_service, grpc_method, grpc_code) (rate(grpc_server_handled_total[{RATE}]))",), "any",
         unit="reqps", legends=("{{grpc_method}} {{grpc_code}}",))],
    [Panel("Error ratio by service", (
        f'1 - sum by (grpc_service) (rate(grpc_server_handled_total{{grpc_code="OK"}}[{RATE}])) / '
        f"sum by (grpc_service) (rate(grpc_server_handled_total[{RATE}]))",), "any", unit="percentunit",
        legends=("{{grpc_service}}",), description="Share of RPCs that ended with any code but OK."),
     Panel("Latency p50 / p95 / p99 by service", tuple(
         f"histogram_quantile({q}, sum by (le, grpc_service) (rate(grpc_server_handling_seconds_bucket[{RATE}])))"
         for q in ("0.5", "0.95", "0.99")), "any", unit="s",
         legends=("{{grpc_service}} p50", "{{grpc_service}} p95", "{{grpc_service}} p99")),
     Panel("Messages sent per second", (
         f"sum by (grpc_service) (rate(grpc_server_msg_sent_total[{RATE}]))",), "any", unit="ops",
         legends=("{{grpc_service}}",))],
])

DASHBOARDS = (PIPELINE, TRAINING, ANNOTATION, CODEGEN, EVALUATION, GRPC)


def _panel_json(panel: Panel, panel_id: int, x: int, y: int, width: int) -> dict:
    legends = panel.legends or ("",) * len(panel.exprs)
    targets = [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
                "datasource": {"type": "prometheus", "uid": "${datasource}"}, "range": panel.kind != "table",
                "instant": panel.kind == "table"}
               for i, (expr, legend) in enumerate(zip(panel.exprs, legends))]
    fed = "any RPC of the service" if panel.feed == "any" else f"{panel.feed} jobs"
    return {
        "id": panel_id, "type": panel.kind, "title": panel.title,
        "description": (panel.description + " " if panel.description else "") + f"Fed by: {fed}.",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": targets,
    }


def dashboard_json(dashboard: Dashboard) -> dict:
    panels, panel_id = [], 1
    for row_index, row in enumerate(dashboard.rows):
        width = 24 // len(row)
        for column, panel in enumerate(row):
            panels.append(_panel_json(panel, panel_id, column * width, row_index * 8, width))
            panel_id += 1
    return {
        "uid": dashboard.uid, "title": dashboard.title, "description": dashboard.description,
        "tags": ["maestromotif"], "timezone": "utc", "schemaVersion": 39, "version": 1, "editable": True,
        "refresh": "30s", "time": {"from": "now-6h", "to": "now"}, "graphTooltip": 1,
        "templating": {"list": [{"name": "datasource", "label": "Prometheus", "type": "datasource",
                                 "query": "prometheus", "current": {}, "hide": 0}]},
        "annotations": {"list": []}, "links": [
            {"title": "MaestroMotif", "type": "dashboards", "tags": ["maestromotif"], "asDropdown": True}],
        "panels": panels,
    }


def rendered() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {f"{d.uid}.json": json.dumps(dashboard_json(d), indent=2) + "\n" for d in DASHBOARDS}


def main() -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in rendered().items():
        (OUT_DIR / name).write_text(text)
    print(f"wrote {len(DASHBOARDS)} dashboards to {OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
