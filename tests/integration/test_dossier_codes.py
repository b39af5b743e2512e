"""Two intake replicas (separate processes) on one PostgreSQL database hand out dossier
codes concurrently: no code twice, no number skipped (docs/law.md#dossier-codes)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from deploy.local.broker import free_port
from deploy.local.stack import ROOT, ServiceProcess
from tests.auth import AUTH
from tests.conftest import postgres_database

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
AGENCY = "000.00.12.H62"  # no other test uses this agency (they share the broker)


def body(replica: int, n: int) -> dict:
    return {"agency_code": AGENCY, "procedure_code": "BHXH.ST.01", "channel": "counter",
            "applicant": {"kind": "organization", "name": f"Công ty Sông Đà {replica}-{n}",
                          "unit_code": f"TS{replica}{n:05d}"},
            "components": [{"code": "TK1-TS", "form": "electronic"}],
            "submission_id": f"codes-{replica}-{n}"}


async def submit_all(urls: list[str], per_replica: int) -> list[str]:
    limit = asyncio.Semaphore(16)

    async def one(client: httpx.AsyncClient, url: str, replica: int, n: int) -> str:
        async with limit:
            r = await client.post(f"{url}/api/v1/dossiers", json=body(replica, n))
            assert r.status_code == 201, r.text
            return str(r.json()["dossier_code"])

    async with httpx.AsyncClient(timeout=60, auth=AUTH) as client:
        return list(await asyncio.gather(*(one(client, url, i, n) for i, url in enumerate(urls)
                                           for n in range(per_replica))))


async def test_two_replicas_never_share_or_skip_a_code(kafka_bootstrap: str,
                                                        tmp_path: Path) -> None:
    async with postgres_database() as url:
        env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "INTAKE_DATABASE_URL": url,
               "ONESTOP_VAR_DIR": str(tmp_path), "ONESTOP_LOG_LEVEL": "WARNING",
               "INTAKE_CONSUMER_GROUP": f"codes-{tmp_path.name}"}
        full = {**os.environ, **env}
        await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "services.intake", "migrate"], env=full,
            check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        replicas = [ServiceProcess("intake", free_port(), {**full, "INTAKE_HTTP_PORT": "0"},
                                   tmp_path / f"intake-{i}.log") for i in range(2)]
        for replica in replicas:
            replica.env["INTAKE_HTTP_PORT"] = str(replica.port)
            replica.start()
        try:
            for replica in replicas:
                await asyncio.to_thread(replica.wait_healthy)
            codes = await submit_all([r.url for r in replicas], per_replica=60)
        finally:
            for replica in replicas:
                replica.stop()
    assert len(codes) == 120
    assert len(set(codes)) == 120, "a code was handed out twice"
    by_day: dict[str, list[int]] = {}
    for code in codes:
        prefix, seq = code.rsplit("-", 1)
        assert prefix.startswith(AGENCY + "-")
        by_day.setdefault(prefix, []).append(int(seq))
    for numbers in by_day.values():  # a run crossing midnight restarts at 1: still no gap
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), "a number was skipped"
