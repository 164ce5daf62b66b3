"""Writes a benchmark result in the project's JSON format (see bench/README.md)."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("grpcio", "protobuf", "nle", "gymnasium", "numpy", "pyarrow", "torch", "ray")


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def write_result(name: str, out: str, *, metrics: dict, anchors: dict, ratios: dict, notes: str,
                 machine: str | None = None, extra: dict | None = None) -> dict:
    """Write bench/results-style JSON to `out` and print it; `extra` adds benchmark-specific keys."""
    result = {
        "name": name,
        "command": " ".join(["python", os.path.relpath(sys.argv[0], Path(__file__).parents[1])] + sys.argv[1:]),
        "machine": machine or machine_description(),
        "date": datetime.date.today().isoformat(),
        "commit": commit(),
        "versions": versions(),
        "metrics": {k: round(v, 4) for k, v in metrics.items()},
        "anchors": {k: round(v, 4) for k, v in anchors.items()},
        "ratios": {k: round(v, 4) for k, v in ratios.items()},
        "notes": notes,
        **(extra or {}),
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result
