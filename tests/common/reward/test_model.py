"""The reward model's input encoding and forward pass."""

from __future__ import annotations

import numpy as np
import torch

from maestro_common.reward.model import (
    INPUT_SPEC_VERSION,
    MESSAGE_BYTES,
    ModelConfig,
    RewardModel,
    depth_sign,
    encode_messages,
    predict,
)


def test_encode_messages_pads_truncates_and_uses_utf8():
    tokens = encode_messages(["ab", "", "x" * 300, "é"])
    assert tokens.shape == (4, MESSAGE_BYTES) and tokens.dtype == torch.uint8
    assert tokens[0, :3].tolist() == [97, 98, 0]
    assert int(tokens[1].sum()) == 0
    assert (tokens[2] == ord("x")).all()
    assert tokens[3, :2].tolist() == list("é".encode())


def test_depth_sign():
    assert depth_sign([-3, 0, 2, 1]).tolist() == [-1, 0, 1, 1]
    assert depth_sign(np.array([5])).dtype == torch.int8
    assert depth_sign(torch.tensor([-2, 0])).tolist() == [-1, 0]


def test_forward_gives_one_scalar_per_observation_and_reads_the_depth_sign():
    torch.manual_seed(0)
    model = RewardModel()
    tokens = encode_messages(["You kill the newt!"] * 3)
    out = model(tokens, depth_sign([-1, 0, 1]))
    assert out.shape == (3,)
    assert len(set(out.tolist())) == 3  # the sign changes the reward
    assert INPUT_SPEC_VERSION == "msg256-depthsign-v1"


def test_message_index_gathers_the_same_rewards():
    torch.manual_seed(1)
    model = RewardModel(ModelConfig(conv_channels=(16, 16, 32)))
    distinct = encode_messages(["", "a", "The door opens."])
    index = torch.tensor([2, 0, 0, 1, 2])
    signs = depth_sign([0, 1, -1, 0, 0])
    torch.testing.assert_close(model(distinct, signs, index), model(distinct[index], signs))


def test_predict_in_batches_matches_one_pass():
    torch.manual_seed(2)
    model = RewardModel().eval()
    tokens = encode_messages([f"message {i}" for i in range(37)])
    signs = depth_sign(np.arange(37) % 3 - 1)
    whole = predict(model, tokens, signs, batch_size=1000)
    np.testing.assert_allclose(predict(model, tokens, signs, batch_size=8), whole, rtol=1e-5, atol=1e-6)
    assert ModelConfig.from_json(ModelConfig().to_json()) == ModelConfig()
