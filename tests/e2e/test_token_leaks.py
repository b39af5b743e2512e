"""No bearer token reaches a log or a trace: the five services as separate processes, logging
at INFO and writing their spans to var/traces/*.jsonl as under `make up`, are called with
tokens issued in this run (in the header, and in the query: the dashboard's event stream,
which takes it there, and routes that do not), good, forged and expired; then every log and
trace file they wrote is searched for each token."""

from __future__ import annotations

from pathlib import Path

import httpx

from contracts.topics import SERVICES
from deploy.local.broker import free_port
from deploy.local.stack import Stack
from services.common.http.auth import issue_token
from services.common.observability.tracing import read_jsonl
from services.common.settings import DEV_SERVICE_KEY
from services.product.roles import Role
from tests.e2e.conftest import dossier

OFFICE = "000.01.01.H26"


def test_no_token_issued_in_the_run_is_written_to_any_log_or_trace(
        session_broker: str, tmp_path: Path) -> None:
    var = tmp_path / "var"
    stack = Stack(session_broker, var, ports={name: free_port() for name in SERVICES},
                  extra_env={"ONESTOP_LOG_LEVEL": "INFO", "ONESTOP_TRACING_EXPORTER": "jsonl"})
    issued: list[str] = []

    def token(role: Role, agency: str = "*", **more: object) -> str:
        made = issue_token(role, user=f"leak-{role}", agency=agency, **more)  # type: ignore[arg-type]
        issued.append(made)
        return made

    stack.migrate()
    stack.start()
    try:
        url = {name: stack.services[name].url for name in SERVICES}
        counter = token(Role.counter_officer, OFFICE)
        monitor = token(Role.national_monitor)
        forged = token(Role.national_monitor, secret="a-forger's-secret-of-32-bytes-long")
        expired = token(Role.ops, hours=-1)
        with httpx.Client(timeout=30) as c:
            def bearer(t: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {t}"}

            r = c.post(f"{url['intake']}/api/v1/dossiers", json=dossier(OFFICE, 7),
                       headers=bearer(counter))
            assert r.status_code == 201, r.text
            code = r.json()["dossier_code"]
            assert c.get(f"{url['intake']}/api/v1/dossiers/{code}",
                         params={"access_token": counter, "token": monitor},
                         headers=bearer(counter)).status_code == 200
            for name in ("processing", "digitization"):
                path = "cases" if name == "processing" else "dossiers"
                c.get(f"{url[name]}/api/v1/{path}/{code}", headers=bearer(monitor))
            assert c.get(f"{url['notification']}/api/v1/inbox",
                         headers=bearer(monitor)).status_code == 200
            for bad in (forged, expired):
                assert c.get(f"{url['reporting']}/api/v1/stats",
                             headers=bearer(bad)).status_code == 401
            # A query token where none is taken: refused, and not written anywhere either.
            r = c.get(f"{url['reporting']}/api/v1/stats", params={"access_token": monitor},
                      headers={"Accept": "text/event-stream"})
            assert r.status_code == 401
            # The dashboard's event stream, as the page's EventSource opens it.
            with c.stream("GET", f"{url['reporting']}/api/v1/dashboard/stream",
                          params={"access_token": monitor},
                          headers={"Accept": "text/event-stream"}) as stream:
                assert stream.status_code == 200
                for line in stream.iter_lines():
                    if line.startswith("event: snapshot"):
                        break
    finally:
        stack.stop()  # each service flushes its last spans as it stops

    written = sorted([*var.rglob("*.log"), *var.rglob("*.jsonl")])
    traces = [span for path in (var / "traces").glob("*.jsonl") for span in read_jsonl(path)]
    streamed = [s for s in traces if s["name"].startswith("GET /api/v1/dashboard/stream")]
    assert streamed, "the event stream's request was not traced: nothing was checked"
    assert len(written) >= len(SERVICES) * 2, written
    for path in written:
        text = path.read_text(errors="replace")
        for made in issued:
            signature = made.rsplit(".", 1)[-1]
            assert made not in text and signature not in text, f"a token in {path}"
        assert DEV_SERVICE_KEY not in text
