"""`maestro`: the command line for local mode, jobs and datasets. `maestro --help` lists commands."""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections import Counter

import grpc

from maestro_common.catalog import SERVICES, service_info

EPILOG = """Local mode keeps its state under $MAESTRO_HOME (default ~/.maestro): service logs in
local/logs/, job databases per service, artifacts in artifacts/. Set MAESTRO_<SERVICE>_ADDRESS
(e.g. MAESTRO_SKILL_LEARNER_ADDRESS=host:50054) to talk to services elsewhere."""


_OPEN_CHANNELS: list = []
"""Channels the command opened; closed before exit so no gRPC thread outlives the interpreter."""


def _stub(name: str):
    from maestro.annotator.v1 import annotator_pb2_grpc
    from maestro.codegen.v1 import codegen_pb2_grpc
    from maestro.evaluator.v1 import evaluator_pb2_grpc
    from maestro.reward.v1 import reward_pb2_grpc
    from maestro.skill_learner.v1 import skill_learner_pb2_grpc
    from maestro_common.client import open_channel, with_call_metadata
    from maestro_common.local import service_address

    stubs = {
        "llm-annotator": annotator_pb2_grpc.AnnotatorServiceStub,
        "reward-trainer": reward_pb2_grpc.RewardServiceStub,
        "codegen": codegen_pb2_grpc.CodegenServiceStub,
        "skill-learner": skill_learner_pb2_grpc.SkillLearnerServiceStub,
        "evaluator": evaluator_pb2_grpc.EvaluatorServiceStub,
    }
    channel = open_channel(service_address(service_info(name)))
    _OPEN_CHANNELS.append(channel)
    if name == "evaluator":  # every evaluator call (jobs, watch, cancel too) carries its bearer token
        channel = with_call_metadata(channel, _evaluator_metadata())
    return stubs[name](channel)


def _pb(name: str):
    from maestro.annotator.v1 import annotator_pb2
    from maestro.codegen.v1 import codegen_pb2
    from maestro.evaluator.v1 import evaluator_pb2
    from maestro.reward.v1 import reward_pb2
    from maestro.skill_learner.v1 import skill_learner_pb2

    return {"llm-annotator": annotator_pb2, "reward-trainer": reward_pb2, "codegen": codegen_pb2,
            "skill-learner": skill_learner_pb2, "evaluator": evaluator_pb2}[name]


# ---- local mode -----------------------------------------------------------------------------

def cmd_up(args) -> int:
    from maestro_common import local

    print("Starting local mode (loopback):")
    local.up(base_port=args.base_port)
    print("All services SERVING. `maestro status` shows them; `maestro down` stops them.")
    return 0


def cmd_down(args) -> int:
    from maestro_common import local

    local.down()
    return 0


def cmd_status(args) -> int:
    from maestro_common import local

    rows = local.status()
    print(f"{'SERVICE':15} {'ADDRESS':22} {'HEALTH':16} PID")
    for name, address, health, pid in rows:
        print(f"{name:15} {address:22} {health:16} {pid}")
    return 0 if all(r[2] == "SERVING" for r in rows) else 1


# ---- jobs -------------------------------------------------------------------------------------

def _state_name(job) -> str:
    from maestro.common.v1 import common_pb2

    return common_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_")


def watch_with_progress(service: str, job_id: str, *, quiet: bool = False):
    """Follow a job with a progress bar (log lines when stderr is not a terminal) until it ends;
    returns the final Job message."""
    from maestro_common.progress import JobProgress

    pb = _pb(service)
    stub = _stub(service)
    last, progress = None, None
    try:
        for response in stub.WatchJob(pb.WatchJobRequest(job_id=job_id)):
            last = response.job
            if quiet:
                continue
            if progress is None:
                progress = JobProgress(unit=last.progress.unit)
            progress.update(f"{last.kind} {_state_name(last).lower()}", last.progress.done, last.progress.total,
                            last.message[:60])
    finally:
        if progress is not None:
            progress.close()
    return last


def _print_job(job) -> None:
    print(f"job {job.job_id}  {job.kind}  {_state_name(job)}  attempt {job.attempt}")
    print(f"  progress: {job.progress.done}/{job.progress.total} {job.progress.unit}  {job.message}")
    if job.error.code:
        print(f"  error: {job.error.code}: {job.error.message}")
    for name, ref in job.outputs.items():
        print(f"  output {name}: {ref.uri}  sha256={ref.sha256}  ({ref.size_bytes} bytes)")
    for key, value in sorted(job.metrics.items()):
        print(f"  {key} = {value:g}")


def cmd_jobs(args) -> int:
    from maestro.common.v1 import common_pb2

    pb, stub = _pb(args.service), _stub(args.service)
    if args.action == "list":
        response = stub.ListJobs(pb.ListJobsRequest(query=common_pb2.JobQuery(page_size=args.limit)))
        for job in response.jobs:
            print(f"{job.job_id}  {job.kind:18} {_state_name(job):12} "
                  f"{job.progress.done}/{job.progress.total} {job.progress.unit}  {job.message[:50]}")
        return 0
    if not args.job_id:
        print("a job id is required for this action", file=sys.stderr)
        return 2
    if args.action == "get":
        _print_job(stub.GetJob(pb.GetJobRequest(job_id=args.job_id)).job)
    elif args.action == "cancel":
        _print_job(stub.CancelJob(pb.CancelJobRequest(job_id=args.job_id)).job)
    else:
        _print_job(watch_with_progress(args.service, args.job_id))
    return 0


# ---- datasets ---------------------------------------------------------------------------------

def start_collection(args):
    from maestro.skill_learner.v1 import skill_learner_pb2 as pb

    request = pb.CollectDatasetRequest(
        policy=pb.COLLECTION_POLICY_RANDOM_MACRO, episodes=args.episodes, num_envs=args.envs,
        max_episode_steps=args.max_steps, episodes_per_shard=args.episodes_per_shard, seed=args.seed,
        request_id=uuid.uuid4().hex,
    )
    return _stub("skill-learner").CollectDataset(request).job


def dataset_summary(uri: str, sha256: str) -> str:
    """A short human summary of an observation dataset in the local artifact store."""
    from maestro_common.artifacts import ArtifactStore
    from maestro_common.datasets import read_manifest, read_table
    from maestro_common.settings import ServiceSettings

    store = ArtifactStore(ServiceSettings().resolved_artifact_root())
    ref = store.resolve(uri, sha256)
    manifest = read_manifest(store, ref)
    table = read_table(store, ref).to_pydict()
    messages = Counter(m for m in table["message"] if m)
    lines = [
        f"dataset   {ref.uri}",
        f"sha256    {ref.sha256}",
        f"source    {manifest.source}; {len(manifest.shards)} Parquet shards, "
        f"{sum(s.ref.size_bytes for s in manifest.shards) / 1e6:.2f} MB",
        f"episodes  {manifest.episodes}   steps {manifest.rows}   "
        f"mean length {manifest.rows / max(1, manifest.episodes):.0f} steps",
        f"deepest   dlvl {max(table['depth'], default=0)}   most gold {max(table['gold'], default=0)}   "
        f"highest XP level {max(table['xp_level'], default=0)}",
        f"messages  {len(messages)} distinct non-empty; most common:",
    ]
    lines += [f"  {count:6d}  {text[:70]}" for text, count in messages.most_common(5)]
    return "\n".join(lines)


def cmd_collect(args) -> int:
    job = start_collection(args)
    print(f"CollectDataset job {job.job_id} queued on skill-learner")
    if args.no_wait:
        return 0
    return 0 if _collected_dataset(job.job_id) is not None else 1


def _finished_output(service: str, job_id: str, output: str, summarise):
    """Follow a job to its end; print `summarise(uri, sha256)` of its output and return the ref
    (None, after printing the job, when it did not succeed)."""
    job = watch_with_progress(service, job_id)
    if _state_name(job) != "SUCCEEDED":
        _print_job(job)
        return None
    ref = job.outputs[output]
    print(summarise(ref.uri, ref.sha256))
    return ref


def _collected_dataset(job_id: str):
    return _finished_output("skill-learner", job_id, "dataset", dataset_summary)


# ---- annotation -------------------------------------------------------------------------------

JUDGE_MODES = {"pointwise": "JUDGE_MODE_POINTWISE_LOGPROB", "pairwise-logprob": "JUDGE_MODE_PAIRWISE_LOGPROB",
               "pairwise-cot": "JUDGE_MODE_PAIRWISE_COT"}


def start_annotation(dataset, *, skills: list[str], pairs: int, mode: str, seed: int):
    from maestro.annotator.v1 import annotator_pb2 as pb
    from maestro.common.v1 import common_pb2

    request = pb.AnnotateDatasetRequest(
        dataset=common_pb2.ArtifactRef(uri=dataset.uri, sha256=dataset.sha256),
        skills=[common_pb2.SkillSpec(name=name) for name in skills], num_pairs=pairs,
        judge_mode=pb.JudgeMode.Value(JUDGE_MODES[mode]), seed=seed, request_id=uuid.uuid4().hex)
    return _stub("llm-annotator").AnnotateDataset(request).job


def labels_summary(uri: str, sha256: str) -> str:
    """Label mix per skill of a label artifact in the local artifact store."""
    import io

    import pyarrow.parquet as pq

    from maestro_common.artifacts import ArtifactStore
    from maestro_common.settings import ServiceSettings

    store = ArtifactStore(ServiceSettings().resolved_artifact_root())
    table = pq.read_table(io.BytesIO(store.read_bytes(store.resolve(uri, sha256)))).to_pydict()
    mix: dict[str, Counter] = {}
    for skill, label in zip(table["skill"], table["label"]):
        mix.setdefault(skill, Counter())[label] += 1
    model = table["model"][0] if table["model"] else "-"
    mode = table["judge_mode"][0] if table["judge_mode"] else "-"
    lines = [f"labels    {uri}", f"sha256    {sha256}", f"model     {model}; mode {mode}",
             f"{'skill':12} {'first':>6} {'second':>6} {'tie':>6} {'unknown':>8}"]
    for skill, counts in mix.items():
        lines.append(f"{skill:12} {counts['first']:6d} {counts['second']:6d} {counts['tie']:6d} {counts['unknown']:8d}")
    return "\n".join(lines)


def _annotated(job_id: str):
    return _finished_output("llm-annotator", job_id, "labels", labels_summary)


def cmd_annotate(args) -> int:
    from maestro_common.artifacts import ArtifactRef

    job = start_annotation(ArtifactRef(args.uri, args.sha256, 0), skills=args.skills, pairs=args.pairs,
                           mode=args.mode, seed=args.seed)
    print(f"AnnotateDataset job {job.job_id} queued on llm-annotator")
    if args.no_wait:
        return 0
    return 0 if _annotated(job.job_id) is not None else 1


def cmd_dataset(args) -> int:
    if args.action == "show":
        print(dataset_summary(args.uri, args.sha256))
        return 0
    from maestro_common.artifacts import ArtifactStore
    from maestro_common.datasets import DatasetManifest, write_manifest, write_shard
    from maestro_common.nethack.nld import import_ttyrec_directory
    from maestro_common.settings import ServiceSettings

    store = ArtifactStore(ServiceSettings().resolved_artifact_root())
    table = import_ttyrec_directory(args.directory)
    episodes = len(set(table.column("episode_id").to_pylist()))
    shard = write_shard(store, table, episodes=episodes, name="nld.parquet")
    ref = write_manifest(store, DatasetManifest([shard], source="nld", details={"directory": str(args.directory)}))
    print(dataset_summary(ref.uri, ref.sha256))
    return 0


# ---- the main job -----------------------------------------------------------------------------

def _evaluator_metadata() -> tuple:
    """The evaluator's call metadata: its bearer token (env MAESTRO_API_TOKEN or local mode's), if any."""
    from maestro_common.local import api_token

    token = api_token()
    return (("authorization", f"Bearer {token}"),) if token else ()


def budgets_from_args(args):
    from maestro_common.pipeline import Budgets

    return Budgets(episodes=args.episodes, max_steps=args.max_steps, envs=args.envs, pairs=args.pairs,
                   judge_mode=JUDGE_MODES[args.mode], codegen_attempts=args.codegen_attempts,
                   train_env_steps=args.train_steps, train_envs=args.train_envs,
                   train_device="cuda" if args.gpu else "cpu", task=args.task, eval_episodes=args.eval_episodes,
                   seed=args.seed)


def cmd_run(args) -> int:
    """Start local mode if needed, run the phases of the main job, summarise, write the report."""
    import json

    from maestro_common import local
    from maestro_common.artifacts import ArtifactStore
    from maestro_common.pipeline import PHASES, results_json, run_pipeline, summary_lines
    from maestro_common.settings import ServiceSettings, maestro_home

    began = time.monotonic()
    phases = PHASES[:[p.name for p in PHASES].index(args.until) + 1] if args.until else PHASES
    was_up = all(r[2] == "SERVING" for r in local.status())
    if not was_up:
        print("Starting local mode (loopback):")
        local.up()
    try:
        results = run_pipeline(budgets_from_args(args), stub=_stub, describe=_describe_outputs,
                               watch=lambda service, job_id: watch_with_progress(service, job_id),
                               store=ArtifactStore(ServiceSettings().resolved_artifact_root()), phases=phases)
        report = _write_run_report(results)
    finally:
        if not was_up and not args.keep_up:
            print("Stopping local mode (use --keep-up to leave it running):")
            local.down()
    runs = maestro_home() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "last-run.json").write_text(json.dumps(results_json(results), indent=1))
    print()
    print("\n".join(summary_lines(results, time.monotonic() - began)))
    if report:
        print(f"report    {report}")
    return 0 if all(r.status in ("done", "reused") for r in results) else 1


def _describe_outputs(phase: str, outputs: dict) -> str | None:
    """The summary printed after a phase of the main job."""
    if "dataset" in outputs and phase == "collect":
        return dataset_summary(outputs["dataset"].uri, outputs["dataset"].sha256)
    if "labels" in outputs:
        return labels_summary(outputs["labels"].uri, outputs["labels"].sha256)
    return "\n".join(f"  {name}: {ref.uri}  sha256={ref.sha256[:16]}..." for name, ref in outputs.items())


def _write_run_report(results) -> str:
    """Render the evaluation's report (Markdown, HTML, PNG plots) under $MAESTRO_HOME/runs/report when
    the evaluate phase produced results; returns the Markdown file's path or ""."""
    from types import SimpleNamespace

    from maestro_common.cli_evaluate import write_report
    from maestro_common.settings import maestro_home

    evaluation = next((r for r in results if r.name == "evaluate" and "results" in r.outputs), None)
    if evaluation is None:
        return ""
    out = maestro_home() / "runs" / "report"
    write_report([SimpleNamespace(outputs=evaluation.outputs)], out)
    return str(out / "report.md")


def _collect_flags(parser: argparse.ArgumentParser, episodes: int, max_steps: int) -> None:
    parser.add_argument("--episodes", type=int, default=episodes, help="episodes to play (default %(default)s)")
    parser.add_argument("--envs", type=int, default=0, help="parallel environments (0 = one per CPU core)")
    parser.add_argument("--max-steps", type=int, default=max_steps,
                        help="step cap per episode, at most 10000 (default %(default)s)")
    parser.add_argument("--episodes-per-shard", type=int, default=0,
                        help="episodes per Parquet shard (0 = one per environment)")
    parser.add_argument("--seed", type=int, default=0, help="base seed; the same seed gives the same dataset")


def _phases():
    from maestro_common.pipeline import PHASES

    return PHASES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maestro", description="MaestroMotif: skills from AI feedback, "
                                     "tasks solved zero-shot by LLM-written policies over them.", epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="the main job: the whole method end to end on small budgets",
                       description="Starts local mode if it is not running and runs the method end to end: "
                       "collect a dataset, label pairs for the five skills with the LLM judge, train the reward "
                       "models, write the skills' predicates and pi_T, train the skills, evaluate a task "
                       "zero-shot and write the report. Finished phases are reused on a re-run with the same "
                       "budgets (ledger in $MAESTRO_HOME/runs/). Stops what it started.")
    _collect_flags(p, episodes=16, max_steps=2000)
    p.add_argument("--pairs", type=int, default=8, help="pairs to label per skill (default %(default)s)")
    p.add_argument("--mode", choices=sorted(JUDGE_MODES), default="pointwise", help="judge mode (default %(default)s)")
    p.add_argument("--codegen-attempts", type=int, default=3,
                   help="generation jobs tried per code artifact before the run stops (default %(default)s)")
    p.add_argument("--train-steps", type=int, default=20_000, help="skill-training env steps (default %(default)s)")
    p.add_argument("--train-envs", type=int, default=4, help="skill-training environments (default %(default)s)")
    p.add_argument("--task", default="gnomish_mines", help="registered task evaluated at the end (default %(default)s)")
    p.add_argument("--eval-episodes", type=int, default=4, help="episodes per evaluated policy (default %(default)s)")
    p.add_argument("--gpu", action="store_true", help="train on the GPU (cuda); see the README for GPU budgets")
    p.add_argument("--until", choices=[phase.name for phase in _phases()], default=None,
                   help="stop after this phase")
    p.add_argument("--keep-up", action="store_true", help="leave local mode running afterwards")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("up", help="start all five services on loopback (local mode)")
    p.add_argument("--base-port", type=int, default=None,
                   help="use ports BASE..BASE+9 (gRPC then metrics) instead of the defaults 50051-50055/9101-9105")
    p.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop the services local mode started").set_defaults(func=cmd_down)
    sub.add_parser("status", help="health of each service (exit 1 unless all are SERVING)").set_defaults(
        func=cmd_status)

    p = sub.add_parser("collect", help="collect an observation dataset with the skill-learner")
    _collect_flags(p, episodes=8, max_steps=10000)
    p.add_argument("--no-wait", action="store_true", help="print the job id and return at once")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("annotate", help="label observation pairs of a dataset for skills with the LLM judge")
    p.add_argument("uri", help="dataset manifest URI (from collect or dataset import-nld)")
    p.add_argument("sha256", help="the manifest's sha256")
    p.add_argument("--skills", nargs="+", default=["Discoverer", "Descender", "Ascender", "Worshipper", "Merchant"])
    p.add_argument("--pairs", type=int, default=32, help="pairs per skill (default %(default)s)")
    p.add_argument("--mode", choices=sorted(JUDGE_MODES), default="pointwise", help="judge mode (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-wait", action="store_true", help="print the job id and return at once")
    p.set_defaults(func=cmd_annotate)

    p = sub.add_parser("jobs", help="list, inspect, follow or cancel a service's jobs")
    p.add_argument("action", choices=["list", "get", "watch", "cancel"])
    p.add_argument("job_id", nargs="?", default="")
    p.add_argument("--service", default="skill-learner", choices=[s.name for s in SERVICES])
    p.add_argument("--limit", type=int, default=20, help="jobs to list (default %(default)s)")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("dataset", help="summarise a dataset, or import NetHack Learning Dataset ttyrecs")
    dsub = p.add_subparsers(dest="action", required=True)
    show = dsub.add_parser("show", help="summarise a dataset manifest in the artifact store")
    show.add_argument("uri")
    show.add_argument("sha256")
    nld = dsub.add_parser("import-nld", help="import a directory of NLD ttyrecs (through nle.dataset)")
    nld.add_argument("directory")
    p.set_defaults(func=cmd_dataset)

    from maestro_common.cli_evaluate import add_commands

    add_commands(sub)  # evaluate, report
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except grpc.RpcError as error:
        print(f"maestro: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        while _OPEN_CHANNELS:
            _OPEN_CHANNELS.pop().close()


if __name__ == "__main__":
    sys.exit(main())
