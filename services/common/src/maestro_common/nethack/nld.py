"""Import NetHack Learning Dataset games (ttyrec directories) into the observation dataset.

NLD games carry only the terminal screen (24 x 80), so the message comes from the top line and the
status fields from the two bottom lines ("Dlvl:3 $:120 HP:12(14) Pw:5(5) AC:4 Xp:2/25 T:812
Hungry"). Fields the screen does not show are -1: always `dungeon_number` and `level_number`, and
any field of a frame whose status lines are hidden (full-screen menus, the end of the game).

Two directory layouts are read through `nle.dataset`:
- NLE's own recordings ("nle_data"): `<path>/<run>/nle.<pid>.xlogfile` next to
  `nle.<pid>.<episode>.ttyrec<version>.bz2` (what NLE writes with `save_ttyrec_every`);
- alt.org's (NLD-AA): `<path>/xlogfile.*`, `<path>/blacklist.txt`, `<path>/<player>/*.ttyrec.bz2`.
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import re
import tempfile
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from nle import dataset as nld

from maestro_common.errors import InvalidArgument
from maestro_common.nethack.dataset import (
    OBSERVATION_SCHEMA,
    SOURCE_NLD,
    STATUS_COLUMNS,
    ObservationRows,
)

TERMINAL_ROWS = 24
TERMINAL_COLS = 80

_MORE = "--More--"
_DLVL = re.compile(r"Dlvl:(\d+)")
_GOLD = re.compile(r"\$:(\d+)")
_HP = re.compile(r"HP:(-?\d+)\((\d+)\)")
_XP = re.compile(r"\bE?xp:(\d+)", re.IGNORECASE)
_TURN = re.compile(r"\bT:(\d+)")
_HUNGER_WORDS = {
    "Satiated": 0, "Hungry": 2, "Weak": 3, "Fainting": 4, "Fainted": 5, "Starved": 6,
}
_HUNGER = re.compile(r"\b(" + "|".join(_HUNGER_WORDS) + r")\b")
_NOT_HUNGRY = 1

UNKNOWN = -1


def parse_message(top_line: str) -> str:
    """The message on a screen's top line, without a trailing --More--."""
    text = top_line.rstrip()
    if text.endswith(_MORE):
        text = text[: -len(_MORE)].rstrip()
    return text


def parse_status(status_lines: str) -> dict[str, int]:
    """Status fields (the dataset's column names) read from the two bottom lines of a screen; -1
    for what they do not show. Hunger is "Not hungry" (1) when the depth is shown without a hunger
    word."""
    fields = {name: UNKNOWN for name, _ in STATUS_COLUMNS}
    if m := _DLVL.search(status_lines):
        fields["depth"] = int(m.group(1))
    if m := _GOLD.search(status_lines):
        fields["gold"] = int(m.group(1))
    if m := _HP.search(status_lines):
        fields["hp"], fields["max_hp"] = int(m.group(1)), int(m.group(2))
    if m := _XP.search(status_lines):
        fields["xp_level"] = int(m.group(1))
    if m := _TURN.search(status_lines):
        fields["turn"] = int(m.group(1))
    if m := _HUNGER.search(status_lines):
        fields["hunger"] = _HUNGER_WORDS[m.group(1)]
    elif fields["depth"] != UNKNOWN:
        fields["hunger"] = _NOT_HUNGRY
    return fields


def parse_screen(tty_chars: np.ndarray) -> tuple[str, dict[str, int]]:
    """(message, status fields) of one 24 x 80 screen."""
    rows = tty_chars.shape[0]
    top = tty_chars[0].tobytes().decode("latin-1")
    bottom = tty_chars[rows - 2: rows].tobytes().decode("latin-1")
    return parse_message(top), parse_status(bottom)


def _layout(path: str) -> str:
    if glob.glob(os.path.join(path, "xlogfile.*")) and os.path.exists(
        os.path.join(path, "blacklist.txt")
    ):
        return "altorg"
    if glob.glob(os.path.join(path, "*", "*.xlogfile")):
        return "nle"
    raise InvalidArgument(
        "path",
        f"{path!r} holds neither NLE recordings (<path>/<run>/*.xlogfile with ttyrecs) nor an "
        "alt.org directory (<path>/xlogfile.* and blacklist.txt)",
    )


def _dataset_exists(db_path: str, dataset_name: str) -> bool:
    with nld.db.db(filename=db_path) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM roots WHERE dataset_name=?", (dataset_name,)
        ).fetchone()
    return bool(row[0])


def register_directory(path: str, dataset_name: str, db_path: str) -> None:
    """Adds the games under `path` to the NLD database at `db_path` (created if missing) as
    `dataset_name`, unless that dataset is already there."""
    if not os.path.isdir(path):
        raise InvalidArgument("path", f"{path!r} is not a directory")
    layout = _layout(path)
    if not os.path.exists(db_path):
        nld.db.create(db_path)
    if _dataset_exists(db_path, dataset_name):
        return
    # nle.dataset reports progress on stdout; keep it out of ours.
    with contextlib.redirect_stdout(io.StringIO()):
        if layout == "altorg":
            nld.add_altorg_directory(path, dataset_name, filename=db_path)
        else:
            nld.add_nledata_directory(path, dataset_name, filename=db_path)


def _gameids(db_path: str, dataset_name: str) -> list[int]:
    with nld.db.db(filename=db_path) as conn:
        rows = conn.execute(
            "SELECT gameid FROM datasets WHERE dataset_name=? ORDER BY gameid", (dataset_name,)
        ).fetchall()
    return [row[0] for row in rows]


def _frames(dataset: nld.TtyrecDataset) -> Iterator[tuple[int, np.ndarray]]:
    """(gameid, tty_chars) of every frame, game after game (one batch lane, streamed in chunks)."""
    for batch in dataset:
        ids = batch["gameids"][0].tolist()
        chars = batch["tty_chars"][0]
        for i, gameid in enumerate(ids):
            if gameid != 0:  # 0 pads the chunk after the last game
                yield gameid, chars[i]


def import_ttyrec_directory(
    path: str,
    dataset_name: str = "nld",
    db_path: str | None = None,
    every: int = 1,
    max_games: int | None = None,
    chunk_frames: int = 4096,
) -> pa.Table:
    """The games under `path` as observation rows (source "nld"): one row per kept frame, every
    `every`-th frame of each game from its first, games in database order (at most `max_games`).

    `db_path` is the NLD sqlite database to register the directory in (a temporary one when None).
    `episode_id` is "<dataset_name>:<gameid>", `step` the frame index in the game, `seed` -1, and
    `done` marks each game's last row.
    """
    if every < 1:
        raise InvalidArgument("every", "must be at least 1")
    with contextlib.ExitStack() as stack:
        if db_path is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="nld-db-"))
            db_path = os.path.join(tmp, "ttyrecs.db")
        register_directory(path, dataset_name, db_path)
        gameids = _gameids(db_path, dataset_name)
        if max_games is not None:
            gameids = gameids[:max_games]
        if not gameids:
            return OBSERVATION_SCHEMA.empty_table()
        dataset = nld.TtyrecDataset(
            dataset_name, batch_size=1, seq_length=chunk_frames, rows=TERMINAL_ROWS,
            cols=TERMINAL_COLS, dbfilename=db_path, gameids=gameids, shuffle=False,
        )
        rows = ObservationRows()
        step = 0
        current = None
        for gameid, chars in _frames(dataset):
            if gameid != current:
                rows.mark_last_done()
                current, step = gameid, 0
            if step % every == 0:
                message, fields = parse_screen(chars)
                rows.add(f"{dataset_name}:{gameid}", step, UNKNOWN, message,
                         [fields[name] for name, _ in STATUS_COLUMNS], False, SOURCE_NLD)
            step += 1
        rows.mark_last_done()
        return rows.table() if rows.columns["step"] else OBSERVATION_SCHEMA.empty_table()
