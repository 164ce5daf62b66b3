"""Progress of a running job on the terminal: a tqdm bar on a TTY, plain log lines otherwise.

A bar redraws itself many times a second with carriage returns, which turns a captured log (CI, `nohup`,
`kubectl logs`) into kilobytes of noise. When the stream is not a terminal, `JobProgress` writes one line
when the job's description or message changes (at most one every `min_interval_s`), one at least every
`heartbeat_s` while nothing changes, and always the last one.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class JobProgress:
    """`update(description, done, total, message)` as the job reports; `close()` at the end."""

    def __init__(self, *, unit: str = "", stream: TextIO | None = None, tty: bool | None = None,
                 min_interval_s: float = 5.0, heartbeat_s: float = 60.0):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.unit = unit
        self.min_interval_s, self.heartbeat_s = min_interval_s, heartbeat_s
        self._bar = None
        self._unwritten = ""
        """The newest line not written yet (empty when the last update was written)."""
        self._written_key: tuple[str, str] | None = None
        """(description, message) of the last line written."""
        self._written_at = float("-inf")
        self._started = time.monotonic()

    def update(self, description: str, done: int, total: int, message: str) -> None:
        if self.tty:
            self._update_bar(description, done, total, message)
            return
        line, key, now = self._line(description, done, total, message), (description, message), time.monotonic()
        since = now - self._written_at
        if (key != self._written_key and since >= self.min_interval_s) or since >= self.heartbeat_s:
            print(line, file=self.stream, flush=True)
            self._unwritten, self._written_key, self._written_at = "", key, now
        else:
            self._unwritten = line

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._unwritten:
            print(self._unwritten, file=self.stream, flush=True)

    def __enter__(self) -> JobProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _update_bar(self, description: str, done: int, total: int, message: str) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(total=total or None, desc=description, unit=f" {self.unit}" if self.unit else "",
                             dynamic_ncols=True, file=self.stream)
        if total and self._bar.total != total:
            self._bar.total = total
        self._bar.n = done
        self._bar.set_description(description)
        self._bar.set_postfix_str(message[:60])
        self._bar.refresh()

    def _line(self, description: str, done: int, total: int, message: str) -> str:
        count = f"{done:,}/{total:,}" if total else f"{done:,}"
        unit = f" {self.unit}" if self.unit else ""
        elapsed = time.monotonic() - self._started
        return f"{description}: {count}{unit} [{elapsed:.0f}s]  {message}".rstrip()
