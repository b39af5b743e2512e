"""Who is told of what, by which channels: rules.yaml, validated at start-up (with the
templates each rule needs) so a mistake names its file and line and the service does not
start with it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts import events as ev
from contracts.registry import short_name
from services.law.yamldata import line_of, load_yaml_model
from services.notification.templates import Templates, template_name


class RulesError(ValueError):
    pass


class Audience(StrEnum):
    applicant = "applicant"
    officer = "officer"  # who holds the dossier now
    department_head = "department_head"
    office_leader = "office_leader"
    national_unit = "national_unit"
    provincial_system = "provincial_system"
    # The other agency a request for verification went to (liên thông), told of its own
    # sub-deadline's alerts; nobody for any other event.
    other_agency = "other_agency"


class ChannelName(StrEnum):
    inbox = "inbox"
    email = "email"
    sms = "sms"
    webhook = "webhook"


# Events a rule may be about: the lifecycle and deadline events notification reads, and the
# escalation it raises itself when an overdue dossier stays open.
EVENTS: dict[str, type[ev.Event]] = {
    short_name(cls.event_type).rsplit(".v", 1)[0]: cls for cls in (
        ev.DossierReceived, ev.DossierRejected, ev.DossierWithdrawn, ev.SupplementRequested,
        ev.StepAssigned, ev.DeadlineApproaching, ev.DossierOverdue, ev.OverdueExplained,
        ev.ApologyIssued, ev.DossierResolved, ev.ResultIssued, ev.ResultReturned)}
ESCALATED = "overdue.escalated"
DIGEST = "digest"
EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"


class Tell(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audience: Audience
    channels: list[ChannelName] = Field(min_length=1)

    @model_validator(mode="after")
    def _webhooks_are_for_systems(self) -> Tell:
        # A webhook is a system's door; people are written to, systems are called.
        system = self.audience == Audience.provincial_system
        if system != (self.channels == [ChannelName.webhook]):
            raise ValueError("provincial_system is told by webhook only, and only it is")
        return self


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Not `on`: YAML 1.1 reads a bare `on` key as the boolean true.
    event: str = Field(description="event short name, e.g. dossier.received")
    tell: list[Tell] = Field(min_length=1)

    @model_validator(mode="after")
    def _known(self) -> Rule:
        if self.event not in EVENTS and self.event != ESCALATED:
            raise ValueError(f"unknown event {self.event!r}; one of "
                             f"{', '.join(sorted([*EVENTS, ESCALATED]))}")
        return self


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]
    digests: list[Tell] = Field(default_factory=list)


class Rules:
    def __init__(self, data: RulesFile) -> None:
        self.data = data
        self.by_event: dict[str, list[tuple[Audience, list[ChannelName]]]] = {}
        for rule in data.rules:
            for tell in rule.tell:
                self.by_event.setdefault(rule.event, []).append((tell.audience, tell.channels))
        self.digests = [(t.audience, t.channels) for t in data.digests]

    def who(self, on: str) -> list[tuple[Audience, list[ChannelName]]]:
        return self.by_event.get(on, [])


def sample_context(on: str) -> dict[str, Any]:
    """A context like the one messages are rendered with, for the start-up check: the
    contract's example event, a dossier and a recipient."""
    due = datetime(2026, 3, 9, 1, 15, tzinfo=UTC)
    if on in EVENTS:
        name = short_name(EVENTS[on].event_type)
        data = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))["data"]
        event: Any = EVENTS[on].model_validate(data)
    else:
        event = {"due_at": due, "working_days_late": 2}
    return {"on": on, "event": event, "dossier_code": "000.01.01.H26-260302-0007",
            "procedure_name": "Giải quyết hưởng chế độ thai sản", "agency_name":
            "Bảo hiểm xã hội cơ sở Ba Đình", "agency_code": "000.01.01.H26", "due_at": due,
            "department": "Phòng Chế độ BHXH", "assignee": "badinh.cd.cb01",
            "other_agency_name": None,
            "recipient_name": "Vũ Đức Anh", "day": due.date(),
            "near": [{"dossier_code": "000.01.01.H26-260302-0008", "due_at": due,
                      "procedure_name": "Cấp lại sổ BHXH", "department": "Phòng Chế độ BHXH"}],
            "overdue": [{"dossier_code": "000.01.01.H26-260302-0007",
                         "due_at": due - timedelta(days=3),
                         "procedure_name": "Giải quyết hưởng chế độ thai sản",
                         "department": "Phòng Chế độ BHXH"}],
            "offices": [{"agency_code": "000.01.01.H26",
                         "agency_name": "Bảo hiểm xã hội cơ sở Ba Đình", "overdue": 4,
                         "near": 2}]}


def load_rules(path: Path, templates: Templates) -> Rules:
    """The rules file, and every template it needs present and rendering its sample."""
    data = load_yaml_model(path, RulesFile, RulesError, what="notification rules")
    root = yaml.compose(path.read_text(encoding="utf-8"))
    problems: list[str] = []

    def check(on: str, tell: Tell, loc: tuple[Any, ...]) -> None:
        for k, channel in enumerate(tell.channels):
            where = (*loc, "channels", k)
            if not templates.exists(on, tell.audience, channel):
                problems.append(f"{path}:{line_of(root, where)}: "
                                f"{'.'.join(map(str, where))}: no template "
                                f"{template_name(on, tell.audience, channel)}")
                continue
            problems.extend(templates.problems(on, tell.audience, channel,
                                               sample_context(on)))

    for i, rule in enumerate(data.rules):
        for j, tell in enumerate(rule.tell):
            check(rule.event, tell, ("rules", i, "tell", j))
    for j, tell in enumerate(data.digests):
        if tell.audience not in (Audience.office_leader, Audience.national_unit):
            problems.append(f"{path}:{line_of(root, ('digests', j))}: digests.{j}: digests "
                            "go to office leaders and the national unit")
        check(DIGEST, tell, ("digests", j))
    if problems:
        raise RulesError("invalid notification rules or templates\n" + "\n".join(problems))
    return Rules(data)
