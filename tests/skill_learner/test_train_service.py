"""TrainSkills through the real skill-learner: refusals before training, a short run, and kill -9 + resume."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from training_inputs import make_code_artifacts, make_reward_bundle

from maestro.common.v1 import common_pb2
from maestro.skill_learner.v1 import skill_learner_pb2 as pb
from maestro.skill_learner.v1 import skill_learner_pb2_grpc as pb_grpc
from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.client import open_channel, wait_until_serving
from maestro_common.reward.bundle import SkillArtifacts, read_bundle_manifest, write_bundle

TERMINAL = (common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED,
            common_pb2.JOB_STATE_INTERRUPTED)


@pytest.fixture(scope="module", autouse=True)
def shut_ray_down():
    """The in-process service starts Ray in this process; stop it once the module's tests are done."""
    yield
    _shutdown_ray()


def _shutdown_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


def _proto(ref: ArtifactRef) -> common_pb2.ArtifactRef:
    return common_pb2.ArtifactRef(uri=ref.uri, sha256=ref.sha256, size_bytes=ref.size_bytes)


def _inputs(store: ArtifactStore) -> dict[str, ArtifactRef]:
    bundle = make_reward_bundle(store, pairs=300, epochs=1)
    skills, policy = make_code_artifacts(store)
    return {"reward_models": bundle, "skill_functions": skills, "training_policy": policy}


def _request(inputs: dict[str, ArtifactRef], **config) -> pb.TrainSkillsRequest:
    base = dict(env_steps=256, num_envs=4, env_runners=1, rollout_length=8, batch_size=16, checkpoint_every=64,
                keep_checkpoints=2, max_episode_steps=50, skill_turns=20, device="cpu", seed=3)
    return pb.TrainSkillsRequest(config=pb.SkillTrainingConfig(**(base | config)),
                                 **{name: _proto(ref) for name, ref in inputs.items()})


def _wait_terminal(stub, job_id: str, timeout: float = 600) -> common_pb2.Job:
    for response in stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=timeout):
        if response.job.state in TERMINAL:
            return response.job
    raise AssertionError("stream ended before the job did")


def test_mismatched_artifacts_fail_the_job_before_training(start_service, tmp_path):
    running = start_service("skill_learner")
    stub = pb_grpc.SkillLearnerServiceStub(open_channel(running.address))
    store = ArtifactStore(str(tmp_path / "artifacts"))
    inputs = _inputs(store)
    manifest = read_bundle_manifest(store, inputs["reward_models"])
    other = write_bundle(store, {k: SkillArtifacts.from_json(v) for k, v in manifest["skills"].items()},
                         input_spec_version="msg128-depthsign-v0")
    job = _wait_terminal(stub, stub.TrainSkills(_request(inputs | {"reward_models": other})).job.job_id)
    assert job.state == common_pb2.JOB_STATE_FAILED and job.error.code == "FAILED_PRECONDITION"
    assert "input spec" in job.error.message and job.metrics.get("env_steps", 0) == 0
    with pytest.raises(grpc.RpcError) as error:
        stub.TrainSkills(_request(inputs, batch_size=12))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details().startswith("config.batch_size:")
    missing = _request(inputs)
    missing.skill_functions.uri = f"{store.root_uri}/sha256/bb/{'b' * 64}/skill-functions.json"
    missing.skill_functions.sha256 = "b" * 64
    with pytest.raises(grpc.RpcError) as error:
        stub.TrainSkills(missing)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.slow
def test_a_short_run_publishes_a_loadable_checkpoint_and_cancel_stops_a_long_one(start_service, tmp_path):
    running = start_service("skill_learner")
    stub = pb_grpc.SkillLearnerServiceStub(open_channel(running.address))
    store = ArtifactStore(str(tmp_path / "artifacts"))
    job = _wait_terminal(stub, stub.TrainSkills(_request(_inputs(store))).job.job_id)
    assert job.state == common_pb2.JOB_STATE_SUCCEEDED, job.error.message
    assert job.metrics["env_steps"] >= 256 and job.metrics["learner_updates"] >= 1
    from maestro_common.skillnet import load_checkpoint, load_optimizer_state

    ref = store.resolve(job.outputs["checkpoint"].uri, job.outputs["checkpoint"].sha256)
    network, meta = load_checkpoint(store, ref)
    assert meta.env_steps == job.metrics["env_steps"] and load_optimizer_state(store, ref)
    states = sorted((tmp_path / "skill_learner" / "training" / job.job_id).glob("state-*.pt"))
    assert 1 <= len(states) <= 2  # keep_checkpoints=2
    assert list((tmp_path / "skill_learner" / "training" / job.job_id / "tensorboard").glob("events.*"))
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{running.metrics_port}/metrics", timeout=10).read().decode()
    for name in ("maestro_skill_learner_env_steps_total", "maestro_skill_learner_shaped_reward{",
                 "maestro_skill_learner_reward_model_output{", "maestro_skill_learner_loss{kind=\"policy\"}",
                 "maestro_skill_learner_entropy", "maestro_skill_learner_policy_lag",
                 "maestro_skill_learner_learner_samples_per_second", "maestro_skill_learner_skill_selections_total{",
                 "maestro_skill_learner_skill_duration_steps_bucket{", "maestro_skill_learner_episode_return{"):
        assert name in text, name

    # cancel: the running job stops soon, publishes what it learned, and ends CANCELLED
    job = stub.TrainSkills(_request(_inputs(store), env_steps=10_000_000, checkpoint_every=100_000)).job
    deadline = time.monotonic() + 300
    while stub.GetJob(pb.GetJobRequest(job_id=job.job_id)).job.progress.done < 64:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    stub.CancelJob(pb.CancelJobRequest(job_id=job.job_id))
    cancelled = _wait_terminal(stub, job.job_id)
    assert cancelled.state == common_pb2.JOB_STATE_CANCELLED
    assert cancelled.metrics["env_steps"] < 10_000_000 and "checkpoint" in cancelled.outputs
    _shutdown_ray()  # before the kill test starts Rays of its own


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_process(home: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, MAESTRO_HOME=str(home), MAESTRO_GRPC_HOST="127.0.0.1", MAESTRO_GRPC_PORT=str(port),
               MAESTRO_METRICS_PORT="-1", MAESTRO_TRAINING_DEVICE="cpu", RAY_AUTH_MODE="disabled")
    # a session of its own, so the Ray processes it starts can be ended with it (by its process group)
    return subprocess.Popen([sys.executable, "-m", "skill_learner"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(30)


def _kill_leftovers(home: Path) -> None:
    """SIGKILL Ray processes the test's services started in sessions of their own (found by their MAESTRO_HOME)."""
    marker = f"MAESTRO_HOME={home}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


@pytest.mark.slow
def test_training_resumes_exactly_after_kill_9(tmp_path):
    home, port = tmp_path / "home", _free_port()
    address = f"127.0.0.1:{port}"
    store = ArtifactStore(str(home / "artifacts"))
    inputs = _inputs(store)
    process = _start_process(home, port)
    try:
        wait_until_serving(address, timeout=60)
        stub = pb_grpc.SkillLearnerServiceStub(open_channel(address))
        job = stub.TrainSkills(_request(inputs, env_steps=2048, checkpoint_every=128, keep_checkpoints=3)).job
        directory = home / "skill-learner" / "training" / job.job_id
        deadline = time.monotonic() + 400
        while not list(directory.glob("state-*.pt")):
            current = stub.GetJob(pb.GetJobRequest(job_id=job.job_id)).job
            assert current.state not in TERMINAL, f"job ended before a checkpoint: {current.error.message}"
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(1.0)
        _kill_group(process)  # SIGKILL the service and everything it started, mid-training
        saved = {int(p.stem.split("-")[1]): hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in directory.glob("state-*.pt")}

        process = _start_process(home, port)
        wait_until_serving(address, timeout=60)
        stub = pb_grpc.SkillLearnerServiceStub(open_channel(address))
        final = _wait_terminal(stub, job.job_id)
        assert final.state == common_pb2.JOB_STATE_SUCCEEDED, final.error.message
        assert final.attempt == 2
        resumed_steps = int(final.metrics["resumed_env_steps"])
        assert resumed_steps in saved  # it resumed from a state written before the kill ...
        assert final.metrics["resumed_state_sha256_prefix"] == int(saved[resumed_steps][:12], 16)  # ... byte for byte
        assert final.metrics["learner_updates"] > final.metrics["resumed_learner_version"] >= 1
        assert final.metrics["env_steps"] >= 2048
    finally:
        _kill_group(process)
        _kill_leftovers(home)
