"""EvaluateTask: task -> task policy (codegen, or given) -> frozen skills play N episodes -> results + report.

Outputs: "policy" (the task policy used), "results" (JSON: summary, per-episode records, baselines),
"report" (Markdown), "report_html", "plot_success" and "plot_timeline" (PNG). Job metrics: value,
stderr, progression, and "<baseline>/value" for each baseline. Progress is reported in episodes over
every policy played (the task policy, then the baselines); cancel is checked at every env step.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
import torch

from evaluator.config import EvaluatorSettings
from evaluator.episodes import EpisodeRecord, PlaySpec, play_parallel, summarise
from evaluator.metrics import EvaluatorMetrics
from evaluator.plan import EvalPlan
from evaluator.report import plot_success, plot_timeline, render_html, render_report
from maestro.codegen.v1 import codegen_pb2, codegen_pb2_grpc
from maestro.common.v1 import common_pb2
from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.catalog import service_info
from maestro_common.errors import FailedPrecondition, Unavailable
from maestro_common.generated.artifact import load_artifact, parse_code_artifact
from maestro_common.jobs.runner import JobContext
from maestro_common.skillnet import SkillNetConfig, SkillNetwork, load_checkpoint

EVALUATE_TASK = "EvaluateTask"
STEP_REPORT_SECONDS = 2.0
"""How often a running evaluation reports its env steps between episode ends."""
TERMINAL = {common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED,
            common_pb2.JOB_STATE_INTERRUPTED}


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def codegen_address(settings: EvaluatorSettings) -> str:
    """MAESTRO_CODEGEN_ADDRESS (the setting), else local mode's default port on loopback."""
    info = service_info("codegen")
    return settings.codegen_address or os.environ.get(info.address_env) or f"127.0.0.1:{info.grpc_port}"


def generate_policy(ctx: JobContext, plan: EvalPlan, llm, settings: EvaluatorSettings) -> ArtifactRef:
    """Ask codegen for a task policy (GeneratePolicy, kind TASK) and wait for its job."""
    from maestro_common.client import open_channel

    ctx.report_progress(0, None, stage="policy", message="codegen is writing the task policy")
    channel = open_channel(codegen_address(settings))
    try:
        stub = codegen_pb2_grpc.CodegenServiceStub(channel)
        request = codegen_pb2.GeneratePolicyRequest(
            kind=codegen_pb2.POLICY_KIND_TASK, task=plan.task_text, llm=llm, request_id=f"evaluate-{ctx.job_id}",
            strategy_hints=list(plan.task.strategy_hints) if plan.task else [],
            golden_suite=plan.task.golden_suite if plan.task else "",
            skill_functions=common_pb2.ArtifactRef(uri=plan.skill_functions.uri, sha256=plan.skill_functions.sha256))
        job = stub.GeneratePolicy(request).job
        deadline = time.monotonic() + settings.policy_timeout_s
        while job.state not in TERMINAL:
            ctx.raise_if_cancelled()
            if time.monotonic() > deadline:
                stub.CancelJob(codegen_pb2.CancelJobRequest(job_id=job.job_id))
                raise Unavailable(f"codegen did not write the policy within {settings.policy_timeout_s:.0f} s")
            time.sleep(1.0)
            job = stub.GetJob(codegen_pb2.GetJobRequest(job_id=job.job_id)).job
    except grpc.RpcError as error:
        raise Unavailable(f"codegen at {codegen_address(settings)}: {error.code().name}: {error.details()}; "
                          "start codegen or pass a policy artifact") from error
    finally:
        channel.close()
    if job.state != common_pb2.JOB_STATE_SUCCEEDED or "policy" not in job.outputs:
        raise FailedPrecondition(f"codegen could not write a task policy: {job.error.code} {job.error.message}")
    out = job.outputs["policy"]
    return ArtifactRef(uri=out.uri, sha256=out.sha256, size_bytes=out.size_bytes, media_type=out.media_type)


def run_evaluation(ctx: JobContext, plan: EvalPlan, llm, store: ArtifactStore, settings: EvaluatorSettings,
                   metrics: EvaluatorMetrics) -> None:
    policy_ref = plan.policy or generate_policy(ctx, plan, llm, settings)
    ctx.add_output("policy", policy_ref)
    functions_code = parse_code_artifact(store.read_bytes(plan.skill_functions)).code
    policy_code = parse_code_artifact(store.read_bytes(policy_ref)).code
    load_artifact(parse_code_artifact(store.read_bytes(policy_ref)))  # fail early on code that does not load
    device = resolve_device(settings.device)
    network, meta = load_checkpoint(store, plan.checkpoint, "cpu")
    task = plan.task
    task_label = task.task_id if task else "free_text"
    weights = {k: v.detach().cpu() for k, v in network.state_dict().items()}
    runs: list[tuple[str, str | None, dict]] = [("task_policy", policy_code, weights)]
    if plan.include_baselines:
        torch.manual_seed(plan.seed)
        untrained = SkillNetwork(SkillNetConfig.from_json(meta.config)).state_dict()
        runs += [("random_skill_policy", None, weights), ("untrained_network", policy_code, untrained)]
    episodes = len(plan.seeds)
    total = episodes * len(runs)
    done = 0
    results: dict = {"task_id": task.task_id if task else "", "title": task.title if task else "",
                     "task_text": plan.task_text, "metric": task.metric if task else None,
                     "check": task.check if task else "", "paper_value": task.paper_value if task else None,
                     "paper_baseline": task.paper_baseline if task else None, "seeds": list(plan.seeds),
                     "device": device, "checkpoint": plan.checkpoint.to_dict(), "policy": policy_ref.to_dict(),
                     "workers": settings.eval_workers, "num_envs": plan.num_envs,
                     "baselines": {}, "baseline_episodes": {}}
    ctx.report_progress(0, total, unit="episodes", stage="playing", message=f"{episodes} episodes on {device}")

    def check() -> None:
        ctx.raise_if_cancelled()
        ctx.raise_if_stopping()

    for name, run_policy, run_weights in runs:
        outcomes: list[float] = []

        def on_episode(record: EpisodeRecord, name: str = name, outcomes: list = outcomes) -> None:
            nonlocal done
            done += 1
            if record.outcome is not None:
                outcomes.append(record.outcome)
            if name == "task_policy":
                label = ("success" if record.outcome else "failure") if task and task.metric == "success_rate" \
                    else str(int(record.outcome or 0))
                metrics.episodes.labels(task_label, label).inc()
            mean = f", mean {np.mean(outcomes):.3f}" if outcomes else ""
            ctx.report_progress(done, total, unit="episodes", message=f"{name}: episode {len(outcomes)}/{episodes}"
                                f" seed {record.seed} -> {record.outcome}{mean}")

        spec = PlaySpec(network_config=meta.config, state_dict=run_weights, device=device,
                        skill_functions_code=functions_code, policy_code=run_policy,
                        task_id=task.task_id if task else None, num_envs=plan.num_envs, max_steps=plan.max_steps,
                        skill_turns=plan.skill_turns, rng_seed=plan.seed, torch_threads=settings.torch_threads)
        stepped = {"steps": 0, "reported": time.monotonic()}

        def on_steps(count: int, name: str = name, stepped: dict = stepped) -> None:
            metrics.env_steps.inc(count)
            stepped["steps"] += count
            if time.monotonic() - stepped["reported"] >= STEP_REPORT_SECONDS:
                stepped["reported"] = time.monotonic()
                ctx.report_progress(done, total, unit="episodes", message=f"{name}: {stepped['steps']:,} env steps")

        played = play_parallel(spec, list(plan.seeds), workers=settings.eval_workers, on_episode=on_episode,
                               check=check, on_steps=on_steps)
        records = sorted(played.records, key=lambda r: plan.seeds.index(r.seed))
        summary = summarise(records, results["metric"]) | {
            "env_steps": float(played.env_steps), "env_steps_per_s": played.env_steps / max(played.seconds, 1e-9)}
        if name == "task_policy":
            results["summary"], results["episodes"] = summary, [r.to_json() for r in records]
        else:
            results["baselines"][name] = summary
            results["baseline_episodes"][name] = {"episodes": [r.to_json() for r in records]}
    if "value" in results["summary"]:
        metrics.success_rate.labels(task_label).set(results["summary"]["value"])
    write_outputs(ctx, store, results)
    job_metrics = {k: v for k, v in results["summary"].items()}
    for name, summary in results["baselines"].items():
        job_metrics.update({f"{name}/{k}": v for k, v in summary.items() if k in ("value", "stderr", "progression")})
    ctx.set_metrics(job_metrics)
    ctx.report_progress(total, total, unit="episodes", stage="done",
                        message=f"{results['title'] or 'task'}: {results['summary'].get('value', 'n/a')}")


def write_outputs(ctx: JobContext, store: ArtifactStore, results: dict) -> None:
    ctx.add_output("results", store.put_json(results, name="evaluation-results.json"))
    ctx.add_output("report", store.put_bytes(render_report([results]).encode(), name="report.md",
                                             media_type="text/markdown"))
    ctx.add_output("report_html", store.put_bytes(render_html([results]).encode(), name="report.html",
                                                  media_type="text/html"))
    with tempfile.TemporaryDirectory() as tmp:
        success = plot_success({**results, "baseline_episodes": results["baseline_episodes"]}, Path(tmp) / "s.png")
        ctx.add_output("plot_success", store.put_file(success, name="success.png", media_type="image/png"))
        timeline = plot_timeline(results, Path(tmp) / "t.png")
        ctx.add_output("plot_timeline", store.put_file(timeline, name="timeline.png", media_type="image/png"))
