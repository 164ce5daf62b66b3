"""Persistent jobs: the SQLite job store and the worker threads that run job handlers."""

from maestro_common.jobs.runner import HandlerSpec, JobContext, JobInterrupted, JobRunner
from maestro_common.jobs.store import TERMINAL_STATES, JobRecord, JobState, JobStore

__all__ = [
    "TERMINAL_STATES",
    "HandlerSpec",
    "JobContext",
    "JobInterrupted",
    "JobRecord",
    "JobRunner",
    "JobState",
    "JobStore",
]
