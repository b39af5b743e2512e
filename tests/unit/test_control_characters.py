"""Control characters in what a province or a counter sends: none in a code, a name, an
identifier or an address; in text a person writes, line feeds and tabs only
(services/intake/rules.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic_core import to_json

from contracts.ingest import ProvinceDossierStatus
from services.intake.rules import control_characters, may_hold_control_characters, printable

EXAMPLE = Path(__file__).resolve().parents[2] / "contracts" / "examples" / \
    "ingest.dossier-status.v1.json"


def _event(**changes: object) -> ProvinceDossierStatus:
    data = json.loads(EXAMPLE.read_text("utf-8"))["data"]
    return ProvinceDossierStatus.model_validate({**data, **changes})


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\r", "\n", "\t", "\x7f", "\x85", "\x9b"])
def test_no_control_character_in_a_code_or_a_name(char: str) -> None:
    event = _event(dossier_code=f"000.01.01.H26-2603{char}02-0007",
                   applicant={"kind": "individual", "full_name": f"Nguyễn{char}Hoa",
                              "id_number": "001190012345"})
    assert may_hold_control_characters(to_json(event))
    found = control_characters(event)
    assert [(p.code, p.field) for p in found] == [
        ("control_characters", "dossier_code"), ("control_characters", "applicant.full_name")]
    assert f"U+{ord(char):04X}" in found[0].message_en
    assert "Nguyễn" not in found[1].message_vi  # the text itself is never echoed


def test_text_a_person_writes_may_break_lines_and_hold_tabs_but_not_cr() -> None:
    assert control_characters(_event(note="Dòng một\nDòng hai\tcó tab")) == []
    [problem] = control_characters(_event(note="Dòng một\r\nDòng hai"))
    assert (problem.field, "U+000D" in problem.message_en) == ("note", True)
    reasons = [{"code": "x", "message_vi": "a\nb", "message_en": "a\x00b", "field": "c"}]
    assert [p.field for p in control_characters(_event(reasons=reasons))] == [
        "reasons.0.message_en"]


def test_the_quick_look_passes_clean_text_and_is_only_a_first_look() -> None:
    clean = _event(note="Người nộp: Nguyễn Thị Hoa — 12 Phố Huế, 37°C, «ghi chú» \"trích\"")
    assert not may_hold_control_characters(to_json(clean))
    assert not may_hold_control_characters(_record(clean.model_dump(mode="json")))
    # An escaped backslash before an n looks like a line feed: the second look clears it.
    path = _event(note="C:\\new\\tab")
    assert may_hold_control_characters(to_json(path))
    assert control_characters(path) == []


CONTROL = [*map(chr, range(0x20)), "\x7f", *map(chr, range(0x80, 0xA0))]


@pytest.mark.parametrize("char", CONTROL, ids=lambda c: f"U+{ord(c):04X}")
def test_the_quick_look_sees_each_control_character_however_the_record_writes_it(
        char: str) -> None:
    """A province's JSON may escape a character (either case of hex digits, or \\n and
    the like) or write it as UTF-8: the look through the record's bytes misses none."""
    data = _event().model_dump(mode="json") | {"note": f"trước{char}sau"}
    escaped = f"\\u{ord(char):04X}".encode()
    writings = {
        _record(data),  # as JSON writers do by default: C0 as \n or \u001b, C1 as \u0085
        _record(data, ensure_ascii=False),  # DEL and C1 as UTF-8
        # Every one as \u00XX, hex digits in upper case (the same text, checked below).
        _record(data).replace(json.dumps(char).encode()[1:-1], escaped),
    }
    for raw in writings:
        assert may_hold_control_characters(raw), raw
    assert json.loads(_record(data).replace(json.dumps(char).encode()[1:-1], escaped)
                      )["data"]["note"] == f"trước{char}sau"


def _record(data: dict[str, object], *, ensure_ascii: bool = True) -> bytes:
    envelope = json.loads(EXAMPLE.read_text("utf-8")) | {"data": data}
    return json.dumps(envelope, ensure_ascii=ensure_ascii, separators=(",", ":")).encode()


def test_an_echoed_code_is_made_printable() -> None:
    assert printable("000.01\x00.H26\r\n") == "000.01\ufffd.H26\ufffd\ufffd"
