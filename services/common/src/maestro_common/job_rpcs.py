"""The job half of every service's contract: GetJob, WatchJob, CancelJob, ListJobs.

Each service's servicer inherits `JobRpcs` and names its generated `_pb2` module; the request and
response classes differ per package, the behaviour is the same everywhere.
"""

from __future__ import annotations

from types import ModuleType

from google.protobuf.timestamp_pb2 import Timestamp

from maestro.common.v1 import common_pb2
from maestro_common.artifacts import ArtifactRef
from maestro_common.errors import InvalidArgument
from maestro_common.jobs.store import TERMINAL_STATES, JobRecord, JobState, JobStore

WATCH_POLL_SECONDS = 1.0
"""How often a WatchJob stream re-checks that its caller is still there."""


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

    def WatchJob(self, request, context):
        record = self.jobs.get(_require_job_id(request.job_id))
        yield self.pb2.WatchJobResponse(job=job_to_proto(record))
        while JobState(record.state) not in TERMINAL_STATES and context.is_active():
            latest = self.jobs.wait_for_change(record.job_id, record.version, timeout=WATCH_POLL_SECONDS)
            if latest.version != record.version:
                record = latest
                yield self.pb2.WatchJobResponse(job=job_to_proto(record))
