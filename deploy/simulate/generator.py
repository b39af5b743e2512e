"""Province traffic, pure: the records N provincial systems would publish on the ingest topic
for a number of dossiers, from one seed. No I/O, no clock: the caller gives the catalogue,
the provinces and when the traffic starts (or ends), and signs the records as it sends them.

Each dossier lives a whole life with one of the catalogue's procedures, in an agency the
province may report for: received (portal status 2) through every step of the procedure
(assigned then completed, status 4), perhaps a supplement request (5), then resolved (9,
approved or denied) and returned (10); or withdrawn on the way (7), or refused at the
counter (3). Steps take their catalogue share of a time budget drawn inside the legal time
(or beyond it, for the `late` share). On top of the lifecycles, as configured:

- duplicates: a share of the lifecycle events sent again later, byte for byte (same id);
- out of order: a share of the dossiers has one event sent after the next one;
- malformed: extra records, a share of the lifecycle events' count, each of one kind of
  `MALFORMED_KINDS`, which intake answers on the feedback topic (IngestRejected).

Records come out in the order they are sent, each with the real moment it is due: lives
play on a compressed clock (`speed`: 3600 is a simulated hour per real second).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from contracts.catalog import AgencyLevel, Procedure
from contracts.common import LegalTime
from contracts.ingest import PortalChannel, PortalStatus, ProvinceDossierStatus
from deploy.simulate.people import applicant, reason
from deploy.simulate.records import Mix, Province, Record
from services.law.catalog.loader import CatalogIndex
from services.law.workdays import TZ

STATUS_TYPE = ProvinceDossierStatus.event_type
MALFORMED_KINDS = ("unparseable", "invalid-event", "unknown-procedure", "forged-signature")
HOUR = timedelta(hours=1)
_CHANNELS = (PortalChannel.direct, PortalChannel.online, PortalChannel.postal)
_CHANNEL_WEIGHTS = (0.5, 0.4, 0.1)
_RETURN = {PortalChannel.direct: "counter", PortalChannel.online: "online",
           PortalChannel.postal: "postal"}


def _budget(legal: LegalTime, rng: random.Random, late: bool) -> timedelta:
    """The time from receipt to decision: a share of the legal time, or beyond it when late.
    On time it stays under a third of it, so that even counted from the receipt's record to
    the last one no deadline alert is due (the first, 80 % used, is days away)."""
    whole = {"hours": HOUR * legal.value, "same_day": HOUR * 8}.get(
        str(legal.unit), 24 * HOUR * legal.value)
    return whole * (rng.uniform(1.2, 2.0) if late else rng.uniform(0.1, 0.33))


# --- one dossier's life ----------------------------------------------------------------------


@dataclass
class _Event:
    offset: timedelta  # when it happened, after the receipt
    data: dict[str, Any]
    position: int  # its place in the dossier's life
    send: timedelta = timedelta(0)  # when it is sent, after the receipt (held back: later)


@dataclass
class _Life:
    system_id: str
    agency: str
    events: list[_Event]
    components: int

    @property
    def length(self) -> timedelta:
        return max(e.send for e in self.events)


def _candidates(catalog: CatalogIndex, provinces: Sequence[Province]
                ) -> dict[str, list[tuple[str, Procedure]]]:
    """For each province, every (agency, procedure) the catalogue allows there."""
    out: dict[str, list[tuple[str, Procedure]]] = {}
    for province in provinces:
        pairs = out.setdefault(province.system_id, [])
        for code in province.agencies:
            agency = catalog.agency(code)
            if agency is None or agency.valid_to is not None:
                continue
            pairs += [(code, p) for p in catalog.catalog.procedures
                      if AgencyLevel(agency.level) in p.agency_levels and p.valid_to is None]
        if not pairs:
            raise ValueError(f"no agency of {province.system_id} handles any procedure")
    return out


def _life(rng: random.Random, catalog: CatalogIndex, system_id: str, agency: str,
          procedure: Procedure, mix: Mix) -> _Life:
    kind = rng.choice(procedure.applicant_kinds)
    channel = rng.choices(_CHANNELS, _CHANNEL_WEIGHTS)[0]
    components = [{"code": c.code, "form": "electronic"} for c in procedure.components
                  if c.required or rng.random() < 0.5]
    base = {"system_id": system_id, "agency_code": agency, "procedure_code": procedure.code,
            "channel": int(channel)}
    events: list[_Event] = []

    def add(at: timedelta, status: PortalStatus, **data: Any) -> None:
        events.append(_Event(at, {**base, "status": int(status), **data}, len(events), at))

    life = _Life(system_id, agency, events, 0)
    zero = timedelta(0)
    who = applicant(rng, kind)
    if rng.random() < mix.refused:
        add(zero, PortalStatus.not_received, received_at=zero, applicant=who,
            components=components, reasons=[reason(
                "not_eligible", "Người nộp chưa đủ điều kiện hưởng theo quy định",
                "the applicant does not meet the conditions of the procedure")])
        return life
    life.components = len(components)
    add(zero, PortalStatus.received, received_at=zero, applicant=who,
        components=components)
    budget = _budget(catalog.legal_time(procedure, kind), rng, rng.random() < mix.late)
    total_share = sum(s.share for s in procedure.steps)
    steps = len(procedure.steps)
    withdraw_at = rng.randrange(steps) if rng.random() < mix.withdrawn else None
    supplement_at = rng.randrange(steps) if rng.random() < mix.supplement else None
    t = budget * rng.uniform(0.02, 0.08)  # the receipt reaches the department
    for no, step in enumerate(procedure.steps, start=1):
        info = {"step_no": no, "step_code": step.code, "department": step.department}
        add(t, PortalStatus.processing, step={**info, "at": t, "completed": False})
        took = budget * (step.share / total_share) * rng.uniform(0.6, 0.8)
        if withdraw_at == no - 1:
            add(t + took * 0.5, PortalStatus.withdrawn, note="Người nộp đề nghị rút hồ sơ")
            return life
        if supplement_at == no - 1:
            add(t + took * 0.3, PortalStatus.supplement_requested, reasons=[reason(
                "incomplete_component", "Thành phần hồ sơ chưa đầy đủ, đề nghị bổ sung",
                "the component is incomplete; please supplement it",
                rng.choice(components)["code"])])
        t += took
        add(t, PortalStatus.processing, step={**info, "at": t, "completed": True})
    t += budget * rng.uniform(0.01, 0.05)
    denied = rng.random() < mix.denied
    add(t, PortalStatus.resolved, decision="denied" if denied else "approved",
        reasons=[reason("not_entitled", "Không đủ điều kiện hưởng theo hồ sơ",
                         "the dossier does not establish the entitlement")] if denied else [])
    add(t + HOUR * rng.uniform(1, 20), PortalStatus.returned, return_channel=_RETURN[channel])
    return life


# --- the whole traffic -----------------------------------------------------------------------


def generate(catalog: CatalogIndex, provinces: Sequence[Province], *, dossiers: int,
             seed: int, start: datetime | None = None, end: datetime | None = None,
             span: timedelta = timedelta(minutes=10), speed: float = 3600.0,
             mix: Mix = Mix(), tag: str | None = None) -> list[Record]:
    """`dossiers` lives, begun over `span` of real time from `start` (or so that the last
    record is sent at `end`), each played on a clock `speed` times faster than real time:
    a step of two simulated hours is sent two real seconds after the previous one at 3600.

    Each life is dated so that its last record happened when it is sent; every record is
    thus sent at or after what it reports (never from the future), and a receipt is older,
    when it is sent, only by its own life's length. `Record.at` is the real moment to send
    it. `tag` makes the dossier codes and event ids unique to a run (default: from the
    seed); the same seed and tag give the same records, byte for byte."""
    if not provinces:
        raise ValueError("no province to simulate")
    if (start is None) == (end is None):
        raise ValueError("give start or end")
    rng = random.Random(seed)
    tag = tag or f"s{seed % 10**8}"
    # Event ids follow the tag too: two runs of one seed under different tags (the bench's
    # rounds, tests sharing a broker) never reuse an id for other bytes.
    ids = random.Random(f"{seed}/{tag}")
    candidates = _candidates(catalog, provinces)
    lives: list[_Life] = []
    for n in range(dossiers):
        province = provinces[n % len(provinces)]
        agency, procedure = rng.choice(candidates[province.system_id])
        life = _life(rng, catalog, province.system_id, agency, procedure, mix)
        # Out of order: one event held back until just after the next one of its dossier.
        if len(life.events) > 1 and rng.random() < mix.out_of_order:
            i = rng.randrange(len(life.events) - 1)
            life.events[i].send = life.events[i + 1].offset + timedelta(
                minutes=rng.uniform(1, 30))
        lives.append(life)
    begins = sorted(span * rng.random() for _ in lives)
    if start is None:
        assert end is not None
        start = end - max((b + life.length / speed for b, life in zip(begins, lives,
                                                                         strict=True)),
                          default=timedelta(0))
    records: list[Record] = []
    order: dict[bytes, timedelta] = {}  # simulated send offset: breaks ties in sending order
    for n, (begin, life) in enumerate(zip(begins, lives, strict=True)):
        sent_at = start + begin  # the receipt's record leaves then
        # Dated so that the last record happened as it is sent (speed >= 1: never later).
        received = sent_at + life.length / speed - life.length
        code = f"{life.agency}-{received.astimezone(TZ):%y%m%d}-{tag}-{n:06d}"
        for ev in life.events:
            data = _stamp({**ev.data, "dossier_code": code, "occurred_at": ev.offset},
                          received)
            body = _envelope(ids, life.system_id, code, life.agency, data["occurred_at"], data)
            value = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            records.append(Record(code.encode(), value, life.system_id,
                                  sent_at + ev.send / speed, code, "event", data["status"],
                                  life.components if data["status"] == 2 else 0,
                                  ev.position, event_id=body["id"]))
            order[value] = ev.send
    extra: list[Record] = []
    for i, r in enumerate(records):
        if rng.random() < mix.duplicates:  # sent again, the same bytes, a little later
            extra.append(replace(r, kind="duplicate",
                                 at=r.at + timedelta(minutes=rng.uniform(1, 90)) / speed))
        if rng.random() < mix.malformed:
            extra.append(_malformed(rng, ids, r, tag, i))
    out = records + extra
    last = end or max((r.at for r in out), default=start)
    # A duplicate of the very last records waits no longer than the traffic lasts.
    out = [r if r.at <= last else replace(r, at=last) for r in out]
    out.sort(key=lambda r: (r.at, order.get(r.value, timedelta(0))))
    return out


def _stamp(value: Any, origin: datetime) -> Any:
    """Offsets as datetimes, written in Vietnam time as the provinces' software writes them."""
    if isinstance(value, timedelta):
        return (origin + value).astimezone(TZ).isoformat()
    if isinstance(value, dict):
        return {k: _stamp(v, origin) for k, v in value.items()}
    if isinstance(value, list):
        return [_stamp(v, origin) for v in value]
    return value


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _envelope(rng: random.Random, system_id: str, code: str, agency: str, at: str,
              data: dict[str, Any]) -> dict[str, Any]:
    return {"specversion": "1.0", "id": _uuid(rng), "type": STATUS_TYPE,
            "source": f"province/{system_id}", "subject": code, "time": at,
            "agencycode": agency, "datacontenttype": "application/json", "data": data}


def _malformed(rng: random.Random, ids: random.Random, beside: Record, tag: str, n: int
               ) -> Record:
    """A bad record from the same province at the same moment, for a dossier of its own."""
    kind = rng.choice(MALFORMED_KINDS)
    body = json.loads(beside.value)
    code = f"{body['agencycode']}-bad-{tag}-{n:06d}"
    data = {**body["data"], "dossier_code": code}
    if kind == "invalid-event":
        data["status"] = 42  # no such portal status
        data.pop("occurred_at")
    elif kind == "unknown-procedure":
        data.pop("step", None)
        data.update(status=2, procedure_code="BHXH.XX.99", received_at=data["occurred_at"],
                    applicant=applicant(rng, "individual"),
                    components=[{"code": "TK1-TS", "form": "electronic"}])
    body = {**body, "id": _uuid(ids), "subject": code, "data": data}
    value = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    if kind == "unparseable":
        value = value[: len(value) // 2]  # cut in the middle: not JSON
    return Record(code.encode(), value, beside.system_id, beside.at, code, kind,
                  forged=kind == "forged-signature",
                  event_id=None if kind == "unparseable" else body["id"])
