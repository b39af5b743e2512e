"""The message texts: Jinja2 templates, one per event × audience × channel, in Vietnamese.

`templates/<event>/<audience>.<channel>.j2`. E-mail, inbox and webhook templates hold a
subject on their first line, a blank line, then the body; an SMS template is its text only
(cut to the segment limit by sms.py). Dates are shown in Vietnam time, Vietnamese style.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2

from services.law.workdays import TZ
from services.notification import sms

SMS = "sms"


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str


# Written from the fields, not with strftime: the date filters were 3% of notification's
# CPU (py-spy, PostgreSQL pipeline); this is a third of their cost, and no locale reaches it.
def _date(local: datetime) -> str:
    return f"{local.day:02d}/{local.month:02d}/{local.year:04d}"


def ngay(value: datetime | None) -> str:
    """05/12/2026, in Vietnam time."""
    return "" if value is None else _date(value.astimezone(TZ))


def gio_ngay(value: datetime | None) -> str:
    """17:00 ngày 05/12/2026, in Vietnam time."""
    if value is None:
        return ""
    local = value.astimezone(TZ)
    return f"{local.hour:02d}:{local.minute:02d} ngày {_date(local)}"


def template_name(on: str, audience: str, channel: str) -> str:
    return f"{on}/{audience}.{channel}.j2"


class Templates:
    def __init__(self, folder: Path, *, sms_diacritics: bool = False,
                 sms_max_segments: int = 3) -> None:
        self.folder = folder
        self.sms_diacritics = sms_diacritics
        self.sms_max_segments = sms_max_segments
        # StrictUndefined: a misspelt variable is an error at start-up, not an empty gap
        # in a citizen's message. No autoescape: these are plain texts, not HTML.
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folder), undefined=jinja2.StrictUndefined,
            autoescape=False, keep_trailing_newline=False, trim_blocks=True,
            lstrip_blocks=True, auto_reload=False)  # loaded once: no stat() per message
        self.env.filters.update(ngay=ngay, gio_ngay=gio_ngay)

    def exists(self, on: str, audience: str, channel: str) -> bool:
        return (self.folder / template_name(on, audience, channel)).is_file()

    def render(self, on: str, audience: str, channel: str, context: Mapping[str, object]
               ) -> Rendered:
        text = self.env.get_template(template_name(on, audience, channel)).render(context)
        if channel == SMS:
            return Rendered(None, sms.prepare(text, diacritics=self.sms_diacritics,
                                              max_segments=self.sms_max_segments))
        subject, _, body = text.strip().partition("\n")
        return Rendered(subject.strip(), body.strip())

    def problems(self, on: str, audience: str, channel: str, sample: Mapping[str, object]
                 ) -> list[str]:
        """What is wrong with one template, rendered against a sample: its syntax (with
        the line), a variable it names that the context lacks, an SMS over the limit."""
        name = template_name(on, audience, channel)
        path = self.folder / name
        try:
            text = self.env.get_template(name).render(sample)
        except jinja2.TemplateSyntaxError as exc:
            return [f"{path}:{exc.lineno}: {exc.message}"]
        except jinja2.UndefinedError as exc:
            return [f"{path}: {exc.message}"]
        if channel == SMS:
            prepared = " ".join(text.split())
            if not self.sms_diacritics:
                prepared = sms.strip_diacritics(prepared)
            segments = sms.count(prepared).count
            if segments > self.sms_max_segments:
                return [f"{path}: the sample SMS takes {segments} segments, more than "
                        f"{self.sms_max_segments}"]
        elif not text.strip().partition("\n")[2].strip():
            return [f"{path}: a subject line, a blank line, then the body"]
        return []
