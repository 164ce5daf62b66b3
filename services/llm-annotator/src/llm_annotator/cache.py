"""A persistent cache of LLM answers keyed by model + prompt hash: an identical prompt is paid once.

SQLite in the service's data directory; shared by every job of the service and kept across
restarts, so a resumed or repeated annotation costs nothing for what was already asked.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path

from maestro_common.llm.completion import Completion


def cache_key(model: str, request: dict) -> str:
    """sha256 of the model name and the canonical JSON of everything that shapes the answer."""
    canonical = json.dumps({"model": model, **request}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache:
    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
                         "completion TEXT NOT NULL, created REAL NOT NULL)")
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute("SELECT completion FROM answers WHERE key = ?", (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        return Completion(**json.loads(row[0]))

    def put(self, key: str, completion: Completion) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO answers (key, model, completion, created) VALUES (?, ?, ?, ?)",
                             (key, completion.model, json.dumps(asdict(completion)), time.time()))

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
