"""Every contract text and list is bounded, every timestamp is a sane ISO 8601 string, and
the envelope a consumer reads can neither crash it nor lose its id."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from contracts.common import ComponentRef, IndividualApplicant, Reason, Timestamp
from contracts.envelope import Envelope, InboundEnvelope
from contracts.events import DossierReceived, DossierWithdrawn
from contracts.ingest import ProvinceDossierStatus, ProvinceStep
from contracts.registry import EVENT_TYPES
from contracts.specs import event_schemas

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "contracts" / "examples")
                  .glob("*.json"))
VN = timezone(timedelta(hours=7))


def _walk(schema: dict[str, Any], node: Any, path: str) -> list[str]:
    """Unbounded strings and arrays under `node`, by path."""
    found: list[str] = []
    if isinstance(node, dict):
        if "$ref" in node:
            return []  # the definitions are walked once, on their own
        kind = node.get("type")
        if kind == "string" and "maxLength" not in node and "enum" not in node \
                and "const" not in node and node.get("format") not in ("date-time", "uuid"):
            found.append(path)
        if kind == "array" and "maxItems" not in node:
            found.append(path)
        for key, value in node.items():
            if key == "properties":
                for name, prop in value.items():
                    found += _walk(schema, prop, f"{path}.{name}")
            elif key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
                found += _walk(schema, value, f"{path}[{key}]")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += _walk(schema, item, f"{path}<{i}>")
    return found


@pytest.mark.parametrize("name", sorted(event_schemas()))
def test_every_text_and_list_of_every_contract_is_bounded(name: str) -> None:
    schema = event_schemas()[name]
    unbounded = _walk(schema, {k: v for k, v in schema.items() if k != "$defs"}, name)
    for def_name, definition in schema.get("$defs", {}).items():
        unbounded += _walk(schema, definition, f"$defs.{def_name}")
    assert unbounded == []


def test_the_walk_finds_an_unbounded_text() -> None:
    class Loose(BaseModel):
        note: str
        items: list[int]

    schema = Loose.model_json_schema()
    assert _walk(schema, schema, "loose") == ["loose.note", "loose.items"]


@pytest.mark.parametrize(("model", "field", "limit"), [
    (IndividualApplicant, "address", 500), (IndividualApplicant, "phone", 20),
    (IndividualApplicant, "email", 254), (Reason, "message_vi", 2000),
    (Reason, "code", 64), (ComponentRef, "document_ref", 200),
])
def test_limits_are_enforced(model: type[BaseModel], field: str, limit: int) -> None:
    base: dict[str, Any] = {
        IndividualApplicant: {"full_name": "Nguyễn Thị Hoa", "id_number": "001190012345"},
        Reason: {"code": "c", "message_vi": "v", "message_en": "e"},
        ComponentRef: {"code": "GKS", "form": "electronic"},
    }[model]
    model.model_validate({**base, field: "x" * limit})
    with pytest.raises(ValidationError) as caught:
        model.model_validate({**base, field: "x" * (limit + 1)})
    assert caught.value.errors()[0]["type"] == "string_too_long"


def test_lists_are_bounded() -> None:
    reason = {"code": "c", "message_vi": "v", "message_en": "e"}
    with pytest.raises(ValidationError):
        ProvinceDossierStatus.model_validate({
            "system_id": "s", "dossier_code": "D-1", "agency_code": "A", "procedure_code": "P",
            "status": 3, "occurred_at": "2026-03-02T08:00:00+07:00",
            "reasons": [reason] * 101})


# --- timestamps -------------------------------------------------------------------------


class Stamped(BaseModel):
    at: Timestamp


@pytest.mark.parametrize("value", [
    1767225600, 1767225600.5, "1767225600", True,  # numbers are not timestamps
    "1999-12-31T23:59:59+07:00", "2101-01-01T00:00:00Z",  # not a sane year
    "0001-01-01T00:00:00+07:00", "9999-12-31T23:59:59-07:00",  # would overflow in UTC
    "2026-03-02T08:00:00",  # no offset
    "2026-03-02",  # no time
])
def test_a_timestamp_is_a_sane_iso_string(value: Any) -> None:
    with pytest.raises(ValidationError):
        Stamped.model_validate({"at": value})
    with pytest.raises(ValidationError):
        Stamped.model_validate_json(json.dumps({"at": value}))


@pytest.mark.parametrize("value", [
    "2026-03-02T08:00:00+07:00", "2026-03-02 08:00:00.123456+07:00", "2026-03-02t08:00Z",
    "2000-01-01T00:00:00+14:00", "2100-12-31T23:59:59-12:00", "2026-03-02T08:00:00-00:30",
    "1999-12-31T23:59:59Z", "2101-01-01T00:00:00+07:00", "0999-01-01T00:00:00Z",
    "2026-03-02T08:00:00", "2026-03-02", "2026-03-02T08", "20260302T080000Z", "",
    "2026-13-02T08:00:00Z", "2026-02-30T08:00:00Z", "2026-03-02T25:00:00Z",
    "\u0662\u0660\u0662\u0666-03-02T08:00:00Z", "1767225600", " 2026-03-02T08:00:00Z",
])
def test_a_timestamp_read_from_json_is_judged_as_one_built_in_python(value: str) -> None:
    """The wire check (a pattern in pydantic-core) takes what the Python validators take,
    as the same value, and refuses what they refuse (non-ASCII digits: the Python check
    lets them through to the parser, which refuses them with an error of its own)."""
    def outcome(parse: Any) -> Any:
        try:
            return parse().at
        except ValidationError as exc:
            assert exc.errors()[0]["type"] in ("value_error", "timezone_aware",
                                               "datetime_from_date_parsing")
            return "refused"
    assert outcome(lambda: Stamped.model_validate_json(json.dumps({"at": value}))) == \
        outcome(lambda: Stamped.model_validate({"at": value}))


def test_timestamps_accept_iso_strings_and_datetimes_built_in_code() -> None:
    assert Stamped.model_validate_json('{"at": "2026-03-02T08:00:00+07:00"}').at == \
        datetime(2026, 3, 2, 1, tzinfo=UTC)
    now = datetime.now(VN)
    assert Stamped(at=now).at == now
    event = DossierWithdrawn(dossier_code="D-001", withdrawn_at=now)
    assert DossierWithdrawn.model_validate_json(event.model_dump_json()) == event


def test_timestamp_schema_stays_a_date_time_string() -> None:
    assert Stamped.model_json_schema()["properties"]["at"] == {
        "format": "date-time", "title": "At", "type": "string"}
    received = event_schemas()["dossier.received.v1"]["properties"]["received_at"]
    assert received["type"] == "string" and received["format"] == "date-time"


def test_every_event_timestamp_is_strict() -> None:
    numeric = {"dossier_code": "D-001", "withdrawn_at": 1767225600}
    with pytest.raises(ValidationError):
        DossierWithdrawn.model_validate(numeric)
    # Every date-time field of every event is a Timestamp (its validators are attached).
    seen = 0
    for cls in (*EVENT_TYPES.values(), ProvinceStep, InboundEnvelope):
        for name, field in cls.model_fields.items():
            text = f"{field.annotation!r} {field.metadata!r}"
            if "AwareDatetime" in text or "datetime.datetime" in text:
                seen += 1
                assert "_iso_only" in text and "_sane_year" in text, (cls.__name__, name)
                assert "_wire_or_built" in text, (cls.__name__, name)
    assert seen >= 35


# --- the envelope -----------------------------------------------------------------------


def _envelope(**change: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": str(uuid.uuid4()),
            "type": DossierWithdrawn.event_type, "source": "onestop/intake",
            "subject": "D-001", "time": "2026-03-02T08:00:00+07:00",
            "agencycode": "000.01.01.H26", "data": {"dossier_code": "D-001",
                                                    "withdrawn_at": "2026-03-02T08:00:00Z"},
            **change}


@pytest.mark.parametrize("cls", [Envelope, InboundEnvelope])
def test_an_envelope_time_near_the_ends_of_time_is_invalid_not_a_crash(
        cls: type[Envelope]) -> None:
    for time in ("0001-01-01T00:00:00+07:00", "9999-12-31T23:59:59-07:00"):
        with pytest.raises(ValidationError):
            cls.model_validate_json(json.dumps(_envelope(time=time)))
    with pytest.raises(ValidationError):
        Envelope(type=DossierWithdrawn.event_type, source="s", subject="D-001",
                 agencycode="A", data={}, time=datetime(1, 1, 1, tzinfo=VN))


def test_an_inbound_envelope_keeps_the_producers_id_or_is_refused() -> None:
    body = _envelope()
    assert str(InboundEnvelope.model_validate_json(json.dumps(body)).id) == body["id"]
    del body["id"]
    with pytest.raises(ValidationError) as caught:
        InboundEnvelope.model_validate_json(json.dumps(body))
    assert caught.value.errors()[0]["type"] == "missing"
    # Producers still get an id made for them.
    assert Envelope.model_validate(body).id is not None


def test_an_inbound_envelope_time_must_be_a_sane_iso_string() -> None:
    for time in (1767225600, "1999-01-01T00:00:00Z", "2026-03-02"):
        with pytest.raises(ValidationError):
            InboundEnvelope.model_validate_json(json.dumps(_envelope(time=time)))
    parsed = InboundEnvelope.model_validate_json(json.dumps(_envelope()))
    assert parsed.time == datetime(2026, 3, 2, 1, tzinfo=UTC)


def test_a_deeply_nested_envelope_is_invalid_not_a_recursion_error() -> None:
    deep = b"[" * 10_000 + b"]" * 10_000
    raw = json.dumps(_envelope(data={"x": None})).encode().replace(b"null", deep)
    with pytest.raises(ValidationError) as caught:
        InboundEnvelope.model_validate_json(raw)
    assert caught.value.errors()[0]["type"] == "json_invalid"


def test_envelope_text_attributes_are_bounded() -> None:
    with pytest.raises(ValidationError):
        InboundEnvelope.model_validate_json(json.dumps(_envelope(subject="D" * 201)))


# --- examples and document references --------------------------------------------------

_PERSONAL_DIGITS = re.compile(r"\d{9,}")


def _document_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "document_ref" and isinstance(v, str)] + [
            r for v in node.values() for r in _document_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _document_refs(v)]
    return []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_valid_inbound_and_carry_no_personal_number_in_a_reference(
        path: Path) -> None:
    envelope = InboundEnvelope.model_validate_json(path.read_bytes())
    EVENT_TYPES[envelope.type].model_validate(envelope.data)
    for ref in _document_refs(envelope.data):
        assert not _PERSONAL_DIGITS.search(ref), f"{path.name}: {ref} looks like an ID number"


def test_document_ref_is_described_as_opaque() -> None:
    for schema in (event_schemas()["dossier.received.v1"],
                   event_schemas()["ingest.dossier-status.v1"]):
        text = json.dumps(schema["$defs"]["ComponentRef"]["properties"]["document_ref"])
        assert "opaque" in text and "never" in text
    assert DossierReceived.model_fields["components"].metadata  # bounded list
