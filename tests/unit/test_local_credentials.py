"""`make up`'s credentials: a signing secret and a service API key of this machine's own
(var/auth, 0600, kept across starts), given to every service; the development key written
in the source is not accepted by such a stack; national roles carry the explicit claim."""

from __future__ import annotations

import stat
from pathlib import Path

import jwt
import pytest

from deploy.local.tokens import PEOPLE, credentials, tokens
from services.common.http.auth import NATIONAL, Authenticator, AuthError
from services.common.settings import DEV_SERVICE_KEY, ServiceSettings, key_digest
from services.product.roles import ROLE_PERMISSIONS, Role


def test_make_up_makes_its_own_service_key_and_the_source_key_is_refused(
        tmp_path: Path) -> None:
    made = credentials(tmp_path, {})
    key = made["ONESTOP_SERVICE_API_KEY"]
    assert key != DEV_SERVICE_KEY and len(key) >= 48
    path = tmp_path / "auth" / "service.key"
    assert path.read_text() == key and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials(tmp_path, {}) == made  # kept: the same on the next start
    assert key_digest(key) in made["ONESTOP_AUTH_API_KEYS"]
    assert key_digest(DEV_SERVICE_KEY) not in made["ONESTOP_AUTH_API_KEYS"]

    # A service started with them (Stack passes them as its environment).
    settings = ServiceSettings(**{"auth_jwt_secret": made["ONESTOP_AUTH_JWT_SECRET"],
                                  "auth_api_keys": made["ONESTOP_AUTH_API_KEYS"],
                                  "service_api_key": key})
    auth = Authenticator.from_settings(settings, ROLE_PERMISSIONS)
    assert auth.caller(None, key).role == Role.internal_service
    with pytest.raises(AuthError) as refused:
        auth.caller(None, DEV_SERVICE_KEY)
    assert refused.value.code == "invalid_api_key"


def test_given_credentials_are_kept_and_other_keys_still_accepted(tmp_path: Path) -> None:
    given = {"ONESTOP_SERVICE_API_KEY": "a-key-given-by-the-operator",
             "ONESTOP_AUTH_JWT_SECRET": "a-secret-given-by-the-operator-32-bytes",
             "ONESTOP_AUTH_API_KEYS": f"province:provincial_system:*:{key_digest('p')}"}
    made = credentials(tmp_path, given)
    assert made["ONESTOP_SERVICE_API_KEY"] == given["ONESTOP_SERVICE_API_KEY"]
    assert made["ONESTOP_AUTH_JWT_SECRET"] == given["ONESTOP_AUTH_JWT_SECRET"]
    assert made["ONESTOP_AUTH_API_KEYS"].endswith(given["ONESTOP_AUTH_API_KEYS"])
    assert not (tmp_path / "auth").exists()


def test_national_roles_carry_the_explicit_claim() -> None:
    made = tokens("a-development-secret-of-32-bytes-or-more")
    for role, (_, agency) in PEOPLE.items():
        claims = jwt.decode(made[role], options={"verify_signature": False})
        assert claims["agency"] == agency and agency
    assert PEOPLE[Role.national_monitor][1] == PEOPLE[Role.ops][1] == NATIONAL
