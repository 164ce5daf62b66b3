"""Observations, pairs, the three judge modes, parsing and the answer cache."""

from __future__ import annotations

import pyarrow as pa
import pytest
from doubles import ScriptedLlmForTest

from llm_annotator.cache import ResponseCache
from llm_annotator.gold import load_gold
from llm_annotator.judge import Judge, JudgeSettings, choice_probability, parse_verdict
from llm_annotator.observations import Observation, Pair, build_observations, sample_pairs
from llm_annotator.prompts import load_prompt
from maestro_common.errors import InvalidArgument
from maestro_common.llm.completion import Completion


def _table(messages: list[str], depths: list[int], episode: str = "e1") -> pa.Table:
    n = len(messages)
    return pa.table({"episode_id": [episode] * n, "step": list(range(n)), "message": messages, "depth": depths,
                     "gold": [0] * n, "hp": [14] * n, "max_hp": [14] * n, "xp_level": [1] * n, "hunger": [1] * n})


def _obs(depth_change: int = 0, message: str = "", oid: str = "o") -> Observation:
    return Observation(oid, "", message, depth_change, 0, 14, 14, 0, 0, "Not Hungry", False)


def test_observations_use_the_newest_message_of_each_window_and_the_last_step():
    table = _table(["", "hello", "", "", "bye", "", ""], [1, 1, 1, 2, 2, 2, 2])
    observations = build_observations(table, interval=3)
    # snapshots at steps 0, 3, 6; windows [0], [1..3], [4..6]
    assert [(o.previous_message, o.message, o.depth_change) for o in observations] == \
        [("", "hello", 1), ("hello", "bye", 0)]
    assert observations[1].observation_id == "e1@6"
    assert 'current message: "bye"' in observations[1].text()


def test_pairs_are_seeded_and_cover_observations():
    observations = [_obs(oid=f"o{i}") for i in range(10)]
    assert [p.pair_id for p in sample_pairs(observations, 12, seed=1)] == \
        [p.pair_id for p in sample_pairs(observations, 12, seed=1)]
    pairs = sample_pairs(observations, 9, seed=2)
    assert len({o.observation_id for p in pairs for o in (p.first, p.second)}) == 10
    assert all(a.second == b.first for a, b in zip(pairs, pairs[1:]))  # chained: o1-o2, o2-o3, ...
    assert len({p.pair_id for p in sample_pairs(observations, 30, seed=2)}) == 30
    assert sample_pairs(observations[:1], 3, seed=0) == []


@pytest.mark.parametrize("answer, label", [
    ('... so ("best_description": 1)', "first"),
    ('("best_description": 2)', "second"),
    ('("best_description": None)', "tie"),
    ('first ("best_description": 1) then ("best_description": 2)', "second"),
    ("I like the second one", None),
])
def test_verdict_parsing(answer, label):
    assert parse_verdict(answer, load_prompt("pairwise_cot").answer_pattern) == label


def test_choice_probability_sums_variants():
    completion = Completion("yes", "length", 1, 1, 0.0, "m", [{"yes": -0.5, " Yes": -1.0, "no": -2.0}])
    assert choice_probability(completion, ["yes"]) == pytest.approx(0.6065 + 0.3679, abs=1e-3)
    assert choice_probability(Completion("", "stop", 1, 0, 0.0, "m", []), ["yes"]) == 0.0


def _judge(tmp_path, mode: str, client=None, **settings) -> tuple[Judge, ScriptedLlmForTest]:
    client = client or ScriptedLlmForTest()
    return Judge(client, load_prompt(mode), ResponseCache(tmp_path / "cache.sqlite"), JudgeSettings(**settings)), client


def test_pointwise_prefers_the_descent_and_ties_within_the_margin(tmp_path):
    judge, _ = _judge(tmp_path, "pointwise_logprob", tie_margin=0.1)
    down, stay = _obs(1, oid="a"), _obs(0, "It's a wall.", oid="b")
    assert judge.judge(Pair("p1", down, stay), "go down").label == "first"
    assert judge.judge(Pair("p2", stay, down), "go down").label == "second"
    assert judge.judge(Pair("p3", stay, _obs(0, "It's solid stone.", oid="c")), "go down").label == "tie"


def test_pairwise_logprob_calls_disagreement_a_tie(tmp_path):
    judge, _ = _judge(tmp_path, "pairwise_logprob")
    down, stay = _obs(1, oid="a"), _obs(0, "wall", oid="b")
    assert judge.judge(Pair("p1", down, stay), "go down").label == "first"
    assert judge.judge(Pair("p2", stay, down), "go down").label == "second"
    # Neither descends: the double always says "1", so the two orders disagree -> tie.
    result = judge.judge(Pair("p3", stay, _obs(0, "stone", oid="c")), "go down")
    assert result.label == "tie" and result.llm_calls == 2


def test_cot_retries_once_then_gives_unknown(tmp_path):
    client = ScriptedLlmForTest(cot_answers=["Thinking... no verdict", '("best_description": 2)',
                                             "still nothing", "nothing again"])
    judge, _ = _judge(tmp_path, "pairwise_cot", client=client)
    first = judge.judge(Pair("p1", _obs(oid="a"), _obs(1, oid="b")), "go down")
    assert (first.label, first.llm_calls, first.parse_failed) == ("second", 2, False)
    second = judge.judge(Pair("p2", _obs(oid="c"), _obs(-1, oid="d")), "go down")
    assert (second.label, second.llm_calls, second.parse_failed) == ("unknown", 2, True)


def test_identical_prompts_are_paid_once_even_across_restarts(tmp_path):
    judge, client = _judge(tmp_path, "pointwise_logprob")
    pair = Pair("p", _obs(1, oid="a"), _obs(0, "wall", oid="b"))
    judge.judge(pair, "go down")
    # The same observation text under another id is the same prompt: answered from the cache.
    again = judge.judge(Pair("q", _obs(1, oid="x"), _obs(0, "wall", oid="y")), "go down")
    assert client.calls == 2 and again.cache_hits == 2 and again.prompt_tokens == 0
    reopened, client2 = _judge(tmp_path, "pointwise_logprob")
    assert reopened.judge(pair, "go down").cache_hits == 2 and client2.calls == 0
    # A different preference is a different prompt.
    reopened.judge(pair, "go up")
    assert client2.calls == 2


def test_prompt_versions_and_modes_are_checked():
    with pytest.raises(InvalidArgument) as error:
        load_prompt("pointwise_logprob", "v999")
    assert error.value.field == "prompt_version"
    with pytest.raises(InvalidArgument):
        load_prompt("telepathy")


def test_gold_set_is_balanced_and_covers_every_skill():
    gold = load_gold()
    skills = {g.skill for g in gold}
    assert skills == {"Discoverer", "Descender", "Ascender", "Worshipper", "Merchant"}
    assert sum(g.expected == "first" for g in gold) == len(gold) // 2
