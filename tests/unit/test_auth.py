"""Tokens, API keys, roles and agency trees, without a server."""

from __future__ import annotations

import time
from functools import partial

import jwt
import pytest

from services.common.http.auth import (
    NATIONAL,
    ApiKey,
    Authenticator,
    AuthError,
    ExactAgency,
    acting,
    issue_token,
    parse_api_keys,
)
from services.common.http.edge import ApiError
from services.common.http.ratelimit import RateLimit
from services.common.settings import DEV_JWT_SECRET, key_digest
from services.law.catalog import AgencyScope, load_catalogs
from services.product.roles import ROLE_PERMISSIONS, Permission, Role

NATION, HANOI, BA_DINH, SAIGON = "000.00.00.H99", "000.00.01.H26", "000.01.01.H26", \
    "000.79.01.H29"


@pytest.fixture(scope="module")
def auth() -> Authenticator:
    return Authenticator([DEV_JWT_SECRET], parse_api_keys(
        f"laichau-mcdt:provincial_system:000.00.12.H62:{key_digest('lai-chau-key')}"),
        grants=ROLE_PERMISSIONS, tree=partial(AgencyScope.of, load_catalogs()))


def test_a_token_names_the_user_role_and_agency(auth: Authenticator) -> None:
    caller = auth.caller(issue_token(Role.processing_officer, user="u1", name="Lê Văn An",
                                     agency=BA_DINH), None)
    assert (caller.user, caller.name, caller.role, caller.agency) == (
        "u1", "Lê Văn An", Role.processing_officer, BA_DINH)
    assert caller.may(Permission.case_process) and not caller.may(Permission.case_decide)


@pytest.mark.parametrize(("token", "code"), [
    (issue_token(Role.ops, secret="another-secret-of-thirty-two-bytes"), "invalid_token"),
    (issue_token(Role.ops, hours=-1), "token_expired"),
    (issue_token(Role.ops, audience="someone-else"), "invalid_token"),
    (issue_token(Role.ops, issuer="someone-else"), "invalid_token"),
    (jwt.encode({"sub": "x", "role": "ops", "iss": "onestop-dev", "aud": "onestop",
                 "exp": int(time.time()) + 10 * 365 * 86400}, DEV_JWT_SECRET, algorithm="HS512"),
     "invalid_token"),  # only the algorithm configured, never the token's own choice
    (jwt.encode({"sub": "x", "role": "king", "iss": "onestop-dev", "aud": "onestop",
                 "exp": int(time.time()) + 10 * 365 * 86400}, DEV_JWT_SECRET), "invalid_token"),
    (issue_token(Role.ops, agency="999.99.99.X00"), "unknown_agency"),
    ("not-a-jwt", "invalid_token"),
])
def test_bad_tokens_are_refused_with_a_reason(auth: Authenticator, token: str, code: str) -> None:
    with pytest.raises(AuthError) as refused:
        auth.caller(token, None)
    assert refused.value.code == code


def test_during_a_rotation_both_secrets_verify() -> None:
    new, old, retired = ("new" * 11, "old" * 11, "retired" * 5)  # 32 bytes or more
    rotating = Authenticator([new, old], [], grants=ROLE_PERMISSIONS)
    for secret in (new, old):
        assert rotating.caller(issue_token(Role.ops, secret=secret), None).role == Role.ops
    with pytest.raises(AuthError):
        rotating.caller(issue_token(Role.ops, secret=retired), None)


def test_a_system_calls_with_its_api_key_and_only_the_digest_is_kept(
        auth: Authenticator) -> None:
    caller = auth.caller(None, "lai-chau-key")
    assert (caller.user, caller.role) == ("laichau-mcdt", Role.provincial_system)
    assert all("lai-chau-key" not in repr(k) for k in auth.api_keys)
    with pytest.raises(AuthError, match="unknown API key"):
        auth.caller(None, "guess")
    with pytest.raises(AuthError) as none:
        auth.caller(None, None)
    assert none.value.code == "unauthenticated"
    with pytest.raises(ValueError, match="system:role:agency:sha256"):
        parse_api_keys("just-a-key")
    assert parse_api_keys("a:ops:*:AB") == [ApiKey("a", Role.ops, None, "ab")]


def test_the_roles_are_the_grants_given() -> None:
    """The runtime knows the roles only from the product's table it is given: an API key
    or a token of another role is refused."""
    with pytest.raises(ValueError, match="'king' is not a role"):
        Authenticator([], parse_api_keys("a:king:*:ab"), grants=ROLE_PERMISSIONS)
    only_ops = Authenticator([DEV_JWT_SECRET], [], grants={Role.ops: ROLE_PERMISSIONS[Role.ops]})
    caller = only_ops.caller(issue_token(Role.ops), None)
    assert caller.role is Role.ops and caller.permissions == ROLE_PERMISSIONS[Role.ops]
    with pytest.raises(AuthError) as refused:
        only_ops.caller(issue_token(Role.office_leader), None)
    assert refused.value.code == "invalid_token"


def test_an_agency_sees_its_own_tree_only(auth: Authenticator) -> None:
    def tree(agency: str | None) -> object:
        return auth.caller(issue_token(Role.counter_officer, agency=agency), None)

    ba_dinh, hanoi, nation, anyone = tree(BA_DINH), tree(HANOI), tree(NATION), tree(NATIONAL)
    assert ba_dinh.sees(BA_DINH) and not ba_dinh.sees(HANOI) and not ba_dinh.sees(SAIGON)
    assert hanoi.sees(BA_DINH) and hanoi.sees(HANOI) and not hanoi.sees(SAIGON)
    assert nation.sees(SAIGON) and anyone.sees(SAIGON) and nation.agencies() is None
    assert ba_dinh.agencies() == {BA_DINH} and not ba_dinh.sees(None)
    assert BA_DINH in hanoi.agencies() and SAIGON not in hanoi.agencies()


def test_the_whole_country_only_by_an_explicit_claim(auth: Authenticator) -> None:
    """A person's token without an agency, or with an empty one, is refused (it used to
    see every province); NATIONAL or the catalogue's root says national in so many words.
    An API key's `*` is the same explicit claim."""
    def claims(**extra: object) -> str:
        return jwt.encode({"sub": "x", "role": "national_monitor", "iss": "onestop-dev",
                           "aud": "onestop", "exp": int(time.time()) + 300, **extra},
                          DEV_JWT_SECRET)

    for token in (claims(), claims(agency=""), claims(agency=None), claims(agency=[]),
                  issue_token(Role.ops, agency=None)):
        with pytest.raises(AuthError) as refused:
            auth.caller(token, None)
        assert refused.value.code == "no_agency"
    for token in (claims(agency=NATIONAL), claims(agency=NATION)):
        assert auth.caller(token, None).sees(SAIGON)
    key = Authenticator([], parse_api_keys(f"sys:internal_service:*:{key_digest('k')}"),
                        grants=ROLE_PERMISSIONS)
    assert key.caller(None, "k").sees(SAIGON)


def test_without_the_catalogue_an_agency_sees_itself_only() -> None:
    bare = Authenticator([DEV_JWT_SECRET], [], grants=ROLE_PERMISSIONS)
    caller = bare.caller(issue_token(Role.counter_officer, agency=HANOI), None)
    assert isinstance(caller.scope, ExactAgency)
    assert caller.sees(HANOI) and not caller.sees(BA_DINH)


def test_the_officer_is_the_token_never_another_named_in_the_body(
        auth: Authenticator) -> None:
    me = auth.caller(issue_token(Role.processing_officer, user="u7", name="Lê Văn An"), None)
    assert acting(me, None) == acting(me, "u7") == acting(me, "Lê Văn An") == "Lê Văn An"
    with pytest.raises(ApiError) as refused:
        acting(me, "Nguyễn Văn Khác")
    assert refused.value.status == 403 and refused.value.problems[0].code == "officer_not_caller"


def test_roles_hold_what_their_work_needs_and_no_more() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    holders = {p: {r for r, ps in ROLE_PERMISSIONS.items() if p in ps} for p in Permission}
    assert all(holders.values())  # every permission is someone's
    assert holders[Permission.case_decide] == {Role.office_leader}
    assert holders[Permission.dossier_receive] == {Role.counter_officer}
    # Those who watch from afar see no slip with personal data.
    for role in (Role.national_monitor, Role.ops, Role.provincial_system):
        assert Permission.personal_read not in ROLE_PERMISSIONS[role]


def test_the_rate_limit_refills_and_says_when_to_come_back() -> None:
    now = [0.0]
    limit = RateLimit(per_minute=6, burst=2, clock=lambda: now[0])
    limit.take("a")
    limit.take("a")
    with pytest.raises(ApiError) as refused:
        limit.take("a")
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "10"}
    limit.take("b")  # per client
    now[0] = 10.0
    limit.take("a")


def test_production_tokens_are_verified_against_the_issuers_jwks() -> None:
    """An OIDC issuer's RS256 token, its key fetched from a JWKS served over real HTTP."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        auth = Authenticator([], [], grants=ROLE_PERMISSIONS,
                             issuer="https://sso.baohiemxahoi.gov.vn", audience="onestop",
                             jwks_url=f"http://127.0.0.1:{server.server_port}/jwks")
        claims = {"sub": "u9", "name": "Đỗ Thị Hà", "role": "office_leader",
                  "agency": HANOI, "iss": "https://sso.baohiemxahoi.gov.vn", "aud": "onestop",
                  "exp": int(time.time()) + 300}
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
        caller = auth.caller(token, None)
        assert (caller.user, caller.role, caller.agency) == ("u9", Role.office_leader, HANOI)
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": "k1"})
        with pytest.raises(AuthError):
            auth.caller(forged, None)
        # Without a development secret configured, an HS256 token is no way in.
        with pytest.raises(AuthError):
            auth.caller(issue_token(Role.ops, issuer="https://sso.baohiemxahoi.gov.vn"), None)
    finally:
        server.shutdown()


def test_failures_are_counted_after_the_fact_and_checked_before() -> None:
    now = [0.0]
    failures = RateLimit(per_minute=3, clock=lambda: now[0], code="too_many_failures",
                         what=("lần xác thực không thành công", "failed credentials"))
    for _ in range(3):
        failures.check("a")
        failures.spend("a")
    with pytest.raises(ApiError) as refused:
        failures.check("a")
    problem = refused.value.problems[0]
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "20"}
    assert problem.code == "too_many_failures" and "failed credentials" in problem.message_en
    failures.check("b")  # per client address
    now[0] = 20.0
    failures.check("a")


async def test_a_jwks_fetch_never_blocks_the_event_loop() -> None:
    """The issuer's JWKS served from this very event loop: a blocking fetch would wait for
    a server that cannot answer until the fetch gives up, and the call would be refused."""
    import asyncio
    import json

    import httpx
    from cryptography.hazmat.primitives.asymmetric import rsa
    from fastapi import FastAPI

    from services.common.http.auth import require
    from services.product.roles import Permission

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k7", "use": "sig", "alg": "RS256"}]}).encode()
    fetched = []

    async def jwks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        fetched.append(1)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                     + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(jwks, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    app = FastAPI()
    app.state.auth = Authenticator([], [], grants=ROLE_PERMISSIONS,
                                   issuer="https://sso.example", audience="onestop",
                                   jwks_url=f"http://127.0.0.1:{port}/jwks")

    @app.get("/who")
    async def who(caller=require(Permission.catalog_read)) -> dict[str, str]:
        return {"user": caller.user}

    claims = {"sub": "u7", "role": "ops", "agency": "*", "iss": "https://sso.example",
              "aud": "onestop", "exp": int(time.time()) + 300}
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k7"})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t", timeout=10) as client:
            for _ in range(2):
                answer = await asyncio.wait_for(
                    client.get("/who", headers={"Authorization": f"Bearer {token}"}), 10)
                assert answer.status_code == 200, answer.text
                assert answer.json() == {"user": "u7"}
    finally:
        server.close()
    assert fetched == [1]  # the key is fetched once, then read from the cache
