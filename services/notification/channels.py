"""The channels, each an adapter behind one interface: `await channel.send(outgoing)`
returns when the message is handed over, raises Permanent when retrying cannot help (a
refused address) and anything else when it may (server away, timeout, 5xx)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import aiosmtplib
import httpx

from services.notification import sms


class Permanent(Exception):
    """Retrying will not help: the message fails now, with this reason."""


@dataclass(frozen=True)
class Outgoing:
    id: str
    channel: str
    address: str
    subject: str | None
    body: str
    dossier_code: str | None
    about_event: str
    agency_code: str


class Channel(Protocol):
    async def send(self, message: Outgoing) -> None: ...


class InboxChannel:
    """The message row is the inbox item: delivered once it is written."""

    async def send(self, message: Outgoing) -> None:
        return None


class EmailChannel:
    def __init__(self, host: str, port: int, sender: str, *, username: str | None = None,
                 password: str | None = None, starttls: bool = False,
                 timeout: float = 10.0) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls, self.timeout = starttls, timeout

    async def send(self, message: Outgoing) -> None:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.address
        mail["Subject"] = message.subject or ""
        mail["Date"] = formatdate(localtime=False)
        # A stable Message-ID: a retry after a lost answer is recognisable as the same mail.
        mail["Message-ID"] = make_msgid(idstring=message.id, domain="onestop.baohiemxahoi.gov.vn")
        mail.set_content(message.body, charset="utf-8")
        try:
            # aiosmtplib's timeout is per step (connect, each command's answer): a server
            # answering each one just in time would hold a send several times over. The
            # outer deadline bounds the whole send, as the sender's lease check assumes.
            async with asyncio.timeout(self.timeout):
                await aiosmtplib.send(mail, hostname=self.host, port=self.port,
                                      username=self.username, password=self.password,
                                      start_tls=self.starttls, timeout=self.timeout)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise Permanent(f"SMTP refused the recipient: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise Permanent(f"SMTP {exc.code}: {exc.message}") from exc
            raise
        except TimeoutError as exc:  # transient: the server may answer on a later try
            raise TimeoutError(f"SMTP {self.host}:{self.port} did not complete the send "
                               f"within {self.timeout:g} s ({exc or 'no answer'})") from exc


def raise_for_http(response: httpx.Response, what: str) -> None:
    """2xx delivered; 408, 429 and 5xx may pass later; any other answer will not."""
    code = response.status_code
    if 200 <= code < 300:
        return
    detail = f"{what} answered HTTP {code}: {response.text[:200]}"
    if code in (408, 429) or code >= 500:
        raise RuntimeError(detail)
    raise Permanent(detail)


class SmsChannel:
    """An SMS gateway over HTTP: POST {to, from, text, reference, segments, encoding}."""

    def __init__(self, url: str, client: httpx.AsyncClient, *, token: str | None = None,
                 sender_name: str = "BHXHVN") -> None:
        self.url, self.client, self.token, self.sender_name = url, client, token, sender_name

    async def send(self, message: Outgoing) -> None:
        counted = sms.count(message.body)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.client.post(self.url, headers=headers, json={
            "to": message.address, "from": self.sender_name, "text": message.body,
            "reference": message.id, "segments": counted.count,
            "encoding": counted.encoding})
        raise_for_http(response, "the SMS gateway")


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `timestamp.body`: the receiver checks both, and refuses an old
    timestamp, so a captured call cannot be replayed later."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


class WebhookChannel:
    def __init__(self, secret: str, client: httpx.AsyncClient) -> None:
        self.secret, self.client = secret.encode(), client

    async def send(self, message: Outgoing) -> None:
        body = json.dumps({"id": message.id, "about_event": message.about_event,
                           "dossier_code": message.dossier_code,
                           "agency_code": message.agency_code, "subject": message.subject,
                           "text": message.body}, ensure_ascii=False,
                          separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        response = await self.client.post(message.address, content=body, headers={
            "Content-Type": "application/json; charset=utf-8",
            "X-Onestop-Message-Id": message.id, "X-Onestop-Timestamp": timestamp,
            "X-Onestop-Signature": signature(self.secret, timestamp, body)})
        raise_for_http(response, "the provincial system")
