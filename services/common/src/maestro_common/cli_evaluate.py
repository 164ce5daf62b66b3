"""`maestro evaluate` and `maestro report`: evaluate tasks through the evaluator API and render the report.

    maestro evaluate "reach the Gnomish Mines" --check gnomish_mines --checkpoint URI SHA256 --episodes 20
    maestro evaluate --all --init-checkpoint --skill-functions URI SHA256 --episodes 20 --report-dir out/
    maestro report JOB_ID [JOB_ID ...] --out out/

TASK is a registered task id (see `maestro evaluate --list`) or free text; free text takes its
success check from `--check TASK_ID`. The skill functions default to those the checkpoint records it
was trained with (`--skill-functions` overrides them). `--init-checkpoint` stores a freshly initialised skill network
in the local artifact store and evaluates it. The report (Markdown, HTML, PNG plots) is built from the
jobs' "results" artifacts, read from the artifact store ($MAESTRO_ARTIFACT_ROOT, default
$MAESTRO_HOME/artifacts). Address and token: see `maestro_common.evaluator_client`.
"""

from __future__ import annotations

import argparse
import html
import os
import sys
from pathlib import Path

from maestro_common.evaluator_client import TERMINAL_STATES, EvaluatorClient
from maestro_common.generated.contract import SKILL_NAMES


def add_commands(subparsers) -> None:
    """Add the `evaluate` and `report` subcommands to an argparse subparsers object."""
    p = subparsers.add_parser("evaluate", help="evaluate tasks with frozen skills through the evaluator API",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", nargs="?", help="a registered task id or free text")
    p.add_argument("--all", action="store_true", help="evaluate every registered task")
    p.add_argument("--list", action="store_true", help="list the registered tasks and exit")
    p.add_argument("--check", default="", help="with free text: the registered task whose success check to use")
    p.add_argument("--checkpoint", nargs=2, metavar=("URI", "SHA256"), help="skill network checkpoint")
    p.add_argument("--init-checkpoint", action="store_true",
                   help="store a freshly initialised skill network and evaluate it")
    p.add_argument("--skill-functions", nargs=2, metavar=("URI", "SHA256"), required=False,
                   help="initiation/termination functions (a codegen skill_functions artifact); default: the ones "
                        "the checkpoint records")
    p.add_argument("--policy", nargs=2, metavar=("URI", "SHA256"), help="a task policy artifact (skips codegen)")
    p.add_argument("--episodes", type=int, default=10, help="episodes per task (default 10)")
    p.add_argument("--max-steps", type=int, default=0, help="steps per episode (default 10000)")
    p.add_argument("--num-envs", type=int, default=0, help="environments at once (default: the service's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-baselines", action="store_true", help="skip the random-policy and untrained baselines")
    p.add_argument("--report-dir", help="also write the report of the finished jobs here")
    p.add_argument("--no-wait", action="store_true", help="print the job ids and return at once")
    p.add_argument("--address", help="evaluator host:port (default $MAESTRO_EVALUATOR_ADDRESS or local mode)")
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument("--ca", help="PEM file of the CA that signed the evaluator's certificate")
    p.set_defaults(func=cmd_evaluate)

    r = subparsers.add_parser("report", help="render the paper-style report of finished evaluation jobs")
    r.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    r.add_argument("--out", required=True, help="directory for report.md, report.html and the PNG plots")
    r.add_argument("--address")
    r.add_argument("--tls", action="store_true")
    r.add_argument("--ca")
    r.set_defaults(func=cmd_report)


def _client(args) -> EvaluatorClient:
    return EvaluatorClient(args.address, tls=args.tls, root_certificates=args.ca)


def _store():
    from maestro_common.artifacts import ArtifactStore
    from maestro_common.settings import maestro_home

    return ArtifactStore(os.environ.get("MAESTRO_ARTIFACT_ROOT") or str(maestro_home() / "artifacts"))


def init_checkpoint(store) -> tuple[str, str]:
    """A freshly initialised skill network stored as a checkpoint: (uri, sha256)."""
    from maestro_common.skillnet import SkillNetwork, save_checkpoint

    ref = save_checkpoint(store, SkillNetwork())
    return ref.uri, ref.sha256


def _follow(client: EvaluatorClient, job, label: str):
    from maestro_common.progress import JobProgress

    with JobProgress(unit="episodes") as progress:
        return client.wait(job.job_id, on_update=lambda current: progress.update(
            label[:30], current.progress.done, current.progress.total, current.message[:60]))


def cmd_evaluate(args) -> int:
    with _client(args) as client:
        tasks = client.list_tasks()
        known = {task.task_id: task for task in tasks}
        if args.list:
            for task in tasks:
                print(f"{task.task_id:18} {task.title:18} {task.description}")
            return 0
        if args.all == bool(args.task):
            print("maestro evaluate: give a TASK (registered id or free text) or --all", file=sys.stderr)
            return 2
        if args.init_checkpoint == bool(args.checkpoint):
            print("maestro evaluate: give --checkpoint URI SHA256 or --init-checkpoint", file=sys.stderr)
            return 2
        checkpoint = tuple(args.checkpoint) if args.checkpoint else init_checkpoint(_store())
        specs = [{"task_id": t} for t in known] if args.all else (
            [{"task_id": args.task}] if args.task in known else [{"task_text": args.task, "success_check": args.check}])
        jobs = []
        for spec in specs:
            functions = tuple(args.skill_functions) if args.skill_functions else None
            job = client.evaluate(**spec, checkpoint=checkpoint, skill_functions=functions,
                                  policy=tuple(args.policy) if args.policy else None, episodes=args.episodes,
                                  seed=args.seed, include_baselines=not args.no_baselines, max_steps=args.max_steps,
                                  num_envs=args.num_envs)
            print(f"evaluation job {job.job_id}: {spec.get('task_id') or spec['task_text']}")
            jobs.append((job, spec.get("task_id") or spec["task_text"]))
        if args.no_wait:
            return 0
        finished = []
        status = 0
        for job, label in jobs:
            final = _follow(client, job, label)
            finished.append(final)
            value = final.metrics.get("value")
            shown = "n/a" if value is None else f"{value:.3f} ± {final.metrics.get('stderr', 0.0):.3f}"
            print(f"{label}: {final.message or ''} -> {shown}")
            if final.state != TERMINAL_STATES[0]:
                print(f"  {final.error.code}: {final.error.message}", file=sys.stderr)
                status = 1
        if args.report_dir:
            done = [job for job in finished if "results" in job.outputs]
            if done:
                print(write_report(done, Path(args.report_dir)))
        return status


def write_report(jobs, out: Path) -> str:
    """Write report.md, report.html and two PNGs per task into `out`; returns a one-line summary."""
    store = _store()
    results = []
    for job in jobs:
        ref = job.outputs["results"]
        results.append(store.read_json(store.resolve(ref.uri, ref.sha256)))
    out.mkdir(parents=True, exist_ok=True)
    images = []
    for result in results:
        stem = result.get("task_id") or "free_text"
        for kind, plot in (("success", plot_success), ("timeline", plot_timeline)):
            path = out / f"{stem}-{kind}.png"
            plot(result, path)
            images.append(path.name)
    markdown = render_report(results) + "\n" + "\n".join(f"![{name}]({name})" for name in images) + "\n"
    (out / "report.md").write_text(markdown)
    (out / "report.html").write_text(render_html(results, images))
    return f"report of {len(results)} evaluations written to {out}/report.md and report.html"


def cmd_report(args) -> int:
    with _client(args) as client:
        jobs = [client.get_job(job_id) for job_id in args.job_ids]
    missing = [job.job_id for job in jobs if "results" not in job.outputs]
    if missing:
        print(f"maestro report: jobs without results (not finished?): {', '.join(missing)}", file=sys.stderr)
        return 1
    print(write_report(jobs, Path(args.out)))
    return 0


# ---- the report ------------------------------------------------------------------------------
# Shared by the evaluator (each job's own report) and `maestro report` (several jobs in one table).

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


SKILL_COLOURS = dict(zip(SKILL_NAMES, ("tab:green", "tab:red", "tab:blue", "tab:orange", "tab:purple")))


def _fmt(value, metric: str | None, stderr=None) -> str:
    if value is None:
        return "n/a"
    text = f"{100 * value:.1f}%" if metric == "success_rate" else f"{value:.2f}"
    if stderr is not None:
        text += f" ± {100 * stderr:.1f}" if metric == "success_rate" else f" ± {stderr:.2f}"
    return text


def table_rows(results: list[dict]) -> list[list[str]]:
    rows = []
    for result in results:
        metric = result.get("metric")
        ours = result["summary"]
        baselines = result.get("baselines", {})
        rows.append([
            result.get("title") or result["task_text"][:40],
            _fmt(ours.get("value"), metric, ours.get("stderr")),
            _fmt(result.get("paper_value"), metric),
            _fmt(result.get("paper_baseline"), metric),
            _fmt(baselines.get("random_skill_policy", {}).get("value"), metric),
            _fmt(baselines.get("untrained_network", {}).get("value"), metric),
            f"{ours.get('progression', float('nan')):.2f}",
            str(int(ours.get("episodes", 0))),
        ])
    return rows


HEADER = ["task", "ours", "paper (MaestroMotif)", "paper (best baseline)", "random skill policy",
          "untrained network", "progression", "episodes"]


def render_report(results: list[dict]) -> str:
    """Markdown: the results table, then how each check is made."""
    lines = ["# MaestroMotif evaluation", "",
             "Success rates in %, counts per episode; ± one standard error over episodes. Baselines play the "
             "same seeds: a uniformly random policy over the same skills, and an untrained (freshly "
             "initialised) skill network under the task policy. Progression: fraction of the task's milestones "
             "reached (BALROG-style), mean over episodes.", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    lines += ["", "## How each result is checked", ""]
    for result in results:
        lines.append(f"- **{result.get('title') or 'free text'}**: {result.get('check') or 'no success check'}")
    return "\n".join(lines) + "\n"


def render_html(results: list[dict], images: list[str] = ()) -> str:
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table_rows(results))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    imgs = "".join(f'<p><img src="{html.escape(i)}" width="640"></p>' for i in images)
    return (f"<html><head><meta charset='utf-8'><title>MaestroMotif evaluation</title></head><body>"
            f"<h1>MaestroMotif evaluation</h1><table border='1'><tr>{head}</tr>{rows}</table>{imgs}</body></html>")


def _running_mean(values: list[float]) -> list[float]:
    out, total = [], 0.0
    for index, value in enumerate(values, 1):
        total += value
        out.append(total / index)
    return out


SERIES_STYLE = {"task policy": dict(color="tab:blue", linestyle="-", linewidth=2.2, marker="o"),
                "random skill policy": dict(color="tab:orange", linestyle="--", linewidth=1.4, marker="s"),
                "untrained network": dict(color="tab:green", linestyle=":", linewidth=1.4, marker="^")}


def plot_success(result: dict, path: Path) -> Path:
    """Running success rate (or mean count) over episodes: the task policy and each baseline."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    series = {"task policy": result["episodes"]}
    series.update({name.replace("_", " "): b["episodes"] for name, b in result.get("baseline_episodes", {}).items()})
    for name, records in series.items():
        values = [r["outcome"] for r in records if r["outcome"] is not None]
        if values:
            style = SERIES_STYLE.get(name, {})
            ax.plot(range(1, len(values) + 1), _running_mean(values), label=name, markersize=4, **style)
    if result.get("paper_value") is not None:
        ax.axhline(result["paper_value"], color="grey", linestyle="-.", linewidth=1, label="paper (MaestroMotif)")
    metric = result.get("metric")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("episode")
    ax.set_ylabel("success rate (running mean)" if metric == "success_rate" else "count per episode (running mean)")
    ax.set_ylim(bottom=-0.02)
    ax.set_title(f"{result.get('title') or 'task'}: running mean over episodes")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png", bbox_inches="tight")
    plt.close(fig)
    return path


def plot_timeline(result: dict, path: Path, episodes: int = 8) -> Path:
    """Which skill ran when, for the first `episodes` episodes of the task policy, and how each ended."""
    plt = _pyplot()
    records = result["episodes"][:episodes]
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.45 * max(1, len(records))), dpi=100)
    for row, record in enumerate(records):
        for run in record["timeline"]:
            end = run["end_step"] if run["end_step"] is not None else record["steps"]
            ax.barh(row, max(end - run["start_step"], 1), left=run["start_step"],
                    color=SKILL_COLOURS.get(run["skill"], "black"), height=0.7)
        label = record["end"] + (" (success)" if record.get("success_step") is not None else "")
        ax.text(record["steps"], row, f"  {label}", va="center", fontsize=7)
    ax.set_yticks(range(len(records)), [f"seed {r['seed']}" for r in records], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("env step")
    ax.set_xlim(0, max([r["steps"] for r in records] + [1]) * 1.18)
    ax.set_title(f"{result.get('title') or 'task'}: skill timeline", pad=22)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in SKILL_COLOURS.values()]
    ax.legend(handles, SKILL_COLOURS.keys(), fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=5,
              frameon=False)
    fig.tight_layout()
    fig.savefig(path, format="png", bbox_inches="tight")
    plt.close(fig)
    return path
