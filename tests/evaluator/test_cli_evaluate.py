"""`maestro evaluate` / `maestro report` and the Python client against a real evaluator on port 0."""

from __future__ import annotations

import argparse

import grpc
import pytest
from evaluator_helpers import MINES_POLICY, SKILL_FUNCTIONS, put_checkpoint, put_code

from maestro_common import cli_evaluate
from maestro_common.artifacts import ArtifactStore
from maestro_common.evaluator_client import EvaluatorClient

TOKEN = "cli-test-token"


@pytest.fixture
def evaluator(start_service, tmp_path, monkeypatch):
    monkeypatch.setenv("MAESTRO_API_TOKEN", TOKEN)
    running = start_service("evaluator", default_num_envs=2, torch_threads=1)
    monkeypatch.setenv("MAESTRO_EVALUATOR_ADDRESS", running.address)
    monkeypatch.setenv("MAESTRO_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    store = ArtifactStore(str(tmp_path / "artifacts"))
    refs = {"checkpoint": put_checkpoint(store), "skill_functions": put_code(store, "skill_functions", SKILL_FUNCTIONS),
            "policy": put_code(store, "policy", MINES_POLICY)}
    return running, store, refs


def maestro(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="maestro")
    cli_evaluate.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def _args(refs, *names):
    out = []
    for name in names:
        out += [f"--{name.replace('_', '-')}", refs[name].uri, refs[name].sha256]
    return out


def test_evaluate_then_report(evaluator, tmp_path, capsys):
    _running, _store, refs = evaluator
    assert maestro("evaluate", "--list") == 0
    assert "gnomish_mines" in capsys.readouterr().out
    status = maestro("evaluate", "reach the Gnomish Mines", "--check", "gnomish_mines", "--episodes", "2",
                     "--max-steps", "25", "--report-dir", str(tmp_path / "out"),
                     *_args(refs, "checkpoint", "skill_functions", "policy"))
    printed = capsys.readouterr().out
    assert status == 0, printed
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| Gnomish Mines |" in report and "random skill policy" in report
    assert (tmp_path / "out" / "gnomish_mines-success.png").read_bytes()[:4] == b"\x89PNG"
    job_id = printed.split("evaluation job ")[1].split(":")[0]
    assert maestro("report", job_id, "--out", str(tmp_path / "again")) == 0
    assert (tmp_path / "again" / "report.html").read_text().startswith("<html>")


def test_a_fresh_checkpoint_can_be_evaluated(evaluator, capsys):
    _running, _store, refs = evaluator
    status = maestro("evaluate", "delphi", "--init-checkpoint", "--episodes", "1", "--max-steps", "5",
                     "--no-baselines", *_args(refs, "skill_functions", "policy"))
    assert status == 0, capsys.readouterr()


def test_the_client_needs_the_right_token(evaluator, monkeypatch):
    running, _store, _refs = evaluator
    with EvaluatorClient(running.address, token="wrong") as client:
        with pytest.raises(grpc.RpcError) as error:
            client.list_tasks()
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with EvaluatorClient() as client:  # address and token from the environment
        assert [t.task_id for t in client.list_tasks()][:2] == ["gnomish_mines", "delphi"]


@pytest.mark.slow
def test_every_registered_task_end_to_end_on_a_fresh_checkpoint(evaluator, tmp_path, capsys):
    _running, _store, refs = evaluator
    status = maestro("evaluate", "--all", "--init-checkpoint", "--episodes", "2", "--max-steps", "20",
                     "--report-dir", str(tmp_path / "report"), *_args(refs, "skill_functions", "policy"))
    assert status == 0, capsys.readouterr()
    report = (tmp_path / "report" / "report.md").read_text()
    for title in ("Gnomish Mines", "Delphi", "Minetown", "Transactions", "Price Identified", "BUC Identified",
                  "Golden Exit", "Level Up & Sell", "Discovery Hunger"):
        assert f"| {title} |" in report
    assert len(list((tmp_path / "report").glob("*.png"))) == 18
