"""The CLI explains itself and reports unreachable services clearly."""

from __future__ import annotations

import pytest

from maestro_common.cli import build_parser, main


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for command in ("run", "up", "down", "status", "collect", "jobs", "dataset"):
        assert command in text


def test_unreachable_service_is_a_clear_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MAESTRO_HOME", str(tmp_path))
    monkeypatch.setenv("MAESTRO_SKILL_LEARNER_ADDRESS", "127.0.0.1:1")
    assert main(["jobs", "list"]) == 1
    assert "UNAVAILABLE" in capsys.readouterr().err
