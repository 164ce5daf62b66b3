"""Playing episodes: records, summaries, and the multi-process path (real NetHack, a small real network)."""

from __future__ import annotations

import math

import pytest
import torch
from evaluator_helpers import MINES_POLICY, SKILL_FUNCTIONS, SMALL_NETWORK

from evaluator.episodes import EpisodeRecord, PlaySpec, play_parallel, summarise
from maestro_common.skillnet import SkillNetwork


def _spec(**changes) -> PlaySpec:
    torch.manual_seed(0)
    network = SkillNetwork(SMALL_NETWORK)
    fields = dict(network_config=SMALL_NETWORK.to_json(), state_dict=network.state_dict(), device="cpu",
                  skill_functions_code=SKILL_FUNCTIONS, policy_code=MINES_POLICY, task_id="golden_exit", num_envs=2,
                  max_steps=30, skill_turns=10, rng_seed=1, torch_threads=1)
    fields.update(changes)
    return PlaySpec(**fields)


def test_episodes_are_recorded_with_their_timeline():
    seen = []
    result = play_parallel(_spec(), [5, 6, 7], workers=1, on_episode=seen.append)
    assert sorted(r.seed for r in result.records) == [5, 6, 7] and len(seen) == 3
    for record in result.records:
        assert 1 <= record.steps <= 30 and record.timeline[0]["start_step"] == 0
        assert record.outcome in (0.0, 1.0) and "dlvl 1" in record.milestones  # every game starts on level 1
    assert result.env_steps == sum(r.steps for r in result.records)


def test_random_policy_and_free_text_without_a_check():
    result = play_parallel(_spec(policy_code=None, task_id=None), [1], workers=1)
    (record,) = result.records
    assert record.outcome is None and record.progression is None
    assert "value" not in summarise(result.records, None)


def test_summary_has_the_standard_error():
    records = [EpisodeRecord(seed=i, outcome=float(i % 2), success_step=None, steps=10, progression=0.5,
                             milestones={}, depth=1, branch="Dungeons of Doom", xp_level=1, gold=0, kills=0,
                             end="truncated") for i in range(4)]
    summary = summarise(records, "success_rate")
    assert summary["value"] == 0.5 and math.isclose(summary["stderr"], 0.5 / math.sqrt(3))
    assert summary["progression"] == 0.5


@pytest.mark.slow
def test_two_worker_processes_play_every_seed():
    result = play_parallel(_spec(max_steps=10), [1, 2, 3, 4], workers=2)
    assert sorted(r.seed for r in result.records) == [1, 2, 3, 4]
    assert result.env_steps == sum(r.steps for r in result.records)
