"""Persistent job records in SQLite: the durable half of every long-running RPC.

A job is created QUEUED, claimed by exactly one worker (RUNNING), and ends in one terminal state
(SUCCEEDED, FAILED, CANCELLED, INTERRUPTED). Every change is one transaction and bumps the record's
`version`, which `wait_for_change` uses to stream updates to watchers.

The database runs in WAL mode and is safe across threads (one connection behind a lock) and
across processes (SQLite locking; every write is a ``BEGIN IMMEDIATE`` transaction and state
moves are conditional UPDATEs, so a job can never be claimed twice). One service process owns a
database file at a time: `recover`, run when that process starts, treats every RUNNING job as
left behind by a crash.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import math
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from maestro_common.artifacts import ArtifactRef
from maestro_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

SCHEMA_VERSION = 1
WATCH_POLL_SECONDS = 0.5
"""How often `wait_for_change` re-reads the database to see writes made by other processes."""
BUSY_TIMEOUT_MS = 30_000


class JobState(str, enum.Enum):
    """Where a job is in its life."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    INTERRUPTED = "INTERRUPTED"

    def __str__(self) -> str:
        return self.value


TERMINAL_STATES: frozenset[JobState] = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED}
)

Transition = Callable[[str, JobState], None]
"""Called with (kind, new state) whenever a job changes state."""


@dataclass(frozen=True)
class JobRecord:
    """One job as stored; `version` grows by one on every change."""

    job_id: str
    kind: str
    state: JobState
    request: bytes
    request_id: str | None
    created_at: float
    updated_at: float
    started_at: float | None
    ended_at: float | None
    progress_done: int
    progress_total: int
    progress_unit: str
    stage: str
    message: str
    error_code: str | None
    error_message: str
    outputs: dict[str, ArtifactRef] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    cancel_requested: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    version: int = 1

    @property
    def terminal(self) -> bool:
        """True once the job has ended and can no longer change."""
        return self.state in TERMINAL_STATES


_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    request BLOB NOT NULL,
    request_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    progress_done INTEGER NOT NULL DEFAULT 0,
    progress_total INTEGER NOT NULL DEFAULT 0,
    progress_unit TEXT NOT NULL DEFAULT '',
    stage TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    error_code TEXT,
    error_message TEXT NOT NULL DEFAULT '',
    outputs TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}',
    checkpoint TEXT NOT NULL DEFAULT '{}',
    attempt INTEGER NOT NULL DEFAULT 1,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    labels TEXT NOT NULL DEFAULT '{}',
    version INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_request_id ON jobs (kind, request_id)
    WHERE request_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, kind, seq);
"""

_COLUMNS = (
    "job_id, kind, state, request, request_id, created_at, updated_at, started_at, ended_at, "
    "progress_done, progress_total, progress_unit, stage, message, error_code, error_message, "
    "outputs, metrics, checkpoint, attempt, cancel_requested, labels, version"
)
_JOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def _record(row: sqlite3.Row) -> JobRecord:
    outputs = {name: ArtifactRef.from_dict(ref) for name, ref in json.loads(row["outputs"]).items()}
    return JobRecord(
        job_id=row["job_id"],
        kind=row["kind"],
        state=JobState(row["state"]),
        request=bytes(row["request"]),
        request_id=row["request_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        progress_done=row["progress_done"],
        progress_total=row["progress_total"],
        progress_unit=row["progress_unit"],
        stage=row["stage"],
        message=row["message"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        outputs=outputs,
        metrics=json.loads(row["metrics"]),
        checkpoint=json.loads(row["checkpoint"]),
        attempt=row["attempt"],
        cancel_requested=bool(row["cancel_requested"]),
        labels=json.loads(row["labels"]),
        version=row["version"],
    )


def _to_json(value: Any, field_name: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidArgument(field_name, f"must be JSON-serializable: {error}") from None


def _state(value: JobState | str, field_name: str = "state") -> JobState:
    try:
        return JobState(value)
    except ValueError:
        names = ", ".join(s.value for s in JobState)
        raise InvalidArgument(field_name, f"{value!r} is not a job state (one of {names})") from None


def saved_summary(record: JobRecord) -> str:
    """How much of an interrupted job's work survives, for its final message."""
    parts = []
    if record.outputs:
        parts.append("outputs kept: " + ", ".join(sorted(record.outputs)))
    if record.checkpoint:
        parts.append("its last checkpoint is kept")
    if record.progress_total:
        parts.append(f"progress was {record.progress_done}/{record.progress_total} "
                     f"{record.progress_unit}".rstrip())
    return "; ".join(parts) if parts else "nothing was saved"


class JobStore:
    """SQLite-backed job records, safe to share between threads and processes."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        if self.path != ":memory:":
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
        self._lock = threading.RLock()
        self._changed = threading.Condition()
        self._generation = 0
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                     timeout=BUSY_TIMEOUT_MS / 1000)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._create_schema()

    def _create_schema(self) -> None:
        with self._transaction() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            row = conn.execute("SELECT MAX(version) AS v FROM schema_version").fetchone()
            if row["v"] is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif row["v"] > SCHEMA_VERSION:
                raise FailedPrecondition(
                    f"job database {self.path} has schema version {row['v']}, newer than this "
                    f"release understands ({SCHEMA_VERSION}); upgrade the service or use another file"
                )

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- plumbing -------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (taking SQLite's write lock up front); watchers are woken after."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def _fetch(self, conn: sqlite3.Connection, job_id: str) -> JobRecord:
        if not isinstance(job_id, str) or not _JOB_ID_RE.match(job_id):
            raise NotFound(f"job {job_id} not found")
        row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"job {job_id} not found")
        return _record(row)

    @staticmethod
    def _apply(conn: sqlite3.Connection, record: JobRecord, changes: dict[str, Any]) -> None:
        """Write `changes` to `record`'s row, bumping version and updated_at."""
        changes = {**changes, "updated_at": time.time()}
        assignments = ", ".join(f"{column} = ?" for column in changes)
        cursor = conn.execute(
            f"UPDATE jobs SET {assignments}, version = version + 1 "
            "WHERE job_id = ? AND version = ?",
            (*changes.values(), record.job_id, record.version),
        )
        if cursor.rowcount != 1:  # cannot happen inside BEGIN IMMEDIATE; refuse loudly if it does
            raise FailedPrecondition(f"job {record.job_id} changed concurrently; retry")

    def _mutate(self, job_id: str, changes: Callable[[JobRecord], dict[str, Any]]) -> JobRecord:
        """Apply `changes(current record)` to a job that has not ended, in one transaction."""
        with self._transaction() as conn:
            record = self._fetch(conn, job_id)
            if record.terminal:
                raise FailedPrecondition(
                    f"job {job_id} already ended ({record.state.value}); it can no longer be changed"
                )
            self._apply(conn, record, changes(record))
            return self._fetch(conn, job_id)

    # ----- create and read ------------------------------------------------------------------

    def create(self, kind: str, request: bytes, *, request_id: str | None = None,
               labels: dict[str, str] | None = None) -> tuple[JobRecord, bool]:
        """Queue a new job; returns (record, created).

        A `request_id` already used for this kind returns the existing job and False, so a retried
        start is harmless; the same `request_id` with a different request body is refused.
        """
        if not kind:
            raise InvalidArgument("kind", "is empty: name the kind of job to run")
        request = bytes(request)
        request_id = request_id or None
        labels = dict(labels or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise InvalidArgument("labels", "keys and values must be strings")
        with self._transaction() as conn:
            if request_id is not None:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE kind = ? AND request_id = ?",
                    (kind, request_id),
                ).fetchone()
                if row is not None:
                    existing = _record(row)
                    if existing.request != request:
                        raise AlreadyExists(
                            f"request_id {request_id!r} was already used for a different {kind} "
                            f"request (job {existing.job_id}); use a new request_id for a new request"
                        )
                    return existing, False
            now = time.time()
            job_id = uuid.uuid4().hex
            conn.execute(
                "INSERT INTO jobs (job_id, kind, state, request, request_id, created_at, "
                "updated_at, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, kind, JobState.QUEUED.value, request, request_id, now, now,
                 _to_json(labels, "labels")),
            )
            return self._fetch(conn, job_id), True

    def get(self, job_id: str) -> JobRecord:
        """The job's current record (NotFound for unknown or malformed ids)."""
        with self._lock:
            return self._fetch(self._conn, job_id)

    def count_by_state(self) -> dict[JobState, int]:
        """How many jobs are in each state (states with no jobs are left out)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").fetchall()
        return {JobState(row["state"]): row["n"] for row in rows}

    # ----- the worker side ------------------------------------------------------------------

    def claim_next(self, kinds: Collection[str]) -> JobRecord | None:
        """Move the oldest QUEUED job of `kinds` to RUNNING and return it (None if there is none)."""
        kinds = sorted(set(kinds))
        if not kinds:
            return None
        marks = ", ".join("?" for _ in kinds)
        with self._transaction() as conn:
            row = conn.execute(
                f"SELECT job_id FROM jobs WHERE state = ? AND kind IN ({marks}) "
                "ORDER BY seq LIMIT 1",
                (JobState.QUEUED.value, *kinds),
            ).fetchone()
            if row is None:
                return None
            now = time.time()
            cursor = conn.execute(
                "UPDATE jobs SET state = ?, started_at = ?, updated_at = ?, version = version + 1 "
                "WHERE job_id = ? AND state = ?",
                (JobState.RUNNING.value, now, now, row["job_id"], JobState.QUEUED.value),
            )
            if cursor.rowcount != 1:
                return None
            return self._fetch(conn, row["job_id"])

    def update_progress(self, job_id: str, *, done: int | None = None, total: int | None = None,
                        unit: str | None = None, stage: str | None = None,
                        message: str | None = None) -> JobRecord:
        """Record progress; arguments left None keep their stored value."""
        changes: dict[str, Any] = {}
        for column, value in (("progress_done", done), ("progress_total", total)):
            if value is not None:
                if int(value) < 0:
                    raise InvalidArgument(column, f"must not be negative (got {value})")
                changes[column] = int(value)
        for column, value in (("progress_unit", unit), ("stage", stage), ("message", message)):
            if value is not None:
                changes[column] = str(value)
        return self._mutate(job_id, lambda _record: changes)

    def save_checkpoint(self, job_id: str, checkpoint: dict[str, Any]) -> JobRecord:
        """Replace the job's resume state (a JSON-able dict) with `checkpoint`."""
        if not isinstance(checkpoint, dict):
            raise InvalidArgument("checkpoint", "must be a dict")
        encoded = _to_json(checkpoint, "checkpoint")
        return self._mutate(job_id, lambda _record: {"checkpoint": encoded})

    def add_output(self, job_id: str, name: str, ref: ArtifactRef) -> JobRecord:
        """Attach (or replace) the named output artifact."""
        if not name:
            raise InvalidArgument("name", "is empty: name the output")

        def changes(record: JobRecord) -> dict[str, Any]:
            outputs = {key: value.to_dict() for key, value in record.outputs.items()}
            outputs[name] = ref.to_dict()
            return {"outputs": _to_json(outputs, "outputs")}

        return self._mutate(job_id, changes)

    def set_metrics(self, job_id: str, metrics: dict[str, float]) -> JobRecord:
        """Merge `metrics` into the job's metrics (finite numbers only)."""
        cleaned: dict[str, float] = {}
        for key, value in metrics.items():
            number = float(value)
            if not math.isfinite(number):
                raise InvalidArgument(f"metrics.{key}", f"must be a finite number (got {value})")
            cleaned[str(key)] = number

        def changes(record: JobRecord) -> dict[str, Any]:
            return {"metrics": _to_json({**record.metrics, **cleaned}, "metrics")}

        return self._mutate(job_id, changes)

    def finish(self, job_id: str, state: JobState | str, *, error_code: str | None = None,
               error_message: str | None = None) -> JobRecord:
        """End a RUNNING job (or a QUEUED one, as CANCELLED) in terminal `state`; sets ended_at."""
        state = _state(state)
        if state not in TERMINAL_STATES:
            raise InvalidArgument("state", f"{state.value} is not a terminal state")

        def changes(record: JobRecord) -> dict[str, Any]:
            allowed = record.state is JobState.RUNNING or (
                record.state is JobState.QUEUED and state is JobState.CANCELLED)
            if not allowed:
                raise FailedPrecondition(
                    f"job {job_id} is {record.state.value}; only a RUNNING job can end "
                    f"{state.value}"
                )
            return {"state": state.value, "ended_at": time.time(), "error_code": error_code,
                    "error_message": error_message or ""}

        return self._mutate(job_id, changes)

    def requeue(self, job_id: str, *, message: str) -> JobRecord:
        """Put a RUNNING job back in the queue after a clean stop (attempt and checkpoint kept).

        If a cancel was requested meanwhile, the job ends CANCELLED instead.
        """
        def changes(record: JobRecord) -> dict[str, Any]:
            if record.state is not JobState.RUNNING:
                raise FailedPrecondition(f"job {job_id} is {record.state.value}, not RUNNING")
            if record.cancel_requested:
                return {"state": JobState.CANCELLED.value, "ended_at": time.time(),
                        "error_code": "CANCELLED", "error_message": "cancelled at the caller's request"}
            return {"state": JobState.QUEUED.value, "message": message}

        return self._mutate(job_id, changes)

    def request_cancel(self, job_id: str) -> JobRecord:
        """Cancel a job: QUEUED ends CANCELLED at once, RUNNING is flagged for its runner to stop,
        an ended job is returned unchanged."""
        with self._transaction() as conn:
            record = self._fetch(conn, job_id)
            if record.state is JobState.QUEUED:
                self._apply(conn, record, {
                    "state": JobState.CANCELLED.value, "ended_at": time.time(),
                    "cancel_requested": 1, "error_code": "CANCELLED",
                    "error_message": "cancelled at the caller's request before it started",
                })
            elif record.state is JobState.RUNNING and not record.cancel_requested:
                self._apply(conn, record, {"cancel_requested": 1})
            return self._fetch(conn, job_id)

    def recover(self, resumable_kinds: Collection[str], max_attempts: int = 3, *,
                skip: Collection[str] = (), on_transition: Transition | None = None,
                ) -> dict[str, int]:
        """Settle the jobs a previous process left RUNNING; call once when the service starts.

        A resumable kind under `max_attempts` goes back to QUEUED with attempt + 1 and its
        checkpoint; any other ends INTERRUPTED (ABORTED) with its outputs kept; one whose cancel
        was requested ends CANCELLED. Jobs in `skip` (running in this very process) are left alone.
        Returns counts keyed "requeued", "interrupted" and "cancelled".
        """
        counts = {"requeued": 0, "interrupted": 0, "cancelled": 0}
        moved: list[tuple[str, JobState]] = []
        resumable = set(resumable_kinds)
        with self._transaction() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE state = ? ORDER BY seq",
                                (JobState.RUNNING.value,)).fetchall()
            for record in map(_record, rows):
                if record.job_id in skip:
                    continue
                now = time.time()
                if record.cancel_requested:
                    changes = {"state": JobState.CANCELLED.value, "ended_at": now,
                               "error_code": "CANCELLED",
                               "error_message": "cancelled at the caller's request (the service "
                                                "stopped before the job could end itself)"}
                    counts["cancelled"] += 1
                elif record.kind in resumable and record.attempt < max_attempts:
                    changes = {"state": JobState.QUEUED.value, "attempt": record.attempt + 1,
                               "message": f"resumes after an interruption (attempt "
                                          f"{record.attempt + 1} of {max_attempts}) from its "
                                          "last checkpoint"}
                    counts["requeued"] += 1
                else:
                    why = (f"; gave up after {record.attempt} attempts"
                           if record.kind in resumable else "")
                    changes = {"state": JobState.INTERRUPTED.value, "ended_at": now,
                               "error_code": "ABORTED",
                               "error_message": f"the service stopped while this job was running"
                                                f"{why}; {saved_summary(record)}"}
                    counts["interrupted"] += 1
                self._apply(conn, record, changes)
                moved.append((record.kind, JobState(changes["state"])))
        if on_transition is not None:
            for kind, state in moved:
                on_transition(kind, state)
        return counts

    # ----- watching -------------------------------------------------------------------------

    def wait_for_change(self, job_id: str, after_version: int, timeout: float) -> JobRecord:
        """Block until the job's version exceeds `after_version` or `timeout` seconds pass.

        Returns the current record either way. Writes in this process wake it at once; writes by
        other processes are seen within `WATCH_POLL_SECONDS`.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            with self._changed:
                generation = self._generation
            record = self.get(job_id)
            remaining = deadline - time.monotonic()
            if record.version > after_version or remaining <= 0:
                return record
            with self._changed:
                if self._generation == generation:
                    self._changed.wait(min(WATCH_POLL_SECONDS, remaining))

    # ----- listing --------------------------------------------------------------------------

    @staticmethod
    def _filter_key(kinds: list[str], states: list[str]) -> str:
        text = json.dumps([kinds, states])
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def list(self, *, kinds: Iterable[str] | None = None,
             states: Iterable[JobState | str] | None = None, page_size: int = 50,
             page_token: str = "") -> tuple[list[JobRecord], str]:
        """Jobs newest first, optionally filtered; returns (page, next_page_token or "")."""
        if not isinstance(page_size, int) or not 1 <= page_size <= 1000:
            raise InvalidArgument("page_size", f"must be between 1 and 1000 (got {page_size})")
        kind_list = sorted(set(kinds or ()))
        state_list = sorted({_state(s, "states").value for s in (states or ())})
        filter_key = self._filter_key(kind_list, state_list)
        before = self._decode_token(page_token, filter_key)
        where = ["seq < ?"]
        params: list[Any] = [before]
        if kind_list:
            where.append(f"kind IN ({', '.join('?' for _ in kind_list)})")
            params.extend(kind_list)
        if state_list:
            where.append(f"state IN ({', '.join('?' for _ in state_list)})")
            params.extend(state_list)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT seq, {_COLUMNS} FROM jobs WHERE {' AND '.join(where)} "
                "ORDER BY seq DESC LIMIT ?",
                (*params, page_size + 1),
            ).fetchall()
        page = rows[:page_size]
        next_token = ""
        if len(rows) > page_size:
            next_token = self._encode_token(page[-1]["seq"], filter_key)
        return [_record(row) for row in page], next_token

    @staticmethod
    def _encode_token(before_seq: int, filter_key: str) -> str:
        raw = json.dumps({"b": before_seq, "f": filter_key}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_token(token: str, filter_key: str) -> int:
        if not token:
            return 2**63 - 1
        bad = InvalidArgument(
            "page_token", "is not a token returned by a previous List call with the same "
            "filters; start again with an empty page_token")
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            before, key = data["b"], data["f"]
        except (ValueError, TypeError, KeyError, binascii.Error, UnicodeError):
            raise bad from None
        if not isinstance(before, int) or before < 1 or key != filter_key:
            raise bad
        return before
