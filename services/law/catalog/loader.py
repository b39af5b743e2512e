"""Load a catalogue file, validate it with the contracts' schema, and index it.

A bad file fails with the file, line and field named, so the person editing it can fix it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from contracts.catalog import Agency, Catalog, Procedure
from contracts.common import LegalTime
from services.law.workdays import CalendarRules
from services.law.yamldata import load_yaml_model

DEFAULT_FILE = Path(__file__).with_name("catalog.v1.yaml")
DEFAULT_DIR = DEFAULT_FILE.parent


class CatalogError(ValueError):
    pass


def load_catalog(path: Path | str = DEFAULT_FILE) -> CatalogIndex:
    path = Path(path)
    return CatalogIndex(load_yaml_model(path, Catalog, CatalogError, what="catalogue"), path)


class CatalogIndex:
    def __init__(self, catalog: Catalog, path: Path) -> None:
        self.catalog = catalog
        self.path = path
        self.version = catalog.version
        self.agencies: dict[str, Agency] = {a.code: a for a in catalog.agencies}
        self.procedures: dict[str, Procedure] = {p.code: p for p in catalog.procedures}
        problems = [f"agency {a.code}: parent {a.parent} is not in the catalogue"
                    for a in catalog.agencies if a.parent and a.parent not in self.agencies]
        problems += [f"agency {a.code}: successor {a.successor} is not in the catalogue"
                     for a in catalog.agencies if a.successor and a.successor not in self.agencies]
        if problems:
            raise CatalogError(f"{path}: " + "; ".join(problems))

    def agency(self, code: str) -> Agency | None:
        return self.agencies.get(code)

    def procedure(self, code: str) -> Procedure | None:
        return self.procedures.get(code)

    def active_agency(self, code: str, on: date) -> Agency | None:
        agency = self.agencies.get(code)
        if agency is None or agency.valid_from > on or (agency.valid_to and agency.valid_to < on):
            return None
        return agency

    def legal_time(self, procedure: Procedure, applicant_kind: str) -> LegalTime:
        for variant in procedure.variants:
            if variant.submitter == applicant_kind:
                return variant.legal_time
        return procedure.legal_time

    def ancestors(self, code: str) -> list[str]:
        chain, seen = [], set()
        agency = self.agencies.get(code)
        while agency and agency.parent and agency.parent not in seen:
            seen.add(agency.parent)
            chain.append(agency.parent)
            agency = self.agencies.get(agency.parent)
        return chain


class CatalogSet:
    """Every version of the catalogue; a dossier is judged by the one in force on the day it
    was received, and keeps that version for good (domain.md section 1)."""

    def __init__(self, indexes: list[CatalogIndex]) -> None:
        if not indexes:
            raise CatalogError("no catalogue file found")
        self.indexes = sorted(indexes, key=lambda i: i.catalog.valid_from)
        self.by_version = {i.version: i for i in self.indexes}
        if len(self.by_version) != len(self.indexes):
            raise CatalogError("two catalogue files share a version: "
                               + ", ".join(str(i.path) for i in self.indexes))

    @property
    def latest(self) -> CatalogIndex:
        return self.indexes[-1]

    def in_force(self, on: date) -> CatalogIndex:
        found = [i for i in self.indexes if i.catalog.valid_from <= on]
        if not found:
            raise CatalogError(f"no catalogue in force on {on:%d/%m/%Y}")
        return found[-1]

    def calendar_rules(self) -> CalendarRules:
        """Announced days are facts whatever the version that lists them: take them all."""
        off = {d for i in self.indexes for d in i.catalog.calendar.extra_days_off}
        worked = {d for i in self.indexes for d in i.catalog.calendar.extra_working_days}
        return CalendarRules(extra_days_off=frozenset(off), extra_working_days=frozenset(worked))

    def version(self, version: str) -> CatalogIndex:
        return self.by_version.get(version, self.latest)


def load_catalogs(folder: Path | str = DEFAULT_DIR) -> CatalogSet:
    """All `catalog.v*.yaml` files of a folder, each validated on its own."""
    return CatalogSet([load_catalog(p) for p in sorted(Path(folder).glob("catalog.v*.yaml"))])


class AgencyScope:
    """What a caller may see: the whole tree (agency None, or the root), or one agency's
    subtree, in any version of the catalogue."""

    def __init__(self, catalogs: CatalogSet, agency: str | None) -> None:
        self.catalogs = catalogs
        self.agency = agency

    def known(self, code: str) -> bool:
        return any(i.agency(code) for i in self.catalogs.indexes)

    def allows(self, code: str) -> bool:
        return self.agency is None or code == self.agency or any(
            self.agency in i.ancestors(code) for i in self.catalogs.indexes)

    def agencies(self) -> set[str] | None:
        """Every agency code in scope, in any version of the catalogue (None: all), for
        queries that must filter before they limit."""
        if self.agency is None:
            return None
        return {a for i in self.catalogs.indexes for a in i.agencies if self.allows(a)}

    def root(self, requested: str | None) -> str:
        if requested:
            return requested
        if self.agency:
            return self.agency
        return next(a.code for a in self.catalogs.latest.agencies.values() if not a.parent)

    @classmethod
    def of(cls, catalogs: CatalogSet, agency: str | None) -> AgencyScope | None:
        """A credential's agency as a scope: the root's is the whole tree; None when no
        version of the catalogue knows the agency."""
        scope = cls(catalogs, agency)
        if agency is None:
            return scope
        if not scope.known(agency):
            return None
        if not any(i.ancestors(agency) for i in catalogs.indexes):
            return cls(catalogs, None)
        return scope
