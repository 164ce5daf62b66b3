"""encode_observations on real NetHack observations; the glyph atlas and rendering."""

from __future__ import annotations

import numpy as np
import pytest

from maestro_common.errors import InvalidArgument
from maestro_common.nethack.actions import COMPASS
from maestro_common.nethack.env import make_env
from maestro_common.nethack.features import hero_crop
from maestro_common.skillnet import CROP_SIZE, INPUT_KEYS, MESSAGE_LENGTH, NUM_STATS, encode_observations
from maestro_common.skillnet.atlas import CELL, PALETTE, glyph_atlas, render_crop
from maestro_common.skillnet.features import normalise_blstats


@pytest.fixture(scope="module")
def frames():
    """Copies of 80 observations of seed 9 under random compass moves."""
    env = make_env()
    try:
        rng = np.random.default_rng(1)
        out = [{k: v.copy() for k, v in env.reset(9).items()}]
        for _ in range(80):
            obs, _, done, truncated, _ = env.step(int(rng.choice(COMPASS)))
            out.append({k: v.copy() for k, v in obs.items()})
            if done or truncated:
                break
        return out
    finally:
        env.close()


def test_shapes_dtypes_and_the_hero_in_the_middle(frames):
    skills = np.arange(len(frames)) % 5
    encoded = encode_observations(frames, skills)
    assert tuple(encoded) == INPUT_KEYS
    n = len(frames)
    assert encoded["crop_chars"].shape == (n, CROP_SIZE, CROP_SIZE) and encoded["crop_chars"].dtype == np.uint8
    assert encoded["crop_colors"].shape == (n, CROP_SIZE, CROP_SIZE) and encoded["crop_colors"].max() <= 15
    assert encoded["stats"].shape == (n, NUM_STATS) and encoded["stats"].dtype == np.float32
    assert np.isfinite(encoded["stats"]).all() and np.abs(encoded["stats"]).max() <= 5
    assert encoded["message"].shape == (n, MESSAGE_LENGTH)
    assert encoded["skill"].tolist() == skills.tolist()
    assert (encoded["crop_chars"][:, CROP_SIZE // 2, CROP_SIZE // 2] == ord("@")).all()
    for i, obs in enumerate(frames):
        assert encoded["message"][i].tobytes() == obs["message"].tobytes()


def test_crop_is_the_map_window_around_the_hero(frames):
    """Where the 12x12 window lies on the map, the tty crop equals the map crop (tty row = map row + 1)."""
    encoded = encode_observations(frames, [0] * len(frames))
    for i, obs in enumerate(frames):
        chars, colors = hero_crop(obs, CROP_SIZE)
        y = int(obs["blstats"][1])
        rows = [r for r in range(CROP_SIZE) if 0 <= y - CROP_SIZE // 2 + r < 21]
        assert (encoded["crop_chars"][i][rows] == chars[rows]).all()
        assert (encoded["crop_colors"][i][rows] == colors[rows]).all()


def test_blstats_normalisation():
    blstats = np.zeros((1, 27), dtype=np.int64)
    blstats[0, [10, 11, 12, 18, 25, 26]] = [7, 14, 5, 3, 0x0020 | 0x0100, -3]
    stats = normalise_blstats(blstats)[0]
    assert stats[10] == pytest.approx(0.5)       # hp / max hp
    assert stats[12] == 0.0                      # depth: weight 0
    assert stats[18] == pytest.approx(0.1)       # XP level / 30
    assert stats[26] == -1.0                     # alignment sign
    assert stats[27:].sum() == 2 and stats.shape == (NUM_STATS,)


def test_arguments_are_checked(frames):
    with pytest.raises(InvalidArgument, match="skill_indices"):
        encode_observations(frames[:2], [0])
    with pytest.raises(InvalidArgument, match="skill_indices"):
        encode_observations(frames[:1], [5])
    empty = encode_observations([], [])
    assert {k: v.shape[0] for k, v in empty.items()} == dict.fromkeys(INPUT_KEYS, 0)


def test_atlas_draws_every_printable_character_distinctly():
    atlas = glyph_atlas()
    assert atlas.shape == (256, CELL, CELL) and atlas.max() <= 1.0
    printable = [atlas[c].tobytes() for c in range(33, 127)]
    assert len(set(printable)) == len(printable)
    assert atlas[ord(" ")].max() == 0 and atlas[ord(".")].max() > 0


def test_render_tints_the_glyph_with_its_colour():
    chars = np.full((1, 2, 2), ord(" "), dtype=np.uint8)
    chars[0, 1, 0] = ord("@")
    colors = np.full((1, 2, 2), 15, dtype=np.uint8)
    image = render_crop(chars, colors)
    assert image.shape == (1, 3, 2 * CELL, 2 * CELL)
    assert image[0, :, :CELL, :].max() == 0                      # blank top row
    cell = image[0, :, CELL:, :CELL]
    assert np.allclose(cell, glyph_atlas()[ord("@")][None] * PALETTE[15][:, None, None])
