"""`make up`'s development credentials: a signing secret and an internal service API key of
this machine's own, kept under var/auth, and one token per role printed with the curl line
that uses it.

The services verify with the same secret (ONESTOP_AUTH_JWT_SECRET in their environment) and
know the service key by its digest (ONESTOP_AUTH_API_KEYS); in production they verify an
OIDC issuer's tokens instead (ONESTOP_AUTH_JWKS_URL) and are given a real service key. The
development key written in the source (settings.DEV_SERVICE_KEY) is not accepted by a stack
`make up` started."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

from services.common.http.auth import NATIONAL, issue_token
from services.common.settings import key_digest
from services.product.roles import Role
from services.web.people import DEVELOPMENT_PEOPLE as PEOPLE


def _kept(path: Path) -> str:
    """A secret of this machine's, made once (0600) and kept."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def dev_secret(var: Path) -> str:
    """This machine's development signing secret."""
    return _kept(var / "auth" / "jwt.secret")


def service_key(var: Path) -> str:
    """This machine's internal service API key (what our services send each other)."""
    return _kept(var / "auth" / "service.key")


def credentials(var: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The auth settings of every service `make up` starts: the given ones, or this
    machine's; the service key is accepted by its digest, beside any keys already given."""
    secret = environ.get("ONESTOP_AUTH_JWT_SECRET") or dev_secret(var)
    key = environ.get("ONESTOP_SERVICE_API_KEY") or service_key(var)
    ours = f"onestop-services:{Role.internal_service}:{NATIONAL}:{key_digest(key)}"
    given = environ.get("ONESTOP_AUTH_API_KEYS", "")
    return {"ONESTOP_AUTH_JWT_SECRET": secret, "ONESTOP_SERVICE_API_KEY": key,
            "ONESTOP_AUTH_API_KEYS": ",".join(filter(None, (ours, given)))}


def tokens(secret: str, hours: float = 12) -> dict[Role, str]:
    return {role: issue_token(role, user=name, agency=agency, secret=secret, hours=hours)
            for role, (name, agency) in PEOPLE.items()}


def describe(secret: str, intake_url: str, reporting_url: str) -> str:
    """What `make up` prints: how to call the API as each role (valid 12 hours)."""
    lines = ["tokens        one per role, 12 hours (systems use X-API-Key; see README):"]
    made = tokens(secret)
    for role, token in made.items():
        name, agency = PEOPLE[role]
        lines.append(f"  {role:<19}{name} "
                     f"({'toàn quốc' if agency == NATIONAL else agency})")
        lines.append(f"    export TOKEN_{role.name.upper()}={token}")
    lines.append(f"  e.g. curl -H \"Authorization: Bearer $TOKEN_COUNTER_OFFICER\" "
                 f"{intake_url}/api/v1/dossiers")
    lines.append(f"  dashboard     {reporting_url}/#token={made[Role.national_monitor]}")
    return "\n".join(lines)
