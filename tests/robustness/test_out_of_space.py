"""The artifact store runs out of space in the middle of a job: a clear RESOURCE_EXHAUSTED error,
no half-written file left in the store, every stored artifact still verifies, the service keeps serving.

The store is a tiny tmpfs mounted in a private mount namespace (`unshare -m`), so this needs root (or
CAP_SYS_ADMIN) and util-linux's `unshare`; elsewhere the test skips and says why. Nothing outside
the test's own temporary directory is mounted or touched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest
from robustness_support import ServiceProcess, get_job, wait_terminal

from maestro.common.v1 import common_pb2
from maestro.skill_learner.v1 import skill_learner_pb2 as pb
from maestro.skill_learner.v1 import skill_learner_pb2_grpc as pb_grpc
from maestro_common.client import health_status, open_channel

STORE_BYTES = 4096
"""Size of the artifact store's filesystem: one page, smaller than one dataset shard (about 5 KB)."""
MOUNT_THEN_EXEC = 'mount -t tmpfs -o size={size} tmpfs "$0" && exec "$@"'


def _private_tmpfs_works(directory) -> str:
    """'' when a private tmpfs can be mounted here, else why not."""
    if shutil.which("unshare") is None:
        return "util-linux `unshare` is not installed"
    if os.geteuid() != 0:
        return "mounting a tmpfs in a private mount namespace needs root (or CAP_SYS_ADMIN)"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            MOUNT_THEN_EXEC.format(size=STORE_BYTES), str(directory), "true"],
                           capture_output=True, text=True)
    return "" if probe.returncode == 0 else f"cannot mount a tmpfs here: {probe.stderr.strip()}"


def _files_in_namespace(pid: int, directory) -> list[tuple[str, bytes]]:
    """(path relative to `directory`, bytes) of every file under `directory` as process `pid` sees it."""
    root = f"/proc/{pid}/root{directory}"
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                found.append((os.path.relpath(path, root), handle.read()))
    return found


def test_artifact_store_out_of_space_fails_the_job_clearly_and_corrupts_nothing(tmp_path):
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    reason = _private_tmpfs_works(store_dir)
    if reason:
        pytest.skip(reason)
    wrapper = ["unshare", "-m", "--propagation", "private", "sh", "-c", MOUNT_THEN_EXEC.format(size=STORE_BYTES),
               str(store_dir)]
    service = ServiceProcess("skill_learner", tmp_path / "home", env={"MAESTRO_ARTIFACT_ROOT": str(store_dir)},
                             wrapper=wrapper).start()
    try:
        service.wait_serving(timeout=60)
        channel = open_channel(service.address)
        stub = pb_grpc.SkillLearnerServiceStub(channel)
        request = pb.CollectDatasetRequest(policy=pb.COLLECTION_POLICY_RANDOM_MACRO, episodes=2, num_envs=1,
                                           max_episode_steps=200, episodes_per_shard=1, seed=5)
        job = wait_terminal(stub, pb, stub.CollectDataset(request).job.job_id, timeout=180)
        assert job.state == common_pb2.JOB_STATE_FAILED, common_pb2.JobState.Name(job.state)
        assert job.error.code == "RESOURCE_EXHAUSTED", f"{job.error.code}: {job.error.message}"
        assert "out of space" in job.error.message and str(store_dir) in job.error.message, job.error.message
        assert "dataset" not in job.outputs

        files = _files_in_namespace(service.pid, store_dir)
        assert [path for path, _ in files if os.path.basename(path).startswith(".tmp-")] == []
        for path, data in files:  # whatever made it into the store is whole: its bytes hash to its address
            assert path.split(os.sep)[:1] == ["sha256"], path
            assert hashlib.sha256(data).hexdigest() == path.split(os.sep)[2], f"{path} is corrupt"

        assert health_status(channel) == "SERVING"
        assert get_job(stub, pb, job.job_id).state == common_pb2.JOB_STATE_FAILED
        assert os.listdir(store_dir) == [], "the tmpfs leaked out of the service's mount namespace"
    finally:
        service.stop()
