"""Load: N concurrent clients on the llm-annotator (with its LLM behind it) and on the evaluator.

Usage: python bench/load.py [--clients 1,10,50] [--jobs-per-client 1] [--calls-per-client 60]
                            [--out bench/results/load.json]

Each service runs as its own process on 127.0.0.1 (`python -m <package>`, state in a temporary
MAESTRO_HOME); the clients are threads of this process, one gRPC channel each, all released at once.

- Annotator: each client submits `--jobs-per-client` AnnotateDataset jobs (1 skill, 2 pairs, pointwise,
  a distinct seed and request_id each) and polls GetJob every 0.2 s until the job ends. The annotator
  answers with its embedded model (MAESTRO_LLM_MODEL, default the tiny one here, one llama.cpp thread);
  each client count gets a fresh annotator (a cold answer cache), so the LLM really runs.
- Evaluator: each client makes `--calls-per-client` calls cycling over its cheap RPCs (ListTasks,
  GetJob of an unknown id, ListJobs) with the bearer token; the anchor is the gRPC health Check on the
  same server in the same run.

Latency is per RPC (p50/p99 in ms). An answer with a documented status (OK, NOT_FOUND for an unknown
job, UNIMPLEMENTED for an RPC not served yet) counts as answered; no answer (UNAVAILABLE,
DEADLINE_EXCEEDED, a job that never ends) counts as dropped; any other status, or a job that does not
succeed, counts as an error. Calls use plain channels with no client retries, so nothing is hidden.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import write_result  # noqa: E402

from maestro.annotator.v1 import annotator_pb2 as annotator_pb  # noqa: E402
from maestro.annotator.v1 import annotator_pb2_grpc as annotator_grpc  # noqa: E402
from maestro.common.v1 import common_pb2  # noqa: E402
from maestro.evaluator.v1 import evaluator_pb2 as evaluator_pb  # noqa: E402
from maestro.evaluator.v1 import evaluator_pb2_grpc as evaluator_grpc  # noqa: E402
from maestro_common.client import wait_until_serving  # noqa: E402
from maestro_common.llm import TINY_EMBEDDED_MODEL  # noqa: E402
from maestro_common.llm.server import free_port  # noqa: E402

SKILLS = ("Discoverer", "Descender", "Ascender", "Worshipper", "Merchant")
TERMINAL = (common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED,
            common_pb2.JOB_STATE_INTERRUPTED)
ANSWERED = {grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNIMPLEMENTED}
NO_ANSWER = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
CALL_TIMEOUT_S = 60.0
POLL_S = 0.2
API_TOKEN = "load-token"


@dataclass
class Tally:
    """What the clients of one run saw: latencies per RPC, status codes, drops and errors."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    codes: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    job_seconds: list[float] = field(default_factory=list)
    job_cache_hit_rates: list[float] = field(default_factory=list)
    dropped: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, rpc: str, fn, *args, **kwargs):
        """Run one call; record its latency and status; returns the response or None."""
        start = time.perf_counter()
        try:
            response, code = fn(*args, timeout=CALL_TIMEOUT_S, **kwargs), grpc.StatusCode.OK
        except grpc.RpcError as error:
            response, code = None, error.code()
            details = error.details()
        elapsed = time.perf_counter() - start
        with self.lock:
            self.latencies[rpc].append(elapsed)
            self.codes[rpc][code.name] += 1
            if code in NO_ANSWER:
                self.dropped += 1
            elif code not in ANSWERED:
                self.errors.append(f"{rpc}: {code.name} {details}")
        return response

    def summary(self) -> dict:
        rpcs = {}
        for rpc, samples in sorted(self.latencies.items()):
            p50, p99 = percentiles(samples)
            rpcs[rpc] = {"calls": len(samples), "p50_ms": round(p50, 3), "p99_ms": round(p99, 3),
                         "codes": dict(self.codes[rpc])}
        out = {"rpcs": rpcs, "dropped": self.dropped, "errors": len(self.errors), "error_examples": self.errors[:5]}
        if self.job_seconds:
            p50, p99 = percentiles(self.job_seconds)
            out["jobs"] = {"count": len(self.job_seconds), "p50_ms": round(p50, 1), "p99_ms": round(p99, 1),
                           "mean_cache_hit_rate": round(statistics.fmean(self.job_cache_hit_rates or [0.0]), 3)}
        return out


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) of `samples` (seconds) in milliseconds (nearest rank)."""
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1e3


class ServiceProcess:
    """`python -m <package>` on 127.0.0.1:<free port>; stopped by its pid."""

    def __init__(self, package: str, home: Path, env: dict[str, str]):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        full_env = dict(os.environ, MAESTRO_HOME=str(home), MAESTRO_GRPC_HOST="127.0.0.1",
                        MAESTRO_GRPC_PORT=str(self.port), MAESTRO_METRICS_PORT="-1", MAESTRO_LOG_LEVEL="WARNING",
                        **env)
        self.log = home / f"{package}-{self.port}.log"
        home.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", package], env=full_env, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_until_serving(self.address, timeout=180)
        except TimeoutError:
            self.stop()
            raise SystemExit(f"{package} did not start; log {self.log}:\n{self.log.read_text()[-2000:]}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)


def make_dataset(artifact_root: Path) -> common_pb2.ArtifactRef:
    """A small real dataset (2 random-play episodes of 300 steps) in the artifact store."""
    from maestro_common.artifacts import ArtifactStore
    from maestro_common.datasets import DatasetManifest, write_manifest, write_shard
    from maestro_common.nethack.dataset import collect_episodes
    from maestro_common.nethack.env import EnvConfig

    store = ArtifactStore(str(artifact_root))
    table = collect_episodes(EnvConfig(max_episode_steps=300), "random", seeds=[9, 13], episode_ids=["a", "b"],
                             num_workers=1)
    ref = write_manifest(store, DatasetManifest([write_shard(store, table, episodes=2)], source="load"))
    return common_pb2.ArtifactRef(uri=ref.uri, sha256=ref.sha256, size_bytes=ref.size_bytes)


def run_clients(clients: int, body) -> float:
    """Run body(index) on `clients` threads released together; returns the wall time in seconds."""
    barrier = threading.Barrier(clients)

    def run(index: int) -> None:
        barrier.wait()
        body(index)

    threads = [threading.Thread(target=run, args=(i,), name=f"client-{i}") for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def annotator_load(address: str, dataset: common_pb2.ArtifactRef, clients: int, jobs_per_client: int,
                   tag: str, job_timeout_s: float = 600.0) -> tuple[Tally, float]:
    """`clients` clients each submitting `jobs_per_client` small AnnotateDataset jobs and polling them."""
    tally = Tally()

    def client(index: int) -> None:
        with grpc.insecure_channel(address) as channel:
            stub = annotator_grpc.AnnotatorServiceStub(channel)
            for round_ in range(jobs_per_client):
                request = annotator_pb.AnnotateDatasetRequest(
                    dataset=dataset, skills=[common_pb2.SkillSpec(name=SKILLS[(index + round_) % len(SKILLS)])],
                    num_pairs=2, judge_mode=annotator_pb.JUDGE_MODE_POINTWISE_LOGPROB, snapshot_interval=25,
                    seed=1000 * index + round_, request_id=f"load-{tag}-{clients}-{index}-{round_}")
                submitted = time.perf_counter()
                response = tally.call("AnnotateDataset", stub.AnnotateDataset, request)
                if response is None:
                    continue
                job = response.job
                while job.state not in TERMINAL and time.perf_counter() - submitted < job_timeout_s:
                    time.sleep(POLL_S)
                    answer = tally.call("GetJob", stub.GetJob, annotator_pb.GetJobRequest(job_id=job.job_id))
                    job = answer.job if answer is not None else job
                with tally.lock:
                    if job.state not in TERMINAL:
                        tally.dropped += 1
                    elif job.state != common_pb2.JOB_STATE_SUCCEEDED:
                        tally.errors.append(f"job {job.job_id}: {common_pb2.JobState.Name(job.state)} "
                                            f"{job.error.code} {job.error.message}")
                    else:
                        tally.job_seconds.append(time.perf_counter() - submitted)
                        tally.job_cache_hit_rates.append(job.metrics.get("cache_hit_rate", 0.0))

    return tally, run_clients(clients, client)


def evaluator_load(address: str, clients: int, calls_per_client: int) -> tuple[Tally, float]:
    """`clients` clients each cycling `calls_per_client` times over the evaluator's cheap RPCs and health."""
    tally = Tally()
    metadata = (("authorization", f"Bearer {API_TOKEN}"),)

    def client(index: int) -> None:
        with grpc.insecure_channel(address) as channel:
            stub = evaluator_grpc.EvaluatorServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            calls = (
                ("ListTasks", lambda **kw: stub.ListTasks(evaluator_pb.ListTasksRequest(), metadata=metadata, **kw)),
                ("GetJob", lambda **kw: stub.GetJob(evaluator_pb.GetJobRequest(job_id="0" * 32), metadata=metadata,
                                                    **kw)),
                ("ListJobs", lambda **kw: stub.ListJobs(evaluator_pb.ListJobsRequest(), metadata=metadata, **kw)),
                ("Health.Check", lambda **kw: health.Check(health_pb2.HealthCheckRequest(), **kw)),
            )
            for number in range(calls_per_client):
                name, fn = calls[number % len(calls)]
                tally.call(name, fn)

    return tally, run_clients(clients, client)


def _headline(summary: dict, rpcs: tuple[str, ...]) -> tuple[float, float]:
    """Worst p50 and p99 over `rpcs` in one run's summary."""
    found = [summary["rpcs"][rpc] for rpc in rpcs if rpc in summary["rpcs"]]
    return max(r["p50_ms"] for r in found), max(r["p99_ms"] for r in found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,10,50", help="comma-separated client counts")
    parser.add_argument("--jobs-per-client", type=int, default=1)
    parser.add_argument("--calls-per-client", type=int, default=60)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "load.json"))
    args = parser.parse_args()
    counts = [int(n) for n in args.clients.split(",")]
    llm_env = {"MAESTRO_LLM_MODEL": os.environ.get("MAESTRO_LLM_MODEL", TINY_EMBEDDED_MODEL),
               "MAESTRO_LLM_N_THREADS": os.environ.get("MAESTRO_LLM_N_THREADS", "1")}

    runs: dict[str, dict] = {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        dataset = make_dataset(home / "artifacts")
        evaluator = ServiceProcess("evaluator", home, {"MAESTRO_API_TOKEN": API_TOKEN})
        try:
            for clients in counts:
                # A fresh annotator per client count: a cold answer cache, so the LLM runs in every run.
                annotator = ServiceProcess("llm_annotator", home,
                                           {**llm_env, "MAESTRO_DATA_DIR": str(home / f"annotator-{clients}")})
                try:
                    tally, wall = annotator_load(annotator.address, dataset, clients, args.jobs_per_client, "a")
                finally:
                    annotator.stop()
                runs[f"annotator_n{clients}"] = {**tally.summary(), "wall_s": round(wall, 2)}
                tally, wall = evaluator_load(evaluator.address, clients, args.calls_per_client)
                runs[f"evaluator_n{clients}"] = {**tally.summary(), "wall_s": round(wall, 2)}
                print(f"n={clients}: annotator {runs[f'annotator_n{clients}']['rpcs']}, "
                      f"evaluator {runs[f'evaluator_n{clients}']['rpcs']}", file=sys.stderr)
        finally:
            evaluator.stop()

    top = max(counts)
    annotator_top, evaluator_top = runs[f"annotator_n{top}"], runs[f"evaluator_n{top}"]
    a50, a99 = _headline(annotator_top, ("AnnotateDataset", "GetJob"))
    e50, e99 = _headline(evaluator_top, ("ListTasks", "GetJob", "ListJobs"))
    h50, h99 = _headline(runs[f"evaluator_n{top}"], ("Health.Check",))
    dropped = sum(run["dropped"] for run in runs.values())
    errors = sum(run["errors"] for run in runs.values())
    served = evaluator_top["rpcs"].get("ListTasks", {}).get("codes", {})
    metrics = {"annotator_p50_ms": a50, "annotator_p99_ms": a99, "evaluator_p50_ms": e50, "evaluator_p99_ms": e99,
               "dropped": float(dropped), "errors": float(errors)}
    if "jobs" in annotator_top:
        metrics["annotator_job_p50_ms"] = annotator_top["jobs"]["p50_ms"]
        metrics["annotator_job_p99_ms"] = annotator_top["jobs"]["p99_ms"]
    notes = (f"headline = the run with {top} concurrent clients; annotator_* = the worse of AnnotateDataset and "
             f"GetJob; evaluator_* = the worst of ListTasks, GetJob (unknown id), ListJobs; per-RPC figures for "
             f"every client count under 'runs'. Annotator LLM: {llm_env['MAESTRO_LLM_MODEL']} embedded, "
             f"{llm_env['MAESTRO_LLM_N_THREADS']} thread(s). Evaluator ListTasks answered {served or 'nothing'}"
             + (" (not served by this release: measured as the UNIMPLEMENTED answer)" if "UNIMPLEMENTED" in served
                else "") + f". Clients and servers share the machine's cores; 1-minute load average "
             f"{load_before:.1f} before the run and {os.getloadavg()[0]:.1f} after it (other work included).")
    write_result("load", args.out, metrics=metrics, anchors={"health_check_p50_ms": h50, "health_check_p99_ms": h99},
                 ratios={"evaluator_p50_vs_health_check": e50 / h50 if h50 else 0.0}, notes=notes,
                 extra={"runs": runs, "clients": counts, "jobs_per_client": args.jobs_per_client,
                        "calls_per_client": args.calls_per_client})
    if dropped or errors:
        raise SystemExit(f"{dropped} request(s) dropped and {errors} error(s); see 'runs' in {args.out}")


if __name__ == "__main__":
    main()
