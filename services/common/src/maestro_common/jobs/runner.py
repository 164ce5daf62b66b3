"""Worker threads that run queued jobs through their handlers and record how each one ended.

A handler is a plain function taking a `JobContext`. How it ends decides the job's state:

- returns normally                      -> SUCCEEDED
- raises `errors.Cancelled`             -> CANCELLED
- raises `JobInterrupted` (shutdown)    -> resumable kind: back to QUEUED, same attempt, checkpoint kept;
                                           other kinds, or raised while the runner is not stopping
                                           (so it cannot spin): INTERRUPTED (error_code ABORTED)
- raises another `errors.DomainError`   -> FAILED with that error's status name and message
- raises anything else                  -> FAILED, INTERNAL, "<ExceptionType>: <text>" (traceback logged)

Shutdown versus crash, the one rule that keeps a job from being lost or run twice at once:
a job leaves RUNNING only when its handler has returned, or in `JobStore.recover` when the
service starts again. A clean stop (the handler raised `JobInterrupted`) requeues the job at the
same attempt, because the job itself did not fail. A handler still running when `stop`'s timeout
passes keeps its job RUNNING (its daemon thread ends with the process); so does every job of a
process that crashed. The next `start` runs `recover`, which requeues resumable ones with attempt
+ 1 (up to `max_attempts`, so a job that keeps killing the service stops being retried) and ends
the others INTERRUPTED. `recover` skips jobs whose handler still runs in this process, and a
runner cannot be started twice. One service process owns a job database at a time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from maestro_common.artifacts import ArtifactRef
from maestro_common.errors import (
    Cancelled,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    status_name,
)
from maestro_common.jobs.store import (
    JobRecord,
    JobState,
    JobStore,
    Transition,
    saved_summary,
)

log = logging.getLogger(__name__)

PROGRESS_MIN_INTERVAL = 0.1
"""Seconds between progress writes for one job (the last one is always written)."""
CANCEL_CACHE_SECONDS = 0.2
"""How long `JobContext.cancel_requested` trusts its last read of the store."""
IDLE_POLL_SECONDS = 0.5
"""How often an idle worker looks for jobs queued by another process."""

# Job ids whose handler is running in this process, per database file; `recover` leaves them be.
_ACTIVE: dict[str, set[str]] = {}
_ACTIVE_LOCK = threading.Lock()


def _db_key(store: JobStore) -> str:
    return os.path.realpath(store.path)


class JobInterrupted(Exception):
    """Raised inside a handler (by `JobContext.raise_if_stopping`) when the service shuts down."""


@dataclass
class HandlerSpec:
    """How to run one kind of job."""

    handler: Callable[[JobContext], None]
    resumable: bool = False
    description: str = ""


class JobContext:
    """What a handler sees of its job: the request, resume state, and ways to report back."""

    def __init__(self, store: JobStore, job: JobRecord, stopping: threading.Event):
        self._store = store
        self._stopping = stopping
        self.job = job
        self.request: bytes = job.request
        self.checkpoint: dict[str, Any] = dict(job.checkpoint)
        self.attempt: int = job.attempt
        self._lock = threading.Lock()
        self._pending: dict[str, Any] = {}
        self._last_write = float("-inf")
        self._total: int | None = job.progress_total or None
        self._stage = job.stage
        self._cancel_seen = job.cancel_requested
        self._cancel_read_at = time.monotonic()

    @property
    def job_id(self) -> str:
        return self.job.job_id

    def report_progress(self, done: int, total: int | None = None, *, unit: str | None = None,
                        stage: str | None = None, message: str | None = None) -> None:
        """Record progress, throttled to about ten writes a second.

        A new stage and the final step (done >= total) are always written at once; any other
        skipped update is written before the next checkpoint and when the handler ends.
        """
        with self._lock:
            update = {"done": done, "total": total, "unit": unit, "stage": stage,
                      "message": message}
            self._pending.update({key: value for key, value in update.items() if value is not None})
            if total is not None:
                self._total = total
            new_stage = stage is not None and stage != self._stage
            final = self._total is not None and done >= self._total
            due = time.monotonic() - self._last_write >= PROGRESS_MIN_INTERVAL
            if new_stage or final or due:
                self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        self._store.update_progress(self.job_id, **pending)
        self._stage = pending.get("stage", self._stage)
        self._last_write = time.monotonic()

    def flush_progress(self) -> None:
        """Write any progress held back by throttling."""
        with self._lock:
            self._flush_locked()

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Persist resume state (JSON-able); a resumed attempt starts with it as `.checkpoint`."""
        with self._lock:
            self._flush_locked()
            self._store.save_checkpoint(self.job_id, checkpoint)
            self.checkpoint = dict(checkpoint)

    def add_output(self, name: str, ref: ArtifactRef) -> None:
        """Attach a named output artifact to the job."""
        self._store.add_output(self.job_id, name, ref)

    def set_metrics(self, metrics: dict[str, float]) -> None:
        """Merge numeric metrics into the job's record."""
        self._store.set_metrics(self.job_id, metrics)

    @property
    def cancel_requested(self) -> bool:
        """True once a caller asked to cancel this job (re-read at most every 0.2 s)."""
        if self._cancel_seen:
            return True
        now = time.monotonic()
        if now - self._cancel_read_at >= CANCEL_CACHE_SECONDS:
            self._cancel_seen = self._store.get(self.job_id).cancel_requested
            self._cancel_read_at = now
        return self._cancel_seen

    def raise_if_cancelled(self) -> None:
        """Raise `errors.Cancelled` if the job was cancelled; the job then ends CANCELLED."""
        if self.cancel_requested:
            raise Cancelled(f"job {self.job_id} was cancelled at the caller's request")

    @property
    def stopping(self) -> bool:
        """True once the service is shutting down: save a checkpoint and stop soon."""
        return self._stopping.is_set()

    def raise_if_stopping(self) -> None:
        """Raise `JobInterrupted` if the service is shutting down."""
        if self._stopping.is_set():
            raise JobInterrupted(f"job {self.job_id} was interrupted by a service shutdown")


class JobRunner:
    """Runs queued jobs of the kinds in `handlers` on `max_concurrent` worker threads."""

    def __init__(self, store: JobStore, handlers: dict[str, HandlerSpec], *,
                 max_concurrent: int = 1, name: str = "jobs",
                 on_transition: Transition | None = None, max_attempts: int = 3):
        if max_concurrent < 1:
            raise InvalidArgument("max_concurrent", f"must be at least 1 (got {max_concurrent})")
        self.store = store
        self.handlers = dict(handlers)
        self.max_concurrent = max_concurrent
        self.name = name
        self.max_attempts = max_attempts
        self._on_transition = on_transition
        self._stopping = threading.Event()
        self._wake = threading.Condition()
        self._work_hint = False
        self._threads: list[threading.Thread] = []
        self._started = False
        self._running: dict[str, JobContext] = {}
        self._running_lock = threading.Lock()

    # ----- lifecycle ------------------------------------------------------------------------

    def start(self) -> dict[str, int]:
        """Settle jobs a previous process left RUNNING, then start the workers; returns recover's counts."""
        if self._started:
            raise FailedPrecondition(f"job runner {self.name} was already started; make a new one")
        self._started = True
        with _ACTIVE_LOCK:
            here = set(_ACTIVE.get(_db_key(self.store), ()))
        resumable = {kind for kind, spec in self.handlers.items() if spec.resumable}
        counts = self.store.recover(resumable, self.max_attempts, skip=here,
                                    on_transition=self._emit)
        if any(counts.values()):
            log.info("%s: recovered interrupted jobs: %s", self.name, counts)
        for index in range(self.max_concurrent):
            thread = threading.Thread(target=self._work, name=f"{self.name}-worker-{index}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        return counts

    def stop(self, timeout: float) -> bool:
        """Ask handlers to stop and wait up to `timeout` seconds; True if every worker returned.

        Jobs whose handler is still running stay RUNNING; the next start's `recover` settles them.
        """
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + max(0.0, timeout)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        still = [thread.name for thread in self._threads if thread.is_alive()]
        if still:
            with self._running_lock:
                jobs = sorted(self._running)
            log.warning("%s: handlers still running after %.1fs (jobs %s); they stay RUNNING "
                        "until the next start recovers them", self.name, timeout, jobs)
        return not still

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # ----- requests -------------------------------------------------------------------------

    def submit(self, kind: str, request: bytes, *, request_id: str | None = None,
               labels: dict[str, str] | None = None) -> JobRecord:
        """Queue a job (or return the one already started with this request_id) and wake a worker."""
        if kind not in self.handlers:
            known = ", ".join(sorted(self.handlers)) or "none"
            raise InvalidArgument("kind", f"{kind!r} is not a job kind this service runs "
                                          f"(known: {known})")
        record, created = self.store.create(kind, request, request_id=request_id, labels=labels)
        if created:
            self._emit(kind, JobState.QUEUED)
            with self._wake:
                self._work_hint = True
                self._wake.notify_all()
        return record

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a job (see `JobStore.request_cancel`), reporting the transition if there is one."""
        before = self.store.get(job_id)
        after = self.store.request_cancel(job_id)
        if after.state is not before.state:
            self._emit(after.kind, after.state)
        return after

    # ----- workers --------------------------------------------------------------------------

    def _emit(self, kind: str, state: JobState) -> None:
        if self._on_transition is None:
            return
        try:
            self._on_transition(kind, state)
        except Exception:
            log.exception("%s: on_transition callback failed for %s -> %s", self.name, kind, state)

    def _work(self) -> None:
        kinds = set(self.handlers)
        while not self._stopping.is_set():
            try:
                job = self.store.claim_next(kinds)
            except Exception:
                log.exception("%s: could not claim a job; retrying", self.name)
                self._stopping.wait(IDLE_POLL_SECONDS)
                continue
            if job is None:
                with self._wake:
                    if not self._work_hint and not self._stopping.is_set():
                        self._wake.wait(IDLE_POLL_SECONDS)
                    self._work_hint = False
                continue
            self._run(job)

    def _run(self, job: JobRecord) -> None:
        key = _db_key(self.store)
        with _ACTIVE_LOCK:
            _ACTIVE.setdefault(key, set()).add(job.job_id)
        context = JobContext(self.store, job, self._stopping)
        with self._running_lock:
            self._running[job.job_id] = context
        try:
            self._emit(job.kind, JobState.RUNNING)
            self._execute(job, context)
        finally:
            with self._running_lock:
                self._running.pop(job.job_id, None)
            with _ACTIVE_LOCK:
                _ACTIVE.get(key, set()).discard(job.job_id)

    def _execute(self, job: JobRecord, context: JobContext) -> None:
        spec = self.handlers[job.kind]
        state, code, message = JobState.SUCCEEDED, None, ""
        interrupted = False
        try:
            spec.handler(context)
        except Cancelled as error:
            state, code, message = JobState.CANCELLED, status_name(error), error.message
        except JobInterrupted:
            interrupted = True
        except DomainError as error:
            state, code, message = JobState.FAILED, status_name(error), error.message
        except Exception as error:
            log.exception("%s: job %s (%s) failed", self.name, job.job_id, job.kind)
            state, code = JobState.FAILED, "INTERNAL"
            message = f"{type(error).__name__}: {error}"
        try:
            context.flush_progress()
        except Exception:
            log.warning("%s: could not write final progress of job %s", self.name, job.job_id,
                        exc_info=True)
        try:
            if interrupted and spec.resumable and self._stopping.is_set():
                record = self.store.requeue(
                    job.job_id, message="paused by a service shutdown; resumes from its last "
                                        "checkpoint when the service starts again")
            elif interrupted:
                current = self.store.get(job.job_id)
                if current.cancel_requested:
                    state, code = JobState.CANCELLED, "CANCELLED"
                    message = "cancelled at the caller's request"
                else:
                    state, code = JobState.INTERRUPTED, "ABORTED"
                    message = ("the job was interrupted while the service "
                               + ("shut down" if self._stopping.is_set() else "kept running")
                               + "; " + saved_summary(current))
                record = self.store.finish(job.job_id, state, error_code=code,
                                           error_message=message)
            else:
                record = self.store.finish(job.job_id, state, error_code=code,
                                           error_message=message)
        except Exception:
            log.exception("%s: could not record the end of job %s", self.name, job.job_id)
            return
        self._emit(record.kind, record.state)
