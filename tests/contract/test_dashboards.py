"""Every query of deploy/'s Grafana dashboard and Prometheus alert rules names a metric the
services export: each service's runtime is built in-process (not started) and its registry
read, so a renamed or removed metric fails here instead of leaving an empty panel or an
alert that can never fire; every metric they export has its row in docs/metrics.md. The
provisioning files are checked against docker-compose.yml.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from contracts.topics import SERVICES
from tests.contract.promql import (
    PromQLError,
    exported_labels,
    exported_names,
    metric_names,
    unknown_labels,
    unknown_metrics,
)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES_FILE = DEPLOY / "prometheus" / "rules.yml"
PROMETHEUS_FILE = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards" / "onestop.yml"
METRICS_DOC = ROOT / "docs" / "metrics.md"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
# Grafana's template queries that hold a PromQL selector: label_values(expr, label),
# query_result(expr).
_TEMPLATE = re.compile(r"^\s*(?:label_values\((?P<lv>.+),\s*\w+\s*\)|"
                       r"query_result\((?P<qr>.+)\))\s*$", re.S)


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> list[CollectorRegistry]:
    """The five services' registries, as their `build()` composes them (not started)."""
    registries: list[CollectorRegistry] = []
    for name in SERVICES:
        tmp = tmp_path_factory.mktemp(name)
        settings_module = importlib.import_module(f"services.{name}.settings")
        settings_cls = getattr(settings_module, f"{name.capitalize()}Settings")
        settings = settings_cls(var_dir=tmp, database_url=f"sqlite+aiosqlite:///{tmp}/db")
        runtime = importlib.import_module(f"services.{name}.app").build(settings)
        registries.append(runtime.metrics.registry)
    return registries


@pytest.fixture(scope="module")
def exported(registries: list[CollectorRegistry]) -> set[str]:
    return exported_names(registries)


def target_labels() -> set[str]:
    """Labels Prometheus puts on every series of a target: job, instance and prometheus.yml's
    static labels."""
    config = yaml.safe_load(PROMETHEUS_FILE.read_text(encoding="utf-8"))
    return {"job", "instance"} | {label for job in config["scrape_configs"]
                                  for static in job.get("static_configs") or []
                                  for label in static.get("labels") or {}}


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    """The PromQL of every panel target and of every query variable."""
    exprs = [str(n["expr"]) for n in _walk(dashboard.get("panels", [])) if n.get("expr")]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        if variable.get("type") == "query" and query:
            m = _TEMPLATE.match(str(query))
            exprs.append(m.group("lv") or m.group("qr") if m else str(query))
    return exprs


def rule_exprs() -> list[str]:
    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    return [str(r["expr"]) for g in rules["groups"] for r in g["rules"]]


def _dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


# --- the checker itself ------------------------------------------------------------------


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("demo_received_total", "", ["channel"], registry=registry)
    Gauge("demo_open", "", ["agency"], registry=registry)
    Histogram("demo_seconds", "", registry=registry)
    return registry


def test_exported_names_carry_the_exposition_suffixes_even_without_samples() -> None:
    names = exported_names([_registry()])
    assert {"demo_received_total", "demo_open", "demo_seconds_bucket", "demo_seconds_count",
            "demo_seconds_sum"} <= names
    assert "demo_received" not in names  # a counter is read as ..._total
    assert "demo_seconds" not in names  # a histogram has no bare series


def test_checker_finds_each_name_and_nothing_else() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, service) (rate(demo_seconds_bucket'
            '{service=~"$service", reason="not_a_metric"}[$__rate_interval])))'
            ' / ignoring(agency) group_left max by (agency) (demo_open offset 1h) * 1e3'
            ' and on (channel) sum(increase(demo_received_total[5m:1m])) > bool 0')
    assert metric_names(expr) == {"demo_seconds_bucket", "demo_open", "demo_received_total"}
    assert metric_names('{__name__="demo_open", agency="x"}') == {"demo_open"}


def test_checker_catches_a_planted_unknown_metric() -> None:
    exported = exported_names([_registry()])
    good = "sum by (channel) (rate(demo_received_total[5m]))"
    planted = "max by (agency) (demo_open) + sum(demo_overdue_cases)"
    # The counter named without its suffix, as an old dashboard might.
    unsuffixed = "rate(demo_received[5m])"
    assert unknown_metrics([good, planted, unsuffixed], exported) == {
        planted: {"demo_overdue_cases"}, unsuffixed: {"demo_received"}}


def test_label_checker_catches_a_misspelt_label() -> None:
    labels = exported_labels([_registry()])
    assert labels["demo_received_total"] == {"channel"}
    assert "le" in labels["demo_seconds_bucket"]
    good = ['sum by (channel, job) (rate(demo_received_total{channel="counter"}[5m]))',
            "histogram_quantile(0.9, sum by (le) (rate(demo_seconds_bucket[5m])))"]
    bad = ['max by (agncy) (demo_open{agency=~"$agency"})',
           'demo_open{chanel="online"} and on (agency) demo_open']
    assert unknown_labels(good + bad, labels, {"job", "instance"}) == {
        bad[0]: {"agncy"}, bad[1]: {"chanel"}}


def test_checker_refuses_an_unknown_function() -> None:
    with pytest.raises(PromQLError, match="rat"):
        metric_names("rat(demo_received_total[5m])")


# --- deploy/ against the services ----------------------------------------------------------


def test_there_is_a_dashboard_and_rules_to_check() -> None:
    assert DASHBOARDS, "no Grafana dashboard under deploy/grafana/dashboards"
    assert rule_exprs()
    for path in DASHBOARDS:
        assert dashboard_exprs(_dashboard(path))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_dashboard_query_names_exported_metrics(path: Path, exported: set[str]) -> None:
    exprs = dashboard_exprs(_dashboard(path))
    assert all(metric_names(e) for e in exprs), "a query that reads no metric"
    assert unknown_metrics(exprs, exported) == {}


def test_every_alert_rule_names_exported_metrics(exported: set[str]) -> None:
    exprs = rule_exprs()
    assert all(metric_names(e) for e in exprs), "a rule that reads no metric"
    assert unknown_metrics(exprs, exported) == {}


def test_every_label_a_query_uses_is_carried_by_its_metrics(
        registries: list[CollectorRegistry]) -> None:
    exprs = rule_exprs() + [e for p in DASHBOARDS for e in dashboard_exprs(_dashboard(p))]
    assert unknown_labels(exprs, exported_labels(registries), target_labels()) == {}


def test_the_domain_and_pipeline_metrics_are_watched(exported: set[str]) -> None:
    """The issue's list: each is exported, shown on a dashboard, and alerted on where it
    says so."""
    shown = set().union(*(metric_names(e) for p in DASHBOARDS
                          for e in dashboard_exprs(_dashboard(p))))
    alerted = set().union(*(metric_names(e) for e in rule_exprs()))
    watched = {"onestop_dossiers_received_total", "onestop_cases_open",
               "onestop_cases_near_due", "onestop_cases_overdue", "onestop_outbox_pending",
               "onestop_outbox_oldest_pending_seconds", "onestop_dead_letters_total",
               "onestop_consumer_lag"}
    assert watched <= exported
    assert watched <= shown, watched - shown
    assert {"onestop_outbox_oldest_pending_seconds", "onestop_consumer_lag",
            "onestop_dead_letters_total", "onestop_cases_overdue"} <= alerted


def _exposed(registries: list[CollectorRegistry]) -> set[str]:
    """Each exported family by the name a query uses: a counter's with `_total`."""
    return {family.name + ("_total" if family.type == "counter" else "")
            for registry in registries for family in registry.collect()}


def test_every_exported_metric_has_its_row_in_the_metrics_doc(
        registries: list[CollectorRegistry]) -> None:
    documented = set(re.findall(r"`(onestop_\w+)`", METRICS_DOC.read_text(encoding="utf-8")))
    exposed = _exposed(registries)
    assert exposed - documented == set(), "exported, not in docs/metrics.md"
    assert documented - exposed == set(), "in docs/metrics.md, exported by no service"


def test_the_portal_sync_is_shown_and_alerted_on_as_its_doc_says(exported: set[str]) -> None:
    """docs/portal-sync.md: any parked row, the oldest pending past an hour, and failures
    that are a setting to fix (unauthorised, misdirected)."""
    rules = {" ".join(e.split()) for e in rule_exprs()}
    assert "max(onestop_portal_sync_parked) > 0" in rules
    assert "max(onestop_portal_sync_oldest_pending_seconds) > 3600" in rules
    failures = [e for e in rules if metric_names(e) == {"onestop_portal_sync_failures_total"}]
    assert len(failures) == 1 and 'reason=~"unauthorised|misdirected"' in failures[0] \
        and "increase(" in failures[0] and failures[0].endswith("> 0"), failures
    shown = set().union(*(metric_names(e) for p in DASHBOARDS
                          for e in dashboard_exprs(_dashboard(p))))
    watched = {"onestop_portal_sync_pending", "onestop_portal_sync_parked",
               "onestop_portal_sync_oldest_pending_seconds",
               "onestop_portal_sync_failures_total"}
    assert watched <= exported and watched <= shown, watched - shown


def test_every_rule_is_named_graded_and_explained() -> None:
    rules = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    names = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            names.append(rule.get("alert"))
            assert rule.get("alert"), f"a rule of {group['name']} is not an alert: {rule}"
            assert rule.get("labels", {}).get("severity") in ("critical", "warning", "info")
            assert rule.get("annotations", {}).get("summary"), rule["alert"]
            if "for" in rule:
                assert re.fullmatch(r"\d+[smhd]", str(rule["for"])), rule["alert"]
    assert len(names) == len(set(names)), "two alerts share a name"


# --- deploy/ against docker-compose.yml ----------------------------------------------------


def _mounts(service: str) -> dict[Path, str]:
    mounts = [str(v).split(":") for v in COMPOSE[service].get("volumes") or []]
    return {(ROOT / m[0]).resolve(): m[1] for m in mounts if m[0].startswith(".")}


def test_prometheus_loads_the_rules_file() -> None:
    config = yaml.safe_load(PROMETHEUS_FILE.read_text(encoding="utf-8"))
    assert _mounts("prometheus").get(RULES_FILE) in config.get("rule_files", [])


def test_grafana_is_provisioned_with_the_datasource_and_dashboards() -> None:
    mounts = _mounts("grafana")
    assert mounts.get(DATASOURCES.parent.parent) == "/etc/grafana/provisioning"
    providers = yaml.safe_load(PROVIDERS.read_text(encoding="utf-8"))["providers"]
    assert mounts.get(DASHBOARDS[0].parent) in {p["options"]["path"] for p in providers}
    sources = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    prometheus = next(s for s in sources if s["type"] == "prometheus")
    host, port = re.fullmatch(r"http://([\w-]+):(\d+)", prometheus["url"]).groups()  # type: ignore[union-attr]
    assert host in COMPOSE and f"{port}:{port}" in COMPOSE[host].get("ports", [])
    for path in DASHBOARDS:
        uids = {n["uid"] for n in _walk(_dashboard(path)) if "uid" in n and "type" in n
                and n["type"] == "prometheus"}
        assert uids == {prometheus["uid"]}, f"{path.name} refers to datasources {uids}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_panels_have_unique_ids_and_fit_the_grid(path: Path) -> None:
    dashboard = _dashboard(path)
    panels = dashboard["panels"]
    assert dashboard.get("uid"), "a provisioned dashboard needs a stable uid for links"
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "two panels share an id"
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not mine & cells, f"{panel['title']!r} overlaps another panel"
        cells |= mine
        if panel["type"] != "row":
            assert panel.get("targets"), f"{panel['title']!r} queries nothing"
