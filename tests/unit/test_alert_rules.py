"""The monitoring files in deploy/: Prometheus rules and their unit tests, the scrape config,
the Grafana dashboard and provisioning, and the runbook the alerts link to.

Needs `promtool` (Debian's `prometheus` package, which `make install` installs); no servers.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = (PROMETHEUS / "alerts.test.yml", PROMETHEUS / "alerts.weekly.test.yml")
CONFIG = PROMETHEUS / "prometheus.yml"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "vestnik.json"
RUNBOOK = ROOT / "deploy" / "README.md"

SEVERITIES = {"critical", "warning", "info"}

# What the services expose (prometheus_client adds `_total` to counters; a histogram is read
# through its `_bucket`, `_sum` and `_count` series).
COUNTERS = {
    "vestnik_notifications_total",
    "vestnik_sms_segments_total",
    "vestnik_deadlines_missed_total",
    "vestnik_grades_items_total",
    "vestnik_grades_events_published_total",
    "vestnik_digest_runs_total",
    "vestnik_digest_students_published_total",
    "vestnik_paper_pages_total",
    "vestnik_dead_letters_total",
    # FastStream's KafkaPrometheusMiddleware, metrics_prefix="vestnik"
    "vestnik_received_messages_total",
    "vestnik_received_processed_messages_total",
    "vestnik_received_processed_messages_exceptions_total",
    "vestnik_published_messages_total",
    "vestnik_published_messages_exceptions_total",
}
GAUGES = {
    "up",
    "vestnik_oldest_undelivered_deadline_bound_seconds",
    "vestnik_grades_outbox_backlog",
    "vestnik_digest_last_run_timestamp_seconds",
    "vestnik_paper_not_handed_over",
    "vestnik_final_marks_missing",
    "vestnik_consumer_lag_messages",
}
HISTOGRAMS = {
    "vestnik_delivery_latency_seconds",
    "vestnik_digest_run_duration_seconds",
    "vestnik_received_processed_messages_duration_seconds",
}
PROMETHEUS_OWN = {"ALERTS", "ALERTS_FOR_STATE"}
EXPOSED = (
    COUNTERS
    | GAUGES
    | PROMETHEUS_OWN
    | {h + suffix for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
)

PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


# --- helpers --------------------------------------------------------------------------------


def promtool(*args: str) -> str:
    """Run promtool from the repository root; fail with its output when it fails."""
    executable = shutil.which("promtool")
    if executable is None:
        pytest.fail(
            "promtool is not installed: `make install` installs it (Debian's `prometheus` "
            "package: apt-get install --no-install-recommends prometheus)",
            pytrace=False,
        )
    result = subprocess.run(
        [executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path}: not a YAML mapping"
    return cast(dict[str, Any], data)


def rules() -> Iterator[dict[str, Any]]:
    for group in load_yaml(RULES)["groups"]:
        yield from cast(list[dict[str, Any]], group["rules"])


def alerts() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for rule in rules():
        if "alert" in rule:
            assert rule["alert"] not in found, f"alert {rule['alert']} defined twice"
            found[rule["alert"]] = rule
    return found


def recording_rules() -> set[str]:
    return {cast(str, rule["record"]) for rule in rules() if "record" in rule}


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects (not functions, keywords or labels)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables
    names = set()
    for match in re.finditer(r"(?<![\w:.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        name = match.group()
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if name.lower() in PROMQL_WORDS or name in {"group_left", "group_right"}:
            continue
        names.add(name)
    return names


def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return cast(dict[str, Any], data)


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in cast(list[dict[str, Any]], board["panels"]):
        yield panel
        yield from cast(list[dict[str, Any]], panel.get("panels", []))


def dashboard_queries(board: dict[str, Any]) -> list[str]:
    return [
        cast(str, target["expr"])
        for panel in panels(board)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def runbook_anchors() -> set[str]:
    text = RUNBOOK.read_text(encoding="utf-8")
    return {github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+)$", text, re.M)}


# --- promtool -------------------------------------------------------------------------------


def test_rules_pass_promtool_check() -> None:
    output = promtool("check", "rules", str(RULES.relative_to(ROOT)))
    assert "SUCCESS" in output


def test_rule_unit_tests_pass() -> None:
    output = promtool("test", "rules", *(str(p.relative_to(ROOT)) for p in RULE_TESTS))
    assert "FAILED" not in output


def test_prometheus_config_is_valid_and_scrapes_the_four_services() -> None:
    # Offline: promtool parses the config and its rule files; it resolves no target.
    promtool("check", "config", str(CONFIG.relative_to(ROOT)))
    config = load_yaml(CONFIG)
    assert config["rule_files"] == ["alerts.yml"]
    scraped = {
        job["job_name"]: (job.get("metrics_path", "/metrics"), job["static_configs"][0]["targets"])
        for job in config["scrape_configs"]
    }
    for job, target in {
        "grades": "grades:8001",
        "consent": "consent:8002",
        "notifier": "notifier:8003",
        "digest": "digest:8004",
    }.items():
        assert scraped[job] == ("/metrics", [target]), job


# --- alerts: tested, documented, reading real metrics -------------------------------------


def test_alerts_include_the_required_ones() -> None:
    required = {
        "VestnikDeadlineAtRisk",
        "VestnikDeadlineMissed",
        "VestnikDeliveryFailureRatioHigh",
        "VestnikConsumerLagGrowing",
        "VestnikOutboxBacklogGrowing",
        "VestnikServiceDown",
        "VestnikWeeklyPaperNotHandedOver",
        "VestnikDeadLetters",
        "VestnikWeeklyDigestNotRun",
    }
    assert required <= alerts().keys()
    at_risk = alerts()["VestnikDeadlineAtRisk"]
    assert "vestnik_oldest_undelivered_deadline_bound_seconds" in at_risk["expr"]
    assert "> 3600" in at_risk["expr"]
    assert at_risk["for"] == "1m"
    assert alerts()["VestnikServiceDown"]["for"] == "2m"


def test_every_alert_fires_in_a_rule_test() -> None:
    tested: set[str] = set()
    for path in RULE_TESTS:
        for group in load_yaml(path)["tests"]:
            for case in group.get("alert_rule_test", []):
                if case.get("exp_alerts"):
                    tested.add(case["alertname"])
    untested = sorted(alerts().keys() - tested)
    assert not untested, f"alerts with no firing test in {[p.name for p in RULE_TESTS]}: {untested}"


def test_every_alert_has_severity_annotations_and_a_runbook_section() -> None:
    anchors = runbook_anchors()
    assert "runbook" in anchors and "deploying-and-operating-vestnik" in anchors
    for name, alert in alerts().items():
        assert alert.get("labels", {}).get("severity") in SEVERITIES, name
        annotations = alert.get("annotations", {})
        assert annotations.get("summary") and annotations.get("description"), name
        url = annotations.get("runbook_url", "")
        page, _, anchor = url.partition("#")
        assert page == "deploy/README.md", f"{name}: runbook_url {url!r}"
        assert anchor in anchors, f"{name}: no heading in deploy/README.md for #{anchor}"


def test_rules_read_only_metrics_the_services_expose() -> None:
    known = EXPOSED | recording_rules()
    for rule in rules():
        unknown = metric_names(rule["expr"]) - known
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: unknown {unknown}"


def test_metric_names_reads_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, channel) (rate(a_bucket{x="y"}[5m])))'
        " / on (job) group_left (kind) b offset 1h and c:rec:rate5m > bool 1e3"
        ' or vector(0) unless count(d{e=~"$channel"}[$__rate_interval])'
    )
    assert metric_names(expr) == {"a_bucket", "b", "c:rec:rate5m", "d"}


# --- Grafana ----------------------------------------------------------------------------------


def test_dashboard_uses_the_datasource_variable() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_dashboard_queries_read_only_metrics_the_services_expose() -> None:
    board = dashboard()
    known = EXPOSED | recording_rules()
    queries = dashboard_queries(board)
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            queries.append(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", variable["definition"]))
    for expr in queries:
        unknown = metric_names(expr) - known
        assert not unknown, f"dashboard query {expr!r}: unknown {unknown}"


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool parses every query as a recording rule, Grafana's variables replaced.
    queries = dashboard_queries(dashboard())
    substituted = [
        re.sub(r"\$\{?\w+\}?", ".*", re.sub(r"\$__(?:rate_interval|interval|range)", "5m", q))
        for q in queries
    ]
    check = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(substituted)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(check), encoding="utf-8")
    promtool("check", "rules", str(path))


def test_dashboard_shows_what_ops_need() -> None:
    queries = dashboard_queries(dashboard())
    used = set().union(*(metric_names(q) for q in queries))
    for metric in (
        "vestnik_notifications_total",
        "vestnik_delivery_latency_seconds_bucket",
        "vestnik_oldest_undelivered_deadline_bound_seconds",
        "vestnik_deadlines_missed_total",
        "vestnik_consumer_lag_messages",
        "vestnik_grades_outbox_backlog",
        "vestnik_dead_letters_total",
        "vestnik_grades_items_total",
        "vestnik_digest_runs_total",
        "vestnik_paper_not_handed_over",
        "up",
    ):
        assert metric in used, metric
    latency = [q for q in queries if "vestnik_delivery_latency_seconds_bucket" in q]
    for quantile in ("0.5", "0.95", "0.99"):
        assert any(f"histogram_quantile({quantile}," in q for q in latency), quantile
    assert any("vector(86400)" in q for q in queries), "the 24 h deadline line"


def test_grafana_provisioning() -> None:
    datasources = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
    [source] = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    providers = load_yaml(GRAFANA / "provisioning" / "dashboards" / "vestnik.yml")
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
