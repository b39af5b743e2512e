"""The directory of people to tell, per agency and department (reference data kept with
the catalogue), and who each audience of a rule is for one dossier. No I/O but loading."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.law.yamldata import load_yaml_model


class DirectoryError(ValueError):
    pass


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=20)


class Department(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    head: Person
    officers: list[Person] = Field(default_factory=list)


class Office(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agency: str = Field(min_length=1, max_length=32)
    leader: Person
    webhook: str | None = Field(default=None, pattern=r"^https?://")
    departments: list[Department] = Field(default_factory=list)


class OtherAgency(BaseModel):
    """An agency outside BHXH that offices ask for verifications (liên thông), by the name
    or code their requests give it (VerificationRequested.to_agency), and its contact."""

    model_config = ConfigDict(extra="forbid")

    agency: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    contact: Person


class DirectoryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    national_unit: Person
    offices: list[Office]
    other_agencies: list[OtherAgency] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> DirectoryFile:
        for what, agencies in (("offices", [o.agency for o in self.offices]),
                               ("other agencies", [o.agency for o in self.other_agencies])):
            twice = sorted({a for a in agencies if agencies.count(a) > 1})
            if twice:
                raise ValueError(f"{what} listed twice: {', '.join(twice)}")
        return self


@dataclass(frozen=True)
class Recipient:
    """Someone a message goes to: `id` names them in the inbox and in NotificationSent
    (an officer's id, an applicant's pseudonym); the addresses are per channel."""

    id: str
    name: str
    email: str | None = None
    phone: str | None = None
    url: str | None = None


def _recipient(p: Person) -> Recipient:
    return Recipient(p.id, p.name, p.email, p.phone)


class Directory:
    def __init__(self, data: DirectoryFile,
                 ancestors: Callable[[str], list[str]] = lambda _: []) -> None:
        self.data = data
        self.offices = {o.agency: o for o in data.offices}
        self.other_agencies = {o.agency: o for o in data.other_agencies}
        self.ancestors = ancestors
        self.national_unit = _recipient(data.national_unit)

    def _office(self, agency: str | None) -> Office | None:
        return self.offices.get(agency or "")

    def _department(self, agency: str | None, name: str | None) -> Department | None:
        office = self._office(agency)
        return next((d for d in office.departments if d.name == name), None) if office else None

    def leader(self, agency: str | None) -> Recipient | None:
        office = self._office(agency)
        return _recipient(office.leader) if office else None

    def head(self, agency: str | None, department: str | None) -> Recipient | None:
        found = self._department(agency, department)
        return _recipient(found.head) if found else None

    def officer(self, agency: str | None, department: str | None,
                assignee: str | None) -> Recipient | None:
        """The officer holding the dossier; one the directory does not list still has an
        inbox; no officer named: the head of the department that holds it."""
        if not assignee:
            return self.head(agency, department)
        office = self._office(agency)
        for dept in office.departments if office else []:
            for person in (*dept.officers, dept.head):
                if person.id == assignee:
                    return _recipient(person)
        return Recipient(assignee, assignee)

    def webhook(self, agency: str | None) -> Recipient | None:
        """The provincial system of the agency, or of its nearest ancestor."""
        for code in [agency or "", *self.ancestors(agency or "")]:
            office = self._office(code)
            if office and office.webhook:
                return Recipient(f"system:{code}", f"Hệ thống một cửa {code}",
                                 url=office.webhook)
        return None

    def other_agency(self, agency: str | None) -> Recipient | None:
        """Who answers for an agency asked for a verification: its listed contact, or the
        leader when it is one of the offices (another BHXH office asked)."""
        other = self.other_agencies.get(agency or "")
        return _recipient(other.contact) if other else self.leader(agency)

    def agency_name(self, agency: str | None) -> str | None:
        other = self.other_agencies.get(agency or "")
        return other.name if other else None

    def leaders(self) -> list[tuple[str, Recipient]]:
        return [(o.agency, _recipient(o.leader)) for o in self.data.offices]


def load_directory(path: Path, ancestors: Callable[[str], list[str]] = lambda _: []
                   ) -> Directory:
    return Directory(load_yaml_model(path, DirectoryFile, DirectoryError, what="directory"),
                     ancestors)
