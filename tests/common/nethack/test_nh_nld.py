"""The NLD importer on ttyrecs recorded here by NLE itself."""

from __future__ import annotations

import random

import pytest
from nle.env.base import NLE

from maestro_common.errors import InvalidArgument
from maestro_common.nethack.actions import ACTION_KEYS, COMPASS
from maestro_common.nethack.dataset import OBSERVATION_SCHEMA
from maestro_common.nethack.env import EnvConfig, nethack_options
from maestro_common.nethack.features import (
    BL_DEPTH,
    BL_GOLD,
    BL_HP,
    BL_HPMAX,
    BL_HUNGER,
    BL_TIME,
    BL_XP,
)
from maestro_common.nethack.nld import import_ttyrec_directory, parse_message, parse_status

FIELDS = ("depth", "gold", "hp", "max_hp", "xp_level", "turn", "hunger")
BLSTATS = (BL_DEPTH, BL_GOLD, BL_HP, BL_HPMAX, BL_XP, BL_TIME, BL_HUNGER)


def record_games(root, seeds, steps):
    """Plays one game per seed with NLE recording ttyrecs under root/run; returns per game the
    status tuples blstats showed at each step."""
    env = NLE(
        save_ttyrec_every=1, savedir=str(root / "run"), options=nethack_options(EnvConfig()),
        max_episode_steps=steps, actions=[ACTION_KEYS[a] for a in COMPASS],
    )
    games = []
    try:
        for seed in seeds:
            env.seed(seed, seed + 1, False)
            obs, _ = env.reset()
            rng = random.Random(seed)
            shown = []
            done = False
            while not done:
                b = obs["blstats"]
                if b[BL_DEPTH] > 0:  # zero once the game is over
                    shown.append(tuple(int(b[i]) for i in BLSTATS))
                obs, _, terminated, truncated, _ = env.step(rng.randrange(len(COMPASS)))
                done = terminated or truncated
            games.append(shown)
    finally:
        env.close()
    return games


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("nle_data")
    return root, record_games(root, seeds=[21, 22], steps=250)


def test_imported_status_matches_what_blstats_showed(recorded, tmp_path):
    root, games = recorded
    table = import_ttyrec_directory(str(root), dataset_name="nletest",
                                    db_path=str(tmp_path / "ttyrecs.db"))
    assert table.schema.equals(OBSERVATION_SCHEMA)
    rows = table.to_pydict()
    assert set(rows["source"]) == {"nld"} and set(rows["seed"]) == {-1}
    assert set(rows["dungeon_number"]) == {-1} and set(rows["level_number"]) == {-1}
    episodes = sorted(set(rows["episode_id"]))
    assert len(episodes) == len(games) == 2
    for episode, shown in zip(episodes, games):
        idx = [i for i, e in enumerate(rows["episode_id"]) if e == episode]
        assert [rows["step"][i] for i in idx] == list(range(len(idx)))
        assert [rows["done"][i] for i in idx] == [False] * (len(idx) - 1) + [True]
        assert rows["message"][idx[0]].startswith("Hello Agent, welcome to NetHack!")
        parsed = {tuple(rows[f][i] for f in FIELDS) for i in idx if rows["depth"][i] != -1}
        reference = set(shown)
        # Every status the agent was shown is on some screen. The recording also holds screens
        # the agent never saw as an observation (those NLE dismissed with --More-- within a step,
        # and the end of the game), so a few statuses appear only there, all on turns the game
        # reached.
        assert reference <= parsed
        extra = parsed - reference
        turns = {t[FIELDS.index("turn")] for t in reference}
        assert len(extra) <= max(3, len(reference) // 20), extra
        assert all(t[FIELDS.index("turn")] - 1 <= max(turns) for t in extra), extra
        assert len({t[FIELDS.index("turn")] for t in parsed}) > 50


def test_every_and_max_games(recorded, tmp_path):
    root, _ = recorded
    db = str(tmp_path / "ttyrecs.db")
    full = import_ttyrec_directory(str(root), dataset_name="d", db_path=db, max_games=1)
    sparse = import_ttyrec_directory(str(root), dataset_name="d", db_path=db, max_games=1, every=10)
    assert len(set(full.column("episode_id").to_pylist())) == 1
    assert sparse.column("step").to_pylist() == list(range(0, full.num_rows, 10))
    assert sparse.column("done").to_pylist()[-1]


def test_rejects_unknown_layouts(tmp_path):
    with pytest.raises(InvalidArgument):
        import_ttyrec_directory(str(tmp_path))
    with pytest.raises(InvalidArgument):
        import_ttyrec_directory(str(tmp_path / "missing"))


def test_parse_status_line_variants():
    fields = parse_status(
        "Agent the Candidate   St:16 Dx:12 Co:15 In:10 Wi:11 Ch:11 Neutral S:0\n"
        "Dlvl:3 $:120 HP:7(15) Pw:5(5) AC:4 Xp:2/25 T:812 Hungry Burdened"
    )
    assert fields == {
        "depth": 3, "gold": 120, "hp": 7, "max_hp": 15, "xp_level": 2, "hunger": 2,
        "dungeon_number": -1, "level_number": -1, "turn": 812,
    }
    older = parse_status("Dlvl:1 $:0 HP:12(12) Pw:2(2) AC:6 Exp:1 Satiated")
    assert (older["xp_level"], older["hunger"], older["turn"]) == (1, 0, -1)
    assert set(parse_status("                 (end)").values()) == {-1}
    assert parse_message("You hit the newt.--More--   ") == "You hit the newt."
