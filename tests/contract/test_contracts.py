"""The published contract: schemas committed and fresh, compatible with what consumers
were given, examples that still validate, and a registry that keeps personal data narrow."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from contracts.compat import breaking_changes
from contracts.envelope import Envelope
from contracts.ingest import IngestAccepted
from contracts.registry import EVENT_TYPES, short_name
from contracts.specs import event_schemas
from contracts.topics import BY_NAME, DATA_TOPICS, TOPICS
from tools.gen_contracts import stale

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
PUBLISHED = sorted((CONTRACTS / "published").glob("*.json"))
EXAMPLES = sorted((CONTRACTS / "examples").glob("*.json"))
PERSONAL = {"id_number", "social_insurance_code"}


def test_committed_schemas_and_asyncapi_are_fresh() -> None:
    assert stale() == [], "run `make contracts` and commit the result"


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.stem)
def test_current_models_do_not_break_published_schemas(path: Path) -> None:
    current = event_schemas()
    assert path.stem in current, f"published schema {path.stem} has no model any more"
    old = json.loads(path.read_text(encoding="utf-8"))
    assert breaking_changes(old, current[path.stem]) == []


def test_every_event_type_is_published() -> None:
    published = {p.stem for p in PUBLISHED}
    assert {short_name(t) for t in EVENT_TYPES} <= published


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_still_validate(path: Path) -> None:
    envelope = Envelope.model_validate_json(path.read_bytes())
    assert short_name(envelope.type) == path.stem
    event = EVENT_TYPES[envelope.type].model_validate(envelope.data)
    if isinstance(event, IngestAccepted):  # a batch's acknowledgement: keyed by its system
        assert event.system_id == envelope.subject
        return
    assert event.dossier_code == envelope.subject or envelope.type.endswith("rejected.v1")


def test_every_event_has_an_example() -> None:
    assert {short_name(t) for t in EVENT_TYPES} == {p.stem for p in EXAMPLES}


SCHEMA = event_schemas()["dossier.received.v1"]


def _mutated(change: str) -> dict:
    new = copy.deepcopy(SCHEMA)
    if change == "remove":
        del new["properties"]["channel"]
    elif change == "rename":
        new["properties"]["kenh"] = new["properties"].pop("procedure_code")
    elif change == "require":
        new["properties"]["officer"] = {"type": "string"}
        new["required"].append("officer")
    elif change == "type":
        new["properties"]["procedure_code"] = {"type": "integer"}
    elif change == "narrow":
        new["$defs"]["Channel"]["enum"].remove("postal")
    elif change == "optional":
        new["properties"]["note"] = {"type": "string"}
    elif change == "widen":
        new["$defs"]["Channel"]["enum"].append("kiosk")
    return new


@pytest.mark.parametrize("change", ["remove", "rename", "require", "type", "narrow"])
def test_compatibility_check_catches_breaking_changes(change: str) -> None:
    assert breaking_changes(SCHEMA, _mutated(change)), f"{change} was not detected"


@pytest.mark.parametrize("change", ["optional", "widen"])
def test_compatibility_check_allows_additive_changes(change: str) -> None:
    assert breaking_changes(SCHEMA, _mutated(change)) == []


def _mentions_personal_numbers(schema: dict) -> bool:
    text = json.dumps(schema)
    return any(f'"{field}"' in text for field in PERSONAL)


def test_personal_numbers_travel_only_on_narrow_topics() -> None:
    schemas = event_schemas()
    for topic in DATA_TOPICS:
        carries = [t for t in topic.events if _mentions_personal_numbers(schemas[short_name(t)])]
        if carries:
            assert topic.personal_data, f"{topic.name} carries personal numbers in {carries}"
            assert topic.owner in ("intake", "provinces"), topic.name
            # digitization: Decision 1333 has the counter check the scan against what was declared
            assert set(topic.consumers) <= {"intake", "processing", "digitization"}, topic.name


# Ways to reach a person: by field name (any spelling holding these words, in any nested
# model) or by the JSON Schema e-mail format.
CONTACT_WORDS = ("phone", "email", "mobile")


def _contact_fields(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            for name, sub in properties.items():
                plain = name.lower().replace("_", "").replace("-", "")
                if any(w in plain for w in CONTACT_WORDS) or (
                        isinstance(sub, dict) and sub.get("format") == "email"):
                    found.add(name)
        for value in node.values():
            found |= _contact_fields(value)
    elif isinstance(node, list):
        for value in node:
            found |= _contact_fields(value)
    return found


def _contacts_off_narrow_topics(schemas: dict[str, dict]) -> list[str]:
    """Each event carrying a phone or e-mail on a topic the registry does not mark personal."""
    return [f"{topic.name}: {short_name(t)} carries {sorted(fields)}"
            for topic in DATA_TOPICS if not topic.personal_data for t in topic.events
            if (fields := _contact_fields(schemas[short_name(t)]))]


def test_phones_and_emails_travel_only_on_narrow_topics() -> None:
    schemas = event_schemas()
    assert _contacts_off_narrow_topics(schemas) == []
    # The detector sees the contacts it must allow (a detector seeing nothing passes anyway).
    carriers = {topic.name for topic in DATA_TOPICS for t in topic.events
                if _contact_fields(schemas[short_name(t)])}
    assert carriers == {"onestop.ingest.v1", "onestop.intake.private.v1", "onestop.contacts.v1"}


@pytest.mark.parametrize("field", ["phone", "email", "applicant_phone", "contactEmail",
                                   "so_mobile", "nested"])
def test_a_contact_field_on_a_broad_topic_is_caught(field: str) -> None:
    schemas = copy.deepcopy(event_schemas())
    received = schemas["dossier.received.v1"]  # onestop.intake.v1: broad
    assert not BY_NAME["onestop.intake.v1"].personal_data
    if field == "nested":  # inside a referenced model, with an innocent name
        received["$defs"]["ApplicantRef"]["properties"]["reach"] = {
            "type": "string", "format": "email"}
    else:
        received["properties"][field] = {"type": "string"}
    [problem] = _contacts_off_narrow_topics(schemas)
    assert problem.startswith("onestop.intake.v1: dossier.received.v1")


def test_broad_topics_name_the_applicant_by_pseudonym() -> None:
    schemas = event_schemas()
    for name in ("onestop.results.v1", "onestop.notification.v1", "onestop.intake.v1"):
        for event_type in BY_NAME[name].events:
            assert not _mentions_personal_numbers(schemas[short_name(event_type)])


def test_registry_is_consistent() -> None:
    names = [t.name for t in TOPICS]
    assert len(names) == len(set(names))
    for topic in TOPICS:
        assert topic.partitions >= 1
        assert all(t in EVENT_TYPES for t in topic.events), topic.name
    carried = {t for topic in DATA_TOPICS for t in topic.events}
    assert carried == set(EVENT_TYPES), "every event type travels on some topic"


def test_asyncapi_lists_every_topic_with_its_partitions() -> None:
    doc = yaml.safe_load((CONTRACTS / "asyncapi.yaml").read_text(encoding="utf-8"))
    assert doc["asyncapi"].startswith("3.")
    for topic in TOPICS:
        channel = doc["channels"][topic.name]
        assert channel["x-partitions"] == topic.partitions
        assert channel["x-owner"] == topic.owner
