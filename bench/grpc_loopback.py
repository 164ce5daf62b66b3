"""gRPC on loopback: unary round-trip latency and WatchJob stream throughput of a real service.

Usage: python bench/grpc_loopback.py [--calls 2000] [--updates 5000] [--out bench/results/grpc_loopback.json]

The unary figure is GetJob against the skill-learner (settings, interceptor, SQLite read, proto
conversion); its anchor, measured in the same run, is the bare gRPC health Check on the same server.
The stream figure is how many job updates per second one WatchJob stream delivers while a writer
updates the job's progress as fast as the store allows (the anchor: store writes per second).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import write_result  # noqa: E402

from maestro.skill_learner.v1 import skill_learner_pb2 as pb  # noqa: E402
from maestro.skill_learner.v1 import skill_learner_pb2_grpc as pb_grpc  # noqa: E402
from maestro_common.runtime import serve  # noqa: E402
from skill_learner.server import SERVICE  # noqa: E402


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[int(0.99 * (len(ordered) - 1))] * 1e3


def _time_calls(fn, calls: int) -> list[float]:
    for _ in range(min(200, calls)):
        fn()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "grpc_loopback.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = SERVICE.settings_cls(grpc_host="127.0.0.1", grpc_port=0, metrics_port=-1, data_dir=Path(tmp) / "d",
                                        artifact_root=str(Path(tmp) / "a"), shutdown_grace_seconds=1)
        running = serve(SERVICE, settings)
        running.ready.wait(30)
        store = running.runner.store
        job, _ = store.create("Bench", b"")
        with grpc.insecure_channel(running.address) as channel:
            stub = pb_grpc.SkillLearnerServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            get = _time_calls(lambda: stub.GetJob(pb.GetJobRequest(job_id=job.job_id), timeout=5), args.calls)
            bare = _time_calls(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5), args.calls)

            received = []
            stream = stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id))
            first = next(stream)
            done = threading.Event()

            def consume() -> None:
                for message in stream:
                    received.append(message.job.version)
                    if message.job.progress.done >= args.updates:
                        break
                done.set()

            consumer = threading.Thread(target=consume)
            consumer.start()
            start = time.perf_counter()
            for i in range(1, args.updates + 1):
                store.update_progress(job.job_id, done=i, total=args.updates)
            write_s = time.perf_counter() - start
            done.wait(60)
            stream_s = time.perf_counter() - start
            stream.cancel()
            consumer.join(5)
        running.stop(0.5)

    unary_p50, unary_p99 = _percentiles(get)
    bare_p50, bare_p99 = _percentiles(bare)
    write_result(
        "grpc_loopback", args.out,
        metrics={"unary_p50_ms": unary_p50, "unary_p99_ms": unary_p99,
                 "stream_msgs_per_s": len(received) / stream_s,
                 "stream_updates_covered_per_s": args.updates / stream_s},
        anchors={"health_check_p50_ms": bare_p50, "health_check_p99_ms": bare_p99,
                 "store_writes_per_s": args.updates / write_s},
        ratios={"getjob_vs_health_p50": unary_p50 / bare_p50,
                "stream_msgs_vs_store_writes": (len(received) / stream_s) / (args.updates / write_s)},
        notes=(f"{args.calls} sequential GetJob calls after warm-up; WatchJob sends one message per version it "
               f"observes, so it coalesces bursts of updates (first version {first.job.version}). "
               "Server and client share the machine's cores."),
    )


if __name__ == "__main__":
    main()
