"""The job RPCs shared by every service, over a real skill-learner server."""

from __future__ import annotations

import grpc
import pytest

from maestro.common.v1 import common_pb2
from maestro.skill_learner.v1 import skill_learner_pb2 as pb
from maestro.skill_learner.v1 import skill_learner_pb2_grpc as pb_grpc
from maestro_common.jobs.store import JobState


def test_list_filters_pages_and_rejects_bad_states(start_service):
    running = start_service("skill_learner")
    store = running.runner.store
    ids = [store.create("Other", b"")[0].job_id for _ in range(3)]
    store.request_cancel(ids[0])
    with grpc.insecure_channel(running.address) as channel:
        stub = pb_grpc.SkillLearnerServiceStub(channel)
        page = stub.ListJobs(pb.ListJobsRequest(query=common_pb2.JobQuery(kinds=["Other"], page_size=2)))
        assert [j.job_id for j in page.jobs] == ids[::-1][:2] and page.next_page_token
        rest = stub.ListJobs(pb.ListJobsRequest(query=common_pb2.JobQuery(kinds=["Other"], page_size=2,
                                                                           page_token=page.next_page_token)))
        assert [j.job_id for j in rest.jobs] == [ids[0]] and not rest.next_page_token
        only_cancelled = common_pb2.JobQuery(states=[common_pb2.JOB_STATE_CANCELLED])
        cancelled = stub.ListJobs(pb.ListJobsRequest(query=only_cancelled))
        assert [j.job_id for j in cancelled.jobs] == [ids[0]]
        assert cancelled.jobs[0].state == common_pb2.JOB_STATE_CANCELLED and cancelled.jobs[0].HasField("end_time")
        with pytest.raises(grpc.RpcError) as error:
            stub.ListJobs(pb.ListJobsRequest(query=common_pb2.JobQuery(states=[common_pb2.JOB_STATE_UNSPECIFIED])))
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "query.states" in error.value.details()
        with pytest.raises(grpc.RpcError) as error:
            stub.ListJobs(pb.ListJobsRequest(query=common_pb2.JobQuery(page_token="garbage")))
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_watch_streams_changes_until_the_job_ends(start_service):
    running = start_service("skill_learner")
    store = running.runner.store
    job, _ = store.create("Other", b"")
    with grpc.insecure_channel(running.address) as channel:
        stream = pb_grpc.SkillLearnerServiceStub(channel).WatchJob(pb.WatchJobRequest(job_id=job.job_id), timeout=30)
        first = next(stream)
        assert first.job.state == common_pb2.JOB_STATE_QUEUED
        store.request_cancel(job.job_id)
        rest = list(stream)  # the stream ends by itself at the terminal state
    assert rest[-1].job.state == common_pb2.JOB_STATE_CANCELLED
    assert JobState(store.get(job.job_id).state) == JobState.CANCELLED
