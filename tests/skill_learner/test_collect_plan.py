"""CollectDataset request validation and planning (pure logic, no server)."""

from __future__ import annotations

import pytest

from maestro.skill_learner.v1 import skill_learner_pb2 as pb
from maestro_common.errors import InvalidArgument
from skill_learner.collect import episode_seed, plan_from_request


def _request(**fields) -> pb.CollectDatasetRequest:
    fields.setdefault("policy", pb.COLLECTION_POLICY_RANDOM_MACRO)
    fields.setdefault("episodes", 10)
    return pb.CollectDatasetRequest(**fields)


def test_defaults_are_filled():
    plan = plan_from_request(_request(), default_envs=4, max_envs=8)
    assert (plan.num_envs, plan.max_episode_steps, plan.episodes_per_shard) == (4, 10_000, 4)
    assert plan.num_shards == 3
    assert [list(plan.shard_episodes(i)) for i in range(3)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_envs_never_exceed_episodes():
    assert plan_from_request(_request(episodes=2), default_envs=16, max_envs=16).num_envs == 2


@pytest.mark.parametrize("fields, field", [
    ({"episodes": 0}, "episodes"),
    ({"episodes": 100_001}, "episodes"),
    ({"num_envs": 9}, "num_envs"),
    ({"num_envs": -1}, "num_envs"),
    ({"max_episode_steps": 10_001}, "max_episode_steps"),
    ({"episodes_per_shard": -3}, "episodes_per_shard"),
    ({"policy": pb.COLLECTION_POLICY_UNSPECIFIED}, "policy"),
])
def test_bad_fields_are_named(fields, field):
    with pytest.raises(InvalidArgument) as error:
        plan_from_request(_request(**fields), default_envs=4, max_envs=8)
    assert error.value.field == field


def test_skill_network_policy_needs_a_checkpoint_and_the_code_that_picks_skills():
    with pytest.raises(InvalidArgument) as error:
        plan_from_request(_request(policy=pb.COLLECTION_POLICY_SKILL_NETWORK), default_envs=1, max_envs=1)
    assert error.value.field == "skill_checkpoint"
    ref = {"uri": "x", "sha256": "0" * 64}
    with pytest.raises(InvalidArgument) as error:
        plan_from_request(_request(policy=pb.COLLECTION_POLICY_SKILL_NETWORK, skill_checkpoint=ref),
                          default_envs=1, max_envs=1)
    assert error.value.field == "skill_functions"
    plan = plan_from_request(_request(policy=pb.COLLECTION_POLICY_SKILL_NETWORK, skill_checkpoint=ref,
                                      skill_functions=ref, training_policy=ref), default_envs=1, max_envs=1)
    assert plan.policy == "skill-network" and set(plan.network) == {"skill_checkpoint", "skill_functions",
                                                                     "training_policy"}


def test_episode_seeds_are_stable_and_distinct():
    seeds = [episode_seed(7, i) for i in range(1000)]
    assert len(set(seeds)) == 1000 and all(0 <= s < 2**63 for s in seeds)
    assert episode_seed(7, 3) == episode_seed(7, 3) != episode_seed(8, 3)
