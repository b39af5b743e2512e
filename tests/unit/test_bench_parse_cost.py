"""bench/parse_cost.py's msgspec Structs, generated from the pydantic contracts: they take
every example the contracts publish and read the same values from it, and they write the
bytes the inbox's content hash is taken over, but where msgspec writes a tagged union's tag
that pydantic leaves out as a default (the measurement is only worth its figures if so)."""

from __future__ import annotations

import json

import msgspec
import pytest

from bench.parse_cost import _decode, _examples, measure, struct_of
from contracts.common import IndividualApplicant
from contracts.envelope import typed_inbound
from contracts.registry import EVENT_TYPES


@pytest.fixture(scope="module")
def rows() -> dict[str, dict[str, object]]:
    return measure(rounds=1)


def test_every_example_of_every_event_type_is_measured(rows: dict[str, dict[str, object]]
                                                        ) -> None:
    types = {json.loads(raw)["type"] for _, raw in _examples()}
    assert len(rows) == len(_examples()) and types <= set(EVENT_TYPES)
    assert len(types) >= 25  # the examples cover (nearly) every registered type


def test_the_generated_types_read_what_pydantic_reads(rows: dict[str, dict[str, object]]
                                                      ) -> None:
    assert {name for name, r in rows.items() if not r["decodes"]} == set()
    assert {name for name, r in rows.items() if not r["same_data"]} == set()


def test_the_written_bytes_differ_only_by_a_default_union_tag(
        rows: dict[str, dict[str, object]]) -> None:
    differ = {name for name, r in rows.items() if not r["same_hash"]}
    assert len(differ) < len(rows) / 4  # most examples hash the same either way
    for name, raw in _examples():
        if name not in differ:
            continue
        model = typed_inbound(EVENT_TYPES[json.loads(raw)["type"]])
        typed = model.model_validate_json(raw)
        ours = msgspec.json.encode(_decode(msgspec.json.Decoder(struct_of(model)), raw))
        # An individual applicant's `kind` holds its default: pydantic leaves it out.
        assert ours.replace(b'{"kind":"individual",', b"{", 1) == \
            typed.__pydantic_serializer__.to_json(typed, exclude_defaults=True), name


def test_constraints_and_time_zones_are_enforced_by_the_generated_types() -> None:
    _, raw = next((n, r) for n, r in _examples() if n == "dossier.received.v1")
    decoder = msgspec.json.Decoder(struct_of(typed_inbound(
        EVENT_TYPES[json.loads(raw)["type"]])))
    body = json.loads(raw)
    body["data"]["procedure_code"] = "X" * 65  # Code: at most 64
    with pytest.raises(msgspec.ValidationError, match="procedure_code"):
        decoder.decode(json.dumps(body))
    body = json.loads(raw)
    body["data"]["due_at"] = "2026-03-09T08:15:00"  # no offset
    with pytest.raises(msgspec.ValidationError, match="due_at"):
        decoder.decode(json.dumps(body))
    body = json.loads(raw)
    body["data"]["due_at"] = 1772000000  # a number is not a timestamp on the wire
    with pytest.raises(msgspec.ValidationError, match="due_at"):
        decoder.decode(json.dumps(body))
    assert _decode(decoder, raw).time.utcoffset().total_seconds() == 0
    assert struct_of(IndividualApplicant).__struct_config__.tag == "individual"
