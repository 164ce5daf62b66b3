"""The observation dataset that the annotation phase reads: one row per game step.

Rows come from two sources: games played here by a simple policy ("nle-rollout", this module) and
human games of the NetHack Learning Dataset ("nld", `nld.py`). Fields a source cannot know are -1.
Tables are exchanged as zstd-compressed Parquet.
"""

from __future__ import annotations

import concurrent.futures
import io
import multiprocessing
import os
from collections.abc import Callable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from maestro_common.errors import InvalidArgument
from maestro_common.nethack.env import EnvConfig, MaestroEnv
from maestro_common.nethack.features import (
    BL_DEPTH,
    BL_DLEVEL,
    BL_DNUM,
    BL_GOLD,
    BL_HP,
    BL_HPMAX,
    BL_HUNGER,
    BL_TIME,
    BL_XP,
    message_text,
)
from maestro_common.nethack.policies import make_policy

SOURCE_ROLLOUT = "nle-rollout"
SOURCE_NLD = "nld"

# Status columns in schema order, with their blstats index.
STATUS_COLUMNS: tuple[tuple[str, int], ...] = (
    ("depth", BL_DEPTH), ("gold", BL_GOLD), ("hp", BL_HP), ("max_hp", BL_HPMAX),
    ("xp_level", BL_XP), ("hunger", BL_HUNGER), ("dungeon_number", BL_DNUM),
    ("level_number", BL_DLEVEL), ("turn", BL_TIME),
)

OBSERVATION_SCHEMA = pa.schema(
    [
        pa.field("episode_id", pa.string(), nullable=False),
        pa.field("step", pa.int32(), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("message", pa.string(), nullable=False),
        *(pa.field(name, pa.int32(), nullable=False) for name, _ in STATUS_COLUMNS),
        pa.field("done", pa.bool_(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
    ]
)
"""One row per step: `step` 0 is the observation after reset; `done` marks an episode's last row;
`seed` is the episode seed (-1 where unknown); hunger follows blstats (0 Satiated .. 6 Starved)."""


class ObservationRows:
    """Builds an observation table row by row (column lists, converted once at the end)."""

    def __init__(self) -> None:
        self.columns: dict[str, list] = {field.name: [] for field in OBSERVATION_SCHEMA}

    def add(self, episode_id: str, step: int, seed: int, message: str,
            status: Sequence[int], done: bool, source: str) -> None:
        c = self.columns
        c["episode_id"].append(episode_id)
        c["step"].append(step)
        c["seed"].append(seed)
        c["message"].append(message)
        for (name, _), value in zip(STATUS_COLUMNS, status):
            c[name].append(value)
        c["done"].append(done)
        c["source"].append(source)

    def mark_last_done(self) -> None:
        if self.columns["done"]:
            self.columns["done"][-1] = True

    def table(self) -> pa.Table:
        return pa.table(self.columns, schema=OBSERVATION_SCHEMA)


def _play(env: MaestroEnv, policy_name: str, seed: int, episode_id: str,
          max_steps: int | None) -> pa.Table:
    policy = make_policy(policy_name, seed)
    rows = ObservationRows()
    obs = env.reset(seed)
    blstats = obs["blstats"]
    indices = [index for _, index in STATUS_COLUMNS]

    def record(step: int, done: bool) -> None:
        values = blstats.tolist()
        rows.add(episode_id, step, seed, message_text(obs), [values[i] for i in indices], done,
                 SOURCE_ROLLOUT)

    record(0, False)
    limit = env.config.max_episode_steps if max_steps is None else max_steps
    step = 0
    while step < limit:
        obs, _, terminated, truncated, _ = env.step(policy.act(obs))
        step += 1
        record(step, terminated or truncated)
        if terminated or truncated:
            break
    rows.mark_last_done()
    return rows.table()


def play_episode(env_config: EnvConfig, policy_name: str, seed: int, episode_id: str,
                 max_steps: int | None = None) -> pa.Table:
    """Plays one episode (game seed and policy seed both `seed`) and returns its rows: the reset
    observation, then one row per step, up to `max_steps` steps (default: the env's cap). The same
    arguments always give the same table."""
    if max_steps is not None and max_steps < 0:
        raise InvalidArgument("max_steps", "must be non-negative")
    env = MaestroEnv(env_config)
    try:
        return _play(env, policy_name, seed, episode_id, max_steps)
    finally:
        env.close()


# One env per worker process and config, reused across the episodes it plays (reset reseeds the
# game entirely, so reuse does not change results).
_worker_envs: dict[EnvConfig, MaestroEnv] = {}


def _worker_play(env_config: EnvConfig, policy_name: str, seed: int, episode_id: str,
                 max_steps: int | None) -> pa.Table:
    env = _worker_envs.get(env_config)
    if env is None:
        env = _worker_envs[env_config] = MaestroEnv(env_config)
    return _play(env, policy_name, seed, episode_id, max_steps)


def collect_episodes(
    env_config: EnvConfig,
    policy_name: str,
    seeds: Sequence[int],
    episode_ids: Sequence[str],
    num_workers: int,
    on_episode_done: Callable[[int], None] | None = None,
    max_steps: int | None = None,
) -> pa.Table:
    """Plays one episode per (seed, episode id) on `num_workers` processes (spawned; 1 plays them
    in this process) and returns all rows ordered by the input order of episodes, then by step.
    `on_episode_done(rows)` is called in this process as each episode finishes."""
    if len(seeds) != len(episode_ids):
        raise InvalidArgument("episode_ids", f"{len(episode_ids)} ids for {len(seeds)} seeds")
    if len(set(episode_ids)) != len(episode_ids):
        raise InvalidArgument("episode_ids", "episode ids must be unique")
    if num_workers < 1:
        raise InvalidArgument("num_workers", "must be at least 1")
    if not seeds:
        return OBSERVATION_SCHEMA.empty_table()
    make_policy(policy_name, 0)  # fail fast on an unknown policy

    tables: list[pa.Table | None] = [None] * len(seeds)
    if num_workers == 1:
        env = MaestroEnv(env_config)
        try:
            for i, (seed, episode_id) in enumerate(zip(seeds, episode_ids)):
                tables[i] = _play(env, policy_name, seed, episode_id, max_steps)
                if on_episode_done is not None:
                    on_episode_done(tables[i].num_rows)
        finally:
            env.close()
    else:
        context = multiprocessing.get_context("spawn")
        workers = min(num_workers, len(seeds))
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context,
                                                    initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
            futures = {
                pool.submit(_worker_play, env_config, policy_name, seed, episode_id, max_steps): i
                for i, (seed, episode_id) in enumerate(zip(seeds, episode_ids))
            }
            for future in concurrent.futures.as_completed(futures):
                table = future.result()
                tables[futures[future]] = table
                if on_episode_done is not None:
                    on_episode_done(table.num_rows)
    return pa.concat_tables([t for t in tables if t is not None])


def _die_with_parent(parent_pid: int) -> None:
    """Pool-worker initializer: the kernel kills this worker when the process that started it dies (a
    service killed with SIGKILL leaves no orphaned workers). Linux only; elsewhere a no-op."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def write_parquet_bytes(table: pa.Table) -> bytes:
    """`table` as zstd-compressed Parquet bytes."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def read_parquet_bytes(data: bytes) -> pa.Table:
    """The table stored in Parquet bytes."""
    return pq.read_table(pa.BufferReader(data))


def check_observation_table(table: pa.Table) -> None:
    """Raises InvalidArgument("table") unless `table` has exactly `OBSERVATION_SCHEMA`."""
    if not table.schema.equals(OBSERVATION_SCHEMA):
        raise InvalidArgument(
            "table", f"schema differs from the observation schema:\n{table.schema}\nexpected:\n"
                     f"{OBSERVATION_SCHEMA}"
        )
