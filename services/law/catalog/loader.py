"""Load the catalogue files, validate each with the contracts' schema, and index them.

A bad file fails with the file, line and field named, so the person editing it can fix it:
the schema's errors, then the tree's (a parent or successor missing, a loop, a successor not
in force when its predecessor ceases), then those between files (two versions on one day, a
`procedures_from` naming no earlier version). What the versions hold and why:
docs/law.md#the-law-as-dated-data.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from contracts.catalog import Agency, Catalog, Procedure
from contracts.common import LegalTime
from services.law.workdays import CalendarRules
from services.law.yamldata import load_yaml_model, located

DEFAULT_FILE = Path(__file__).with_name("catalog.v1.yaml")
DEFAULT_DIR = DEFAULT_FILE.parent

Located = tuple[tuple[Any, ...], str]  # a field's path in the file, what is wrong there


class CatalogError(ValueError):
    pass


def load_catalog(path: Path | str = DEFAULT_FILE) -> CatalogIndex:
    """One file on its own; a `procedures_from` in it is resolved by CatalogSet."""
    path = Path(path)
    return CatalogIndex(load_yaml_model(path, Catalog, CatalogError, what="catalogue"), path)


def _twice(codes: list[str], where: str) -> list[Located]:
    seen: set[str] = set()
    out: list[Located] = []
    for i, code in enumerate(codes):
        if code in seen:
            out.append(((where, i, "code"), f"{code} is listed twice"))
        seen.add(code)
    return out


def _loops(agencies: dict[str, Agency], field: str) -> set[str]:
    """Agencies whose chain of `field` (parent, successor) comes back to them."""
    looping = set()
    for code in agencies:
        seen, cur = {code}, getattr(agencies[code], field)
        while cur in agencies and cur not in seen:
            seen.add(cur)
            cur = getattr(agencies[cur], field)
        if cur == code:
            looping.add(code)
    return looping


def tree_problems(catalog: Catalog) -> list[Located]:
    """What the schema cannot see: every parent and successor listed in the same file, no
    loop, and a successor in force from the day after its predecessor ceased, so that a
    dossier of the ceased office always has an office to move to."""
    out = _twice([a.code for a in catalog.agencies], "agencies")
    out += _twice([p.code for p in catalog.procedures], "procedures")
    agencies = {a.code: a for a in catalog.agencies}
    parent_loops, successor_loops = _loops(agencies, "parent"), _loops(agencies, "successor")
    for i, a in enumerate(catalog.agencies):
        if a.parent and a.parent not in agencies:
            out.append((("agencies", i, "parent"), f"parent {a.parent} is not in the catalogue"))
        if a.code in parent_loops:
            out.append((("agencies", i, "parent"), f"the parents of {a.code} loop back to it"))
        if not a.successor:
            continue
        successor = agencies.get(a.successor)
        if successor is None:
            out.append((("agencies", i, "successor"),
                        f"successor {a.successor} is not in the catalogue"))
        elif a.valid_to is None:
            out.append((("agencies", i, "successor"),
                        "a successor takes over an agency that ceased: give valid_to"))
        elif a.code in successor_loops:
            out.append((("agencies", i, "successor"),
                        f"the successors of {a.code} loop back to it"))
        elif not _in_force(successor, a.valid_to + timedelta(days=1)):
            out.append((("agencies", i, "successor"),
                        f"successor {a.successor} is not in force on "
                        f"{a.valid_to + timedelta(days=1):%d/%m/%Y}, the day after valid_to"))
    return out


def _in_force(agency: Agency, on: date) -> bool:
    return agency.valid_from <= on and (agency.valid_to is None or agency.valid_to >= on)


class CatalogIndex:
    def __init__(self, catalog: Catalog, path: Path) -> None:
        self.path = path
        self.version = catalog.version
        if problems := tree_problems(catalog):
            raise CatalogError("invalid catalogue\n" + "\n".join(located(path, problems)))
        self._index(catalog)

    def _index(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.agencies: dict[str, Agency] = {a.code: a for a in catalog.agencies}
        self.procedures: dict[str, Procedure] = {p.code: p for p in catalog.procedures}

    def keep_procedures_of(self, source: CatalogIndex) -> None:
        """A version with `procedures_from`: the procedures of that earlier version."""
        self._index(self.catalog.model_copy(update={"procedures": source.catalog.procedures}))

    def agency(self, code: str) -> Agency | None:
        return self.agencies.get(code)

    def procedure(self, code: str) -> Procedure | None:
        return self.procedures.get(code)

    def active_agency(self, code: str, on: date) -> Agency | None:
        agency = self.agencies.get(code)
        if agency is None or not _in_force(agency, on):
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
    was received, and keeps that version for good (docs/law.md#the-law-as-dated-data)."""

    def __init__(self, indexes: list[CatalogIndex]) -> None:
        if not indexes:
            raise CatalogError("no catalogue file found")
        self.indexes = sorted(indexes, key=lambda i: i.catalog.valid_from)
        self.by_version = {i.version: i for i in self.indexes}
        if len(self.by_version) != len(self.indexes):
            raise CatalogError("two catalogue files share a version: "
                               + ", ".join(str(i.path) for i in self.indexes))
        problems: list[str] = []
        for one, two in zip(self.indexes, self.indexes[1:], strict=False):
            if one.catalog.valid_from == two.catalog.valid_from:
                problems += located(two.path, [(("valid_from",), (
                    f"{one.path.name} is in force from the same day: which one judges a "
                    "dossier of that day?"))])
        for index in self.indexes:
            wanted = index.catalog.procedures_from
            if wanted is None:
                continue
            source = self.by_version.get(wanted)
            if source is None or source.catalog.procedures_from or \
                    source.catalog.valid_from >= index.catalog.valid_from:
                problems += located(index.path, [(("procedures_from",), (
                    f"no earlier version {wanted} with procedures of its own"))])
            else:
                index.keep_procedures_of(source)
        if problems:
            raise CatalogError("invalid catalogue\n" + "\n".join(problems))

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
    """All `catalog.v*.yaml` files of a folder, each validated on its own, then together."""
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
