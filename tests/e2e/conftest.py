"""End-to-end: the five services as separate processes against a real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.topics import SERVICES
from deploy.local.broker import LocalBroker, free_port
from deploy.local.stack import Stack
from tests.auth import AUTH
from tests.conftest import with_topics
from tests.integration.support import eventually

pytestmark = pytest.mark.e2e


def make_stack(bootstrap: str, var: Path) -> Stack:
    stack = Stack(bootstrap, var, ports={name: free_port() for name in SERVICES},
                  extra_env={"ONESTOP_LOG_LEVEL": "WARNING"})
    stack.migrate()
    return stack.start()


@pytest.fixture(scope="module")
def stack(session_broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = make_stack(session_broker, tmp_path_factory.mktemp("stack"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker this test may kill: always a local Tansu, whatever the session uses."""
    broker = LocalBroker(free_port(), tmp_path / "broker.log").start()
    with_topics(broker.bootstrap)
    try:
        yield broker
    finally:
        broker.stop()


def dossier(agency: str, n: int, *, paper: bool = False) -> dict[str, Any]:
    return {
        "agency_code": agency, "procedure_code": "BHXH.NH.03", "channel": "counter",
        "applicant": {"kind": "individual", "full_name": f"Trần Văn Bình {n}",
                      "id_number": f"0011900{n:05d}"},
        "components": [{"code": "GKS", "form": "paper" if paper else "electronic"}],
        "submission_id": f"e2e-{agency}-{n}",
    }


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """`eventually` for the synchronous end-to-end tests: one polling rule for the suite."""
    return asyncio.run(eventually(check, what, seconds=timeout, interval=0.5))


def agency_stats(stack: Stack, agency: str) -> dict[str, Any]:
    stats = httpx.get(f"{stack.services['reporting'].url}/api/v1/stats", auth=AUTH,
                      timeout=10).json()
    return stats["by_agency"].get(agency, {"dossiers": {}, "events": 0})
