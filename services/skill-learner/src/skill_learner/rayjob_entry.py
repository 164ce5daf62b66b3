"""The training driver inside a TrainSkills RayJob: `python -m skill_learner.rayjob_entry --request-uri URI
--request-sha256 SHA --job-id ID` (the entrypoint that `maestro_common.kube.rayjob.build_rayjob` writes).

It reads the TrainSkillsRequest from the artifact store (MAESTRO_ARTIFACT_ROOT, shared with the service),
runs exactly the training of the local backend (`train_job.run_training`) against a job store local to
the driver, and copies that job's progress, metrics and outputs (the published checkpoint) into the run
report every few seconds and at the end (`RunReporter`), which the service mirrors into its own job.
A failure exits non-zero with the message, so KubeRay marks the RayJob Failed with it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from pathlib import Path

from maestro.skill_learner.v1 import skill_learner_pb2 as pb
from maestro_common.artifacts import ArtifactStore
from maestro_common.errors import DomainError
from maestro_common.jobs import JobContext, JobStore
from maestro_common.kube.rayjob import RunReporter
from maestro_common.settings import load_settings
from skill_learner.config import SkillLearnerSettings
from skill_learner.plan import plan_from_request
from skill_learner.train_job import run_training


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--request-uri", required=True)
    parser.add_argument("--request-sha256", required=True)
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--report-seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    settings = load_settings(SkillLearnerSettings, training_backend="local")
    root = settings.resolved_artifact_root()
    store = ArtifactStore(root)
    request_bytes = store.read_bytes(store.resolve(args.request_uri, args.request_sha256))  # sha256 verified
    request = pb.TrainSkillsRequest.FromString(request_bytes)
    data_dir = Path(tempfile.mkdtemp(prefix="maestro-rayjob-"))
    with JobStore(data_dir / "jobs.db") as jobs:
        record, _ = jobs.create("TrainSkills", request_bytes)
        record = jobs.claim_next({"TrainSkills"})
        reporter = RunReporter(jobs, record.job_id, root, report_as=args.job_id, interval_seconds=args.report_seconds)
        reporter.start()
        try:
            plan = plan_from_request(request, settings, store)
            run_training(JobContext(jobs, record, threading.Event()), plan, store, data_dir)
        except DomainError as error:
            jobs.update_progress(record.job_id, message=error.message)
            print(f"training failed: {error.message}", file=sys.stderr)
            return 1
        finally:
            reporter.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
