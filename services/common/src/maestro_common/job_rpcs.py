"""The job half of every service's contract: GetJob, WatchJob, CancelJob, ListJobs.

Each service's servicer inherits `JobRpcs` and names its generated `_pb2` module; the request and
response classes differ per package, the behaviour is the same everywhere.
"""

from __future__ import annotations

import threading
from types import ModuleType

from google.protobuf.timestamp_pb2 import Timestamp

from maestro.common.v1 import common_pb2
from maestro_common.artifacts import ArtifactRef
from maestro_common.errors import InvalidArgument, ResourceExhausted
from maestro_common.jobs.store import TERMINAL_STATES, JobRecord, JobState, JobStore

WATCH_POLL_SECONDS = 1.0
"""How often a WatchJob stream re-checks that its caller is still there."""
_WATCH_SLOTS_LOCK = threading.Lock()


def watch_slots(max_rpc_workers: int) -> int:
    """WatchJob streams one replica serves at once: each holds an RPC worker thread until its job ends, so
    a quarter of the workers (at least 2) stay free for every other call, the health check included."""
    return max(1, max_rpc_workers - max(2, max_rpc_workers // 4))


def artifact_to_proto(ref: ArtifactRef) -> common_pb2.ArtifactRef:
    return common_pb2.ArtifactRef(uri=ref.uri, sha256=ref.sha256, size_bytes=ref.size_bytes, media_type=ref.media_type)


def _timestamp(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def job_to_proto(record: JobRecord) -> common_pb2.Job:
    job = common_pb2.Job(
        job_id=record.job_id,
        kind=record.kind,
        state=common_pb2.JobState.Value("JOB_STATE_" + JobState(record.state).value),
        progress=common_pb2.Progress(done=record.progress_done, total=record.progress_total,
                                     unit=record.progress_unit, stage=record.stage),
        message=record.message,
        attempt=record.attempt,
        cancel_requested=record.cancel_requested,
        labels=record.labels,
        metrics=record.metrics,
        version=record.version,
    )
    for name, seconds in (("create_time", record.created_at), ("update_time", record.updated_at),
                          ("start_time", record.started_at), ("end_time", record.ended_at)):
        stamp = _timestamp(seconds)
        if stamp is not None:
            getattr(job, name).CopyFrom(stamp)
    if record.error_code:
        job.error.CopyFrom(common_pb2.JobError(code=record.error_code, message=record.error_message or ""))
    for name, ref in record.outputs.items():
        job.outputs[name].CopyFrom(artifact_to_proto(ref))
    return job


def _require_job_id(job_id: str) -> str:
    if not job_id:
        raise InvalidArgument("job_id", "required; pass the id a start RPC or ListJobs returned")
    if len(job_id) > 128:
        raise InvalidArgument("job_id", f"too long ({len(job_id)} characters; ids are 32 hex digits)")
    return job_id


class JobRpcs:
    """Mixin implementing the four job RPCs over `self.jobs` with `self.pb2`'s message classes."""

    jobs: JobStore
    pb2: ModuleType

    def GetJob(self, request, context):
        return self.pb2.GetJobResponse(job=job_to_proto(self.jobs.get(_require_job_id(request.job_id))))

    def CancelJob(self, request, context):
        return self.pb2.CancelJobResponse(job=job_to_proto(self.jobs.request_cancel(_require_job_id(request.job_id))))

    def ListJobs(self, request, context):
        query = request.query
        states = []
        for value in query.states:
            if value == common_pb2.JOB_STATE_UNSPECIFIED or value not in common_pb2.JobState.values():
                raise InvalidArgument("query.states", f"{value} is not a job state")
            states.append(JobState(common_pb2.JobState.Name(value).removeprefix("JOB_STATE_")))
        records, token = self.jobs.list(kinds=list(query.kinds) or None, states=states or None,
                                        page_size=query.page_size or 50, page_token=query.page_token)
        return self.pb2.ListJobsResponse(jobs=[job_to_proto(r) for r in records], next_page_token=token)

    def _watch_semaphore(self) -> threading.BoundedSemaphore:
        with _WATCH_SLOTS_LOCK:
            if getattr(self, "_watch_slots", None) is None:
                self._watch_slots = threading.BoundedSemaphore(watch_slots(self.context.settings.max_rpc_workers))
            return self._watch_slots

    def WatchJob(self, request, context):
        record = self.jobs.get(_require_job_id(request.job_id))
        slots = self._watch_semaphore()
        if not slots.acquire(blocking=False):
            raise ResourceExhausted("too many WatchJob streams on this replica (each holds one of its "
                                    "MAESTRO_MAX_RPC_WORKERS threads); retry later, poll GetJob, or raise "
                                    "MAESTRO_MAX_RPC_WORKERS")
        try:
            yield self.pb2.WatchJobResponse(job=job_to_proto(record))
            while JobState(record.state) not in TERMINAL_STATES and context.is_active():
                latest = self.jobs.wait_for_change(record.job_id, record.version, timeout=WATCH_POLL_SECONDS)
                if latest.version != record.version:
                    record = latest
                    yield self.pb2.WatchJobResponse(job=job_to_proto(record))
        finally:
            slots.release()
