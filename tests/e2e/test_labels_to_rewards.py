"""Across services, through gRPC: skill-learner collects, llm-annotator labels with the embedded
(tiny) model, reward-trainer trains on those labels; Score and the learner's in-process loader give
identical outputs."""

from __future__ import annotations

import numpy as np

from maestro.annotator.v1 import annotator_pb2 as apb
from maestro.annotator.v1 import annotator_pb2_grpc as apb_grpc
from maestro.common.v1 import common_pb2
from maestro.reward.v1 import reward_pb2 as rpb
from maestro.reward.v1 import reward_pb2_grpc as rpb_grpc
from maestro.skill_learner.v1 import skill_learner_pb2 as spb
from maestro.skill_learner.v1 import skill_learner_pb2_grpc as spb_grpc
from maestro_common.artifacts import ArtifactStore
from maestro_common.client import open_channel
from maestro_common.reward.bundle import load_bundle
from maestro_common.reward.model import INPUT_SPEC_VERSION

TERMINAL = (common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED,
            common_pb2.JOB_STATE_INTERRUPTED)


def _finish(stub, pb, job):
    for response in stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id), timeout=300):
        if response.job.state in TERMINAL:
            assert response.job.state == common_pb2.JOB_STATE_SUCCEEDED, response.job.error.message
            return response.job
    raise AssertionError("stream ended early")


def test_collect_annotate_train_score(start_service, tmp_path):
    learner = spb_grpc.SkillLearnerServiceStub(open_channel(start_service("skill_learner").address))
    annotator = apb_grpc.AnnotatorServiceStub(open_channel(start_service("llm_annotator").address))
    rewards = rpb_grpc.RewardServiceStub(open_channel(start_service("reward_trainer").address))

    collected = _finish(learner, spb, learner.CollectDataset(spb.CollectDatasetRequest(
        policy=spb.COLLECTION_POLICY_RANDOM_MACRO, episodes=4, num_envs=2, max_episode_steps=400, seed=21)).job)
    skills = [common_pb2.SkillSpec(name="Descender"), common_pb2.SkillSpec(name="Merchant")]
    labelled = _finish(annotator, apb, annotator.AnnotateDataset(apb.AnnotateDatasetRequest(
        dataset=collected.outputs["dataset"], skills=skills, num_pairs=24, snapshot_interval=20,
        judge_mode=apb.JUDGE_MODE_POINTWISE_LOGPROB, seed=2)).job)
    trained = _finish(rewards, rpb, rewards.TrainRewardModels(rpb.TrainRewardModelsRequest(
        labels=labelled.outputs["labels"], config=rpb.RewardTrainingConfig(epochs=2, batch_size=16, seed=3,
                                                                             device="cpu"))).job)
    assert {"Descender/val_accuracy", "Merchant/val_accuracy"} <= set(trained.metrics)

    messages = ["", "It's a wall.", "You kill the newt!", "Hello, Agent!  Welcome to Asidonhopo's general store!"]
    depth, counts = [0, 0, 1, 0], [1, 3, 1, 1]
    request = rpb.ScoreRequest(reward_models=trained.outputs["reward_models"], input_spec_version=INPUT_SPEC_VERSION,
                               observations=[rpb.RewardObservation(message=m, depth_change=d, episode_message_count=c)
                                             for m, d, c in zip(messages, depth, counts)])
    served = {r.skill: (np.array(r.raw, np.float32), np.array(r.shaped, np.float32))
              for r in rewards.Score(request).rewards}
    store = ArtifactStore(tmp_path / "artifacts")
    ref = store.resolve(trained.outputs["reward_models"].uri, trained.outputs["reward_models"].sha256)
    local = load_bundle(store, ref, input_spec_version=INPUT_SPEC_VERSION, device="cpu").score([], messages, depth,
                                                                                              counts)
    assert set(served) == set(local) == {"Descender", "Merchant"}
    for skill, (raw, shaped) in local.items():
        np.testing.assert_array_equal(served[skill][0], raw)
        np.testing.assert_array_equal(served[skill][1], shaped)
