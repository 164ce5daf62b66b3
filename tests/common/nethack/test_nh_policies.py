"""The random macro policy."""

from __future__ import annotations

from collections import Counter

import pytest

from maestro_common.errors import InvalidArgument
from maestro_common.nethack.actions import COMPASS, NUM_ACTIONS, Action
from maestro_common.nethack.policies import RandomMacroPolicy, make_policy


def test_seeded_and_covers_all_actions_with_movement_dominant():
    a = [RandomMacroPolicy(3).act(None) for _ in range(1)]
    p, q = RandomMacroPolicy(3), RandomMacroPolicy(3)
    seq = [p.act(None) for _ in range(20000)]
    assert seq == [q.act(None) for _ in range(20000)]
    assert a[0] == seq[0]
    assert seq[:50] != [RandomMacroPolicy(4).act(None) for _ in range(50)]
    counts = Counter(seq)
    assert set(counts) == set(range(NUM_ACTIONS))
    moves = sum(counts[a] for a in COMPASS)
    assert moves / len(seq) > 0.4
    assert counts[Action.PRAY] < counts[Action.N]


def test_make_policy():
    assert isinstance(make_policy("random", 1), RandomMacroPolicy)
    with pytest.raises(InvalidArgument):
        make_policy("clever", 1)
