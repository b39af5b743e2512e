"""Each channel against a real local server: e-mail through an SMTP server (aiosmtpd) and
read back, SMS through an HTTP gateway and a signed webhook to an HTTP server the test runs,
checking what each receives; a refusal is permanent, a server away or hung is not, and a
hung one is given up within the timeout."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request, Response

from deploy.local.broker import free_port
from services.notification.channels import (
    EmailChannel,
    Outgoing,
    Permanent,
    SmsChannel,
    WebhookChannel,
    signature,
)
from tests.integration.support import listening

pytestmark = pytest.mark.integration


class SmtpSink:
    """A real SMTP server on localhost keeping what it receives, parsed."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: set[str] = set()
        self._controller: Controller | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any,
                          address: str, options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(  # type: ignore[arg-type]
            envelope.original_content, policy=email.policy.default))
        return "250 Message accepted"

    def start(self) -> SmtpSink:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None


class SilentSmtp:
    """A hung mail server on localhost: accepts each TCP connection and never answers, or
    (`delay`) answers each step of a valid SMTP exchange only after `delay` seconds."""

    def __init__(self, port: int | None = None, delay: float | None = None) -> None:
        self.port = port or free_port()
        self.delay = delay
        self.accepted = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.append(writer)
        with contextlib.suppress(ConnectionError):
            if self.delay is None:
                await reader.read()  # until the client gives up and closes
            else:
                await self._slow_exchange(reader, writer, self.delay)
        writer.close()

    @staticmethod
    async def _slow_exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                             delay: float) -> None:
        async def answer(line: bytes) -> None:
            await asyncio.sleep(delay)
            writer.write(line + b"\r\n")
            await writer.drain()
        await answer(b"220 slow ESMTP")
        in_data = False
        while line := await reader.readline():
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    await answer(b"250 accepted")
                continue
            verb = line[:4].upper()
            if verb == b"DATA":
                in_data = True
                await answer(b"354 go on")
            elif verb == b"QUIT":
                await answer(b"221 bye")
                return
            else:
                await answer(b"250 ok")

    async def start(self) -> SilentSmtp:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            for writer in self._writers:
                writer.close()
            await self._server.wait_closed()
            self._server = None


@dataclass
class HttpSink:
    """A real HTTP server on localhost recording each POST; `answers` are the statuses of
    the first calls (then 200)."""

    port: int = field(default_factory=free_port)
    calls: list[dict[str, Any]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    refuse_containing: bytes | None = None  # answered 400, whatever `answers` say

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path:path}")
        async def record(path: str, request: Request) -> Response:
            body = await request.body()
            self.calls.append({"path": "/" + path, "headers": dict(request.headers),
                               "body": body})
            status = self.answers.pop(0) if self.answers else 200
            if self.refuse_containing and self.refuse_containing in body:
                status = 400
            return Response(status_code=status, content=b'{"ok": true}')

        return app

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[HttpSink]:
        server = uvicorn.Server(uvicorn.Config(self.app(), host="127.0.0.1", port=self.port,
                                               log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve())
        await listening(server, task)
        try:
            yield self
        finally:
            server.should_exit = True
            await task


def outgoing(channel: str, address: str, body: str = "Hồ sơ đã được tiếp nhận",
             subject: str | None = "Hồ sơ 000.01.01.H26-261130-0001 đã được tiếp nhận"
             ) -> Outgoing:
    return Outgoing(id="7d5f1a52-0000-4000-8000-000000000001", channel=channel,
                    address=address, subject=subject, body=body,
                    dossier_code="000.01.01.H26-261130-0001", about_event="dossier.received",
                    agency_code="000.01.01.H26")


async def test_email_goes_through_a_real_smtp_server_in_utf8() -> None:
    sink = SmtpSink().start()
    try:
        channel = EmailChannel("127.0.0.1", sink.port, "BHXH Việt Nam <khong-tra-loi@bhxh.vn>")
        body = "Kính gửi Quý ông/bà,\n\nHồ sơ đã được tiếp nhận. Ngày hẹn: 17:00 ngày 05/12/2026."
        await channel.send(outgoing("email", "nguoi.nop@example.vn", body))
        [mail] = sink.messages
        assert sink.envelopes == [("khong-tra-loi@bhxh.vn", ["nguoi.nop@example.vn"])]
        assert mail["Subject"] == "Hồ sơ 000.01.01.H26-261130-0001 đã được tiếp nhận"
        assert mail["To"] == "nguoi.nop@example.vn"
        assert "7d5f1a52-0000-4000-8000-000000000001" in mail["Message-ID"]
        part = mail.get_body()
        assert part is not None and part.get_content_charset() == "utf-8"
        assert part.get_content().replace("\r\n", "\n").strip() == body  # CRLF on the wire

        sink.refuse.add("khong.co@example.vn")
        with pytest.raises(Permanent, match="refused"):
            await channel.send(outgoing("email", "khong.co@example.vn"))
    finally:
        sink.stop()
    # The server gone: an error that is not Permanent, so the message is retried later.
    with pytest.raises(Exception) as caught:
        await EmailChannel("127.0.0.1", sink.port, "x@bhxh.vn", timeout=2).send(
            outgoing("email", "nguoi.nop@example.vn"))
    assert not isinstance(caught.value, Permanent)


async def test_a_hanging_smtp_server_is_given_up_within_the_timeout_for_a_later_try(
        ) -> None:
    silent = await SilentSmtp().start()
    try:
        channel = EmailChannel("127.0.0.1", silent.port, "x@bhxh.vn", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"did not complete the send within 0\.5 s"):
            await channel.send(outgoing("email", "nguoi.nop@example.vn"))
        assert time.monotonic() - started < 2.0 and silent.accepted == 1
    finally:
        await silent.stop()


async def test_a_server_answering_each_step_just_in_time_is_cut_at_the_deadline() -> None:
    # Each answer within aiosmtplib's per-step timeout, the whole exchange far beyond it.
    slow = await SilentSmtp(delay=0.3).start()
    try:
        channel = EmailChannel("127.0.0.1", slow.port, "x@bhxh.vn", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(TimeoutError) as caught:
            await channel.send(outgoing("email", "nguoi.nop@example.vn"))
        assert not isinstance(caught.value, Permanent)
        assert time.monotonic() - started < 1.5
        # The same server with time enough: the exchange itself is valid SMTP.
        await EmailChannel("127.0.0.1", slow.port, "x@bhxh.vn", timeout=5).send(
            outgoing("email", "nguoi.nop@example.vn"))
    finally:
        await slow.stop()


async def test_sms_goes_to_the_gateway_with_its_segments_counted() -> None:
    sink = HttpSink(answers=[200, 503, 400])
    async with sink.running(), httpx.AsyncClient() as client:
        channel = SmsChannel(f"{sink.url}/sms/send", client, token="t0k3n",
                             sender_name="BHXHVN")
        text = "BHXH: Ho so 000.01.01.H26-261130-0001 da duoc tiep nhan."
        await channel.send(outgoing("sms", "0912345678", text, None))
        [call] = sink.calls
        assert call["path"] == "/sms/send"
        assert call["headers"]["authorization"] == "Bearer t0k3n"
        assert json.loads(call["body"]) == {
            "to": "0912345678", "from": "BHXHVN", "text": text,
            "reference": "7d5f1a52-0000-4000-8000-000000000001", "segments": 1,
            "encoding": "gsm7"}
        with pytest.raises(RuntimeError, match="HTTP 503"):  # may pass later
            await channel.send(outgoing("sms", "0912345678", text, None))
        with pytest.raises(Permanent, match="HTTP 400"):
            await channel.send(outgoing("sms", "0912345678", text, None))


async def test_the_webhook_is_signed_over_timestamp_and_body() -> None:
    sink = HttpSink()
    secret = "bí-mật-của-tỉnh"
    async with sink.running(), httpx.AsyncClient() as client:
        await WebhookChannel(secret, client).send(outgoing("webhook", f"{sink.url}/hook"))
    [call] = sink.calls
    headers, body = call["headers"], call["body"]
    timestamp = headers["x-onestop-timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    assert hmac.compare_digest(headers["x-onestop-signature"],
                               signature(secret.encode(), timestamp, body))
    # A tampered body or another timestamp does not verify.
    assert signature(secret.encode(), timestamp, body + b" ") != headers["x-onestop-signature"]
    assert signature(secret.encode(), str(int(timestamp) + 1), body) != \
        headers["x-onestop-signature"]
    payload = json.loads(body)
    assert payload["dossier_code"] == "000.01.01.H26-261130-0001"
    assert payload["subject"].startswith("Hồ sơ") and headers["x-onestop-message-id"] == \
        payload["id"]
