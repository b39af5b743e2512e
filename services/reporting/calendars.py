"""The working-day calendar each agency counts its dossiers by (its office hours and
closures on top of the national calendar), as intake and processing count them."""

from __future__ import annotations

from services.law.catalog import CatalogSet
from services.law.workdays import WorkCalendar, agency_calendar


class Calendars:
    def __init__(self, catalogs: CatalogSet) -> None:
        self.catalogs = catalogs
        self.rules = catalogs.calendar_rules()
        self._cache: dict[tuple[str, str | None], WorkCalendar] = {}

    def __call__(self, agency_code: str, catalog_version: str | None) -> WorkCalendar:
        key = (agency_code, catalog_version)
        found = self._cache.get(key)
        if found is None:
            index = (self.catalogs.version(catalog_version) if catalog_version
                     else self.catalogs.latest)
            agency = index.agency(agency_code) or self.catalogs.latest.agency(agency_code)
            found = self._cache[key] = agency_calendar(self.rules, agency)
        return found
