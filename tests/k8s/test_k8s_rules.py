"""Alert rules: `promtool check rules` and the unit tests in alerts_test.yaml (`promtool test rules`)."""

from __future__ import annotations

from pathlib import Path

from k8s_support import CHART, run, tool

HERE = Path(__file__).resolve().parent
RULES = CHART / "rules" / "maestro-alerts.yaml"


def test_promtool_check_rules():
    result = run([tool("promtool"), "check", "rules", str(RULES)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_promtool_unit_tests_of_the_alerts():
    result = run([tool("promtool"), "test", "rules", "alerts_test.yaml"], cwd=HERE)
    assert result.returncode == 0, result.stdout + result.stderr
