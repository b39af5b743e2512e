"""Sealed dead letters: a record from a topic that carries personal data is encrypted before
it is copied to a dead-letter topic, so operators browsing `onestop.dlq.*` see no ID numbers.

Encryption is Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`): authenticated, so a
sealed value that was altered is refused rather than opened to garbage. Topics whose
registry entry says `personal_data=True` (contracts/topics.py: the ingest topic and
`onestop.intake.private.v1`) are sealed; so is any topic the registry does not know (fail
closed). Every other topic's records are dead-lettered verbatim, as before.

A sealed dead letter carries two headers: `dlq-sealed: fernet` and `dlq-key-id: <8 hex>`,
the first 8 hex digits of SHA-256 of the key that sealed it (it names the key, reveals
nothing of it).

Keys: `ONESTOP_DLQ_KEY`, one or more Fernet keys separated by commas. The first seals; every
one of them opens. Development uses a fixed key (settings.DEV_DLQ_KEY); production refuses
to start with it.

Rotating the key:

1. `python -m services.common.sealing genkey` prints a new key.
2. Put it first, the old one after it: `ONESTOP_DLQ_KEY=<new>,<old>`, on every service, and
   restart them. New dead letters are sealed under the new key; old ones still open.
3. Optionally re-seal kept copies under the new key:
   `python -m services.common.sealing rotate < sealed > resealed`.
4. When no dead letter sealed under the old key is needed any more (the dead-letter
   topic's retention has passed, or they were re-sealed), remove the old key from the list.

Personal columns at rest (sealed_columns.py), and the outbox payloads of events bound for
these same topics until the relay publishes them, are sealed under their own keys,
`ONESTOP_DATA_KEY` (the same key format and rotation; `data_sealer()` below;
docs/personal-data.md), with AES-256-GCM (`ColumnSealer`): a column is sealed and opened
several times per dossier in the pipeline, and GCM is much cheaper than Fernet per value,
with the same guarantee (authenticated: an altered value is refused).

Examining or replaying a dead letter (whoever holds the key):

    kcat -C -b kafka:9092 -t onestop.dlq.intake.v1 -o 42 -c 1 -e -f '%s' > sealed
    ONESTOP_DLQ_KEY=... python -m services.common.sealing unseal < sealed > original.json
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import sys
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.topics import BY_NAME
from services.common.settings import DEV_DATA_KEY, DEV_DLQ_KEY, ServiceSettings

SEALED_HEADER = "dlq-sealed"
KEY_ID_HEADER = "dlq-key-id"
SCHEME = b"fernet"


class SealError(ValueError):
    """A sealed value that no configured key opens: altered, truncated, or another key's."""


def key_id(key: str | bytes) -> str:
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(raw.strip()).hexdigest()[:8]


def parse_keys(secret: str) -> list[str]:
    """`new,old,...` -> the keys in order, blanks dropped."""
    return [k.strip() for k in secret.split(",") if k.strip()]


class Sealer:
    """Seals with the first key, opens with any of them."""

    def __init__(self, keys: Sequence[str], setting: str = "ONESTOP_DLQ_KEY"):
        if not keys:
            raise ValueError(f"at least one key is needed ({setting})")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except ValueError as exc:  # never echo the key itself
            raise ValueError(f"{setting} must hold Fernet keys (32 url-safe base64 "
                             "bytes each; `python -m services.common.sealing genkey`)") from exc
        self.key_id = key_id(keys[0])

    @classmethod
    def from_secret(cls, secret: str, setting: str = "ONESTOP_DLQ_KEY") -> Sealer:
        return cls(parse_keys(secret), setting)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Sealer:
        return cls.from_secret(settings.dlq_key.get_secret_value())

    def seal(self, value: bytes) -> bytes:
        return self._fernet.encrypt(value)

    def unseal(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed.strip())
        except InvalidToken as exc:
            raise SealError("no configured key opens this value, or it was altered") from exc

    def rotate(self, sealed: bytes) -> bytes:
        """Re-seal under the first key a value sealed under any of them."""
        try:
            return self._fernet.rotate(sealed.strip())
        except InvalidToken as exc:
            raise SealError("no configured key opens this value, or it was altered") from exc


class ColumnSealer:
    """Sealer's interface, for personal columns: AES-256-GCM under a key derived from each
    Fernet key of the setting (the first seals, every one opens). A value is
    `A1.<key id>.<base64url(nonce 12 bytes + ciphertext + tag)>`: the key id says which key
    opens it, so opening costs one decryption whatever the number of keys."""

    PREFIX = "A1."

    def __init__(self, keys: Sequence[str], setting: str = "ONESTOP_DATA_KEY"):
        Sealer(keys, setting)  # the same check and message for a key that is not one
        self._keys = {key_id(k): AESGCM(hashlib.sha256(
            b"onestop-column-seal-v1" + base64.urlsafe_b64decode(k.encode())).digest())
            for k in keys}
        self.key_id = key_id(keys[0])
        self._first = self._keys[self.key_id]

    @classmethod
    def from_secret(cls, secret: str, setting: str = "ONESTOP_DATA_KEY") -> ColumnSealer:
        return cls(parse_keys(secret), setting)

    def seal(self, value: bytes) -> bytes:
        nonce = os.urandom(12)
        body = base64.urlsafe_b64encode(nonce + self._first.encrypt(nonce, value, None))
        return f"{self.PREFIX}{self.key_id}.".encode() + body

    def unseal(self, sealed: bytes) -> bytes:
        try:
            prefix, kid, body = sealed.strip().decode("ascii").split(".", 2)
            if f"{prefix}." != self.PREFIX:
                raise ValueError("not a sealed column value")
            raw = base64.urlsafe_b64decode(body)
            return self._keys[kid].decrypt(raw[:12], raw[12:], None)
        except (ValueError, KeyError, InvalidTag, binascii.Error, UnicodeDecodeError) as exc:
            raise SealError("no configured key opens this value, or it was altered") from exc

    def rotate(self, sealed: bytes) -> bytes:
        return self.seal(self.unseal(sealed))


_data_sealer: ColumnSealer | None = None


def data_sealer() -> ColumnSealer:
    """The sealer of personal columns at rest, from ONESTOP_DATA_KEY (shared by every
    service, read once per process: column types have no settings object at hand)."""
    global _data_sealer
    if _data_sealer is None:
        _data_sealer = ColumnSealer.from_secret(ServiceSettings().data_key.get_secret_value())
    return _data_sealer


def use_data_key(secret: str | None) -> None:
    """Seal and open columns with these keys from now on (None: back to the setting), for
    tests and the rotation command."""
    global _data_sealer
    _data_sealer = None if secret is None else ColumnSealer.from_secret(secret)


def carries_personal_data(topic_name: str) -> bool:
    topic = BY_NAME.get(topic_name)
    # A topic the registry does not describe may carry anything: seal it.
    return topic is None or topic.personal_data


def topics_without_personal_data() -> list[str]:
    """The registry's topics whose records are never sealed (every other topic's are)."""
    return [name for name, topic in BY_NAME.items() if not topic.personal_data]


def dead_letter_value(topic_name: str, value: bytes | None,
                      sealer: Sealer) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """The value to publish on the dead-letter topic for a record of `topic_name`, and the
    headers to add: sealed when the topic carries personal data, unchanged otherwise."""
    if value is None or not carries_personal_data(topic_name):
        return value, []
    return sealer.seal(value), [(SEALED_HEADER, SCHEME), (KEY_ID_HEADER, sealer.key_id.encode())]


_USAGE = """usage: python -m services.common.sealing COMMAND
  unseal   read a sealed value on stdin, write the original on stdout
  seal     read a value on stdin, write it sealed under the first key
  rotate   read a sealed value on stdin, write it re-sealed under the first key
  genkey   print a new key
Keys come from ONESTOP_DLQ_KEY (comma-separated; the first seals, all open); with --data,
from ONESTOP_DATA_KEY (a value of a personal column at rest)."""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["genkey"]:
        print(Fernet.generate_key().decode())
        return 0
    data = "--data" in args
    args = [a for a in args if a != "--data"]
    if len(args) != 1 or args[0] not in ("unseal", "seal", "rotate"):
        print(_USAGE, file=sys.stderr)
        return 2
    # The variable alone, not all of ServiceSettings: an operator's shell needs no other.
    setting, default = ("ONESTOP_DATA_KEY", DEV_DATA_KEY) if data else (
        "ONESTOP_DLQ_KEY", DEV_DLQ_KEY)
    sealer: Sealer | ColumnSealer = (ColumnSealer if data else Sealer).from_secret(
        os.environ.get(setting) or default, setting)
    value = sys.stdin.buffer.read()
    try:
        out = {"unseal": sealer.unseal, "seal": sealer.seal, "rotate": sealer.rotate}[args[0]](
            value)
    except SealError as exc:
        print(f"sealing: {exc}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(out)
    if args[0] != "unseal":
        sys.stdout.buffer.write(b"\n")  # tokens are text; the original is written as it was
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
