"""The examples of an event's optional fields, beside its one example per type: an alert of
another agency's sub-deadline (contracts/examples/sub-deadline/) and a result a province's own
software processed (contracts/examples/province-result/) still validate, carry the fields
they show, and change nothing a reader of the older schema required."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.compat import breaking_changes
from contracts.envelope import Envelope
from contracts.events import DeadlineApproaching, DossierOverdue, DossierResolved, ResultReturned
from contracts.registry import EVENT_TYPES, short_name
from contracts.specs import event_schemas

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
VARIANTS = {"sub-deadline": (DeadlineApproaching, DossierOverdue),
            "province-result": (DossierResolved, ResultReturned)}
PUBLISHED = Path(__file__).resolve().parents[2] / "contracts" / "published"


def _examples(folder: str) -> list[Path]:
    return sorted((EXAMPLES / folder).glob("*.json"))


@pytest.mark.parametrize("folder", sorted(VARIANTS))
def test_each_variant_has_an_example_per_event(folder: str) -> None:
    assert {p.stem for p in _examples(folder)} == {
        short_name(cls.event_type) for cls in VARIANTS[folder]}


@pytest.mark.parametrize("path", [p for f in sorted(VARIANTS) for p in _examples(f)],
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_variant_examples_validate_and_carry_their_fields(path: Path) -> None:
    envelope = Envelope.model_validate_json(path.read_bytes())
    assert short_name(envelope.type) == path.stem
    event = EVENT_TYPES[envelope.type].model_validate(envelope.data)
    assert event.dossier_code == envelope.subject
    if path.parent.name == "sub-deadline":
        assert isinstance(event, DeadlineApproaching | DossierOverdue)
        assert (event.other_agency, event.request_id) == ("H26.SLDTBXH", "V1")
    else:
        assert isinstance(event, DossierResolved | ResultReturned)
        assert event.origin_system == "hanoi-mcdt"
    # Without the new fields it is the event every earlier reader knew.
    plain = {k: v for k, v in envelope.data.items()
             if k not in ("other_agency", "request_id", "origin_system")}
    assert getattr(EVENT_TYPES[envelope.type].model_validate(plain),
                   "origin_system" if path.parent.name != "sub-deadline" else "other_agency") \
        is None


@pytest.mark.parametrize("name", ["deadline.approaching.v1", "dossier.overdue.v1",
                                  "dossier.resolved.v1", "result.issued.v1",
                                  "result.returned.v1"])
def test_the_new_fields_are_optional_additions(name: str) -> None:
    old = json.loads((PUBLISHED / f"{name}.json").read_text(encoding="utf-8"))
    new = event_schemas()[name]
    assert breaking_changes(old, new) == []
    ours = {"origin_system"} if name.startswith(("dossier.resolved", "result.")) \
        else {"other_agency", "request_id"}
    assert ours <= set(new["properties"]) - set(old["properties"])
    assert not ours & set(new.get("required", []))
