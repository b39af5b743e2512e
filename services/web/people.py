"""Who each role is in the development data: an agency of the catalogue and a person's name.
`make up` prints a token for each (deploy/local/tokens.py); the development sign-in of the
workbench offers them first."""

from __future__ import annotations

from services.common.http.auth import NATIONAL
from services.product.roles import Role

DEVELOPMENT_PEOPLE: dict[Role, tuple[str, str]] = {
    Role.counter_officer: ("Lê Thị Mai", "000.01.01.H26"),
    Role.processing_officer: ("Nguyễn Văn An", "000.01.01.H26"),
    Role.department_head: ("Trần Thị Bình", "000.00.01.H26"),
    Role.office_leader: ("Phạm Văn Cường", "000.00.01.H26"),
    Role.national_monitor: ("Giám sát toàn quốc", NATIONAL),
    Role.ops: ("Vận hành", NATIONAL),
}
