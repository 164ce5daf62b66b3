"""TrainRewardModels and Score through the real reward-trainer on port 0."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from maestro.common.v1 import common_pb2
from maestro.reward.v1 import reward_pb2 as pb
from maestro.reward.v1 import reward_pb2_grpc as pb_grpc
from maestro_common.artifacts import ArtifactStore
from maestro_common.client import open_channel
from maestro_common.reward.bundle import load_bundle
from maestro_common.reward.model import INPUT_SPEC_VERSION
from maestro_common.reward.synthetic import synthetic_label_table, write_label_table

TERMINAL = (common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_FAILED, common_pb2.JOB_STATE_CANCELLED,
            common_pb2.JOB_STATE_INTERRUPTED)


def _wait_terminal(stub, job_id: str, timeout: float = 120) -> common_pb2.Job:
    for response in stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=timeout):
        if response.job.state in TERMINAL:
            return response.job
    raise AssertionError("stream ended before the job did")


def _ref(message, ref):
    message.uri, message.sha256 = ref.uri, ref.sha256
    return message


@pytest.fixture
def service(start_service, tmp_path):
    running = start_service("reward_trainer")
    store = ArtifactStore(str(tmp_path / "artifacts"))
    return pb_grpc.RewardServiceStub(open_channel(running.address)), store


def _train_request(labels, **fields) -> pb.TrainRewardModelsRequest:
    config = pb.RewardTrainingConfig(epochs=3, batch_size=200, learning_rate=1e-3, seed=1, device="cpu")
    request = pb.TrainRewardModelsRequest(config=config, **fields)
    _ref(request.labels, labels)
    return request


def test_train_then_score_matches_the_in_process_loader(service):
    stub, store = service
    labels = write_label_table(store, synthetic_label_table(600, ["Descender", "Discoverer"], seed=5, pool_size=30))
    train = _train_request(labels, threshold_quantiles={"Descender": 0.9}, request_id="train-1")
    job = stub.TrainRewardModels(train).job
    assert stub.TrainRewardModels(train).job.job_id == job.job_id  # the idempotency key returns the same job
    job = _wait_terminal(stub, job.job_id)
    assert job.state == common_pb2.JOB_STATE_SUCCEEDED, job.error.message
    assert job.metrics["Descender/val_accuracy"] >= 0.9
    assert {"Discoverer/final_loss", "Discoverer/pairs_per_s", "skills_done"} <= set(job.metrics)
    bundle_ref = store.resolve(job.outputs["reward_models"].uri, job.outputs["reward_models"].sha256)

    messages = ["", "You kill the newt!", "There is a staircase down here.", "", "You see here 12 gold pieces."]
    depth, counts = [0, 0, 1, -1, 0], [1, 2, 0, 3, 1]
    request = pb.ScoreRequest(input_spec_version=INPUT_SPEC_VERSION, observations=[
        pb.RewardObservation(message=m, depth_change=d, episode_message_count=c)
        for m, d, c in zip(messages, depth, counts)])
    _ref(request.reward_models, bundle_ref)
    response = stub.Score(request)
    assert [r.skill for r in response.rewards] == ["Descender", "Discoverer"]
    local = load_bundle(store, bundle_ref, input_spec_version=INPUT_SPEC_VERSION, device="cpu")
    expected = local.score([], messages, depth, counts)
    for rewards in response.rewards:
        raw, shaped = expected[rewards.skill]
        np.testing.assert_array_equal(np.array(rewards.raw, dtype=np.float32), raw)
        np.testing.assert_array_equal(np.array(rewards.shaped, dtype=np.float32), shaped)
    assert local.metadata["Descender"].threshold_quantile == 0.9
    assert local.metadata["Discoverer"].threshold_quantile == 0.95
    assert response.rewards[0].raw[2] > response.rewards[0].raw[3]  # going down beats going up

    request.skills.append("Discoverer")
    assert [r.skill for r in stub.Score(request).rewards] == ["Discoverer"]

    request.input_spec_version = "msg128-v0"
    with pytest.raises(grpc.RpcError) as error:
        stub.Score(request)
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.value.details().startswith("input_spec_version:")

    request.input_spec_version = ""
    request.skills[:] = ["Merchant"]
    with pytest.raises(grpc.RpcError) as error:
        stub.Score(request)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and error.value.details().startswith("skills[0]:")


def test_bad_requests(service):
    stub, store = service
    labels = write_label_table(store, synthetic_label_table(40, ["Descender"], seed=1))
    invalid = [
        (pb.TrainRewardModelsRequest(), "labels:"),
        (_train_request(labels, skills=["Ascender"]), "skills[0]:"),
        (_train_request(labels, threshold_quantiles={"Descender": 1.5}), "threshold_quantiles[Descender]:"),
    ]
    bad_epochs = _train_request(labels)
    bad_epochs.config.epochs = 10**7
    invalid.append((bad_epochs, "config.epochs:"))
    for request, field in invalid:
        with pytest.raises(grpc.RpcError) as error:
            stub.TrainRewardModels(request)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.value.details().startswith(field), error.value.details()

    missing = _train_request(labels)
    missing.labels.sha256 = "0" * 64
    missing.labels.uri = labels.uri.replace(f"/{labels.sha256[:2]}/{labels.sha256}/", "/00/" + "0" * 64 + "/")
    with pytest.raises(grpc.RpcError) as error:
        stub.TrainRewardModels(missing)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND

    unusable = write_label_table(store, synthetic_label_table(30, ["Merchant"], seed=2, unknown_fraction=1.0),
                                 name="unusable.parquet")
    with pytest.raises(grpc.RpcError) as error:
        stub.TrainRewardModels(_train_request(unusable))
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "'Merchant'" in error.value.details()

    for request, field in ((pb.ScoreRequest(), "reward_models:"),):
        with pytest.raises(grpc.RpcError) as error:
            stub.Score(request)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and error.value.details().startswith(field)
    no_obs = pb.ScoreRequest()
    _ref(no_obs.reward_models, labels)
    with pytest.raises(grpc.RpcError) as error:
        stub.Score(no_obs)
    assert error.value.details().startswith("observations:")
    negative = pb.ScoreRequest(observations=[pb.RewardObservation(message="a", episode_message_count=-1)])
    _ref(negative.reward_models, labels)
    with pytest.raises(grpc.RpcError) as error:
        stub.Score(negative)
    assert error.value.details().startswith("observations[0].episode_message_count:")
    not_bundle = pb.ScoreRequest(observations=[pb.RewardObservation(message="a")])
    _ref(not_bundle.reward_models, labels)
    with pytest.raises(grpc.RpcError) as error:
        stub.Score(not_bundle)
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
