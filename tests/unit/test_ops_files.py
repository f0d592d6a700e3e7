"""The SRE's files in ops/: the Grafana dashboard is what ops/dashboard.py builds, the rules pass
Prometheus' own checker and unit tests, every alert has a runbook section and a test, and every
series they read is one the engine declares."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from engine.metrics import Metrics
from tests.conftest import ROOT

OPS = ROOT / "ops"
RULES = OPS / "prometheus" / "cadencia-rules.yml"
RULE_TESTS = OPS / "prometheus" / "cadencia-rules.test.yml"
DASHBOARD = OPS / "grafana" / "cadencia.json"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus; CI installs it)")
    return found


def alerts() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def test_the_dashboard_is_what_the_generator_builds():
    sys.path.insert(0, str(OPS))
    try:
        import dashboard  # ops/dashboard.py
    finally:
        sys.path.remove(str(OPS))
    regenerate = "python ops/dashboard.py > ops/grafana/cadencia.json"
    assert DASHBOARD.read_text() == dashboard.render(), regenerate
    doc = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in doc["panels"]]
    assert len(ids) == len(set(ids))
    for panel in doc["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            refs = [t["refId"] for t in panel["targets"]]
            assert refs and len(refs) == len(set(refs)) and all(refs), panel["title"]


def test_rules_pass_promtool_check_and_their_unit_tests():
    tool = promtool()
    check = subprocess.run([tool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run(
        [tool, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent, capture_output=True, text=True
    )
    assert test.returncode == 0, test.stdout + test.stderr


def test_every_alert_links_its_runbook_section_and_is_tested_firing():
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
        for line in (ROOT / "docs" / "runbook.md").read_text().splitlines()
        if line.startswith("## ")
    }
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        case["alertname"] for t in tests for case in t.get("alert_rule_test", []) if case.get("exp_alerts")
    }
    for rule in alerts():
        url = rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/runbook.md" and anchor in headings, (rule["alert"], url)
        assert rule["labels"]["severity"] in ("page", "ticket")
        assert rule["alert"] in fired, f"{rule['alert']} has no promtool test in which it fires"


def test_the_files_read_only_series_the_engine_declares():
    families = {f.name for f in Metrics().registry.collect()}
    suffixes = ("_bucket", "_count", "_sum", "_total")
    texts = [*dashboard_exprs(), RULES.read_text(), RULE_TESTS.read_text()]
    used = {name for text in texts for name in re.findall(r"\bcadencia_[a-z_]+", text)}
    assert used
    for name in used:
        base = next((name.removesuffix(s) for s in suffixes if name.endswith(s)), name)
        assert name in families or base in families, f"{name} is not a series of engine/metrics.py"
