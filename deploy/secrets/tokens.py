"""The operator's first bearer tokens: signed with `.env`'s ONESTOP_AUTH_JWT_SECRET for the
issuer and audience the services are given (docker-compose.yml), until an OIDC issuer's
tokens take over (ONESTOP_AUTH_JWKS_URL). The environment wins over `.env`, as in compose,
so the command also works inside a service's container."""

from __future__ import annotations

import os
from pathlib import Path

from deploy.secrets.compose import variables
from services.common.http.auth import issue_token
from services.product.roles import Role


def operator_token(directory: Path, role: Role | str, *, user: str | None = None,
                   name: str | None = None, agency: str | None = None,
                   hours: float = 12.0) -> str:
    env = variables(directory, os.environ)
    secret = env.get("ONESTOP_AUTH_JWT_SECRET", "").split(",")[0].strip()
    issuer, audience = env.get("ONESTOP_AUTH_ISSUER"), env.get("ONESTOP_AUTH_AUDIENCE")
    if not (secret and issuer and audience):
        raise ValueError(f"{directory / '.env'} lacks ONESTOP_AUTH_JWT_SECRET, _ISSUER or "
                         "_AUDIENCE: run `make secrets` first")
    return issue_token(role, user=user, name=name, agency=agency, secret=secret, hours=hours,
                       issuer=issuer, audience=audience)
