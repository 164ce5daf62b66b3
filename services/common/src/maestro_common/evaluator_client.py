"""A small Python client for the evaluator, the public entry point of MaestroMotif.

    from maestro_common.evaluator_client import EvaluatorClient

    with EvaluatorClient("evaluator.example.org:443", token="...", tls=True) as client:
        for task in client.list_tasks():
            print(task.task_id, task.title)
        job = client.evaluate(task_id="gnomish_mines", checkpoint=("file:///...", "<sha256>"),
                              skill_functions=("file:///...", "<sha256>"), episodes=100)
        final = client.wait(job.job_id, on_update=lambda j: print(j.progress.done, "/", j.progress.total))
        print(final.metrics["value"], final.outputs["report"].uri)

Address: the argument, else $MAESTRO_EVALUATOR_ADDRESS, else local mode's. Token: the argument,
else $MAESTRO_API_TOKEN, else the token local mode made; every call sends it as
"authorization: Bearer <token>". TLS: `tls=True` checks the server against the system roots, or
against `root_certificates` (a PEM file path or bytes) for a private CA. Errors are grpc.RpcError
with the evaluator's status code and an actionable message (UNAUTHENTICATED for a missing or wrong
token, NOT_FOUND listing the known task ids, INVALID_ARGUMENT, FAILED_PRECONDITION).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import grpc

from maestro.common.v1 import common_pb2
from maestro.evaluator.v1 import evaluator_pb2 as pb
from maestro.evaluator.v1 import evaluator_pb2_grpc as pb_grpc
from maestro_common.catalog import service_info

TERMINAL_STATES = (common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED,
                   common_pb2.JOB_STATE_INTERRUPTED)

Ref = tuple[str, str]
"""An artifact as (uri, sha256)."""


def default_address() -> str:
    """$MAESTRO_EVALUATOR_ADDRESS, else local mode's address of the evaluator."""
    from maestro_common.local import service_address

    return service_address(service_info("evaluator"))


def default_token() -> str:
    """$MAESTRO_API_TOKEN, else the token local mode made ("" when neither exists)."""
    from maestro_common.local import api_token

    return api_token()


def _artifact(ref: Ref | None) -> common_pb2.ArtifactRef | None:
    if ref is None:
        return None
    uri, sha256 = ref
    return common_pb2.ArtifactRef(uri=uri, sha256=sha256)


class EvaluatorClient:
    """One channel to the evaluator; see the module docstring."""

    def __init__(self, address: str | None = None, *, token: str | None = None, tls: bool = False,
                 root_certificates: str | os.PathLike[str] | bytes | None = None, timeout: float = 30.0):
        self.address = address or default_address()
        token = default_token() if token is None else token
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = timeout
        options = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]
        if tls or root_certificates is not None:
            roots = root_certificates
            if roots is not None and not isinstance(roots, bytes):
                roots = Path(roots).read_bytes()
            self._channel = grpc.secure_channel(self.address, grpc.ssl_channel_credentials(roots), options=options)
        else:
            self._channel = grpc.insecure_channel(self.address, options=options)
        self.stub = pb_grpc.EvaluatorServiceStub(self._channel)

    # -- calls ------------------------------------------------------------------------------------

    def list_tasks(self) -> list[pb.Task]:
        """The registered tasks (id, title, description, metric, how success is checked, paper figures)."""
        return list(self.stub.ListTasks(pb.ListTasksRequest(), metadata=self._metadata, timeout=self.timeout).tasks)

    def evaluate(self, *, task_id: str = "", task_text: str = "", success_check: str = "", checkpoint: Ref,
                 episodes: int, skill_functions: Ref | None = None, policy: Ref | None = None,
                 seeds: Sequence[int] = (), seed: int = 0, include_baselines: bool = True, max_steps: int = 0,
                 skill_turns: int = 0, num_envs: int = 0, llm: common_pb2.LlmSettings | None = None,
                 request_id: str = "") -> common_pb2.Job:
        """Start an evaluation job (a registered `task_id`, or `task_text` with an optional `success_check`).

        `skill_functions` None uses the ones the checkpoint records; `policy` None has codegen write one."""
        request = pb.EvaluateTaskRequest(
            success_check=success_check, episodes=episodes, seeds=list(seeds), seed=seed,
            include_baselines=include_baselines, max_steps=max_steps, skill_turns=skill_turns, num_envs=num_envs,
            request_id=request_id, skill_checkpoint=_artifact(checkpoint), skill_functions=_artifact(skill_functions),
            policy=_artifact(policy), llm=llm)
        if task_id:
            request.task_id = task_id
        elif task_text:
            request.task_text = task_text
        return self.stub.EvaluateTask(request, metadata=self._metadata, timeout=self.timeout).job

    def get_job(self, job_id: str) -> common_pb2.Job:
        return self.stub.GetJob(pb.GetJobRequest(job_id=job_id), metadata=self._metadata, timeout=self.timeout).job

    def cancel(self, job_id: str) -> common_pb2.Job:
        """Ask a job to stop (a queued one is cancelled at once)."""
        return self.stub.CancelJob(pb.CancelJobRequest(job_id=job_id), metadata=self._metadata,
                                   timeout=self.timeout).job

    def list_jobs(self, page_size: int = 50) -> list[common_pb2.Job]:
        """This evaluator's jobs, newest first (first page)."""
        query = common_pb2.JobQuery(page_size=page_size)
        return list(self.stub.ListJobs(pb.ListJobsRequest(query=query), metadata=self._metadata,
                                       timeout=self.timeout).jobs)

    def watch(self, job_id: str) -> Iterator[common_pb2.Job]:
        """The job each time it changes, ending after its terminal state."""
        for response in self.stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=self._metadata):
            yield response.job

    def wait(self, job_id: str, on_update: Callable[[common_pb2.Job], None] | None = None) -> common_pb2.Job:
        """Follow a job until it ends; returns the final job."""
        last = None
        for job in self.watch(job_id):
            last = job
            if on_update is not None:
                on_update(job)
            if job.state in TERMINAL_STATES:
                break
        if last is None:
            raise RuntimeError(f"the evaluator sent nothing for job {job_id}")
        return last

    # -- lifetime ---------------------------------------------------------------------------------

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> EvaluatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
