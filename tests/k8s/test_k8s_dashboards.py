"""The committed dashboards: generated from k8s/dashboards.py (no drift), well-formed Grafana JSON,
unique ids, a datasource variable, every query valid PromQL (promtool checks them as recording rules)
and every panel tied to the job kind that feeds it."""

from __future__ import annotations

import json

import yaml
from k8s_support import CHART, load_dashboards, run, tool

dashboards = load_dashboards()

REQUIRED = {"maestro-pipeline", "maestro-training", "maestro-annotation", "maestro-codegen", "maestro-evaluation",
            "maestro-grpc"}
FEEDS = {"any", "AnnotateDataset", "TrainRewardModels", "Score", "RunTests", "GenerateSkillFunctions",
         "TrainSkills", "EvaluateTask", "CollectDataset"}


def test_committed_json_matches_the_generator():
    committed = {p.name: p.read_text() for p in (CHART / "dashboards").glob("*.json")}
    assert committed == dashboards.rendered(), "dashboards are stale: run `python k8s/dashboards.py`"


def test_dashboards_are_well_formed():
    seen_uids = set()
    for name, text in dashboards.rendered().items():
        board = json.loads(text)
        assert board["uid"] not in seen_uids and len(board["uid"]) <= 40
        seen_uids.add(board["uid"])
        assert board["templating"]["list"][0]["type"] == "datasource"
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in board["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and panel["targets"], (name, panel["title"])
            assert "Fed by:" in panel["description"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}" and target["expr"].strip()
    assert seen_uids == REQUIRED


def test_every_panel_names_a_known_feed():
    for board in dashboards.DASHBOARDS:
        for row in board.rows:
            for panel in row:
                assert panel.feed in FEEDS, (board.uid, panel.title, panel.feed)
                assert not panel.legends or len(panel.legends) == len(panel.exprs), panel.title


def test_every_query_is_valid_promql(tmp_path):
    rules = []
    for board in dashboards.DASHBOARDS:
        for r, row in enumerate(board.rows):
            for c, panel in enumerate(row):
                for e, expr in enumerate(panel.exprs):
                    concrete = expr.replace("$__rate_interval", "1m").replace("$__range", "1h")
                    rules.append({"record": f"check:{board.uid.replace('-', '_')}:{r}_{c}_{e}", "expr": concrete})
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}))
    result = run([tool("promtool"), "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
