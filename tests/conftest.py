"""Shared fixtures: a real service on port 0 with its state in a temporary directory."""

from __future__ import annotations

import importlib
import os

import pytest

from maestro_common.llm import TINY_EMBEDDED_MODEL
from maestro_common.runtime import serve

# Services under test answer with the tiny embedded model unless a test says otherwise.
os.environ.setdefault("MAESTRO_LLM_MODEL", TINY_EMBEDDED_MODEL)
# One llama.cpp thread per embedded model: several services may hold a model at once in a test run,
# and spinning thread pools on 2 cores slow each other down badly.
os.environ.setdefault("MAESTRO_LLM_N_THREADS", "1")
# The evaluator refuses to start without a token; tests that are not about auth run it open (the auth
# tests set MAESTRO_API_TOKEN themselves).
os.environ.setdefault("MAESTRO_ALLOW_UNAUTHENTICATED", "true")


@pytest.fixture
def maestro_home(tmp_path, monkeypatch):
    """An empty $MAESTRO_HOME for the test."""
    home = tmp_path / "home"
    monkeypatch.setenv("MAESTRO_HOME", str(home))
    return home


@pytest.fixture
def start_service(tmp_path):
    """start_service("skill-learner", **settings) -> a RunningService on 127.0.0.1:<free port>."""
    started = []

    def start(package: str, **overrides):
        service = importlib.import_module(f"{package}.server").SERVICE
        settings = service.settings_cls(grpc_host="127.0.0.1", grpc_port=0, metrics_port=0,
                                        data_dir=tmp_path / package, artifact_root=str(tmp_path / "artifacts"),
                                        shutdown_grace_seconds=2, **overrides)
        running = serve(service, settings)
        started.append(running)
        assert running.ready.wait(30), f"{package} did not become ready"
        return running

    yield start
    for running in started:
        running.stop(0.5)
