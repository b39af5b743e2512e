"""Mask Vietnamese personal numbers and e-mail addresses in free text (logs, tracebacks).

What is masked, and how:

- citizen ID numbers (CCCD, 12 digits), old ID card numbers (CMND, 9 digits), social
  insurance codes (mã số BHXH, 10 digits), and 11-digit runs that begin with 0 or 84 (phones):
  every digit but the last three becomes ``*`` (``001190012345`` -> ``*********345``). Three
  digits are enough for an operator to tell two applicants' lines apart and identify no one.
- phone numbers written with a prefix or separators (``0912 345 678``, ``0912.345.678``,
  ``+84 912-345-678``, ``84 912345678``, ``(024) 3825 1234``): the same rule, separators kept.
- e-mail addresses: the local part becomes ``***``, the domain stays (``***@example.vn``).
- SQLAlchemy's ``[parameters: ...]`` section of an error message is replaced as a whole by
  ``[parameters: redacted]``: it holds names and addresses too, which no pattern can find.

What is left alone (it is what logs legitimately hold): ISO dates and timestamps, UUIDs,
dossier codes (``000.01.01.H26-260302-0001``), hex identifiers of 16 characters or more
(trace and span ids, payload hashes), decimals, and numbers logged under a key that says
what they are (``offset``, ``partition``, ``port``, ``*_ms``, ``*_seconds``...).

Free text is masked by shape only, so a 9, 10 or 12-digit number that is not personal
(an epoch in seconds logged under an unknown key, say) is masked as well: a false positive
costs a log reader a few digits, a false negative leaks an applicant's identity.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Callable, MutableMapping
from types import TracebackType
from typing import Any

KEEP = 3  # trailing digits kept visible

# Spans never masked. Checked first so that the number patterns below cannot bite into them.
_PROTECTED = re.compile(
    r"""
      [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}   # UUID
    | \d{4}-\d{2}-\d{2}(?:[T\ ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?
                         (?:Z|[+-]\d{2}:?\d{2})?)?                              # ISO 8601
    | (?<![0-9A-Za-z.])[0-9A-Za-z]{1,8}(?:\.[0-9A-Za-z]{1,8}){0,6}
        -\d{6}-\d{3,6}(?![0-9A-Za-z])                                          # dossier code
    | (?<![0-9A-Za-z])[0-9a-fA-F]{16,}(?![0-9A-Za-z])                          # trace/span/hash
    | (?i:(?<![0-9A-Za-z_])["']?
          (?:offsets?|partitions?|port|pid|lag|epoch|generation|ts|timestamp|
             elapsed|duration|seconds|bytes|size|count|total|attempts?|
             [A-Za-z_]{0,40}_(?:ms|ns|s|seconds|bytes|offsets?|count|total|at))
          ["']?\s*[:=]\s*-?\d+(?:\.\d+)?)                                       # key: number
    """,
    re.VERBOSE,
)

# Not glued to a letter or digit, and not the fractional part of a decimal (`1.0912345678`).
_BEFORE = r"(?<![0-9A-Za-z+])(?<!\d[.,])"
_AFTER = r"(?![0-9A-Za-z])(?![.,]\d)"

_PHONE = re.compile(
    _BEFORE
    + r"(?P<prefix>\+84[ .-]?|84[ .-]|\(0\d{2,3}\)[ .-]?|0)"
    + r"(?P<rest>\d{1,4}(?:[ .-]?\d{1,4}){0,5})"
    + _AFTER
)
_DIGITS = re.compile(_BEFORE + r"\d{9,12}" + _AFTER)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
# SQLAlchemy: "[parameters: (...)]" up to the bracket that ends the line (also when the text
# is JSON, where the line end is the two characters backslash and n, or the closing quote).
_SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*?\](?=\n|\\n|\"|\s*\(Background|\s*$)")
_SQL_PARAMETERS_REDACTED = "[parameters: redacted]"


def _hide_digits(text: str) -> str:
    """Every digit but the last KEEP becomes `*`; separators and `+` stay where they were."""
    total = sum(c.isdigit() for c in text)
    out, seen = [], 0
    for c in text:
        if c.isdigit():
            seen += 1
            out.append(c if seen > total - KEEP else "*")
        else:
            out.append(c)
    return "".join(out)


def _phone_length(prefix: str, rest: str) -> int | None:
    """Where the phone ends within `rest` (the longest run of whole digit groups that makes a
    valid number), or None.

    A Vietnamese number, written nationally, is 0 + 9 digits (mobile) or 0 + 10 (landline),
    the digit after the 0 being 2, 3, 5, 7, 8 or 9; +84 / 84 stands for the leading 0.
    """
    national = re.sub(r"\D", "", prefix) if prefix.startswith("(") else "0"
    for end in range(len(rest), 0, -1):
        if not rest[end - 1].isdigit() or (end < len(rest) and rest[end].isdigit()):
            continue  # cut only at the end of a digit group
        digits = national + re.sub(r"\D", "", rest[:end])
        if len(digits) in (10, 11) and digits[1] in "235789":
            return end
    return None


def _spans(text: str) -> list[tuple[int, int, str]]:
    """Replacements as (start, end, new text), not overlapping, in order."""
    taken = bytearray(len(text))  # 1 where a character is protected or already replaced
    for m in _PROTECTED.finditer(text):
        taken[m.start():m.end()] = b"\x01" * (m.end() - m.start())
    out: list[tuple[int, int, str]] = []

    def free(start: int, end: int) -> bool:
        return taken.find(1, start, end) == -1

    def take(start: int, end: int, new: str) -> None:
        taken[start:end] = b"\x01" * (end - start)
        out.append((start, end, new))

    for m in _SQL_PARAMETERS.finditer(text):
        # Whatever the protections say: a date or dossier code in the parameters goes too.
        take(m.start(), m.end(), _SQL_PARAMETERS_REDACTED)
    for m in _EMAIL.finditer(text):
        if free(*m.span()):
            domain = m.group().rsplit("@", 1)[1]
            take(m.start(), m.end(), f"***@{domain}")
    for m in _PHONE.finditer(text):
        cut = _phone_length(m.group("prefix"), m.group("rest"))
        if cut is None:
            continue
        start, end = m.start(), m.start("rest") + cut
        # A phone cut short must still end at a boundary (`0912 345 678 9` is not one).
        if re.match(r"[0-9A-Za-z]|[.,]\d", text[end:end + 2]):
            continue
        if free(start, end):
            take(start, end, _hide_digits(text[start:end]))
    for m in _DIGITS.finditer(text):
        digits = m.group()
        if len(digits) == 11 and not digits.startswith(("0", "84")):
            continue
        if free(*m.span()):
            take(m.start(), m.end(), _hide_digits(digits))
    return sorted(out)


def mask(text: str) -> str:
    """`text` with ID numbers, social insurance codes, phones and e-mails masked."""
    if not text:
        return text
    pieces, last = [], 0
    for start, end, new in _spans(text):
        pieces.append(text[last:start])
        pieces.append(new)
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


class MaskingFormatter(logging.Formatter):
    """Masks the whole formatted record: message, arguments, traceback and stack."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask a record in place before any handler sees it (handlers we did not configure,
    uvicorn's for one, use their own formatters): the message is rendered and masked when it
    holds something to mask, the traceback is rendered and masked into `exc_text`."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: leave it to logging's own error report
        return record
    masked = mask(message)
    if masked != message:
        record.msg, record.args = masked, ()
    if record.exc_info and not record.exc_text:
        # Formatters reuse exc_text when set, so the traceback they print is this one.
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask(record.exc_text)
    if record.stack_info:
        record.stack_info = mask(record.stack_info)
    return record


class MaskingFilter(logging.Filter):
    """The same, as a filter for a handler or logger that should mask whatever passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def masking_record_factory(
    previous: Callable[..., logging.LogRecord],
) -> Callable[..., logging.LogRecord]:
    """A LogRecord factory that masks every record where it is made, for every handler."""

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return mask_record(previous(*args, **kwargs))

    factory.masking = True  # type: ignore[attr-defined]  # so it is installed only once
    return factory


class MaskingRenderer:
    """Wraps structlog's final renderer: the rendered line (JSON) is masked as a whole.

    Masking the rendered string rather than each value also covers nested values, reprs of
    exceptions and tracebacks. Replacements hold no quote or backslash, so JSON stays valid.
    """

    def __init__(self, renderer: Callable[[Any, str, MutableMapping[str, Any]], str | bytes]):
        self._renderer = renderer

    def __call__(self, logger: Any, method_name: str,
                 event_dict: MutableMapping[str, Any]) -> str:
        rendered = self._renderer(logger, method_name, event_dict)
        if isinstance(rendered, bytes):
            rendered = rendered.decode("utf-8", "replace")
        return mask(rendered)


def masking_excepthook(kind: type[BaseException], value: BaseException,
                       tb: TracebackType | None) -> None:
    """An uncaught exception's traceback is printed masked (it bypasses logging)."""
    sys.stderr.write(mask("".join(traceback.format_exception(kind, value, tb))))
