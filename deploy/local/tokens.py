"""`make up`'s development issuer: a signing secret of this machine's own, kept under var/,
and one token per role printed with the curl line that uses it.

The services verify with the same secret (ONESTOP_AUTH_JWT_SECRET in their environment); in
production they verify an OIDC issuer's tokens instead (ONESTOP_AUTH_JWKS_URL)."""

from __future__ import annotations

import secrets
from pathlib import Path

from services.common.auth import Role, issue_token

# Who each role is in the development data (an agency of the catalogue, a person's name).
PEOPLE = {
    Role.counter_officer: ("Lê Thị Mai", "000.01.01.H26"),
    Role.processing_officer: ("Nguyễn Văn An", "000.01.01.H26"),
    Role.department_head: ("Trần Thị Bình", "000.00.01.H26"),
    Role.office_leader: ("Phạm Văn Cường", "000.00.01.H26"),
    Role.national_monitor: ("Giám sát toàn quốc", None),
    Role.ops: ("Vận hành", None),
}


def dev_secret(var: Path) -> str:
    """This machine's development signing secret, made once (0600) and kept."""
    path = var / "auth" / "jwt.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def tokens(secret: str, hours: float = 12) -> dict[Role, str]:
    return {role: issue_token(role, user=name, agency=agency, secret=secret, hours=hours)
            for role, (name, agency) in PEOPLE.items()}


def describe(secret: str, intake_url: str, reporting_url: str) -> str:
    """What `make up` prints: how to call the API as each role (valid 12 hours)."""
    lines = ["tokens        one per role, 12 hours (systems use X-API-Key; see README):"]
    made = tokens(secret)
    for role, token in made.items():
        name, agency = PEOPLE[role]
        lines.append(f"  {role:<19}{name} ({agency or 'toàn quốc'})")
        lines.append(f"    export TOKEN_{role.name.upper()}={token}")
    lines.append(f"  e.g. curl -H \"Authorization: Bearer $TOKEN_COUNTER_OFFICER\" "
                 f"{intake_url}/api/v1/dossiers")
    lines.append(f"  dashboard     {reporting_url}/#token={made[Role.national_monitor]}")
    return "\n".join(lines)
