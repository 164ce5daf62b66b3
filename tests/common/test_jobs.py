"""Tests for the persistent job store and the job runner."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from maestro_common.artifacts import ArtifactRef
from maestro_common.errors import (
    AlreadyExists,
    Cancelled,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from maestro_common.jobs import (
    TERMINAL_STATES,
    HandlerSpec,
    JobContext,
    JobInterrupted,
    JobRecord,
    JobRunner,
    JobState,
    JobStore,
)

REF = ArtifactRef(uri="memory:///store/sha256/ab/" + "ab" * 32 + "/out.bin", sha256="ab" * 32,
                  size_bytes=3)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def wait_for_state(store: JobStore, job_id: str, *states: JobState,
                   timeout: float = 5.0) -> JobRecord:
    wait_until(lambda: store.get(job_id).state in states, timeout)
    return store.get(job_id)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "jobs.db")


@pytest.fixture
def store(db: str) -> Iterator[JobStore]:
    with JobStore(db) as opened:
        yield opened


@pytest.fixture
def runners() -> Iterator[list[JobRunner]]:
    started: list[JobRunner] = []
    yield started
    for runner in started:
        runner.stop(timeout=2.0)


def start_runner(runners: list[JobRunner], store: JobStore, handlers: dict[str, HandlerSpec],
                 **kwargs) -> JobRunner:
    runner = JobRunner(store, handlers, **kwargs)
    runners.append(runner)
    runner.start()
    return runner


# ----- store: create, get, list -------------------------------------------------------------


def test_create_and_get(store: JobStore):
    record, created = store.create("train", b"\x01\x02", labels={"team": "a"})
    assert created
    assert len(record.job_id) == 32
    assert record.state is JobState.QUEUED
    assert record.request == b"\x01\x02"
    assert record.labels == {"team": "a"}
    assert record.attempt == 1 and record.version == 1
    assert record.started_at is None and record.ended_at is None
    assert not record.cancel_requested
    assert store.get(record.job_id) == record


@pytest.mark.parametrize("job_id", ["0" * 32, "not-a-job", "", "../../etc", "A" * 32])
def test_get_unknown_or_malformed_is_not_found(store: JobStore, job_id: str):
    with pytest.raises(NotFound, match="not found"):
        store.get(job_id)


def test_request_id_is_idempotent(store: JobStore):
    first, created = store.create("train", b"body", request_id="r-1")
    again, created_again = store.create("train", b"body", request_id="r-1")
    assert created and not created_again
    assert again == first
    with pytest.raises(AlreadyExists, match="r-1"):
        store.create("train", b"other body", request_id="r-1")
    other_kind, created_other = store.create("eval", b"body", request_id="r-1")
    assert created_other and other_kind.job_id != first.job_id


def test_list_pagination_newest_first(store: JobStore):
    ids = [store.create("train" if i % 2 else "eval", bytes([i]))[0].job_id for i in range(7)]
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page, token = store.list(page_size=3, page_token=token)
        pages += 1
        seen.extend(record.job_id for record in page)
        if pages == 1:
            store.create("train", b"late arrival")  # newer jobs never shift later pages
        if not token:
            break
    assert pages == 3
    assert seen == list(reversed(ids))


def test_list_filters(store: JobStore):
    train = [store.create("train", b"t")[0] for _ in range(3)]
    store.create("eval", b"e")
    store.request_cancel(train[0].job_id)
    page, token = store.list(kinds=["train"])
    assert [r.job_id for r in page] == [r.job_id for r in reversed(train)] and token == ""
    page, _ = store.list(kinds=["train"], states=[JobState.QUEUED])
    assert {r.job_id for r in page} == {train[1].job_id, train[2].job_id}
    page, _ = store.list(states=["CANCELLED"])
    assert [r.job_id for r in page] == [train[0].job_id]


def test_list_rejects_bad_arguments(store: JobStore):
    for _ in range(3):
        store.create("train", b"x")
    for size in (0, 1001, -1):
        with pytest.raises(InvalidArgument) as info:
            store.list(page_size=size)
        assert info.value.field == "page_size"
    for token in ("garbage", "e30", "!!!!"):
        with pytest.raises(InvalidArgument) as info:
            store.list(page_token=token)
        assert info.value.field == "page_token"
    _, token = store.list(page_size=1, kinds=["train"])
    with pytest.raises(InvalidArgument) as info:  # a token is tied to the filters it came from
        store.list(page_size=1, kinds=["eval"], page_token=token)
    assert info.value.field == "page_token"
    with pytest.raises(InvalidArgument):
        store.list(states=["DONE"])


# ----- store: claiming and writing ----------------------------------------------------------


def test_claim_takes_oldest_and_sets_started(store: JobStore):
    first = store.create("train", b"1")[0]
    store.create("train", b"2")
    store.create("eval", b"3")
    assert store.claim_next([]) is None
    claimed = store.claim_next({"train"})
    assert claimed is not None and claimed.job_id == first.job_id
    assert claimed.state is JobState.RUNNING and claimed.started_at is not None
    assert claimed.version == 2


def test_claim_never_twice_across_connections(db: str):
    JobStore(db).close()
    racers = 8
    stores = [JobStore(db) for _ in range(racers)]
    job_ids = [stores[0].create("train", bytes([i]))[0].job_id for i in range(12)]
    barrier = threading.Barrier(racers)
    claims: list[list[str]] = [[] for _ in range(racers)]

    def race(index: int) -> None:
        barrier.wait()
        while (job := stores[index].claim_next(["train"])) is not None:
            claims[index].append(job.job_id)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [job_id for claimed in claims for job_id in claimed]
    assert sorted(everything) == sorted(job_ids)  # every job claimed exactly once
    for opened in stores:
        opened.close()


def test_one_job_many_racers_one_winner(db: str):
    JobStore(db).close()
    stores = [JobStore(db) for _ in range(10)]
    stores[0].create("train", b"only one")
    barrier = threading.Barrier(len(stores))
    results: list[JobRecord | None] = [None] * len(stores)

    def race(index: int) -> None:
        barrier.wait()
        results[index] = stores[index].claim_next(["train"])

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result is not None for result in results) == 1
    for opened in stores:
        opened.close()


def test_writes_persist_across_reopen(db: str):
    with JobStore(db) as store:
        job = store.create("train", b"req", request_id="abc")[0]
        store.claim_next(["train"])
        store.update_progress(job.job_id, done=3, total=10, unit="epochs", stage="fit",
                              message="epoch 3")
        store.save_checkpoint(job.job_id, {"epoch": 3, "nested": {"ok": [1, 2]}})
        store.add_output(job.job_id, "model", REF)
        store.set_metrics(job.job_id, {"loss": 0.5})
        store.set_metrics(job.job_id, {"acc": 0.9})
        before = store.get(job.job_id)
    with JobStore(db) as reopened:
        after = reopened.get(job.job_id)
    assert after == before
    assert (after.progress_done, after.progress_total, after.progress_unit) == (3, 10, "epochs")
    assert (after.stage, after.message) == ("fit", "epoch 3")
    assert after.checkpoint == {"epoch": 3, "nested": {"ok": [1, 2]}}
    assert after.outputs == {"model": REF}
    assert after.metrics == {"loss": 0.5, "acc": 0.9}
    assert after.version == 7  # create, claim and five writes


def test_bad_writes_are_refused(store: JobStore):
    job = store.create("train", b"x")[0]
    with pytest.raises(InvalidArgument):
        store.save_checkpoint(job.job_id, {"not json": object()})
    with pytest.raises(InvalidArgument):
        store.set_metrics(job.job_id, {"loss": float("nan")})
    with pytest.raises(InvalidArgument):
        store.update_progress(job.job_id, done=-1)
    with pytest.raises(NotFound):
        store.update_progress("f" * 32, done=1)
    assert store.get(job.job_id).version == 1


def test_terminal_jobs_cannot_change(store: JobStore):
    job = store.create("train", b"x")[0]
    store.claim_next(["train"])
    done = store.finish(job.job_id, JobState.SUCCEEDED)
    assert done.state is JobState.SUCCEEDED and done.ended_at is not None
    for write in (
        lambda: store.update_progress(job.job_id, done=1),
        lambda: store.save_checkpoint(job.job_id, {}),
        lambda: store.add_output(job.job_id, "x", REF),
        lambda: store.set_metrics(job.job_id, {"a": 1.0}),
        lambda: store.finish(job.job_id, JobState.FAILED),
    ):
        with pytest.raises(FailedPrecondition):
            write()
    assert store.get(job.job_id) == done


def test_finish_rules(store: JobStore):
    queued = store.create("train", b"q")[0]
    with pytest.raises(FailedPrecondition):
        store.finish(queued.job_id, JobState.SUCCEEDED)
    with pytest.raises(InvalidArgument):
        store.finish(queued.job_id, JobState.RUNNING)
    cancelled = store.finish(queued.job_id, JobState.CANCELLED, error_code="CANCELLED")
    assert cancelled.state is JobState.CANCELLED and cancelled.ended_at is not None
    running = store.create("train", b"r")[0]
    store.claim_next(["train"])
    failed = store.finish(running.job_id, "FAILED", error_code="INVALID_ARGUMENT",
                          error_message="bad")
    assert (failed.state, failed.error_code, failed.error_message) == (
        JobState.FAILED, "INVALID_ARGUMENT", "bad")


def test_cancel_queued_and_running_in_store(store: JobStore):
    queued = store.create("train", b"q")[0]
    cancelled = store.request_cancel(queued.job_id)
    assert cancelled.state is JobState.CANCELLED and cancelled.ended_at is not None
    assert store.request_cancel(queued.job_id) == cancelled  # terminal: unchanged
    running = store.create("train", b"r")[0]
    store.claim_next(["train"])
    flagged = store.request_cancel(running.job_id)
    assert flagged.state is JobState.RUNNING and flagged.cancel_requested
    assert store.request_cancel(running.job_id).version == flagged.version


# ----- store: recover -----------------------------------------------------------------------


def test_recover(store: JobStore):
    exhausted = store.create("train", b"t0")[0]
    for _ in range(2):  # crashed twice already: now on its third and last attempt
        assert store.claim_next(["train"]).job_id == exhausted.job_id
        assert store.recover({"train"}, max_attempts=3)["requeued"] == 1
    assert store.claim_next(["train"]).attempt == 3
    resumable = store.create("train", b"t1")[0]
    plain = store.create("export", b"e")[0]
    cancelling = store.create("train", b"t3")[0]
    for _ in range(3):
        store.claim_next(["train", "export"])
    untouched = store.create("train", b"t4")[0]
    store.save_checkpoint(resumable.job_id, {"step": 41})
    store.add_output(plain.job_id, "partial", REF)
    store.update_progress(plain.job_id, done=2, total=5, unit="shards")
    store.request_cancel(cancelling.job_id)
    transitions: list[tuple[str, JobState]] = []

    counts = store.recover({"train"}, max_attempts=3,
                           on_transition=lambda kind, state: transitions.append((kind, state)))

    assert counts == {"requeued": 1, "interrupted": 2, "cancelled": 1}
    requeued = store.get(resumable.job_id)
    assert requeued.state is JobState.QUEUED and requeued.attempt == 2
    assert requeued.checkpoint == {"step": 41}
    assert "resumes after an interruption" in requeued.message
    interrupted = store.get(plain.job_id)
    assert interrupted.state is JobState.INTERRUPTED and interrupted.error_code == "ABORTED"
    assert interrupted.outputs == {"partial": REF}
    assert "service stopped" in interrupted.error_message
    assert "partial" in interrupted.error_message and "2/5 shards" in interrupted.error_message
    gave_up = store.get(exhausted.job_id)
    assert gave_up.state is JobState.INTERRUPTED and "3 attempts" in gave_up.error_message
    assert store.get(cancelling.job_id).state is JobState.CANCELLED
    assert store.get(untouched.job_id).state is JobState.QUEUED
    assert sorted(transitions) == sorted([
        ("train", JobState.QUEUED), ("export", JobState.INTERRUPTED),
        ("train", JobState.INTERRUPTED), ("train", JobState.CANCELLED)])
    assert store.recover({"train"}) == {"requeued": 0, "interrupted": 0, "cancelled": 0}


# ----- store: wait_for_change ---------------------------------------------------------------


def test_wait_for_change_wakes_on_update(store: JobStore):
    job = store.create("train", b"x")[0]
    timer = threading.Timer(0.1, lambda: store.update_progress(job.job_id, done=1))
    timer.start()
    started = time.monotonic()
    record = store.wait_for_change(job.job_id, job.version, timeout=5.0)
    elapsed = time.monotonic() - started
    timer.join()
    assert record.version == job.version + 1 and record.progress_done == 1
    assert elapsed < 0.4


def test_wait_for_change_times_out(store: JobStore):
    job = store.create("train", b"x")[0]
    started = time.monotonic()
    record = store.wait_for_change(job.job_id, job.version, timeout=0.3)
    assert 0.25 <= time.monotonic() - started < 1.0
    assert record == job
    assert store.wait_for_change(job.job_id, 0, timeout=5.0) == job  # already newer: no wait


def test_wait_for_change_sees_other_connections(db: str):
    with JobStore(db) as watcher, JobStore(db) as writer:
        job = watcher.create("train", b"x")[0]
        timer = threading.Timer(0.1, lambda: writer.update_progress(job.job_id, done=7))
        timer.start()
        record = watcher.wait_for_change(job.job_id, job.version, timeout=5.0)
        timer.join()
    assert record.progress_done == 7


def test_wait_for_change_unknown_job(store: JobStore):
    with pytest.raises(NotFound):
        store.wait_for_change("e" * 32, 0, timeout=0.1)


# ----- runner -------------------------------------------------------------------------------


def _raise(error: BaseException) -> Callable[[JobContext], None]:
    def handler(ctx: JobContext) -> None:
        raise error
    return handler


@pytest.mark.parametrize("handler, resumable, state, code, text", [
    (lambda ctx: None, False, JobState.SUCCEEDED, None, ""),
    (_raise(Cancelled("stopped by request")), False, JobState.CANCELLED, "CANCELLED",
     "stopped by request"),
    (_raise(InvalidArgument("dataset.uri", "is empty")), False, JobState.FAILED,
     "INVALID_ARGUMENT", "dataset.uri: is empty"),
    (_raise(FailedPrecondition("no policy yet")), False, JobState.FAILED, "FAILED_PRECONDITION",
     "no policy yet"),
    (_raise(ValueError("boom")), False, JobState.FAILED, "INTERNAL", "ValueError: boom"),
    (_raise(JobInterrupted("not really")), False, JobState.INTERRUPTED, "ABORTED",
     "interrupted while the service kept running"),
    (_raise(JobInterrupted("not really")), True, JobState.INTERRUPTED, "ABORTED",
     "interrupted while the service kept running"),
])
def test_handler_outcomes(store: JobStore, runners: list[JobRunner], handler, resumable, state,
                          code, text):
    transitions: list[tuple[str, JobState]] = []
    runner = start_runner(runners, store, {"work": HandlerSpec(handler, resumable, "test")},
                          on_transition=lambda kind, new: transitions.append((kind, new)))
    job = runner.submit("work", b"req")
    record = wait_for_state(store, job.job_id, state)
    assert record.error_code == code
    assert text in record.error_message
    assert record.ended_at is not None
    wait_until(lambda: len(transitions) >= 3)
    assert transitions == [("work", JobState.QUEUED), ("work", JobState.RUNNING), ("work", state)]


def test_internal_error_is_logged(store: JobStore, runners: list[JobRunner], caplog):
    runner = start_runner(runners, store, {"work": HandlerSpec(_raise(KeyError("k")), False, "")})
    job = runner.submit("work", b"")
    record = wait_for_state(store, job.job_id, JobState.FAILED)
    assert record.error_code == "INTERNAL" and "KeyError" in record.error_message
    wait_until(lambda: any("Traceback" in (r.exc_text or "") or r.exc_info for r in caplog.records))


def test_submit_unknown_kind(store: JobStore, runners: list[JobRunner]):
    runner = start_runner(runners, store, {"work": HandlerSpec(lambda ctx: None, False, "")})
    with pytest.raises(InvalidArgument) as info:
        runner.submit("nope", b"")
    assert info.value.field == "kind"


def test_submit_is_idempotent(store: JobStore, runners: list[JobRunner]):
    runner = JobRunner(store, {"work": HandlerSpec(lambda ctx: None, False, "")})
    first = runner.submit("work", b"a", request_id="same")
    assert runner.submit("work", b"a", request_id="same").job_id == first.job_id


def test_runner_context_writes(store: JobStore, runners: list[JobRunner]):
    seen: dict[str, object] = {}

    def handler(ctx: JobContext) -> None:
        seen.update(request=ctx.request, attempt=ctx.attempt, checkpoint=ctx.checkpoint)
        ctx.report_progress(1, 2, unit="items", stage="loading", message="first")
        ctx.save_checkpoint({"i": 1})
        ctx.add_output("result", REF)
        ctx.set_metrics({"score": 2.5})
        ctx.report_progress(2, stage="done")
        seen["after"] = ctx.checkpoint

    runner = start_runner(runners, store, {"work": HandlerSpec(handler, True, "")})
    job = runner.submit("work", b"payload", labels={"who": "test"})
    record = wait_for_state(store, job.job_id, JobState.SUCCEEDED)
    assert seen == {"request": b"payload", "attempt": 1, "checkpoint": {}, "after": {"i": 1}}
    assert (record.progress_done, record.progress_total, record.progress_unit) == (2, 2, "items")
    assert (record.stage, record.message) == ("done", "first")
    assert record.checkpoint == {"i": 1}
    assert record.outputs == {"result": REF}
    assert record.metrics == {"score": 2.5}
    assert record.labels == {"who": "test"}


def test_progress_is_throttled_but_final_is_written(store: JobStore, runners: list[JobRunner]):
    def handler(ctx: JobContext) -> None:
        for i in range(1, 2001):
            ctx.report_progress(i, 2000)
        for i in range(1, 501):
            ctx.report_progress(i, stage="second")  # the last one is held back, then flushed

    runner = start_runner(runners, store, {"work": HandlerSpec(handler, False, "")})
    job = runner.submit("work", b"")
    record = wait_for_state(store, job.job_id, JobState.SUCCEEDED)
    assert record.progress_done == 500 and record.stage == "second"
    assert record.version < 40  # thousands of reports, a handful of writes


def test_cancel_running_job(store: JobStore, runners: list[JobRunner]):
    started = threading.Event()

    def handler(ctx: JobContext) -> None:
        started.set()
        while True:
            ctx.raise_if_cancelled()
            time.sleep(0.01)

    runner = start_runner(runners, store, {"work": HandlerSpec(handler, False, "")})
    job = runner.submit("work", b"")
    assert started.wait(5.0)
    flagged = runner.cancel(job.job_id)
    assert flagged.state is JobState.RUNNING and flagged.cancel_requested
    record = wait_for_state(store, job.job_id, JobState.CANCELLED)
    assert record.error_code == "CANCELLED"


def test_cancel_queued_job_through_runner(store: JobStore):
    transitions: list[tuple[str, JobState]] = []
    runner = JobRunner(store, {"work": HandlerSpec(lambda ctx: None, False, "")},
                       on_transition=lambda kind, state: transitions.append((kind, state)))
    job = runner.submit("work", b"")  # not started: stays queued
    assert runner.cancel(job.job_id).state is JobState.CANCELLED
    assert transitions == [("work", JobState.QUEUED), ("work", JobState.CANCELLED)]


def test_concurrent_workers(store: JobStore, runners: list[JobRunner]):
    active = 0
    peak = 0
    lock = threading.Lock()

    def handler(ctx: JobContext) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.1)
        with lock:
            active -= 1

    runner = start_runner(runners, store, {"work": HandlerSpec(handler, False, "")},
                          max_concurrent=3)
    jobs = [runner.submit("work", bytes([i])) for i in range(6)]
    for job in jobs:
        wait_for_state(store, job.job_id, JobState.SUCCEEDED)
    assert peak == 3


def _wait_for_shutdown(ctx: JobContext) -> None:
    ctx.save_checkpoint({"saved": True})
    while True:
        ctx.raise_if_stopping()
        time.sleep(0.005)


@pytest.mark.parametrize("resumable, state", [(True, JobState.QUEUED),
                                              (False, JobState.INTERRUPTED)])
def test_clean_stop_outcomes(store: JobStore, resumable: bool, state: JobState):
    transitions: list[tuple[str, JobState]] = []
    runner = JobRunner(store, {"work": HandlerSpec(_wait_for_shutdown, resumable, "")},
                       on_transition=lambda kind, new: transitions.append((kind, new)))
    runner.start()
    job = runner.submit("work", b"")
    wait_until(lambda: store.get(job.job_id).checkpoint == {"saved": True})
    assert runner.stop(timeout=5.0)
    record = store.get(job.job_id)
    assert record.state is state
    assert record.attempt == 1  # a clean stop does not use up an attempt
    assert record.checkpoint == {"saved": True}
    if resumable:
        assert record.error_code is None and "resumes" in record.message
    else:
        assert record.error_code == "ABORTED" and record.ended_at is not None
        assert "shut down" in record.error_message and "checkpoint" in record.error_message
    assert transitions == [("work", JobState.QUEUED), ("work", JobState.RUNNING), ("work", state)]


def test_clean_stop_requeues_resumable_and_resumes(db: str, runners: list[JobRunner]):
    def handler(ctx: JobContext) -> None:
        step = ctx.checkpoint.get("step", 0)
        while step < 300:
            ctx.raise_if_stopping()
            step += 1
            ctx.save_checkpoint({"step": step})
            time.sleep(0.002)

    with JobStore(db) as store:
        first = start_runner(runners, store, {"work": HandlerSpec(handler, True, "")})
        job = first.submit("work", b"")
        wait_until(lambda: store.get(job.job_id).checkpoint.get("step", 0) >= 3)
        assert first.stop(timeout=5.0)
        paused = store.get(job.job_id)
        assert paused.state is JobState.QUEUED and paused.attempt == 1
        assert 3 <= paused.checkpoint["step"] < 300
    with JobStore(db) as store:
        second = start_runner(runners, store, {"work": HandlerSpec(handler, True, "")})
        assert store.get(job.job_id).attempt == 1  # recover left the queued job alone
        record = wait_for_state(store, job.job_id, JobState.SUCCEEDED, timeout=15.0)
        assert record.checkpoint == {"step": 300}
        second.stop(timeout=2.0)


def test_stubborn_handler_stays_running_until_recovered(store: JobStore):
    release = threading.Event()
    runner = JobRunner(store, {"work": HandlerSpec(lambda ctx: release.wait(10), True, "")})
    runner.start()
    job = runner.submit("work", b"")
    wait_for_state(store, job.job_id, JobState.RUNNING)
    assert runner.stop(timeout=0.1) is False
    assert store.get(job.job_id).state is JobState.RUNNING
    with pytest.raises(FailedPrecondition):
        runner.start()
    # A second runner in the same process must not requeue a job whose handler still runs here.
    other = JobRunner(store, {"work": HandlerSpec(lambda ctx: None, True, "")})
    assert other.start()["requeued"] == 0
    other.stop(timeout=1.0)
    release.set()
    record = wait_for_state(store, job.job_id, *TERMINAL_STATES)
    assert record.state is JobState.SUCCEEDED and record.attempt == 1


# ----- a real crash -------------------------------------------------------------------------

CRASH_SCRIPT = textwrap.dedent('''
    """Counts to STEPS, one checkpointed step at a time; run as a script it serves the job."""
    import sys
    import time

    from maestro_common.jobs import HandlerSpec, JobRunner, JobStore

    STEPS = 40
    DELAY = 0.0

    def count(ctx):
        state = {"next": 0, "by_attempt": {}}
        state.update(ctx.checkpoint)
        while state["next"] < STEPS:
            step = state["next"]
            done_here = state["by_attempt"].setdefault(str(ctx.attempt), [])
            done_here.append(step)
            state["next"] = step + 1
            ctx.save_checkpoint(state)  # the step and its record are saved together
            ctx.report_progress(state["next"], STEPS, unit="steps")
            time.sleep(DELAY)

    if __name__ == "__main__":
        DELAY = float(sys.argv[2])
        runner = JobRunner(JobStore(sys.argv[1]), {"count": HandlerSpec(count, True, "counter")})
        runner.start()
        job = runner.submit("count", b"count please", request_id="crash")
        print(job.job_id, flush=True)
        while True:
            time.sleep(1)
''')


def test_crash_mid_job_resumes_from_checkpoint(tmp_path: Path, db: str,
                                               runners: list[JobRunner]):
    script = tmp_path / "counter_job.py"
    script.write_text(CRASH_SCRIPT)
    process = subprocess.Popen([sys.executable, str(script), db, "0.05"],
                               stdout=subprocess.PIPE, text=True)
    try:
        job_id = process.stdout.readline().strip()
        with JobStore(db) as store:
            wait_until(lambda: store.get(job_id).checkpoint.get("next", 0) >= 5, timeout=15.0)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            left = store.get(job_id)
            assert left.state is JobState.RUNNING and left.attempt == 1
            assert left.checkpoint["next"] < 40

            spec = importlib.util.spec_from_file_location("counter_job", script)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            runner = start_runner(runners, store, {"count": HandlerSpec(module.count, True, "")})
            record = wait_for_state(store, job_id, *TERMINAL_STATES, timeout=10.0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()

    assert runner.stop(timeout=2.0)
    assert record.state is JobState.SUCCEEDED
    assert record.attempt == 2
    by_attempt = record.checkpoint["by_attempt"]
    assert set(by_attempt) == {"1", "2"}
    first, second = by_attempt["1"], by_attempt["2"]
    assert first == list(range(len(first))) and len(first) >= 5
    assert second[0] == len(first)  # resumed exactly where the checkpoint left off
    assert first + second == list(range(40))  # no step lost, none repeated
    assert (record.progress_done, record.progress_total) == (40, 40)
