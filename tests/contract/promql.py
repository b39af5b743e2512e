"""The metric names a PromQL expression reads, and the names a Prometheus registry exports:
enough of PromQL's grammar to check deploy/'s dashboards and rules against the services,
without a Prometheus binary (none here). tests/contract/test_dashboards.py uses both."""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client import CollectorRegistry

# Functions and aggregation operators of PromQL (Prometheus 2.54).
FUNCTIONS = frozenset("""
abs absent absent_over_time avg_over_time ceil changes clamp clamp_max clamp_min
count_over_time day_of_month day_of_week day_of_year days_in_month delta deriv exp floor
histogram_avg histogram_count histogram_fraction histogram_quantile histogram_stddev
histogram_stdvar histogram_sum hour idelta increase irate label_join label_replace last_over_time
ln log10 log2 mad_over_time max_over_time min_over_time minute month predict_linear
present_over_time quantile_over_time rate resets round scalar sgn sort sort_desc sort_by_label
sort_by_label_desc sqrt stddev_over_time stdvar_over_time sum_over_time time timestamp vector
year acos acosh asin asinh atan atanh cos cosh deg pi rad sin sinh tan tanh
sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk
limit_ratio
""".split())
KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                      "and", "or", "unless", "offset", "atan2", "inf", "nan"})
# Series Prometheus makes itself for every target: not the services' to export.
PROMETHEUS_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped",
                               "scrape_samples_post_metric_relabeling",
                               "scrape_series_added"})

_GRAFANA_VAR = re.compile(r"\$(?:\{[^}]*\}|\w+)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*=\s*"([^"]+)"')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_MODIFIER = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_OFFSET = re.compile(r"\boffset\s+-?[\w.]+|@\s*(?:start\(\)|end\(\)|[\d.]+)")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?")


class PromQLError(ValueError):
    """An expression this reader cannot take apart (an unknown function, unbalanced)."""


def metric_names(expr: str) -> set[str]:
    """Every metric an expression selects, by name; raises PromQLError on an unknown
    function (a typo there would make Prometheus refuse the rule or the panel)."""
    names = set(_NAME_MATCHER.findall(expr))
    text = _GRAFANA_VAR.sub("1", expr)  # $__rate_interval, ${agency}: values, not names
    text = _STRING.sub('""', text)
    while _BRACES.search(text):
        text = _BRACES.sub(" ", text)
    while _BRACKETS.search(text):
        text = _BRACKETS.sub(" ", text)
    text = _MODIFIER.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    if text.count("(") != text.count(")"):
        raise PromQLError(f"unbalanced parentheses in {expr!r}")
    for match in _IDENTIFIER.finditer(text):
        word, call = match.group(1), match.group(2)
        if call:
            if word not in FUNCTIONS:
                raise PromQLError(f"unknown function {word!r} in {expr!r}")
        elif word.lower() not in KEYWORDS:
            names.add(word)
    return names


def exported_names(registries: Iterable[CollectorRegistry]) -> set[str]:
    """The series names the registries export, with the suffixes the exposition adds (also
    for labelled metrics that have no child yet, so no sample to show)."""
    suffixes = {"counter": ("_total", "_created"), "gauge": ("",),
                "histogram": ("_bucket", "_count", "_sum", "_created"),
                "summary": ("", "_count", "_sum", "_created"), "info": ("_info",),
                "stateset": ("",), "gaugehistogram": ("_bucket", "_gcount", "_gsum")}
    names: set[str] = set()
    for registry in registries:
        for family in registry.collect():
            names.update(family.name + s for s in suffixes.get(family.type, ("",)))
            names.update(sample.name for sample in family.samples)
    return names


def unknown_metrics(exprs: Iterable[str], exported: set[str]) -> dict[str, set[str]]:
    """expression -> the names it reads that nobody exports (empty when all resolve)."""
    missing = {}
    for expr in exprs:
        unknown = metric_names(expr) - exported - PROMETHEUS_SERIES
        if unknown:
            missing[expr] = unknown
    return missing


_SELECTOR = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)?\s*\{([^{}]*)\}")
_MATCHER_LABEL = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")


def used_labels(expr: str) -> tuple[list[tuple[str | None, set[str]]], set[str]]:
    """The label names an expression matches on, per selector (metric name or None), and
    those it groups or joins by (`by`, `without`, `on`, `ignoring`, `group_*`)."""
    text = _STRING.sub('""', _GRAFANA_VAR.sub("1", expr))
    selectors = []
    for match in _SELECTOR.finditer(text):
        labels = set(_MATCHER_LABEL.findall(match.group(2))) - {"__name__"}
        selectors.append((match.group(1), labels))
    grouping = {label.strip() for clause in _GROUPING.findall(text)
                for label in clause.split(",") if label.strip()}
    return selectors, grouping


def exported_labels(registries: Iterable[CollectorRegistry]) -> dict[str, set[str]]:
    """Series name -> its label names, also for labelled metrics with no child yet (read
    from the metric objects: the registry's public API shows labels only on samples)."""
    labels: dict[str, set[str]] = {}
    for registry in registries:
        for collector, names in registry._collector_to_names.items():
            declared = set(getattr(collector, "_labelnames", ()))
            for name in names:
                labels.setdefault(name, set()).update(declared)
                if name.endswith("_bucket"):
                    labels[name].add("le")
        for family in registry.collect():
            for sample in family.samples:
                labels.setdefault(sample.name, set()).update(sample.labels)
    return labels


def unknown_labels(exprs: Iterable[str], labels: dict[str, set[str]],
                   target_labels: set[str]) -> dict[str, set[str]]:
    """expression -> label names it uses that none of its metrics (nor the scrape's own
    target labels) carry: a matcher on one selects nothing, a grouping by one merges all."""
    missing = {}
    for expr in exprs:
        names = metric_names(expr)
        selectors, grouping = used_labels(expr)
        unknown: set[str] = set()
        for metric, matched in selectors:
            if metric in labels:
                unknown |= matched - labels[metric] - target_labels
        known = set().union(target_labels, *(labels.get(n, set()) for n in names))
        unknown |= grouping - known
        if unknown:
            missing[expr] = unknown
    return missing
