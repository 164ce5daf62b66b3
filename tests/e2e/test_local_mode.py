"""Local mode through the real CLI: `maestro up`, `maestro status`, `maestro run` (collect + label with
the embedded model, the tiny one in tests), `maestro down`."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from maestro_common.catalog import SERVICES


def _maestro(*args, env, timeout=300) -> subprocess.CompletedProcess:
    exe = shutil.which("maestro") or str(Path(sys.executable).parent / "maestro")
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def local_env(tmp_path):
    base = random.randrange(20000, 30000, 10)  # below the ephemeral port range, so nothing else holds them
    env = dict(os.environ, MAESTRO_HOME=str(tmp_path / "home"))
    for index, info in enumerate(SERVICES):
        env[info.address_env] = f"127.0.0.1:{base + index}"
    yield env, base
    _maestro("down", env=env)


def test_up_status_down(local_env):
    env, base = local_env
    up = _maestro("up", "--base-port", str(base), env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    status = _maestro("status", env=env)
    assert status.returncode == 0, status.stdout
    lines = [line.split() for line in status.stdout.splitlines()[1:]]
    assert {line[0] for line in lines} == {info.name for info in SERVICES}
    assert all(line[2] == "SERVING" and line[3].isdigit() for line in lines)

    again = _maestro("up", "--base-port", str(base), env=env)  # idempotent: nothing started twice
    assert again.returncode == 0 and "SERVING on" not in again.stdout

    down = _maestro("down", env=env)
    assert down.returncode == 0 and down.stdout.count("stopped") == 5
    after = _maestro("status", env=env)
    assert after.returncode == 1 and after.stdout.count("UNREACHABLE") == 5


def test_main_job_runs_its_phases_and_a_rerun_reuses_them(local_env, tmp_path):
    env, base = local_env
    assert _maestro("up", "--base-port", str(base), env=env).returncode == 0
    flags = ["run", "--episodes", "2", "--max-steps", "250", "--envs", "2", "--pairs", "2", "--until",
             "reward_models"]
    run = _maestro(*flags, env=env)
    assert run.returncode == 0, (run.returncode, run.stdout[-3000:], run.stderr[-3000:])
    assert "episodes  2" in run.stdout and "main job finished" in run.stdout
    for skill in ("Discoverer", "Descender", "Ascender", "Worshipper", "Merchant"):
        assert any(line.startswith(skill) for line in run.stdout.splitlines()), run.stdout
    summary = run.stdout[run.stdout.index("phase "):].splitlines()
    assert [line.split()[:2] for line in summary[1:4]] == [["collect", "done"], ["annotate", "done"],
                                                          ["reward_models", "done"]]
    assert "reward_models: " in summary[3]

    again = _maestro(*flags, env=env)  # same budgets: every phase reuses its verified artifacts
    assert again.returncode == 0, again.stdout[-3000:]
    assert again.stdout.count("reusing the artifacts of job") == 3
    rows = again.stdout[again.stdout.index("phase "):].splitlines()[1:4]
    assert [row.split()[1] for row in rows] == ["reused"] * 3
    assert _maestro("status", env=env).returncode == 0  # it leaves running services running


def test_the_cli_sends_local_modes_token_to_the_evaluator(local_env):
    env, base = local_env
    env = {key: value for key, value in env.items() if key not in ("MAESTRO_ALLOW_UNAUTHENTICATED", "MAESTRO_API_TOKEN")}
    assert _maestro("up", "--base-port", str(base), env=env).returncode == 0
    token = Path(env["MAESTRO_HOME"], "local", "api-token")
    assert token.stat().st_mode & 0o077 == 0
    listed = _maestro("jobs", "list", "--service", "evaluator", env=env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "UNAUTHENTICATED" not in listed.stdout + listed.stderr
    wrong = _maestro("jobs", "list", "--service", "evaluator", env=dict(env, MAESTRO_API_TOKEN="not-the-token"))
    assert wrong.returncode != 0 and "UNAUTHENTICATED" in wrong.stdout + wrong.stderr
