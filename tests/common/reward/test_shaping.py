"""The one shaping function and the per-episode message counter, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maestro_common.reward.shaping import (
    MESSAGE_WINDOW,
    EpisodeMessageCounter,
    ShapingParams,
    fit_shaping,
    quantile_key,
    shape_rewards,
)


def test_normalise_threshold_count_and_scale():
    params = ShapingParams(mean=1.0, std=2.0, threshold=0.5, beta=3.0, scale=0.1)
    raw = [1.0, 3.0, 5.0, 2.5, 7.0, -3.0]
    counts = [1, 1, 2, 0, 3, 1]
    # normalised: 0, 1, 2, 0.75, 3, -2 -> kept (> 0.5): 0, 1, 2, 0.75, 3, 0; counts 0 -> 1
    expected = [0.0, 0.1, 0.1 * 2 / 8, 0.075, 0.1 * 3 / 27, 0.0]
    np.testing.assert_allclose(shape_rewards(raw, counts, params), expected, rtol=1e-6)


def test_value_equal_to_the_threshold_is_dropped():
    params = ShapingParams(mean=0.0, std=1.0, threshold=1.0)
    np.testing.assert_array_equal(shape_rewards([1.0, 1.5], [1, 1], params), np.float32([0.0, 0.15]))


def test_defaults_are_the_papers_beta_3_and_scale_0_1():
    params = ShapingParams(mean=0.0, std=1.0, threshold=-10.0)
    assert shape_rewards([2.0], [2], params)[0] == pytest.approx(0.1 * 2.0 / 2 ** 3)


def test_zero_std_does_not_divide_by_zero():
    params = ShapingParams(mean=1.0, std=0.0, threshold=0.0)
    out = shape_rewards([1.0, 1.0 + 1e-9], [1, 1], params)
    assert np.isfinite(out).all() and out[0] == 0.0


def test_counts_must_match_the_values():
    with pytest.raises(ValueError, match="one count per value"):
        shape_rewards([1.0, 2.0], [1], ShapingParams(0.0, 1.0, 0.0))


def test_counter_counts_within_a_sliding_window():
    counter = EpisodeMessageCounter(window=3)
    assert [counter.observe(m) for m in "abaca"] == [1, 1, 2, 1, 2]
    # the window now holds [a, c, a]
    assert counter.count("a") == 2 and counter.count("b") == 0 and len(counter) == 3
    assert counter.observe("b") == 1  # [c, a, b]
    counter.reset()
    assert len(counter) == 0 and counter.observe("a") == 1


def test_counter_default_window_is_20_messages():
    counter = EpisodeMessageCounter()
    assert MESSAGE_WINDOW == 20
    assert [counter.observe("") for _ in range(25)][-1] == 20


def test_fit_shaping_mean_std_and_quantiles():
    stats = fit_shaping([0.0, 1.0, 2.0, 3.0, 4.0], 0.85)
    assert stats.mean == 2.0 and stats.std == pytest.approx(math.sqrt(2.0))
    assert stats.quantiles["0.5"] == pytest.approx(0.0)
    # normalised values are (-2..2)/sqrt(2); q0.85 by linear interpolation: index 3.4 -> 1.4/sqrt(2)
    assert stats.threshold == pytest.approx(1.4 / math.sqrt(2.0))
    assert stats.threshold == stats.quantiles["0.85"] and stats.threshold_quantile == 0.85
    assert {"0.05", "0.95", "0.85"} <= set(stats.quantiles) and len(stats.quantiles) == 19


def test_fit_shaping_records_an_off_grid_quantile():
    stats = fit_shaping(np.arange(100.0), 0.97)
    assert "0.97" in stats.quantiles and stats.threshold == stats.quantiles["0.97"]
    assert quantile_key(0.975) == "0.975"
    with pytest.raises(ValueError):
        fit_shaping([1.0], 1.0)
