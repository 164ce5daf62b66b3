"""Every dashboard query returns data against the live services: local mode (all five services on
loopback, the tiny embedded model), a real Prometheus on loopback scraping their /metrics every
second, one short job of each kind the dashboards are fed by, then each panel's PromQL through
Prometheus' HTTP API.

Each panel names its feed (k8s/dashboards.py); FEEDS runs one job of each kind, chained like the
pipeline (collect -> annotate every skill -> reward models -> skill training -> evaluation of the
trained checkpoint). The failure message lists every panel without data and its query.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import grpc
import pytest
from k8s_support import SERVICE_NAMES, load_dashboards, tool

from maestro.annotator.v1 import annotator_pb2 as apb
from maestro.annotator.v1 import annotator_pb2_grpc as apb_grpc
from maestro.codegen.v1 import codegen_pb2 as cpb
from maestro.codegen.v1 import codegen_pb2_grpc as cpb_grpc
from maestro.common.v1 import common_pb2
from maestro.evaluator.v1 import evaluator_pb2 as epb
from maestro.evaluator.v1 import evaluator_pb2_grpc as epb_grpc
from maestro.reward.v1 import reward_pb2 as rpb
from maestro.reward.v1 import reward_pb2_grpc as rpb_grpc
from maestro.skill_learner.v1 import skill_learner_pb2 as spb
from maestro.skill_learner.v1 import skill_learner_pb2_grpc as spb_grpc
from maestro_common.client import open_channel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluator"))
from evaluator_helpers import SKILL_FUNCTIONS  # noqa: E402

pytestmark = pytest.mark.slow

TERMINAL = (common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED,
            common_pb2.JOB_STATE_INTERRUPTED)
RATE, RANGE = "10m", "30m"
NOT_WIRED: dict[str, str] = {}
"""Feeds whose panels are reported instead of asserted (feed name -> why it cannot run here yet)."""
ROTATING_POLICY = """
def select_skill(ctx, available, state):
    state["turn"] = state.get("turn", -1) + 1
    return available[state["turn"] % len(available)]
"""
POLICY = "def select_skill(ctx, available, state):\n    return available[0]\n"
POLICY_TEST = """
def test():
    choice = select_skill(make_context(now=make_snapshot(depth=2)), ["Descender", "Ascender"], {})
    assert choice == "Descender"
"""


def _free_port_block(size: int = 10) -> int:
    """A base port whose `size` successors are all free on loopback."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size > 65000:
            continue
        try:
            sockets = []
            for port in range(base, base + size):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free block of ports on loopback")


def _finish(stub, pb, job, *, timeout: float = 600):
    for response in stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id), timeout=timeout):
        if response.job.state in TERMINAL:
            return response.job
    raise AssertionError("WatchJob ended before the job did")


def _succeeded(stub, pb, job):
    done = _finish(stub, pb, job)
    assert done.state == common_pb2.JOB_STATE_SUCCEEDED, done.error.message
    return done


class Services:
    """Stubs of the five local-mode services."""

    def __init__(self, state, store):
        self.store = store
        channel = lambda name: open_channel(state[name].address, timeout=120)  # noqa: E731
        self.learner = spb_grpc.SkillLearnerServiceStub(channel("skill-learner"))
        self.annotator = apb_grpc.AnnotatorServiceStub(channel("llm-annotator"))
        self.rewards = rpb_grpc.RewardServiceStub(channel("reward-trainer"))
        self.codegen = cpb_grpc.CodegenServiceStub(channel("codegen"))
        self.evaluator = epb_grpc.EvaluatorServiceStub(channel("evaluator"))
        self.outputs: dict[str, object] = {}


def feed_generation_start(s: Services):
    request = cpb.GenerateSkillFunctionsRequest(skills=[common_pb2.SkillSpec(name="Descender")], max_refinements=1,
                                                request_id=uuid.uuid4().hex)
    s.outputs["generation"] = s.codegen.GenerateSkillFunctions(request).job


def feed_generation_wait(s: Services):
    _finish(s.codegen, cpb, s.outputs["generation"])  # the tiny model may fail: both outcomes are counted


def feed_collect(s: Services):
    job = s.learner.CollectDataset(spb.CollectDatasetRequest(
        policy=spb.COLLECTION_POLICY_RANDOM_MACRO, episodes=2, num_envs=1, max_episode_steps=300, seed=5)).job
    s.outputs["dataset"] = _succeeded(s.learner, spb, job).outputs["dataset"]


def feed_annotate(s: Services):
    from maestro_common.generated.contract import SKILL_NAMES

    skills = [common_pb2.SkillSpec(name=name) for name in SKILL_NAMES]  # TrainSkills needs a model per skill
    job = s.annotator.AnnotateDataset(apb.AnnotateDatasetRequest(
        dataset=s.outputs["dataset"], skills=skills, num_pairs=8, snapshot_interval=20,
        judge_mode=apb.JUDGE_MODE_POINTWISE_LOGPROB, seed=3)).job
    s.outputs["labels"] = _succeeded(s.annotator, apb, job).outputs["labels"]


def feed_train_rewards(s: Services):
    job = s.rewards.TrainRewardModels(rpb.TrainRewardModelsRequest(
        labels=s.outputs["labels"], config=rpb.RewardTrainingConfig(epochs=2, batch_size=8, seed=3, device="cpu"))).job
    s.outputs["reward_models"] = _succeeded(s.rewards, rpb, job).outputs["reward_models"]


def feed_score(s: Services):
    from maestro_common.reward.model import INPUT_SPEC_VERSION

    observations = [rpb.RewardObservation(message=m, depth_change=d, episode_message_count=1)
                    for m, d in [("", 0), ("You kill the newt!", 0), ("", 1)]]
    for _ in range(3):
        s.rewards.Score(rpb.ScoreRequest(reward_models=s.outputs["reward_models"],
                                         input_spec_version=INPUT_SPEC_VERSION, observations=observations))


def _put_code(s: Services, role: str, code) -> common_pb2.ArtifactRef:
    from maestro_common.generated import code_artifact

    artifact = code_artifact(role, code, model="hand-written", prompt_version="test", tests="", transcript=[])
    ref = s.store.put_json(artifact, name=f"{role}.json")
    return common_pb2.ArtifactRef(uri=ref.uri, sha256=ref.sha256)


def feed_train_skills(s: Services):
    config = spb.SkillTrainingConfig(env_steps=256, num_envs=2, env_runners=1, rollout_length=16, batch_size=32,
                                     checkpoint_every=256, keep_checkpoints=1, skill_turns=20, max_episode_steps=100,
                                     device="cpu", seed=1)
    job = s.learner.TrainSkills(spb.TrainSkillsRequest(
        reward_models=s.outputs["reward_models"], skill_functions=_put_code(s, "skill_functions", SKILL_FUNCTIONS),
        training_policy=_put_code(s, "policy", ROTATING_POLICY), config=config, request_id=uuid.uuid4().hex)).job
    s.outputs["checkpoint"] = _succeeded(s.learner, spb, job).outputs["checkpoint"]


def feed_evaluate(s: Services):
    from maestro_common import local

    token = [("authorization", f"Bearer {local.api_token()}")]
    request = epb.EvaluateTaskRequest(task_id="gnomish_mines", episodes=1, max_steps=100, num_envs=1, seed=2,
                                      skill_checkpoint=s.outputs["checkpoint"],
                                      skill_functions=_put_code(s, "skill_functions", SKILL_FUNCTIONS),
                                      policy=_put_code(s, "policy", ROTATING_POLICY), request_id=uuid.uuid4().hex)
    job = s.evaluator.EvaluateTask(request, metadata=token).job
    for response in s.evaluator.WatchJob(epb.WatchJobRequest(job_id=job.job_id), metadata=token, timeout=600):
        if response.job.state in TERMINAL:
            assert response.job.state == common_pb2.JOB_STATE_SUCCEEDED, response.job.error.message
            return
    raise AssertionError("WatchJob ended before the evaluation did")


def feed_run_tests(s: Services):
    passed = s.codegen.RunTests(cpb.RunTestsRequest(code=POLICY, role=cpb.CODE_ROLE_POLICY, test_code=POLICY_TEST))
    assert passed.passed, passed
    looping = "def test():\n    while True:\n        pass\n"
    s.codegen.RunTests(cpb.RunTestsRequest(code=POLICY, role=cpb.CODE_ROLE_POLICY, test_code=looping,
                                           limits=cpb.SandboxLimits(wall_seconds=1, cpu_seconds=1)))
    with pytest.raises(grpc.RpcError):  # an invalid request: the error panels see a non-OK code
        s.codegen.RunTests(cpb.RunTestsRequest(code="", role=cpb.CODE_ROLE_POLICY, test_code=POLICY_TEST))


def feed_evaluator_calls(s: Services):
    from maestro_common import local

    s.evaluator.ListTasks(epb.ListTasksRequest(), metadata=[("authorization", f"Bearer {local.api_token()}")])
    with pytest.raises(grpc.RpcError) as refused:
        s.evaluator.ListTasks(epb.ListTasksRequest())
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


FEEDS = [  # (feed name, function) in the order they run; "any" is fed by all of them
    ("GenerateSkillFunctions", feed_generation_start),
    ("CollectDataset", feed_collect),
    ("AnnotateDataset", feed_annotate),
    ("TrainRewardModels", feed_train_rewards),
    ("Score", feed_score),
    ("TrainSkills", feed_train_skills),
    ("EvaluateTask", feed_evaluate),
    ("RunTests", feed_run_tests),
    ("any", feed_evaluator_calls),
    ("GenerateSkillFunctions", feed_generation_wait),
]


def _query(prometheus: str, expr: str) -> list:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=30) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


def _start_prometheus(tmp_path: Path, targets: dict[str, int]) -> tuple[subprocess.Popen, str]:
    port = _free_port_block(1)
    scrape = [{"job_name": "maestro", "scrape_interval": "1s", "scrape_timeout": "1s",
               "static_configs": [{"targets": [f"127.0.0.1:{p}"], "labels": {"service": name}}
                                  for name, p in targets.items()]}]
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                                  "scrape_configs": scrape}))
    log = open(tmp_path / "prometheus.log", "wb")
    process = subprocess.Popen([tool("prometheus"), f"--config.file={config}",
                                f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    address = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{address}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return process, address
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError(f"Prometheus did not become ready; see {tmp_path / 'prometheus.log'}")


def _panels(dashboards):
    for board in dashboards.DASHBOARDS:
        for row in board.rows:
            for panel in row:
                yield board, panel


def test_every_dashboard_query_returns_data(tmp_path, monkeypatch):
    from maestro_common import local

    dashboards = load_dashboards()
    feeds = {name for name, _ in FEEDS}
    unknown = {panel.feed for _, panel in _panels(dashboards)} - feeds - set(NOT_WIRED)
    assert not unknown, f"panels name feeds this test neither runs nor lists in NOT_WIRED: {unknown}"

    monkeypatch.setenv("MAESTRO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MAESTRO_API_TOKEN", raising=False)  # local mode makes the evaluator's token
    monkeypatch.setenv("MAESTRO_COLLECT_NUM_ENVS", "1")
    state = local.up(base_port=_free_port_block(10), timeout=300, log=lambda *_: None)
    prometheus = None
    try:
        prometheus, address = _start_prometheus(tmp_path, {name: state[name].metrics_port for name in SERVICE_NAMES})
        from maestro_common.artifacts import ArtifactStore
        from maestro_common.settings import ServiceSettings

        services = Services(state, ArtifactStore(ServiceSettings().resolved_artifact_root()))
        for _, feed in FEEDS:
            feed(services)
        time.sleep(4)  # a few scrapes after the last job

        empty, pending = [], []
        for board, panel in _panels(dashboards):
            for expr in panel.exprs:
                concrete = expr.replace("$__rate_interval", RATE).replace("$__range", RANGE)
                if _query(address, concrete):
                    continue
                entry = f"{board.uid} / {panel.title} (fed by {panel.feed}): {concrete}"
                (pending if panel.feed in NOT_WIRED else empty).append(entry)
        if pending:
            print("Panels whose feed is not wired into this test yet:\n  " + "\n  ".join(pending))
        assert not empty, "dashboard panels without data:\n  " + "\n  ".join(empty)
    finally:
        if prometheus is not None:
            prometheus.terminate()
            try:
                prometheus.wait(10)
            except subprocess.TimeoutExpired:
                prometheus.kill()
        local.down(timeout=30, log=lambda *_: None)
        assert os.environ["MAESTRO_HOME"] == str(tmp_path / "home")
