"""The national dashboard in a real browser: Debian's chromium driven by playwright (no
browser download) opens reporting's page served over real HTTP, a dossier's events are
published to the real broker DURING the test, and the dossier appears on the page and then
changes status without a reload (server-sent events); the drill-down province → office →
procedure → dossier reaches its path. A screenshot is saved under var/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from bench.rebuild import lifecycle
from services.common.http.auth import issue_token
from services.common.runtime import Runtime
from services.product.roles import Role
from services.reporting.app import build
from services.reporting.settings import ReportingSettings
from tests.integration.support import settings_for, started
from tests.integration.test_reporting_dashboard import over_http
from tests.integration.test_reporting_projection import publish

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
OFFICE, PROVINCE, PROCEDURE = "000.01.01.H26", "000.00.01.H26", "BHXH.NH.03"
WAIT_MS = 40_000


def records(unique: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """A late, unexplained dossier of one office (lifecycle 8 of the bench's generator), its
    business times in the past (from a Monday two weeks ago, 8:00 in Hà Nội), recorded now
    (so it heads the list of recent changes)."""
    now = datetime.now(UTC)
    day = (now - timedelta(days=14)).date()
    day -= timedelta(days=day.weekday())
    start = datetime(day.year, day.month, day.day, 1, 0, tzinfo=UTC)
    items = []
    for topic, env in lifecycle(8, start, agency=OFFICE, tag=f"ui{unique[:6]}"):
        env = env.model_copy(update={"time": now})
        items.append((topic.name, env.subject.encode(), env.model_dump_json().encode()))
    code = items[0][1].decode()
    return code, items


def chromium() -> str:
    # Required, never skipped: CI installs Debian's chromium (apt-get install chromium).
    assert CHROMIUM.exists(), "Debian chromium is missing: apt-get install -y chromium"
    return str(CHROMIUM)


async def click_row(page: Page, table: str, code: str) -> None:
    row = page.locator(f'{table} tr[data-code="{code}"]')
    await row.wait_for(timeout=WAIT_MS)
    await row.click()


async def test_dossier_appears_live_and_drills_down_to_its_path(
        kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    settings = settings_for(ReportingSettings, kafka_bootstrap,
                            f"sqlite+aiosqlite:///{tmp_path / 'reporting.db'}", tmp_path)
    settings = settings.model_copy(update={"dashboard_poll_seconds": 0.3, "log_level": "WARNING"})
    code, items = records(unique)
    received = [i for i in items if b"dossier.received" in i[2] or b"step.assigned" in i[2]]
    rest = [i for i in items if i not in received]
    runtime = await started(build(settings))
    try:
        await drive(runtime, kafka_bootstrap, code, received, rest)
    finally:
        await runtime.stop()
    assert (SCREENSHOTS / "dashboard.png").stat().st_size > 10_000


async def drive(runtime: Runtime, bootstrap: str, code: str,
                received: list[tuple[str, bytes, bytes]],
                rest: list[tuple[str, bytes, bytes]]) -> None:
    async with over_http(runtime.app) as url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # As `make up` prints it: the monitor's token in the fragment, kept by the page.
            await page.goto(url + "/#token=" + issue_token(Role.national_monitor))
            assert await page.title() == "Giám sát giải quyết thủ tục hành chính — BHXH"
            await page.locator("#live.on").wait_for(timeout=WAIT_MS)
            # The chart library is the vendored file, not a CDN.
            assert await page.evaluate("typeof window.Chart") == "function"
            await page.evaluate("window.__sameDocument = true")

            # Received and assigned now: the dossier appears without a reload...
            await publish(bootstrap, received)
            row = page.locator(f'#recent tr[data-code="{code}"]')
            await row.wait_for(timeout=WAIT_MS)
            # A locator, not a JavaScript string: the page's policy forbids eval.
            await page.locator(f'#recent tr[data-code="{code}"]',
                               has_text="Đang giải quyết").wait_for(timeout=WAIT_MS)
            # ...and its result, late, changes it in place, and lists it as overdue.
            await publish(bootstrap, rest)
            # A locator, not a JavaScript string: the page's policy forbids eval.
            await page.locator(f'#recent tr[data-code="{code}"]',
                               has_text="Đã trả kết quả").wait_for(timeout=WAIT_MS)
            overdue = page.locator(f'#overdue tr[data-code="{code}"]')
            await overdue.wait_for(timeout=WAIT_MS)
            assert "Chưa giải trình" in await overdue.inner_text()
            assert await page.evaluate("window.__sameDocument") is True

            # Drill-down: province → office → procedure → dossier → its path.
            await click_row(page, "#provinces", PROVINCE)
            await click_row(page, "#offices", OFFICE)
            await click_row(page, "#procedures", PROCEDURE)
            await click_row(page, "#dossiers", code)
            path = page.locator(f'#path[data-code="{code}"]')
            await path.wait_for(timeout=WAIT_MS)
            text = await path.inner_text()
            for expected in ("Tiếp nhận hồ sơ", "Giao xử lý", "Phòng Chế độ BHXH", "cb.3",
                             "Hoàn thành bước", "Quá hạn", "Trả kết quả",
                             "ngày làm việc — do ai giữ"):
                assert expected in text, f"{expected!r} missing from the path:\n{text}"
            assert await page.locator("#path .timeline li").count() >= 6
            # Thi đua and delay attribution follow the projection too.
            officer = page.locator("#officers tbody tr", has_text="cb.3")
            await officer.wait_for(timeout=WAIT_MS)
            assert not errors, errors

            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
        finally:
            await browser.close()
