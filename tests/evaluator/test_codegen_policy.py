"""Slow tier: an evaluation without a policy artifact asks the real codegen service (embedded LLM) for one."""

from __future__ import annotations

import pytest
from evaluator_helpers import SKILL_FUNCTIONS, put_checkpoint, put_code

from maestro.codegen.v1 import codegen_pb2, codegen_pb2_grpc
from maestro.common.v1 import common_pb2
from maestro.evaluator.v1 import evaluator_pb2 as pb
from maestro.evaluator.v1 import evaluator_pb2_grpc as pb_grpc
from maestro_common.artifacts import ArtifactStore
from maestro_common.client import open_channel

TOKEN = "codegen-path-token"
GOOD = (("authorization", f"Bearer {TOKEN}"),)
TERMINAL = (common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED,
            common_pb2.JOB_STATE_INTERRUPTED)


@pytest.mark.slow
def test_the_task_policy_comes_from_codegen(start_service, tmp_path, monkeypatch):
    monkeypatch.setenv("MAESTRO_API_TOKEN", TOKEN)
    codegen = start_service("codegen")
    evaluator = start_service("evaluator", codegen_address=codegen.address, torch_threads=1, default_num_envs=1)
    store = ArtifactStore(str(tmp_path / "artifacts"))
    request = pb.EvaluateTaskRequest(task_id="gnomish_mines", episodes=1, max_steps=20,
                                     llm=common_pb2.LlmSettings(max_tokens=256))
    for field, ref in ((request.skill_checkpoint, put_checkpoint(store)),
                       (request.skill_functions, put_code(store, "skill_functions", SKILL_FUNCTIONS))):
        field.uri, field.sha256 = ref.uri, ref.sha256
    stub = pb_grpc.EvaluatorServiceStub(open_channel(evaluator.address))
    job = stub.EvaluateTask(request, metadata=GOOD).job
    for response in stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id), metadata=GOOD, timeout=1800):
        job = response.job
        if job.state in TERMINAL:
            break
    codegen_jobs = codegen_pb2_grpc.CodegenServiceStub(open_channel(codegen.address)).ListJobs(
        codegen_pb2.ListJobsRequest()).jobs
    (generation,) = [j for j in codegen_jobs if j.kind == "GeneratePolicy"]
    if generation.state == common_pb2.JOB_STATE_SUCCEEDED:
        assert job.state == common_pb2.JOB_STATE_SUCCEEDED, job.error.message
        assert job.outputs["policy"].sha256 == generation.outputs["policy"].sha256
    else:  # the small model wrote no passing policy: the evaluation says so and plays nothing
        assert job.state == common_pb2.JOB_STATE_FAILED and "codegen could not write a task policy" in \
            job.error.message and "results" not in job.outputs
