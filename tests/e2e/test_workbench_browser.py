"""The people's screens in a real browser (Debian's chromium through playwright): the five
services and the screens' front as separate processes on a real broker, each person in a
browser context of their own, signed in through the development sign-in.

One dossier goes from the counter form (the catalogue's components, completeness as the
officer types, a 422 shown at the form, the receipt slip opened as a PDF) through the scan
of its paper component (the signed PDF shown), both processing steps (claim, complete; a 409
with the allowed actions and a 403 naming the missing permission shown where the officer
acted), the leader's approval and the signed result, and the return by post (422 without a
tracking number, then returned); then a citizen on a phone finds it by code and the last
four ID digits (wrong digits and an unknown code get the same answer), reads the path and
the verification link, and rates it. The rating reaches reporting as a DossierRated of
origin `citizen` beside the counter survey. Every page passes axe-core with no serious or
critical violation; screenshots under var/screenshots/; no token in any URL or log."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw
from playwright.async_api import BrowserContext, Page, async_playwright

from contracts.topics import REPORTS, SERVICES
from deploy.local.broker import LocalBroker, free_port
from deploy.local.stack import Stack
from services.law.workdays import TZ
from tests.auth import AUTH
from tests.conftest import with_topics
from tests.integration.support import eventually, read_topic

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
AXE = Path(__file__).with_name("vendor") / "axe-core" / "axe.min.js"
WAIT_MS = 60_000
OFFICE = "000.01.01.H26"
ID_NUMBER = "001190012345"
COUNTER = ("counter_officer", OFFICE, "Lê Thị Mai")
OFFICER = ("processing_officer", OFFICE, "Nguyễn Văn An")
HEAD = ("department_head", "000.00.01.H26", "Trần Thị Bình")
LEADER = ("office_leader", "000.00.01.H26", "Phạm Văn Cường")
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    var = tmp_path_factory.mktemp("screens")
    # A broker of its own: on the session's, the consumer groups are the earlier modules'
    # stacks' (onestop.<service>), and a member one of them left behind (a killed service)
    # held this stack's consumers out of their partitions for minutes on a loaded machine.
    broker = LocalBroker(free_port(), var / "broker.log").start()
    with_topics(broker.bootstrap)
    stack = Stack(broker.bootstrap, var, ports={name: free_port() for name in SERVICES},
                  front_port=free_port(), extra_env={"ONESTOP_LOG_LEVEL": "WARNING"})
    stack.migrate()
    try:
        stack.start()
        stack.start_front()
        yield stack
    finally:
        stack.stop()
        broker.stop()


# How long a screen is refreshed for what a consumer has not applied yet: a loaded CI
# machine starts five services' consumers and catches them up slowly.
POLL_SECONDS = 180.0


@contextlib.contextmanager
def logs_on_failure(stack: Stack) -> Iterator[None]:
    """A failed journey names what each service logged last: the screen alone cannot say
    which consumer was behind."""
    try:
        yield
    except Exception as exc:
        tails = "\n".join(
            f"--- {svc.name}:\n" + "\n".join(
                svc.log_file.read_text("utf-8", errors="replace").splitlines()[-15:])
            for svc in stack.services.values() if svc.log_file.exists())
        raise AssertionError(f"{exc}\n{tails}") from exc


def scanned_page() -> bytes:
    """A birth certificate's page as a counter scanner gives it (PNG, 150 dpi, A5)."""
    image = Image.new("L", (874, 1240), 255)
    draw = ImageDraw.Draw(image)
    draw.text((80, 80), "GIAY KHAI SINH", fill=0)
    draw.rectangle((60, 60, 814, 1180), outline=0, width=3)
    out = io.BytesIO()
    image.save(out, "PNG", dpi=(150, 150))
    return out.getvalue()


class Watch:
    """What a page must never do: fail a script, break its content security policy, or put
    a token in its address."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.urls: list[str] = []

    def attach(self, page: Page) -> Page:
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", lambda m: self.errors.append(f"console: {m.text}")
                if m.type == "error" and "Content Security Policy" in m.text else None)
        page.on("framenavigated", lambda frame: self.urls.append(frame.url))
        return page


async def axe_check(page: Page, name: str) -> None:
    """axe-core (vendored) on the page as it stands: no serious or critical violation."""
    await page.evaluate(AXE.read_text("utf-8"))
    result = await page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map("
        "v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map("
        "n => n.target.join(' ')).slice(0, 5)})))")
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{name}: {bad}"


async def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def sign_in(context: BrowserContext, front: str, watch: Watch,
                  who: tuple[str, str, str], *, check: bool = False) -> Page:
    role, agency, name = who
    page = watch.attach(await context.new_page())
    await page.goto(f"{front}/workbench/")
    await page.locator("#dev-signin").wait_for(timeout=WAIT_MS)
    if check:
        await axe_check(page, "sign-in")
        await shot(page, "workbench-signin")
    await page.select_option("#dev-role", role)
    await page.select_option("#dev-agency", agency)
    await page.fill("#dev-name", name)
    await page.click("#dev-signin button[type=submit]")
    await page.locator("#who-name", has_text=name).wait_for(timeout=WAIT_MS)
    await page.locator("body[data-ready=yes]").wait_for(timeout=WAIT_MS)
    assert "eyJ" not in page.url
    return page


async def pdf_opened(page: Page, click: Any, path_part: str) -> bytes:
    """Clicks, and returns the PDF the page fetched (with its token, in a header) and
    opened in a new tab; the bytes are taken as they pass (a fetch read into a blob keeps
    no body for the browser's tools)."""
    seen: dict[str, Any] = {}

    async def capture(route: Any) -> None:
        if route.request.method != "GET":
            await route.continue_()
            return
        response = await route.fetch()
        seen["status"], seen["body"] = response.status, await response.body()
        seen["type"] = response.headers.get("content-type", "")
        await route.fulfill(response=response)

    def matches(url: str) -> bool:
        return path_part in url

    await page.route(matches, capture)
    try:
        async with page.context.expect_page() as tab:
            await click()
        popup = await tab.value
        await popup.wait_for_url(re.compile(r"^blob:"), timeout=WAIT_MS)
        await popup.close()
    finally:
        await page.unroute(matches, capture)
    assert seen.get("status") == 200 and seen["type"] == "application/pdf", seen
    body: bytes = seen["body"]
    assert body.startswith(b"%PDF"), body[:40]
    return body


async def open_dossier(page: Page, code: str, state: str | None = None) -> None:
    """The dossier tab on `code`, opened again until processing shows `state`."""
    await page.keyboard.press("Alt+3")

    async def opened() -> bool:
        await page.fill("#d-code", code)
        await page.click("#open-dossier button[type=submit]")
        # Drawn again, not only the earlier drawing of the same dossier (a click on it now
        # would be drawn away: a CI run's `approve` form was, once).
        await page.locator(f'#dossier[data-code="{code}"][aria-busy="false"]').wait_for(
            timeout=WAIT_MS)
        return state is None or bool(
            await page.locator(f'#dossier[data-state="{state}"]').count())
    await eventually(opened, f"{code} to reach {state}", seconds=120, interval=1)


async def act(page: Page, action: str, fields: dict[str, str] | None = None,
              *, expect_ok: bool = True) -> None:
    before = await page.locator("#dossier").get_attribute("data-state")
    await page.click(f'#d-actions button[data-action="{action}"]')
    if fields is not None:
        form = page.locator("#d-action-form")
        await form.wait_for(timeout=WAIT_MS)
        for name, value in fields.items():
            field = form.locator(f'[data-field="{name}"]')
            if await field.evaluate("el => el.tagName") == "SELECT":
                await field.select_option(value)
            else:
                await field.fill(value)
        await page.click(f'#d-action-confirm[data-action="{action}"]')
    if expect_ok:
        await page.locator(f'#dossier[data-done="{action}"]').wait_for(timeout=WAIT_MS)
        assert action in ("claim", "complete_step") or \
            await page.locator("#dossier").get_attribute("data-state") != before


async def problems_of(page: Page, selector: str) -> str:
    box = page.locator(selector).first
    await box.wait_for(state="visible", timeout=WAIT_MS)
    return await box.inner_text()


async def receive_at_the_counter(page: Page) -> str:
    await page.locator("#tab-counter:not([hidden])").wait_for(timeout=WAIT_MS)
    await page.select_option("#r-procedure", "BHXH.NH.03")
    # The catalogue drives the form: the procedure's components, legal time and fees.
    await page.locator('#r-components tr[data-component="GKS"]').wait_for(timeout=WAIT_MS)
    assert await page.locator('#r-components tr[data-component="GCN-NV"]').count() == 1
    assert "ngày làm việc" in await page.inner_text("#r-legal-time")
    assert await page.inner_text("#r-fee") == "Không thu phí, lệ phí"
    # Completeness as the officer types.
    assert (await page.inner_text("#r-complete")).startswith("Còn thiếu")
    await page.fill("#r-full-name", "Nguyễn Thị Hoa")
    await page.fill("#r-id-number", "12345")  # too short: the service says so, by field
    await page.select_option("#r-return", "postal")
    await axe_check(page, "counter")
    await shot(page, "workbench-counter")
    await page.click("#r-submit")
    text = await problems_of(page, "#r-problems:not([hidden])")
    assert "Thông tin chưa hợp lệ" in text and "Số CCCD" in text, text
    assert await page.get_attribute("#r-id-number", "aria-invalid") == "true"
    await page.fill("#r-id-number", ID_NUMBER)
    await page.locator("#r-complete[data-complete=true]").wait_for(timeout=WAIT_MS)
    assert await page.inner_text("#r-complete") == "Hồ sơ đủ thành phần bắt buộc"
    # The warehouse was asked for this applicant (nothing held yet).
    await page.locator("#r-warehouse", has_text="Kho dữ liệu").wait_for(timeout=WAIT_MS)
    # Received: the receipt and appointment slip opens, ready to print.
    body = await pdf_opened(page, lambda: page.click("#r-submit"), "/receipt.pdf")
    assert len(body) > 1000
    code = (await page.inner_text("#r-code")).strip()
    assert re.fullmatch(rf"{re.escape(OFFICE)}-\d{{6}}-\d{{4}}", code), code
    await shot(page, "workbench-receipt")
    return code


async def scan_the_paper_component(page: Page, code: str, tmp: Path) -> None:
    await page.click("#r-done button")  # "Mở hồ sơ (quét thành phần)"
    await page.locator(f'#dossier[data-code="{code}"]').wait_for(timeout=WAIT_MS)
    upload = page.locator('#d-components input[data-scan="GKS"]')
    async def scannable() -> bool:  # digitization learns of the dossier from intake's topic
        if await upload.count():
            return True
        await page.click("#open-dossier button[type=submit]")
        return False
    await eventually(scannable, "the component to be scannable", seconds=POLL_SECONDS,
                     interval=1)
    scan = tmp / "gks.png"
    scan.write_bytes(scanned_page())
    await upload.set_input_files(str(scan))
    await page.click('#d-components button[data-upload="GKS"]')
    row = page.locator('#d-components tr[data-component="GKS"] td.status',
                       has_text="Đã số hóa")
    refused = page.locator("#d-components-title ~ .problems:not([hidden])")
    await row.or_(refused).first.wait_for(timeout=3 * WAIT_MS)  # signing takes a while
    assert not await refused.count(), await refused.inner_text()
    assert "ký bởi" in await row.inner_text()
    body = await pdf_opened(page, lambda: page.click("#d-components button[data-document]"),
                            "/api/v1/documents/")
    assert b"/ByteRange" in body  # the signed PDF, as digitization keeps it


async def drive(front: str, digitization: str, tmp: Path) -> dict[str, Any]:
    watch = Watch()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            desk = {"viewport": {"width": 1366, "height": 768}}
            counter = await sign_in(await browser.new_context(**desk), front, watch, COUNTER,
                                    check=True)
            code = await receive_at_the_counter(counter)
            await scan_the_paper_component(counter, code, tmp)

            # Processing: the officer finds it in the office's queue and takes step 1.
            officer = await sign_in(await browser.new_context(**desk), front, watch, OFFICER)
            await officer.keyboard.press("Alt+2")
            await officer.select_option("#q-scope", "agency")
            row = officer.locator(f'#queue tr[data-code="{code}"]')
            async def queued() -> int:  # the case opens once receipt and scan are known
                await officer.click("#queue-filters button[type=submit]")
                return await row.count()
            await eventually(queued, "the case in the office's queue", seconds=POLL_SECONDS,
                             interval=1)
            await axe_check(officer, "queue")
            await shot(officer, "workbench-queue")
            await row.locator("button").click()
            await officer.locator(f'#dossier[data-code="{code}"]').wait_for(timeout=WAIT_MS)
            await act(officer, "claim")
            assert await officer.inner_text("#d-holder") == OFFICER[2]
            await act(officer, "complete_step", {"decision": "approve",
                                                 "comment": "Đủ điều kiện hưởng"})
            assert "Kế hoạch - Tài chính" in await officer.inner_text("#d-step")

            # Step 2 by the department head, in the province's office.
            head = await sign_in(await browser.new_context(**desk), front, watch, HEAD)
            await open_dossier(head, code, "in_step")
            await act(head, "claim")
            await act(head, "complete_step", {"decision": "approve"})
            assert await head.locator("#dossier").get_attribute("data-state") == "deciding"
            await head.keyboard.press("Alt+4")
            await head.locator("#overdue p, #overdue article").first.wait_for(timeout=WAIT_MS)
            await axe_check(head, "overdue")
            await shot(head, "workbench-overdue")

            # The officer's page still offers "claim": the 409 names what may happen now...
            await officer.click('#d-actions button[data-action="claim"]')
            text = await problems_of(officer, "#dossier .problems:not([hidden])")
            assert "Không thực hiện được ở trạng thái hiện tại" in text, text
            assert "Chờ lãnh đạo quyết định" in text and "Phê duyệt" in text, text
            # ...and a decision is the leadership's: 403 with the permission missing.
            await open_dossier(officer, code, "deciding")
            await act(officer, "approve", {"comment": "Đồng ý"}, expect_ok=False)
            text = await problems_of(officer, "#dossier .problems:not([hidden])")
            assert "cần quyền case:decide" in text, text

            # The leader decides and issues the signed result.
            leader = await sign_in(await browser.new_context(**desk), front, watch, LEADER)
            await open_dossier(leader, code, "deciding")
            await act(leader, "approve", {"comment": "Đồng ý giải quyết"})
            await act(leader, "issue_result", {"result_code": "QD-2026-001"})
            assert await leader.inner_text("#d-signed") == "Đã ký số"
            result = await pdf_opened(leader, lambda: leader.click("#d-result-pdf"),
                                      "/api/v1/documents/")
            assert b"/ByteRange" in result
            slip = await pdf_opened(leader, lambda: leader.click("#d-control-slip"),
                                    "/control-slip.pdf")
            assert len(slip) > 1000
            await axe_check(leader, "case")
            await shot(leader, "workbench-case")

            # The counter returns it by post: the tracking number is asked for first.
            await open_dossier(counter, code, "result_issued")
            await act(counter, "record_return", {"return_channel": "postal"}, expect_ok=False)
            text = await problems_of(counter, "#dossier .problems:not([hidden])")
            assert "Thông tin chưa hợp lệ" in text and "tracking_number_required" in text, text
            await counter.fill('#d-action-form [data-field="postal_tracking_number"]',
                               "EB123456785VN")
            await counter.click('#d-action-confirm[data-action="record_return"]')
            await counter.locator('#dossier[data-done="record_return"]').wait_for(
                timeout=WAIT_MS)
            assert await counter.locator("#dossier").get_attribute("data-state") == "returned"
            await counter.fill("#d-survey-title ~ .row input", "Cán bộ hướng dẫn tận tình")
            await counter.select_option("#d-survey-title ~ .row select", "4")
            recorded = counter.locator("#d-survey-done:not([hidden])")
            async def surveyed() -> int:  # reporting hears of the return after processing
                await counter.click("#d-survey-title ~ .row button")
                await counter.locator("#d-survey-done:not([hidden]), "
                                      "#d-survey-title ~ .problems:not([hidden])"
                                      ).first.wait_for(timeout=WAIT_MS)
                return await recorded.count()
            await eventually(surveyed, "the counter survey recorded", seconds=POLL_SECONDS,
                             interval=1)
            assert "Đã ghi phiếu khảo sát tại quầy" in await recorded.inner_text()

            citizen = await find_and_rate(browser, front, watch, code)
            assert citizen["verify"].startswith(digitization + "/api/v1/documents/")
            assert not watch.errors, watch.errors
            assert not [u for u in watch.urls if JWT.search(u)], watch.urls
            return {"code": code, **citizen}
        finally:
            await browser.close()


async def find_and_rate(browser: Any, front: str, watch: Watch, code: str) -> dict[str, Any]:
    phone = await browser.new_context(viewport={"width": 390, "height": 844},
                                      is_mobile=True, has_touch=True)
    page = watch.attach(await phone.new_page())
    await page.goto(f"{front}/tra-cuu/")
    await axe_check(page, "citizen")

    async def look(the_code: str, last4: str) -> None:
        await page.fill("#code", the_code)
        await page.fill("#last4", last4)
        await page.click("#lookup button[type=submit]")

    await look(code, "9999")
    wrong_digits = await problems_of(page, "#problems:not([hidden])")
    await look(code[:-4] + "9999", ID_NUMBER[-4:])
    await page.locator("#problems:not([hidden])").wait_for(timeout=WAIT_MS)
    wrong_code = await page.inner_text("#problems")
    assert wrong_digits == wrong_code and "Không tìm thấy hồ sơ" in wrong_code

    async def returned() -> bool:  # the page shows what processing holds, returned just now
        await look(code, ID_NUMBER[-4:])
        await page.locator("#found:not([hidden])").wait_for(timeout=WAIT_MS)
        return await page.get_attribute("#found", "data-stage") == "returned"
    await eventually(returned, "the citizen page to show the return",
                     seconds=POLL_SECONDS, interval=1)
    assert await page.inner_text("#status") == "Đã trả kết quả"
    assert await page.inner_text("#f-return") == "Gửi qua dịch vụ bưu chính công ích"
    path = await page.inner_text("#path")
    for expected in ("Tiếp nhận hồ sơ", "Bước 1: Xét duyệt hưởng", "Bước 2: Chi trả",
                     "Lãnh đạo phê duyệt", "Phát hành kết quả (ký số)", "Trả kết quả"):
        assert expected in path, path
    assert "Nguyễn" not in path  # no officer is named to the public
    verify = await page.get_attribute("#f-verify", "href") or ""
    assert verify.endswith("/verify"), verify
    await page.locator("#rating:not([hidden])").wait_for(timeout=WAIT_MS)
    await axe_check(page, "citizen-found")
    await page.check('input[name="score"][value="5"]')
    await page.fill("#comment", "Tra cứu dễ, nhận kết quả qua bưu điện đúng hẹn")
    await page.click("#rate-send")
    done = page.locator("#rating-done:not([hidden])")
    await done.wait_for(timeout=WAIT_MS)
    text = await done.inner_text()
    assert "5/5" in text and "Có thể sửa đánh giá đến" in text, text
    await shot(page, "citizen")
    return {"verify": verify}


def test_a_dossier_through_every_screen_then_rated_by_its_citizen(
        screens: Stack, tmp_path: Path) -> None:
    assert CHROMIUM.exists(), "Debian chromium is missing: apt-get install -y chromium"
    front = screens.services["web"].url
    digitization = screens.services["digitization"].url
    with logs_on_failure(screens):
        done = asyncio.run(drive(front, digitization, tmp_path))
    code = done["code"]

    # The rating reached reporting, as the citizen's, beside the counter survey.
    reporting = screens.services["reporting"].url
    standing = httpx.get(f"{reporting}/api/v1/dossiers/{code}/citizen-rating", auth=AUTH,
                         timeout=10).json()
    assert (standing["origin"], standing["score"]) == ("citizen", 5)
    events = asyncio.run(read_topic(screens.bootstrap, REPORTS.name,
                                    lambda b, _: b.get("subject") == code, count=2))
    assert sorted((e["data"]["origin"], e["data"]["score"]) for e, _ in events) == [
        ("citizen", 5), ("counter_survey", 4)]
    # No token reached a log line of any process.
    for svc in screens.services.values():
        assert not JWT.search(svc.log_file.read_text("utf-8", errors="replace")), svc.name
    for name in ("workbench-signin", "workbench-counter", "workbench-receipt",
                 "workbench-queue", "workbench-case", "workbench-overdue", "citizen"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000, name


async def fill_applicant(page: Page, name: str, id_number: str) -> None:
    await page.locator("#tab-counter:not([hidden])").wait_for(timeout=WAIT_MS)
    await page.select_option("#r-procedure", "BHXH.NH.03")
    await page.fill("#r-full-name", name)
    await page.fill("#r-id-number", id_number)
    await page.locator("#r-complete[data-complete=true]").wait_for(timeout=WAIT_MS)


async def the_other_paths(front: str, tmp: Path) -> None:
    watch = Watch()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            desk = {"viewport": {"width": 1366, "height": 768}}
            counter = await sign_in(await browser.new_context(**desk), front, watch, COUNTER)
            # Refused at the counter, with reasons: the refusal slip opens.
            await fill_applicant(counter, "Vũ Văn Hùng", "001090011111")
            await counter.click("#r-refuse-open")
            await counter.fill("#r-reasons", "Thủ tục không thuộc thẩm quyền của cơ quan")
            await pdf_opened(counter, lambda: counter.click("#r-refuse-send"), "/refusal.pdf")
            assert "Đã từ chối tiếp nhận" in await counter.inner_text("#r-done")

            # Received, then asked at the counter for a supplement (its slip), given it.
            await counter.click("#r-new")
            await fill_applicant(counter, "Phan Thị Mận", "001090022222")
            await pdf_opened(counter, lambda: counter.click("#r-submit"), "/receipt.pdf")
            code = (await counter.inner_text("#r-code")).strip()
            await counter.click("#r-done button")
            await counter.locator(f'#dossier[data-code="{code}"]').wait_for(timeout=WAIT_MS)
            asked = counter.locator("#d-counter-title ~ .inline-form textarea")
            await asked.fill("GKS: Bản sao giấy khai sinh chưa được chứng thực")
            await counter.click("#d-counter-title ~ .inline-form button")
            supplement = counter.locator('button[data-slip="supplement-request.pdf"]')
            await supplement.wait_for(timeout=WAIT_MS)
            await pdf_opened(counter, lambda: supplement.click(), "/supplement-request.pdf")
            await counter.click("#d-supplement")
            await counter.locator("#dossier[data-intake=received]").wait_for(timeout=WAIT_MS)

            # Scanned; the officer asks another agency, with its sub-deadline, and records
            # its answer.
            upload = counter.locator('#d-components input[data-scan="GKS"]')
            async def scannable() -> bool:
                if await upload.count():
                    return True
                await counter.click("#open-dossier button[type=submit]")
                return False
            await eventually(scannable, "the component to be scannable",
                             seconds=POLL_SECONDS, interval=1)
            scan = tmp / "gks-2.png"
            scan.write_bytes(scanned_page())
            await upload.set_input_files(str(scan))
            await counter.click('#d-components button[data-upload="GKS"]')
            await counter.locator('#d-components td.status', has_text="Đã số hóa").wait_for(
                timeout=WAIT_MS)
            officer = await sign_in(await browser.new_context(**desk), front, watch, OFFICER)
            await open_dossier(officer, code, "in_step")
            await act(officer, "claim")
            sub_due = (datetime.now(TZ) + timedelta(days=3)).strftime("%Y-%m-%dT17:00")
            await act(officer, "ask_agency", {"agency": "BHXH tỉnh Nam Định",
                                              "sub_due_at": sub_due,
                                              "question": "Xác minh thời gian đóng BHXH"})
            assert await officer.locator("#dossier").get_attribute("data-state") == \
                "waiting_agency"
            await act(officer, "record_agency_answer",
                      {"answer_summary": "Đã xác minh: đúng 12 tháng đóng"})
            assert "Xác minh thời gian đóng BHXH" in await officer.inner_text("#d-path")

            # Withdrawn at the counter at the applicant's request.
            await open_dossier(counter, code, "in_step")
            await counter.fill('input[aria-label="Lý do rút hồ sơ"]', "Người nộp đề nghị rút")
            await counter.click('#d-counter-title ~ .inline-form button:has-text("Rút hồ sơ")')
            await counter.locator("#dossier[data-intake=withdrawn]").wait_for(timeout=WAIT_MS)
            await open_dossier(officer, code, "withdrawn")

            # The same applicant again: the warehouse offers the scan kept, reused, not
            # asked for again.
            await counter.keyboard.press("Alt+1")
            await counter.click("#r-new")
            await fill_applicant(counter, "Phan Thị Mận", "001090022222")
            offered = counter.locator("#r-warehouse", has_text="Kho dữ liệu có 1 tài liệu")
            await offered.wait_for(timeout=WAIT_MS)
            await counter.select_option('select[data-component="GKS"]', "reused")
            reuse = counter.locator('select[data-reuse="GKS"] option').nth(1)
            held = await reuse.get_attribute("value")
            await counter.select_option('select[data-reuse="GKS"]', held)
            await counter.locator("#r-complete[data-complete=true]").wait_for(timeout=WAIT_MS)
            await pdf_opened(counter, lambda: counter.click("#r-submit"), "/receipt.pdf")
            again = (await counter.inner_text("#r-code")).strip()
            await counter.click("#r-done button")
            await counter.locator(f'#dossier[data-code="{again}"]').wait_for(timeout=WAIT_MS)
            row = counter.locator('#d-components tr[data-component="GKS"]')
            assert "Dùng lại từ kho" in await row.inner_text()
            assert not watch.errors, watch.errors
        finally:
            await browser.close()


def test_refusal_supplement_another_agency_and_withdrawal_through_the_screens(
        screens: Stack, tmp_path: Path) -> None:
    assert CHROMIUM.exists(), "Debian chromium is missing: apt-get install -y chromium"
    with logs_on_failure(screens):
        asyncio.run(the_other_paths(screens.services["web"].url, tmp_path))


def late_dossier(stack: Stack) -> str:
    """A dossier received a month ago (entered late at the counter), its components
    electronic: the case opens by itself and processing's monitor finds it overdue."""
    month_ago = (datetime.now(TZ) - timedelta(days=30)).replace(hour=9, minute=0, second=0,
                                                                microsecond=0)
    while month_ago.weekday() >= 5:
        month_ago -= timedelta(days=1)
    answer = httpx.post(f"{stack.services['intake'].url}/api/v1/dossiers", auth=AUTH, json={
        "agency_code": OFFICE, "procedure_code": "BHXH.NH.03", "channel": "counter",
        "applicant": {"kind": "individual", "full_name": "Lý Văn Tâm",
                      "id_number": "001090033333"},
        "components": [{"code": "GKS", "form": "electronic"}],
        "received_at": month_ago.isoformat(), "submission_id": f"late-{month_ago:%s}"},
        timeout=30)
    assert answer.status_code in (200, 201), answer.text
    return str(answer.json()["dossier_code"])


async def explain_and_apologise(front: str, code: str) -> None:
    watch = Watch()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            head = await sign_in(await browser.new_context(viewport={"width": 1366,
                                                                     "height": 768}),
                                 front, watch, HEAD)
            # The queue marks it overdue...
            await head.keyboard.press("Alt+2")
            await head.select_option("#q-scope", "agency")
            await head.select_option("#q-deadline", "overdue")
            row = head.locator(f'#queue tr[data-code="{code}"][data-deadline="overdue"]')
            async def listed_overdue() -> int:
                await head.click("#queue-filters button[type=submit]")
                return await row.count()
            await eventually(listed_overdue, "the case listed overdue", seconds=90,
                             interval=1)
            assert "Quá hạn" in await row.inner_text()
            # ...and the overdue screen takes its explanation and its apology letter.
            await head.keyboard.press("Alt+4")
            card = head.locator(f'#overdue article[data-code="{code}"]')
            await card.wait_for(timeout=WAIT_MS)
            await card.locator("textarea").first.fill("Chờ kết quả xác minh của BHXH tỉnh khác")
            await card.locator("button", has_text="Gửi giải trình").click()
            await card.locator(".ok", has_text="Đã ghi giải trình").wait_for(timeout=WAIT_MS)
            await axe_check(head, "overdue-card")
            await card.locator("textarea").nth(1).fill("Chờ xác minh thời gian đóng")
            new_due = (datetime.now(TZ) + timedelta(days=5)).strftime("%Y-%m-%dT17:00")
            await card.locator('input[type="datetime-local"]').fill(new_due)
            letter = await pdf_opened(head, lambda: card.locator(
                "button", has_text="Lập thư xin lỗi").click(), "/apology.pdf")
            assert len(letter) > 1000
            assert not watch.errors, watch.errors
        finally:
            await browser.close()


def test_an_overdue_dossier_is_explained_and_apologised_for_on_its_screen(
        screens: Stack) -> None:
    assert CHROMIUM.exists(), "Debian chromium is missing: apt-get install -y chromium"
    with logs_on_failure(screens):
        asyncio.run(explain_and_apologise(screens.services["web"].url, late_dossier(screens)))
