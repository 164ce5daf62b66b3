"""codegen through the real service: ValidateCode, RunTests in the sandbox, and generation jobs with
the embedded model (the tiny one in tests, which never writes passing code: the job must fail with
the transcript kept)."""

from __future__ import annotations

import urllib.request

import grpc
import pytest

from maestro.codegen.v1 import codegen_pb2 as pb
from maestro.codegen.v1 import codegen_pb2_grpc as pb_grpc
from maestro.common.v1 import common_pb2
from maestro_common.artifacts import ArtifactStore
from maestro_common.client import open_channel

DESCENDER = "def initiation(ctx):\n    return True\n\ndef termination(ctx):\n    return ctx.now.depth > ctx.at_skill_start.depth\n"
POLICY = "def select_skill(ctx, available, state):\n    return available[0]\n"
POLICY_TEST = """
def test():
    context = make_context(now=make_snapshot(depth=2))
    choice = select_skill(context, ["Descender", "Ascender"], {})
    print("depth 2 ->", choice)
    assert choice == "Descender"
"""
TERMINAL = (common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED,
            common_pb2.JOB_STATE_INTERRUPTED)


@pytest.fixture
def service(start_service):
    return start_service("codegen")


@pytest.fixture
def stub(service):
    return pb_grpc.CodegenServiceStub(open_channel(service.address, timeout=60))


def test_sandbox_runs_are_counted_in_the_metrics(stub, service):
    stub.RunTests(pb.RunTestsRequest(code=POLICY, role=pb.CODE_ROLE_POLICY, test_code=POLICY_TEST))
    with urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    assert 'maestro_codegen_sandbox_runs_total{limit="none",outcome="passed"} 1.0' in text
    assert "maestro_codegen_sandbox_seconds_count 1.0" in text


def test_validate_code_lists_the_offending_constructs(stub):
    assert stub.ValidateCode(pb.ValidateCodeRequest(code=DESCENDER, role=pb.CODE_ROLE_SKILL_FUNCTIONS)).valid
    answer = stub.ValidateCode(pb.ValidateCodeRequest(code="import os\n" + POLICY, role=pb.CODE_ROLE_POLICY))
    assert not answer.valid and answer.issues[0].line == 1 and "import" in answer.issues[0].message


def test_run_tests_passes_and_fails_with_the_trace(stub):
    passed = stub.RunTests(pb.RunTestsRequest(code=POLICY, test_code=POLICY_TEST, role=pb.CODE_ROLE_POLICY))
    assert passed.passed and "depth 2 -> Descender" in passed.stdout and passed.limit_hit == pb.LIMIT_HIT_NONE
    failing = stub.RunTests(pb.RunTestsRequest(code=POLICY, test_code=POLICY_TEST.replace('"Descender", "Ascender"',
                                                                                        '"Ascender", "Descender"'),
                                               role=pb.CODE_ROLE_POLICY))
    assert not failing.passed and "AssertionError" in failing.stderr
    smoke = stub.RunTests(pb.RunTestsRequest(code=DESCENDER, role=pb.CODE_ROLE_SKILL_FUNCTIONS))
    assert smoke.passed and "termination on one level deeper than at the start -> True" in smoke.stdout
    broken = "def initiation(ctx):\n    return ctx.merchant_precondition and ctx.new_items > 0\n\n" \
             "def termination(ctx):\n    return False\n"
    crash = stub.RunTests(pb.RunTestsRequest(code=broken, role=pb.CODE_ROLE_SKILL_FUNCTIONS))
    assert not crash.passed and "new_items" in crash.stderr


def test_generated_skill_functions_are_held_to_the_golden_answers():
    from codegen.harness import run_generated

    wrong = run_generated("skill_functions", DESCENDER, "", skill="Ascender")
    assert not wrong.passed and "should return True" in wrong.stderr  # Ascender must end when it went up
    good = DESCENDER.replace("return ctx.now.depth > ctx.at_skill_start.depth",
                             "return ctx.now.depth > ctx.at_skill_start.depth or ctx.merchant_precondition "
                             "or ctx.worshipper_precondition")
    assert run_generated("skill_functions", good, "", skill="Descender").passed


def test_the_test_code_is_contained_by_the_sandbox(stub):
    attack = "def test():\n    while True:\n        pass\n"
    result = stub.RunTests(pb.RunTestsRequest(code=POLICY, test_code=attack, role=pb.CODE_ROLE_POLICY,
                                              limits=pb.SandboxLimits(cpu_seconds=1, wall_seconds=5)))
    assert not result.passed and result.limit_hit in (pb.LIMIT_HIT_CPU, pb.LIMIT_HIT_WALL)
    # The service keeps serving.
    assert stub.ValidateCode(pb.ValidateCodeRequest(code=POLICY, role=pb.CODE_ROLE_POLICY)).valid


@pytest.mark.parametrize("request_, field", [
    (pb.RunTestsRequest(code="import os\n" + POLICY, role=pb.CODE_ROLE_POLICY), "code"),
    (pb.RunTestsRequest(code=POLICY, role=pb.CODE_ROLE_UNSPECIFIED), "role"),
    (pb.RunTestsRequest(code=POLICY, role=pb.CODE_ROLE_POLICY, limits=pb.SandboxLimits(cpu_seconds=1e6)),
     "limits.cpu_seconds"),
])
def test_bad_run_tests_requests(stub, request_, field):
    with pytest.raises(grpc.RpcError) as error:
        stub.RunTests(request_)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and error.value.details().startswith(field)


@pytest.mark.parametrize("request_, field", [
    (pb.GeneratePolicyRequest(kind=pb.POLICY_KIND_TASK), "task"),
    (pb.GeneratePolicyRequest(kind=pb.POLICY_KIND_UNSPECIFIED), "kind"),
    (pb.GeneratePolicyRequest(kind=pb.POLICY_KIND_TRAINING, skills=[common_pb2.SkillSpec(name="Juggler")]),
     "skills[0].name"),
    (pb.GeneratePolicyRequest(kind=pb.POLICY_KIND_TASK, task="reach the Mines", golden_suite="minetown"),
     "golden_suite"),
    (pb.GeneratePolicyRequest(kind=pb.POLICY_KIND_TRAINING, prompt_version="v9"), "prompt_version"),
    (pb.GeneratePolicyRequest(kind=pb.POLICY_KIND_TRAINING, llm=common_pb2.LlmSettings(max_tokens=10**6)),
     "llm.max_tokens"),
])
def test_bad_generation_requests(stub, request_, field):
    with pytest.raises(grpc.RpcError) as error:
        stub.GeneratePolicy(request_)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and error.value.details().startswith(field)


def test_a_model_that_never_writes_passing_code_fails_the_job_and_keeps_the_transcript(stub, tmp_path):
    job = stub.GeneratePolicy(pb.GeneratePolicyRequest(kind=pb.POLICY_KIND_TASK, task="reach the Gnomish Mines",
                                                       max_refinements=1,
                                                       llm=common_pb2.LlmSettings(max_tokens=96))).job
    for response in stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id), timeout=300):
        if response.job.state in TERMINAL:
            job = response.job
            break
    if job.state == common_pb2.JOB_STATE_SUCCEEDED:  # the tiny model got lucky: the artifact must load
        assert "policy" in job.outputs
        return
    assert job.state == common_pb2.JOB_STATE_FAILED and job.error.code == "FAILED_PRECONDITION"
    assert "transcript" in job.error.message
    output = job.outputs.get("policy") or job.outputs["transcript"]
    store = ArtifactStore(tmp_path / "artifacts")
    kept = store.read_json(store.resolve(output.uri, output.sha256))
    assert kept  # the conversation is kept
