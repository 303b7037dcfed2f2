"""deploy/grafana and deploy/prometheus: every series they query exists in
photochanger_runtime.observability.metrics (with the labels used), the PromQL parses, the
alert rules pass
`promtool check rules` and their unit tests, and Docs/metrics.md documents every metric."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from photochanger_contracts import JobOutcome, ProviderErrorCode
from photochanger_devstack import topology

from tests.deploy.support import (
    EXTERNAL_METRICS,
    REPO,
    RULE_TESTS,
    RULES,
    SCALED_CONSUMERS,
    TARGET_LABELS,
    as_promql,
    dashboard,
    dashboard_expressions,
    dashboard_panels,
    grouping_labels,
    labels_of,
    metric_families,
    metric_names,
    rule_expressions,
    run_tool,
    sample_names,
    selectors,
)

pytestmark = pytest.mark.deploy

EXPRESSIONS = [
    pytest.param(where, expr, id=f"{source}:{where}")
    for source, found in (("dashboard", dashboard_expressions(dashboard())),
                          ("rules", rule_expressions()))
    for where, expr in found
]  # fmt: skip

#: values a label may take where the code uses an enum
ENUM_LABELS: dict[tuple[str, str], set[str]] = {
    ("photochanger_jobs_finalized_total", "outcome"): {o.value for o in JobOutcome},
    ("photochanger_ingest_latency_seconds_bucket", "outcome"): (
        {o.value for o in JobOutcome} | {"rejected", "unknown"}
    ),
    ("photochanger_provider_errors_total", "code"): {c.value for c in ProviderErrorCode},
}


def test_the_promql_scanner_finds_metric_names() -> None:
    """Control for the checks below."""
    expr = (
        "histogram_quantile(0.95, sum by (le, provider) (rate(photochanger_x_bucket"
        '{provider=~"$provider", code!="a b"}[$__rate_interval]))) / on (provider) '
        "group_left sum without (pod) (photochanger_y_total offset 5m) > 1e3 "
        "and absent(kafka_z)"
    )
    assert metric_names(expr) == {"photochanger_x_bucket", "photochanger_y_total", "kafka_z"}
    assert grouping_labels(expr) == {"le", "provider", "pod"}
    assert dict(selectors(expr))["photochanger_x_bucket"] == [
        ("provider", "=~", "$provider"), ("code", "!=", "a b"),
    ]  # fmt: skip


@pytest.mark.parametrize(("where", "expr"), EXPRESSIONS)
def test_queries_use_only_existing_metrics_and_labels(where: str, expr: str) -> None:
    names = metric_names(expr)
    assert names, f"{where}: no metric found in {expr!r}"
    for name in names:
        if name.startswith("photochanger_"):
            assert name in sample_names(), (
                f"{where}: {name} is not exported by photochanger_runtime.observability.metrics "
                f"(known: {sorted(sample_names())})"
            )
        else:
            assert name in EXTERNAL_METRICS, f"{where}: {name} is not a known metric"
    for name, matchers in selectors(expr):
        for label, op, value in matchers:
            assert label in labels_of(name) | TARGET_LABELS, f"{where}: {name} has no {label}"
            allowed = ENUM_LABELS.get((name, label))
            if allowed and op == "=" and "$" not in value:
                assert value in allowed, f"{where}: {name}{{{label}={value!r}}} never exists"
    usable = set().union(*(labels_of(n) for n in names)) | TARGET_LABELS
    assert grouping_labels(expr) <= usable, f"{where}: grouping by a label no series has"


def test_dashboard_shows_the_platform_signals() -> None:
    used = set().union(*(metric_names(e) for _, e in dashboard_expressions(dashboard())))
    required = {
        "photochanger_ingest_latency_seconds_bucket",
        "photochanger_jobs_finalized_total",
        "photochanger_provider_call_seconds_bucket",
        "photochanger_provider_errors_total",
        "photochanger_provider_jobs_in_flight",
        "photochanger_ingest_waiting_requests",
        "photochanger_job_timeouts_total",
        "photochanger_dlq_messages_total",
        "photochanger_reaper_lag_seconds",
        "kafka_consumergroup_lag",
    }
    assert required <= used, f"missing panels for {sorted(required - used)}"
    text = " ".join(e for _, e in dashboard_expressions(dashboard()))
    for quantile in ("0.5", "0.95"):
        assert re.search(
            rf"histogram_quantile\({quantile}, [^;]*photochanger_ingest_latency_seconds_bucket",
            text,
        ), f"ingest latency p{quantile}"


def test_dashboard_is_importable_grafana_json() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = list(dashboard_panels(board))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]


def test_dashboard_queries_parse(promtool: Path, tmp_path: Path) -> None:
    """Every panel query, with its Grafana variables filled in, is valid PromQL: promtool
    checks them as recording rules."""
    rules = [
        {"record": f"photochanger_dashboard:query_{n}", "expr": as_promql(expr)}
        for n, (_, expr) in enumerate(dashboard_expressions(dashboard()))
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = run_tool(promtool, "check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_check_rules(promtool: Path) -> None:
    done = run_tool(promtool, "check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_rule_unit_tests(promtool: Path) -> None:
    done = run_tool(promtool, "test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_rejects_a_broken_rule(promtool: Path, tmp_path: Path) -> None:
    """Control: promtool is a real checker here, not a no-op."""
    data = yaml.safe_load(RULES.read_text())
    data["groups"][0]["rules"][0]["expr"] = "sum(rate(photochanger_jobs_finalized_total[10m])"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    assert run_tool(promtool, "check", "rules", str(path)).returncode != 0


def test_alert_rules_cover_the_operational_risks() -> None:
    rules = dict(rule_expressions())
    used = set().union(*(metric_names(e) for e in rules.values()))
    assert {
        "photochanger_jobs_finalized_total",  # timeout ratio
        "photochanger_provider_errors_total",  # provider error rate
        "photochanger_dlq_messages_total",  # DLQ growth
        "kafka_consumergroup_lag",  # consumer lag (kafka-exporter)
        "photochanger_reaper_lag_seconds",  # reaper lag
    } <= used
    data = yaml.safe_load(RULES.read_text())
    for group in data["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
    lag = next(e for w, e in rules.items() if "kafka_consumergroup_lag" in metric_names(e))
    groups = re.search(r'consumergroup=~"([^"]+)"', lag)
    assert groups, "the lag alert selects the platform's consumer groups"
    # the selection is a pattern, not a list of providers: it takes every scaled consumer group
    # (any provider's `provider-<id>`, also one added later) and nobody else's
    pattern = re.compile(f"^(?:{groups.group(1)})$")
    for group, _ in SCALED_CONSUMERS.values():
        assert pattern.match(group), group
    assert pattern.match("provider-some-future-provider")
    assert not pattern.match("someone-else") and not pattern.match("provider-")
    for source in (RULES.read_text(), json.dumps(dashboard())):
        for provider in topology.provider_ids():
            assert f"provider-{provider}" not in source, "no provider names in queries"
    header = RULES.read_text().split("groups:")[0]
    assert "kafka-exporter" in header, "say where kafka_consumergroup_lag comes from"


def test_metrics_doc_lists_every_metric() -> None:
    """Docs/metrics.md has one table row per metric: its name as queried (`x_total` for a
    counter, `x` for a gauge or histogram), its type, every label, who emits it."""
    rows = [line for line in (REPO / "Docs" / "metrics.md").read_text().splitlines()
            if line.startswith("|")]  # fmt: skip
    for family in metric_families().values():
        name = f"{family.name}_total" if family.type == "counter" else family.name
        found = [row for row in rows if f"`{name}`" in row.split("|")[1]]
        assert len(found) == 1, f"Docs/metrics.md: one row for {name} expected"
        cells = [cell.strip() for cell in found[0].strip("|").split("|")]
        assert cells[1] == family.type, f"{name}: type {family.type}, not {cells[1]!r}"
        documented = set(re.findall(r"`([a-z_]+)`", cells[2]))
        assert documented == set(family.labels), f"{name}: labels {family.labels}"
        assert cells[3], f"{name}: which service emits it?"
        if family.type == "histogram":
            assert all(f"_{s}" in found[0] for s in ("bucket", "sum", "count")), name


def test_every_alert_links_a_runbook_that_exists() -> None:
    """runbook_url: a page of Docs/runbooks/ that is in the repository (and names the alert)."""
    data = yaml.safe_load(RULES.read_text())
    alerts = [rule for group in data["groups"] for rule in group["rules"] if "alert" in rule]
    assert len(alerts) >= 15
    for rule in alerts:
        url = rule["annotations"].get("runbook_url", "")
        assert url.startswith("Docs/runbooks/"), rule["alert"]
        page = REPO / url
        assert page.is_file(), f"{rule['alert']}: {url} does not exist"
        assert rule["alert"] in page.read_text(), f"{url} does not mention {rule['alert']}"


def test_alerts_are_per_namespace() -> None:
    """dev and prod share a Prometheus: no alert may add their series together."""
    for where, expr in rule_expressions():
        if "kafka_consumergroup_lag" in expr:
            continue  # kafka-exporter's series live in Kafka's namespace: groups carry the prefix
        for aggregation in re.findall(r"\b(sum|max|min|count|avg)\b\s*(by\s*\(([^)]*)\))?", expr):
            assert "namespace" in aggregation[2], f"{where}: {aggregation[0]} without namespace"


def test_the_prometheus_operator_gets_the_same_rules() -> None:
    rule = yaml.safe_load(
        (REPO / "deploy" / "generated" / "k8s" / "monitoring" / "prometheusrule.yaml").read_text()
    )
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]
