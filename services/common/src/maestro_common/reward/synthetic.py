"""Synthetic preference labels with a known, learnable rule (for tests, smoke runs and benchmarks).

Each observation has a message and a depth change; each skill has a utility over them and the
label says which side of a pair has the higher utility (tie when equal), with a share of flipped
and of `unknown` labels. Messages follow the shape of real NetHack play: most are empty, the
rest repeat from a pool with a long tail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

TEMPLATES = (
    "You kill the {m}!", "You see here {n} gold pieces.", "The {m} bites!", "You miss the {m}.",
    "There is a staircase down here.", "There is a staircase up here.", "There is an altar to {g} here.",
    "The shopkeeper offers {n} gold pieces for your {o}. Sell it?", "You find a hidden door.",
    "You hear some noises in the distance.", "You are beginning to feel hungry.", "Welcome to {g}'s shop!",
    "You feel more confident in your skills.", "You see here a {o}.", "The door opens.", "This door is locked.",
)
MONSTERS = ("newt", "jackal", "grid bug", "sewer rat", "gnome", "kobold", "lichen", "fox", "gnome lord", "dwarf")
OBJECTS = ("scroll", "potion", "dagger", "ring", "wand", "amulet", "gem", "leather armor", "spellbook", "food ration")
GODS = ("Shan Lai Ching", "Chih Sung-tzu", "Huan Ti", "Izchak", "Asidonhopo")


def _utility(skill: str) -> Callable[[str, int], float]:
    lowered = skill.lower()
    if lowered == "descender":
        return lambda message, depth: float(np.sign(depth))
    if lowered == "ascender":
        return lambda message, depth: -float(np.sign(depth))
    if lowered == "worshipper":
        return lambda message, depth: float("altar" in message)
    if lowered == "merchant":
        return lambda message, depth: float("shop" in message)
    return lambda message, depth: float(("kill" in message or "gold" in message) and depth == 0) - float(depth != 0)


def message_pool(size: int, rng: np.random.Generator) -> list[str]:
    """`size` distinct non-empty messages made from the templates."""
    pool: list[str] = []
    seen: set[str] = set()
    while len(pool) < size:
        template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        text = template.format(m=MONSTERS[int(rng.integers(len(MONSTERS)))], n=int(rng.integers(1, 500)),
                               o=OBJECTS[int(rng.integers(len(OBJECTS)))], g=GODS[int(rng.integers(len(GODS)))])
        if text in seen:
            text = f"{text} ({len(pool)})"
        seen.add(text)
        pool.append(text)
    return pool


def synthetic_label_table(num_pairs: int, skills: Sequence[str] = ("Descender",), *, seed: int = 0,
                          empty_fraction: float = 0.6, pool_size: int = 500, flip_fraction: float = 0.0,
                          unknown_fraction: float = 0.02, unique_messages: bool = False) -> pa.Table:
    """A label table (LABEL_SCHEMA) of `num_pairs` pairs labelled for every skill in `skills`.

    `unique_messages` gives every observation its own message (no repetition: the worst case for
    message de-duplication).
    """
    import pyarrow as pa

    from maestro_common.labels import LABEL_SCHEMA

    rng = np.random.default_rng(seed)
    n_obs = 2 * num_pairs
    if unique_messages:
        messages = np.array([f"You kill the {MONSTERS[i % len(MONSTERS)]}! ({i})" for i in range(n_obs)], dtype=object)
    else:
        pool = np.array(message_pool(pool_size, rng), dtype=object)
        ranks = np.minimum(rng.zipf(1.3, n_obs) - 1, pool_size - 1)
        messages = np.where(rng.random(n_obs) < empty_fraction, "", pool[ranks])
    depths = rng.choice(np.array([-1, 0, 0, 0, 1]), size=n_obs)
    first, second = np.arange(0, n_obs, 2), np.arange(1, n_obs, 2)
    columns: dict[str, list] = {name: [] for name in LABEL_SCHEMA.names}
    for skill in skills:
        utility = _utility(skill)
        u = np.array([utility(m, int(d)) for m, d in zip(messages, depths)])
        labels = np.where(u[first] > u[second], "first", np.where(u[second] > u[first], "second", "tie")).astype(object)
        flip = (rng.random(num_pairs) < flip_fraction) & (labels != "tie")
        labels[flip] = np.where(labels[flip] == "first", "second", "first")
        labels[rng.random(num_pairs) < unknown_fraction] = "unknown"
        ids = [f"obs-{i}" for i in range(n_obs)]
        columns["pair_id"] += [f"pair-{i}" for i in range(num_pairs)]
        columns["skill"] += [skill] * num_pairs
        columns["first_id"] += [ids[i] for i in first]
        columns["second_id"] += [ids[i] for i in second]
        columns["first_message"] += messages[first].tolist()
        columns["second_message"] += messages[second].tolist()
        columns["first_depth_change"] += depths[first].tolist()
        columns["second_depth_change"] += depths[second].tolist()
        columns["label"] += labels.tolist()
    n = len(columns["pair_id"])
    columns["first_text"] = [""] * n
    columns["second_text"] = [""] * n
    columns["raw_answer"] = [""] * n
    for name in ("score_first", "score_second", "latency_s"):
        columns[name] = [0.0] * n
    for name in ("prompt_tokens", "completion_tokens", "llm_calls", "cache_hits"):
        columns[name] = [0] * n
    columns["judge_mode"] = ["synthetic"] * n
    columns["model"] = ["synthetic"] * n
    columns["prompt_version"] = ["synthetic"] * n
    return pa.table(columns, schema=LABEL_SCHEMA)


def write_label_table(store, table: pa.Table, name: str = "labels.parquet"):
    """Store a label table as Parquet (as the annotator does); returns its ArtifactRef."""
    import io

    import pyarrow.parquet as pq

    from maestro_common.datasets import PARQUET_MEDIA_TYPE

    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return store.put_bytes(sink.getvalue(), name=name, media_type=PARQUET_MEDIA_TYPE)
