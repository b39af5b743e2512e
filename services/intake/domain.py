"""What intake's domain modules share: the errors they raise, the submission every channel
makes, the events to emit and the change an action makes, and the law as intake applies it.

Pure: no SQL, no HTTP, no outbox. The counter's decisions are in receipt.py, the provincial
systems' in province_status.py, the rules of a submission itself in rules.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.catalog import Agency
from contracts.common import (
    Channel,
    ComponentRef,
    IndividualApplicant,
    OrganizationApplicant,
    Problem,
    Reason,
    ReturnChannel,
)
from contracts.events import (
    Event,
)
from contracts.topics import Topic
from services.common.errors import Conflict, Invalid, Missing
from services.intake.dossier import Dossier
from services.law.catalog import CatalogError, CatalogIndex, CatalogSet
from services.law.workdays import TZ, WorkCalendar, agency_calendar

# --- what goes wrong ------------------------------------------------------------------------


class Rejected(Invalid):
    """Nothing was recorded: every problem found, answered over HTTP (422) or on the
    feedback topic as it is."""

    def __init__(self, problems: list[Reason]) -> None:
        super().__init__(problems)


class NotFound(Missing):
    """No such dossier, or not in the caller's tree (not even confirmed to exist)."""

    def __init__(self, code: str) -> None:
        super().__init__([Problem.of("not_found", f"Không tìm thấy hồ sơ {code}",
                                     f"no dossier {code}", "code")])
        self.code = code


class WrongState(Conflict):
    """The action is not possible in the dossier's status (`current_status`); `status` is
    the answer's, as for every error kind."""

    def __init__(self, action: str, current_status: str) -> None:
        self.message = f"{action} is not possible while the dossier is {current_status}"
        super().__init__([Problem.of(
            "wrong_state", f"Không thể thực hiện khi hồ sơ đang ở trạng thái {current_status}",
            self.message, "status")], current_status=current_status)
        self.action = action
        self.current_status = current_status

    def __str__(self) -> str:
        return self.message


# The problems of check_submission that make a refusal itself impossible to record (no such
# agency or procedure, a time that cannot be true). The others (procedure not handled here,

def no_catalogue(exc: CatalogError) -> Problem:
    """received_at before the first catalogue came into force: nothing to judge it by."""
    return Problem.of("no_catalogue",
                      "Không có danh mục thủ tục có hiệu lực vào ngày tiếp nhận",
                      str(exc)[:500], "received_at")


# --- values ----------------------------------------------------------------------------------


@dataclass
class Submission:
    agency_code: str
    procedure_code: str
    channel: Channel
    return_channel: ReturnChannel
    applicant: IndividualApplicant | OrganizationApplicant
    components: list[ComponentRef]
    received_at: datetime
    submission_id: str | None = None
    code: str | None = None  # provinces bring their own code
    origin_system: str | None = None
    officer: str | None = None
    channel_reference: str | None = None


@dataclass(frozen=True)
class Emit:
    """One event to write to the outbox, on its topic, keyed by its agency."""

    topic: Topic
    event: Event
    agency_code: str


@dataclass(slots=True)
class Change:
    """What an action does to a recorded dossier: the dossier after it (as the caller
    answers it), the columns it sets (the repository writes them, and updated_at), the events
    it emits; `missing`, for a supplement, what it still lacks."""

    dossier: Dossier
    columns: tuple[str, ...]
    emits: list[Emit]
    missing: list[dict[str, object]] | None = None


class IntakeLaw:
    """The dated catalogues and the calendar, as intake applies them."""

    def __init__(self, catalogs: CatalogSet, calendar: WorkCalendar) -> None:
        self.catalogs = catalogs
        self.calendar = calendar
        self._calendars: dict[str, WorkCalendar] = {}

    @property
    def catalog(self) -> CatalogIndex:
        """The newest catalogue: what clients list and what new rules are written in."""
        return self.catalogs.latest

    def catalog_on(self, at: datetime) -> CatalogIndex:
        """The catalogue in force on the day of receipt, in Vietnam."""
        return self.catalogs.in_force(at.astimezone(TZ).date())

    def calendar_for(self, agency: Agency) -> WorkCalendar:
        """The agency's own office hours and closures on top of the national calendar."""
        found = self._calendars.get(agency.code)
        if found is None:
            found = self._calendars[agency.code] = agency_calendar(self.calendar.rules, agency)
        return found

