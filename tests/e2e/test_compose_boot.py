"""The production stack boots as documented, without Docker: `make secrets` (run here into a
scratch folder), then each service's container as docker-compose.yml describes it (its
`environment:` with compose's substitution from the generated `.env`, its bind mounts, its
`command:`), started as its own process in production mode. Only the hosts are what runs
here: the test's broker for `kafka` (the local one also without idempotent producers, which
it cannot do), local PostgreSQL (a fresh database per service) for
`postgres`, a local S3 server (moto) for `minio`, a local OTLP sink for `jaeger`, and the
other services on free loopback ports. All five must answer /health 200, and one dossier
goes through all five with the operator's tokens: received at the counter, scanned (signed
with the mounted officer key, stored in the object store), processed to a result signed by
digitization whose verification link verifies, notified, and traced in reporting.
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


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make secrets` into a folder of its own: what an operator runs once."""
    directory = tmp_path_factory.mktemp("compose-project")
    done = subprocess.run([sys.executable, "-m", "deploy.secrets", "--dir", str(directory)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
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


def test_the_compose_stack_boots_from_make_secrets_and_carries_a_dossier(
        generated: Path, kafka_bootstrap: str, databases: dict[str, str], s3_server: str,
        otlp_sink: str, tmp_path: Path) -> None:
    project = Project.load(COMPOSE_FILE, generated, environ={})
    ports = {name: free_port() for name in SERVICES}
    here = {"kafka:9092": kafka_bootstrap, "minio:9000": s3_server, "jaeger:4318": otlp_sink,
            **{f"{name}:{project.environment(name)[f'{name.upper()}_HTTP_PORT']}":
               f"127.0.0.1:{ports[name]}" for name in SERVICES}}

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

    processes = {}
    try:
        for name in SERVICES:
            env = {**_base_env(), "ONESTOP_VAR_DIR": str(tmp_path / name / "var"),
                   **_localized(project, name, here, databases[name], ports[name])}
            assert env["ONESTOP_ENV"] == "production"
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
        _one_dossier(generated, {n: p.url for n, p in processes.items()}, s3, bucket,
                     project.environment("digitization")["DIGITIZATION_PUBLIC_URL"])
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
                          "id_number": "001190012345"},
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

        # Notification and reporting saw it.
        wait_for(lambda: (r := counter.get(
            f"{url['notification']}/api/v1/dossiers/{code}/notifications")).status_code == 200
            and r.json()["items"], 120, "notification's messages about the dossier")
        wanted = {"received", "digitized", "assigned", "resolved", "issued", "sent"}

        def traced() -> list[dict[str, Any]] | None:
            r = monitor.get(f"{url['reporting']}/api/v1/dossiers/{code}/trace")
            events = r.json()["events"] if r.status_code == 200 else []
            kinds = {e["type"].rsplit(".", 2)[-2] for e in events}
            return events if wanted <= kinds else None

        trace = wait_for(traced, 120, "reporting's trace of the whole path")
        assert {"intake", "digitization", "processing", "notification"} <= {
            e["service"] for e in trace}

