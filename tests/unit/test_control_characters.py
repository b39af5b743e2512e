"""Control characters in what a province or a counter sends: none in a code, a name, an
identifier or an address; in text a person writes, line feeds and tabs only
(services/intake/rules.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
    assert may_hold_control_characters(event.model_dump(mode="json"))
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
    clean = _event(note="Người nộp: Nguyễn Thị Hoa — 12 Phố Huế")
    assert not may_hold_control_characters(clean.model_dump(mode="json"))
    # An escaped backslash before an n looks like a line feed: the second look clears it.
    path = _event(note="C:\\new\\tab")
    assert may_hold_control_characters(path.model_dump(mode="json"))
    assert control_characters(path) == []


def test_an_echoed_code_is_made_printable() -> None:
    assert printable("000.01\x00.H26\r\n") == "000.01\ufffd.H26\ufffd\ufffd"
