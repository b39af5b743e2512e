"""The province simulator: realistic ingest traffic from N provincial systems, seeded.

`generator.py` builds the records (pure; `records.py` their types, `people.py` who submits,
`expectation.py` what the pipeline should hold for them); this module loads what they are
built from (the catalogue, province_systems.yaml), signs them as each province would, and
hands them over ready to produce; `python -m deploy.simulate` sends them on a compressed
clock and, as a province must, reads their answers and sends again what has none
(`feedback.py`).

For a load (the bench):

    records = simulate.traffic(seed=7, provinces=3, dossiers=5000)
    for key, value, headers in simulate.ready(records):
        await producer.send(topics.INGEST.name, value, key=key, headers=headers)
    simulate.expectation(records).reporting_events  # what reporting ends up holding
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from contracts.ingest import sign
from deploy.simulate.expectation import Expectation, expectation
from deploy.simulate.generator import MALFORMED_KINDS, generate
from deploy.simulate.records import Mix, Province, Record
from services.intake.ingest import load_systems
from services.intake.settings import IntakeSettings, dev_signed
from services.law.catalog import CatalogIndex, load_catalogs

__all__ = ["MALFORMED_KINDS", "Expectation", "Mix", "Province", "Record", "expectation",
           "generate", "load_provinces", "ready", "signed", "traffic"]

Produced = tuple[bytes, bytes, list[tuple[str, bytes]]]
FORGED_KEY = "not-the-province-key"


def load_provinces(count: int | None = None, systems_file: Path | None = None,
                   catalog: CatalogIndex | None = None) -> list[Province]:
    """The first `count` registered systems (all by default), each with the agencies of the
    catalogue it may report for: its roots and every agency below them."""
    path = systems_file or IntakeSettings.model_fields["province_systems_file"].default
    systems = load_systems(path)
    if count is not None and count > len(systems):
        raise ValueError(f"{count} provinces asked, {len(systems)} registered in {path}; add "
                         "systems there (and to deploy/kafka/provinces.sh) to simulate more")
    catalog = catalog or load_catalogs().latest
    provinces = []
    for system_id, roots in list(systems.items())[:count]:
        agencies = tuple(a.code for a in catalog.catalog.agencies
                         if {a.code, *catalog.ancestors(a.code)} & set(roots))
        provinces.append(Province(system_id, agencies))
    return provinces


def traffic(seed: int, provinces: int | None = None, dossiers: int = 1000, *,
            mix: Mix | None = None, end: datetime | None = None,
            span: timedelta = timedelta(minutes=10), speed: float = 3600.0,
            tag: str | None = None) -> list[Record]:
    """A whole traffic to send at once, in sending order: what a paced run would send over
    `span` (plus the lives' tails), dated so that its last record is sent at `end` (default:
    now). Nothing is dated in the future and, with Mix.late = 0, no deadline alert falls
    due, so `expectation(records)` is what the pipeline ends up with."""
    catalog = load_catalogs().latest
    return generate(catalog, load_provinces(provinces, catalog=catalog), dossiers=dossiers,
                    seed=seed, end=end or datetime.now(UTC), span=span, speed=speed,
                    mix=mix or Mix(), tag=tag)


def signed(record: Record, at_ms: int | None = None) -> list[tuple[str, bytes]]:
    """The record's headers, signed now (or `at_ms`) with its system's development key; a
    forged record with a key that is not."""
    if record.forged:
        stamp = at_ms if at_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
        return sign(record.value, record.system_id, FORGED_KEY, stamp)
    return dev_signed(record.value, record.system_id, at_ms)


def ready(records: Sequence[Record], at_ms: int | None = None) -> Iterator[Produced]:
    """(key, value, headers) of each record, ready for `producer.send(topic, value, key=key,
    headers=headers)`; signed as they are taken, so a long run's signatures stay fresh."""
    for record in records:
        yield record.key, record.value, signed(record, at_ms)
