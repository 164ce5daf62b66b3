"""From a step-level dataset to the observations a judge compares, and the pairs it labels.

An observation is the transition between two snapshots `interval` steps apart in one episode, as
in the paper: the previous and the current message, and the change in depth, gold, HP (h/max),
XP level and hunger state. Because most single steps show no message, "the message" of a snapshot
is the newest non-empty message within its window, so a message between two snapshot steps is
not lost. Pairs are consecutive observations of a seeded shuffle, chained, so each observation
serves two pairs (a repeated observation costs nothing: the judge's cache answers it).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass

import pyarrow as pa

HUNGER_NAMES = ("Satiated", "Not Hungry", "Hungry", "Weak", "Fainting", "Fainted", "Starved")
DEFAULT_INTERVAL = 100


@dataclass(frozen=True)
class Observation:
    observation_id: str
    """Stable id: episode id and the snapshot's step."""
    previous_message: str
    message: str
    depth_change: int
    gold_change: int
    hp: int
    max_hp: int
    hp_change: int
    xp_level_change: int
    hunger: str
    hunger_changed: bool

    def text(self) -> str:
        """The description the judge reads (compact: every token is paid for on every prompt)."""
        previous = f'"{self.previous_message}"' if self.previous_message else "none"
        current = f'"{self.message}"' if self.message else "none"
        hunger = self.hunger + (" (changed)" if self.hunger_changed else "")
        return (f"previous message: {previous}\n"
                f"current message: {current}\n"
                f"dungeon level change: {self.depth_change:+d} ({_level_words(self.depth_change)}); "
                f"gold change: {self.gold_change:+d}; experience level change: {self.xp_level_change:+d}\n"
                f"hit points: {self.hp}/{self.max_hp} ({self.hp_change:+d}); hunger: {hunger}")

    def content_key(self) -> str:
        """Equal for observations a judge cannot tell apart (same text): the unit of caching."""
        return hashlib.sha256(self.text().encode()).hexdigest()

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Pair:
    pair_id: str
    first: Observation
    second: Observation


def _level_words(change: int) -> str:
    """The depth change in words: small models read "went down 1 level" better than "+1"."""
    if change == 0:
        return "stayed on the same level"
    levels = "level" if abs(change) == 1 else "levels"
    return f"went down {change} {levels}, deeper" if change > 0 else f"went up {-change} {levels}, shallower"


def _hunger(value: int) -> str:
    return HUNGER_NAMES[value] if 0 <= value < len(HUNGER_NAMES) else "unknown"


def build_observations(table: pa.Table, interval: int = DEFAULT_INTERVAL) -> list[Observation]:
    """Observations from every episode of a step table (rows of one episode must be contiguous)."""
    columns = table.select(["episode_id", "step", "message", "depth", "gold", "hp", "max_hp", "xp_level",
                            "hunger"]).to_pydict()
    observations: list[Observation] = []
    start = 0
    total = len(columns["episode_id"])
    while start < total:
        end = start
        episode = columns["episode_id"][start]
        while end < total and columns["episode_id"][end] == episode:
            end += 1
        observations.extend(_episode_observations(columns, start, end, interval))
        start = end
    return observations


def _episode_observations(c: dict, start: int, end: int, interval: int) -> list[Observation]:
    snapshots = list(range(start, end, interval))
    if snapshots[-1] != end - 1:
        snapshots.append(end - 1)  # the episode's last step is a snapshot too (deaths matter)
    newest = []
    last = ""
    window_start = start
    for index in snapshots:
        for row in range(window_start, index + 1):
            if c["message"][row]:
                last = c["message"][row]
        newest.append(last)
        last = ""
        window_start = index + 1
    result = []
    for k in range(1, len(snapshots)):
        a, b = snapshots[k - 1], snapshots[k]
        result.append(Observation(
            observation_id=f"{c['episode_id'][b]}@{c['step'][b]}",
            previous_message=newest[k - 1],
            message=newest[k],
            depth_change=c["depth"][b] - c["depth"][a],
            gold_change=c["gold"][b] - c["gold"][a],
            hp=c["hp"][b],
            max_hp=c["max_hp"][b],
            hp_change=c["hp"][b] - c["hp"][a],
            xp_level_change=c["xp_level"][b] - c["xp_level"][a],
            hunger=_hunger(c["hunger"][b]),
            hunger_changed=c["hunger"][b] != c["hunger"][a],
        ))
    return result


def sample_pairs(observations: list[Observation], num_pairs: int, seed: int) -> list[Pair]:
    """`num_pairs` pairs of consecutive observations in a seeded shuffle: (o1, o2), (o2, o3), ...

    Chaining uses each observation in two pairs, so a pointwise judge (which scores observations,
    not pairs) pays about one prompt per pair. More pairs than observations -> further shuffles.
    """
    if len(observations) < 2:
        return []
    rng = random.Random(seed)
    pairs: list[Pair] = []
    round_ = 0
    while len(pairs) < num_pairs:
        order = list(range(len(observations)))
        rng.shuffle(order)
        for i in range(len(order) - 1):
            first, second = observations[order[i]], observations[order[i + 1]]
            pair_id = hashlib.sha256(f"{round_}|{first.observation_id}|{second.observation_id}".encode()).hexdigest()
            pairs.append(Pair(pair_id[:24], first, second))
            if len(pairs) == num_pairs:
                break
        round_ += 1
    return pairs
