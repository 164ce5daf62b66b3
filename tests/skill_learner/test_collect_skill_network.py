"""CollectDataset with a skill network playing (pi_T picks skills): a dataset, and refusal of a mismatch."""

from __future__ import annotations

import torch
from test_collect_service import _wait_terminal
from training_inputs import make_code_artifacts

from maestro.common.v1 import common_pb2
from maestro.skill_learner.v1 import skill_learner_pb2 as pb
from maestro.skill_learner.v1 import skill_learner_pb2_grpc as pb_grpc
from maestro_common.artifacts import ArtifactStore
from maestro_common.client import open_channel
from maestro_common.datasets import read_table
from maestro_common.skillnet import CheckpointMeta, SkillNetwork, save_checkpoint


def _proto(ref) -> common_pb2.ArtifactRef:
    return common_pb2.ArtifactRef(uri=ref.uri, sha256=ref.sha256, size_bytes=ref.size_bytes)


def test_a_skill_network_collects_a_dataset_and_a_mismatched_checkpoint_is_refused(start_service, tmp_path):
    running = start_service("skill_learner")
    stub = pb_grpc.SkillLearnerServiceStub(open_channel(running.address))
    store = ArtifactStore(str(tmp_path / "artifacts"))
    torch.manual_seed(0)
    checkpoint = save_checkpoint(store, SkillNetwork(), CheckpointMeta(env_steps=0))
    skills, policy = make_code_artifacts(store)
    request = pb.CollectDatasetRequest(policy=pb.COLLECTION_POLICY_SKILL_NETWORK, skill_checkpoint=_proto(checkpoint),
                                       skill_functions=_proto(skills), training_policy=_proto(policy), episodes=3,
                                       num_envs=2, max_episode_steps=25, episodes_per_shard=3, seed=5)
    job = _wait_terminal(stub, stub.CollectDataset(request).job.job_id)
    assert job.state == common_pb2.JOB_STATE_SUCCEEDED, job.error.message
    ref = job.outputs["dataset"]
    table = read_table(store, store.resolve(ref.uri, ref.sha256))
    assert table.num_rows == job.metrics["steps"] and len(set(table.column("episode_id").to_pylist())) == 3
    assert sum(table.column("done").to_pylist()) == 3

    other = save_checkpoint(store, SkillNetwork(), CheckpointMeta(skill_names=("Descender", "Ascender")))
    request.skill_checkpoint.CopyFrom(_proto(other))
    failed = _wait_terminal(stub, stub.CollectDataset(request).job.job_id)
    assert failed.state == common_pb2.JOB_STATE_FAILED and failed.error.code == "FAILED_PRECONDITION"
    assert "skills" in failed.error.message
