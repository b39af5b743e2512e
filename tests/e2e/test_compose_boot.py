"""The production stack boots as documented, without Docker: `make secrets` (run here into a
scratch folder) and the operator's edit of `.env` (a stand-in OIDC issuer in place of the
placeholders), then each service's container as docker-compose.yml describes it (its
`environment:` with compose's substitution from the generated `.env`, its bind mounts, its
`command:`), started as its own process in production mode, the screens' front among them.
Only the hosts are what runs here: the test's broker for `kafka` (the local one also without
idempotent producers, which it cannot do), local PostgreSQL (a fresh database per service)
for `postgres`, a local S3 server (moto) for `minio`, a local OTLP sink for `jaeger`, and the
other services on free loopback ports, also where the browser reaches them (`localhost` and
the published port). All six must answer /health 200. The front serves its pages signing
in through the issuer, refuses the development sign-in, points the browser at the running
services, and each of them answers CORS to the front's origin only. One dossier goes through
all five with the operator's tokens: received at the counter, scanned (signed with the
mounted officer key, stored in the object store), processed to a result signed by
digitization whose verification link verifies, returned, notified, traced in reporting, and
found and rated by the citizen on intake's public routes (intake asking processing and
reporting inside the network).
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from contracts.topics import SERVICES
from deploy.local.broker import free_port
from deploy.local.stack import ServiceProcess
from deploy.secrets.compose import Project
from tests.conftest import _external, postgres_database
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
# The people of the scenario: (role, token subject, agency), as `make up`'s tokens have them.
COUNTER = ("counter_officer", "tnhs-01", "000.01.01.H26")
OFFICER = ("processing_officer", "cv.an", "000.01.01.H26")
HEAD = ("department_head", "tp.binh", "000.00.01.H26")
LEADER = ("office_leader", "ld.cuong", "000.00.01.H26")
MONITOR = ("national_monitor", "gs.toanquoc", "*")
ID_NUMBER = "001190012345"
# The screens' front, started beside the five.
FRONT = "web"
# The operator's OIDC issuer, as they write it into `.env`: the browser alone talks to it,
# so here it needs no server, only addresses of its own.
ISSUER = {"WEB_OIDC_AUTHORIZATION_ENDPOINT": "https://sso.example.gov.vn/oidc/authorize",
          "WEB_OIDC_TOKEN_ENDPOINT": "https://sso.example.gov.vn/oidc/token",
          "WEB_OIDC_CLIENT_ID": "onestop-workbench-test"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make secrets` into a folder of its own: what an operator runs once."""
    directory = tmp_path_factory.mktemp("compose-project")
    done = subprocess.run([sys.executable, "-m", "deploy.secrets", "--dir", str(directory)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # Then the operator puts the issuer's endpoints in place of the placeholders.
    env_file = directory / ".env"
    text = env_file.read_text(encoding="utf-8")
    for name, value in ISSUER.items():
        text, n = re.subn(rf"^{name}=.*$", f"{name}={value}", text, flags=re.M)
        assert n == 1, f"`make secrets` wrote no {name} line to replace"
    env_file.write_text(text, encoding="utf-8")
    return directory


def operator_token(directory: Path, who: tuple[str, str, str | None]) -> str:
    """The documented first token: `python -m deploy.secrets token ROLE ...`."""
    role, user, agency = who
    args = [sys.executable, "-m", "deploy.secrets", "token", role, "--dir", str(directory),
            "--user", user, *(["--agency", agency] if agency else [])]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=True)
    return done.stdout.strip()


@pytest.fixture
def s3_server() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


class _Sink(BaseHTTPRequestHandler):
    """Jaeger's OTLP/HTTP receiver, as far as an exporter can tell: 200 to every POST."""

    received: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        _Sink.received.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def otlp_sink() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    _Sink.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def databases() -> AsyncIterator[dict[str, str]]:
    async with contextlib.AsyncExitStack() as stack:
        yield {name: await stack.enter_async_context(postgres_database()) for name in SERVICES}


def _localized(project: Project, service: str, here: dict[str, str], database: str,
               port: int) -> dict[str, str]:
    """The container's environment with each compose host:port swapped for what runs here
    and each bind-mounted path for its source; nothing else changed."""
    prefix = f"{service.upper()}_"
    hosts = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, here)) + r")(?![\w.-])")
    env = {}
    for key, value in project.environment(service).items():
        if key == f"{prefix}DATABASE_URL":
            url = urlsplit(value)
            assert (url.hostname, url.port, url.path) == ("postgres", 5432, f"/{service}"), value
            value = database  # trust auth here: its own database, the local superuser
        elif key == f"{prefix}HTTP_HOST":
            assert value == "0.0.0.0"
            value = "127.0.0.1"
        elif key == f"{prefix}HTTP_PORT":
            value = str(port)
        else:
            value = hosts.sub(lambda m: here[m.group(1)], value)
        for mount in project.mounts(service):
            value = value.replace(mount.target, str(mount.source))
        env[key] = value
    return env


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (620, 877), (255, 255, 255)).save(out, format="PNG")
    return out.getvalue()


def _published_port(project: Project, name: str) -> int:
    """The host port compose publishes the service's HTTP port on ("8001:8001")."""
    port = project.environment(name)[f"{name.upper()}_HTTP_PORT"]
    for entry in project.service(name).get("ports") or []:
        *_, host, container = str(entry).split(":")
        if container == port:
            return int(host)
    raise AssertionError(f"{name}'s port {port} is not published")


def test_the_compose_stack_boots_from_make_secrets_and_carries_a_dossier(
        generated: Path, kafka_bootstrap: str, databases: dict[str, str], s3_server: str,
        otlp_sink: str, tmp_path: Path) -> None:
    project = Project.load(COMPOSE_FILE, generated, environ={})
    assert FRONT in project.document["services"], "compose has no screens' front"
    served = (*SERVICES, FRONT)
    ports = {name: free_port() for name in served}
    # Inside the compose network by name, from the browser at localhost and the published
    # port: both are what runs here.
    here = {"kafka:9092": kafka_bootstrap, "minio:9000": s3_server, "jaeger:4318": otlp_sink,
            **{f"{name}:{project.environment(name)[f'{name.upper()}_HTTP_PORT']}":
               f"127.0.0.1:{ports[name]}" for name in served},
            **{f"localhost:{_published_port(project, name)}": f"127.0.0.1:{ports[name]}"
               for name in served}}

    # The one-shot services first: topics (the broker's are made already: idempotent),
    # and the documents' bucket that `minio-init` creates.
    topics = project.service("topics")
    subprocess.run(topics["command"], env={**_base_env(), **_localized(
        project, "topics", here, "", 0)}, cwd=ROOT, check=True, timeout=120,
        stdout=subprocess.DEVNULL)
    assert "minio-init" in project.document["services"], "compose has no object store"
    bucket = project.environment("minio-init")["DOCUMENTS_BUCKET"]
    digitization_env = project.environment("digitization")
    assert digitization_env["DIGITIZATION_S3_BUCKET"] == bucket
    s3 = boto3.client("s3", endpoint_url=f"http://{s3_server}", region_name="us-east-1",
                      aws_access_key_id="minio-init", aws_secret_access_key="minio-init")
    s3.create_bucket(Bucket=bucket)

    processes, envs = {}, {}
    try:
        for name in served:
            env = envs[name] = {
                **_base_env(), "ONESTOP_VAR_DIR": str(tmp_path / name / "var"),
                **_localized(project, name, here, databases.get(name, ""), ports[name])}
            assert env["ONESTOP_ENV"] == "production"
            if name == FRONT:
                processes[name] = ServiceProcess(name, ports[name], env,
                                                 tmp_path / "log" / f"{name}.log",
                                                 command=project.service(name)["command"]
                                                 ).start()
                continue
            assert env["KAFKA_IDEMPOTENCE"] == "true"
            if not _external():
                # The one thing the local broker cannot stand in for: it refuses idempotent
                # producers (InitProducerId); Apache Kafka, or the broker given in
                # KAFKA_BOOTSTRAP_SERVERS, takes compose's setting as it is.
                env["KAFKA_IDEMPOTENCE"] = "false"
            processes[name] = ServiceProcess(name, ports[name], env,
                                             tmp_path / "log" / f"{name}.log",
                                             command=project.service(name)["command"]).start()
        for svc in processes.values():
            try:
                svc.wait_healthy(240)
            except (RuntimeError, TimeoutError) as exc:
                raise AssertionError(f"{exc}:\n{_tail(svc.log_file)}") from exc
        for svc in processes.values():
            health = httpx.get(f"{svc.url}/health", timeout=10)
            assert health.status_code == 200, (svc.name, health.text)
        urls = {n: p.url for n, p in processes.items()}
        _the_screens(urls)
        _one_dossier(generated, urls, s3, bucket,
                     envs["digitization"]["DIGITIZATION_PUBLIC_URL"])
        wait_for(lambda: _Sink.received, 60, "spans exported to the trace backend's address")
        assert set(_Sink.received) == {"/v1/traces"}
    finally:
        for svc in processes.values():
            svc.stop()


def _base_env() -> dict[str, str]:
    """What a container has besides its `environment:`: a PATH whose `python` is this
    interpreter (the image's), unbuffered output (the image sets it)."""
    return {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) \
        if path.exists() else "(no log)"


def _the_screens(url: dict[str, str]) -> None:
    """The front as a browser meets it: its pages, its configuration, no development
    sign-in, and every service it points the browser at allowing its origin."""
    front = url[FRONT]
    for path in ("/", "/workbench/", "/tra-cuu/"):
        page = httpx.get(front + path, timeout=30)
        assert page.status_code == 200, (path, page.text)
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
    config = httpx.get(f"{front}/config.json", timeout=30).json()
    assert config["env"] == "production" and "development" not in config
    assert config["auth"]["mode"] == "oidc"
    assert {k: config["auth"][k] for k in ("authorization_endpoint", "token_endpoint",
                                           "client_id")} == {
        "authorization_endpoint": ISSUER["WEB_OIDC_AUTHORIZATION_ENDPOINT"],
        "token_endpoint": ISSUER["WEB_OIDC_TOKEN_ENDPOINT"],
        "client_id": ISSUER["WEB_OIDC_CLIENT_ID"]}
    # The browser is sent to the services that run, and the workbench may call them and
    # the issuer's token endpoint.
    assert config["services"] == {n: url[n] for n in SERVICES}
    policy = httpx.get(f"{front}/workbench/", timeout=30).headers["content-security-policy"]
    connect = re.search(r"connect-src ([^;]+)", policy).group(1).split()  # type: ignore[union-attr]
    assert {*config["services"].values(), "https://sso.example.gov.vn"} <= set(connect)
    # Production has no development sign-in.
    dev = httpx.post(f"{front}/dev/token", timeout=30, json={
        "role": "ops", "agency": "*", "name": "Vận hành"})
    assert dev.status_code == 404, dev.text
    assert dev.json()["problems"][0]["code"] == "not_found"
    for name in SERVICES:
        for origin, allowed in ((front, True), ("https://elsewhere.example", False)):
            preflight = httpx.options(f"{url[name]}/api/v1/dossiers", timeout=30, headers={
                "Origin": origin, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type"})
            said = preflight.headers.get("access-control-allow-origin")
            assert (said == origin) is allowed, (name, origin, preflight.status_code, said)


def _one_dossier(directory: Path, url: dict[str, str], s3: Any, bucket: str,
                 public_url: str) -> None:
    def client(who: tuple[str, str, str | None]) -> httpx.Client:
        return httpx.Client(headers={"Authorization": f"Bearer {operator_token(directory, who)}"},
                            timeout=60)

    counter, officer, head, leader, monitor = map(client, (COUNTER, OFFICER, HEAD, LEADER,
                                                             MONITOR))
    with counter, officer, head, leader, monitor:
        # Intake: a counter receipt, with the operator's token.
        received = counter.post(f"{url['intake']}/api/v1/dossiers", json={
            "agency_code": COUNTER[2], "procedure_code": "BHXH.NH.03", "channel": "counter",
            "applicant": {"kind": "individual", "full_name": "Nguyễn Thị Hoa",
                          "id_number": ID_NUMBER},
            "components": [{"code": "GKS", "form": "paper"}],
            "submission_id": "compose-boot-0001"})
        assert received.status_code == 201, received.text
        code = received.json()["dossier_code"]

        # Digitization: the paper component scanned, signed with the mounted officer key,
        # kept in the object store; its signature verifies against the mounted trust root.
        wait_for(lambda: counter.get(f"{url['digitization']}/api/v1/dossiers/{code}"
                                     ).status_code == 200, 120, "digitization to know the dossier")
        scanned = counter.post(
            f"{url['digitization']}/api/v1/dossiers/{code}/components/GKS/scan",
            files={"page": ("page-1.png", _png(), "image/png")})
        assert scanned.status_code == 201, scanned.text
        assert scanned.json()["dossier_digitized"] is True
        stored = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        assert [o["Key"].rsplit("/", 1)[-1] for o in stored] == [scanned.json()["sha256"]]
        document = scanned.json()["document_id"]
        verdict = httpx.get(f"{url['digitization']}/api/v1/documents/{document}/verify",
                            timeout=30).json()
        assert verdict["valid"] is True and verdict["intact"] is True, verdict

        # Processing: the case opens once received and digitized; two steps, a decision,
        # and the result signed by digitization through PROCESSING_SIGN_URL.
        case_url = f"{url['processing']}/api/v1/cases/{code}"
        wait_for(lambda: (r := officer.get(case_url)).status_code == 200
                 and r.json()["state"] == "in_step", 120, "the case to open")
        for who, body in ((officer, {"action": "claim"}),
                          (officer, {"action": "complete_step", "decision": "approve"}),
                          (head, {"action": "claim"}),
                          (head, {"action": "complete_step", "decision": "approve"}),
                          (leader, {"action": "approve"}),
                          (leader, {"action": "issue_result", "result_code": "QD-2026-001"})):
            acted = who.post(f"{case_url}/actions", json=body)
            assert acted.status_code == 200, (body, acted.text)
        result = officer.get(case_url).json()["result"]
        assert result["signed"] is True, result
        link = result["verification_url"]
        assert link.startswith(public_url + "/api/v1/documents/"), link
        checked = httpx.get(url["digitization"] + urlsplit(link).path, timeout=30).json()
        assert checked["valid"] is True and checked["intact"] is True, checked

        # The citizen's page: intake's public lookup, from the front's origin, tells the
        # stage and the signed result's link as processing has them (INTAKE_PROCESSING_URL).
        public = f"{url['intake']}/api/v1/public/dossiers/{code}"
        looked = httpx.get(public, params={"id_last4": ID_NUMBER[-4:]}, timeout=30,
                           headers={"Origin": url[FRONT]})
        assert looked.status_code == 200, looked.text
        assert looked.headers["access-control-allow-origin"] == url[FRONT]
        view = looked.json()
        assert view["progress_known"] is True, "intake could not ask processing"
        assert view["stage"] == "result_ready" and view["result"]["verification_url"] == link

        # Returned at the counter.
        acted = counter.post(f"{case_url}/actions", json={"action": "record_return",
                                                           "return_channel": "counter"})
        assert acted.status_code == 200, acted.text

        # Notification and reporting saw it.
        wait_for(lambda: (r := counter.get(
            f"{url['notification']}/api/v1/dossiers/{code}/notifications")).status_code == 200
            and r.json()["items"], 120, "notification's messages about the dossier")
        wanted = {"received", "digitized", "assigned", "resolved", "issued", "returned",
                  "sent"}

        def traced() -> list[dict[str, Any]] | None:
            r = monitor.get(f"{url['reporting']}/api/v1/dossiers/{code}/trace")
            events = r.json()["events"] if r.status_code == 200 else []
            kinds = {e["type"].rsplit(".", 2)[-2] for e in events}
            return events if wanted <= kinds else None

        trace = wait_for(traced, 120, "reporting's trace of the whole path")
        assert {"intake", "digitization", "processing", "notification"} <= {
            e["service"] for e in trace}

        # Reporting has the return: the citizen rates the dossier on intake's public route,
        # which reporting keeps (INTAKE_REPORTING_URL). Once: the route's allowance per
        # address is the lookup's.
        rated = httpx.post(f"{public}/rating", timeout=30, json={
            "id_last4": ID_NUMBER[-4:], "score": 5, "comment": "Nhanh, đúng hẹn"})
        assert rated.status_code == 200, rated.text
        assert rated.json()["score"] == 5

