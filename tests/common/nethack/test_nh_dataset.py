"""The observation dataset: rollouts, parallel collection, Parquet round trips."""

from __future__ import annotations

import pyarrow as pa
import pytest

from maestro_common.errors import InvalidArgument
from maestro_common.nethack.dataset import (
    OBSERVATION_SCHEMA,
    check_observation_table,
    collect_episodes,
    play_episode,
    read_parquet_bytes,
    write_parquet_bytes,
)
from maestro_common.nethack.env import EnvConfig

CONFIG = EnvConfig(max_episode_steps=300)


def test_schema_columns():
    assert OBSERVATION_SCHEMA.names == [
        "episode_id", "step", "seed", "message", "depth", "gold", "hp", "max_hp", "xp_level",
        "hunger", "dungeon_number", "level_number", "turn", "done", "source",
    ]
    assert OBSERVATION_SCHEMA.field("step").type == pa.int32()
    assert OBSERVATION_SCHEMA.field("seed").type == pa.int64()
    assert OBSERVATION_SCHEMA.field("done").type == pa.bool_()


def test_play_episode_is_deterministic_and_well_formed():
    a = play_episode(CONFIG, "random", 9, "ep-a", max_steps=120)
    b = play_episode(CONFIG, "random", 9, "ep-a", max_steps=120)
    assert a.equals(b)
    assert a.schema.equals(OBSERVATION_SCHEMA)
    rows = a.to_pydict()
    assert rows["step"] == list(range(a.num_rows))
    assert a.num_rows == 121  # the reset observation plus 120 steps
    assert rows["done"] == [False] * 120 + [True]
    assert set(rows["source"]) == {"nle-rollout"} and set(rows["seed"]) == {9}
    assert rows["depth"][0] == 1 and rows["turn"][0] == 1
    assert rows["message"][0].startswith("Hello Agent")
    assert not any(m.startswith(("You see", "You hear")) for m in rows["message"])
    c = play_episode(CONFIG, "random", 13, "ep-a", max_steps=120)
    assert not c.equals(a)


def test_episode_cap_ends_the_episode():
    t = play_episode(EnvConfig(max_episode_steps=40), "random", 9, "x")
    assert t.num_rows == 41 and t.column("done").to_pylist()[-1]


def test_same_seeds_same_table_with_one_and_two_workers():
    seeds = [9, 13, 17]  # games the random policy survives for 100 steps
    ids = ["e1", "e2", "e3"]
    finished: list[int] = []
    inline = collect_episodes(CONFIG, "random", seeds, ids, num_workers=1,
                              on_episode_done=finished.append, max_steps=100)
    assert finished == [101, 101, 101]
    parallel = collect_episodes(CONFIG, "random", seeds, ids, num_workers=2, max_steps=100)
    assert parallel.equals(inline)
    assert inline.column("episode_id").to_pylist() == ["e1"] * 101 + ["e2"] * 101 + ["e3"] * 101
    alone = play_episode(CONFIG, "random", 13, "e2", max_steps=100)
    assert inline.slice(101, 101).equals(alone)


def test_collect_checks_its_arguments():
    with pytest.raises(InvalidArgument):
        collect_episodes(CONFIG, "random", [1, 2], ["a"], num_workers=1)
    with pytest.raises(InvalidArgument):
        collect_episodes(CONFIG, "random", [1, 2], ["a", "a"], num_workers=1)
    with pytest.raises(InvalidArgument):
        collect_episodes(CONFIG, "nope", [1], ["a"], num_workers=1)
    assert collect_episodes(CONFIG, "random", [], [], num_workers=2).num_rows == 0


def test_parquet_round_trip():
    table = play_episode(CONFIG, "random", 5, "p", max_steps=30)
    data = write_parquet_bytes(table)
    assert data[:4] == b"PAR1"
    back = read_parquet_bytes(data)
    assert back.equals(table)
    check_observation_table(back)
    with pytest.raises(InvalidArgument):
        check_observation_table(back.drop_columns(["hp"]))
