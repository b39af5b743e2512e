"""Who calls, and what they may do: bearer JWTs for people, API keys for systems, one
permission per route, and every answer scoped to the caller's agency tree.

Tokens carry `sub` (the user), `name` (who is printed on slips), `role` and `agency`; they
are verified against the shared secrets from settings (development, `make up`) or against
an OIDC issuer's JWKS (production). A system sends `X-API-Key`; only the key's SHA-256 is
kept in settings. A route declares its permission with `require(Permission.x)`; a caller
without a valid credential gets 401, one whose role lacks the permission 403 naming it.
Which role holds which permission is the product's (services/product/roles.py), given to
the Authenticator as its `grants`.
The whole country is seen only by an explicit claim (`agency` NATIONAL, or the root of
the catalogue); a person's token without an agency is refused. A client address that sent
too many failed credentials in a minute is answered 429 before its next one is looked at.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import jwt
from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from contracts.common import Problem
from services.common.http.edge import QUERY_TOKEN, ApiError, client_address
from services.common.http.ratelimit import RateLimit
from services.common.settings import AUDIENCE, DEV_JWT_SECRET, ISSUER, key_digest

TOKEN_HOURS = 12
# The agency claim of a national role (and the agency of an API key for every agency).
NATIONAL = "*"


# Which permissions each role holds: a product decision (services/product/roles.py) the
# runtime is given by each service's wiring, never one it holds. Roles and permissions are
# the product's StrEnums; a credential's role is read as one of the table's keys.
Grants = Mapping[StrEnum, frozenset[StrEnum]]


class AgencyTree(Protocol):
    """What a caller's agency lets them see (the law's catalogue gives the real one:
    services.law.catalog.AgencyScope); `agency` None for the whole tree."""

    agency: str | None

    def allows(self, code: str) -> bool: ...

    def agencies(self) -> set[str] | None: ...


# agency -> its tree; None when the agency is unknown. Given by the service (app.py).
TreeOf = Callable[[str | None], AgencyTree | None]


@dataclass(frozen=True)
class ExactAgency:
    """Without the catalogue: an agency sees itself only (never wider than meant)."""

    agency: str | None

    def allows(self, code: str) -> bool:
        return self.agency is None or code == self.agency

    def agencies(self) -> set[str] | None:
        return None if self.agency is None else {self.agency}


@dataclass(frozen=True)
class Caller:
    user: str
    name: str
    role: StrEnum
    agency: str | None  # None: the whole tree
    scope: AgencyTree
    permissions: frozenset[StrEnum]  # the role's, as the product's grants say

    def may(self, permission: StrEnum) -> bool:
        return permission in self.permissions

    def sees(self, agency: str | None) -> bool:
        """Is this agency in the caller's tree? (A dossier of no known agency: only the
        whole tree's callers.)"""
        if self.scope.agency is None:
            return True
        return agency is not None and self.scope.allows(agency)

    def agencies(self) -> set[str] | None:
        """Every agency the caller sees, for queries that filter before they limit; None
        for all."""
        return self.scope.agencies()


class AuthError(Exception):
    def __init__(self, code: str, vi: str, en: str) -> None:
        super().__init__(en)
        self.code, self.vi, self.en = code, vi, en


@dataclass(frozen=True)
class ApiKey:
    system: str
    role: str  # one of the grants' roles (the Authenticator refuses any other)
    agency: str | None
    digest: str


def parse_api_keys(spec: str) -> list[ApiKey]:
    """`system:role:agency:sha256hex` entries, comma-separated; agency `*` (NATIONAL) for
    all."""
    keys = []
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        parts = entry.split(":")
        if len(parts) != 4:
            raise ValueError(f"API key entry {entry[:40]!r}: want system:role:agency:sha256")
        system, role, agency, digest = parts
        keys.append(ApiKey(system, role, None if agency == NATIONAL else agency,
                           digest.lower()))
    return keys


def failure_limit(per_minute: float) -> RateLimit:
    """Failed credentials of one client address: `per_minute`, as many at once."""
    return RateLimit(per_minute, code="too_many_failures",
                     what=("lần xác thực không thành công", "failed credentials"))


class Authenticator:
    def __init__(self, secrets: Iterable[str], api_keys: Iterable[ApiKey], *, grants: Grants,
                 issuer: str = ISSUER, audience: str = AUDIENCE, jwks_url: str | None = None,
                 tree: TreeOf = ExactAgency, failures_per_minute: float = 20.0) -> None:
        self.secrets = [s for s in secrets if s]
        self.grants = grants
        # A role's name -> the grants' own key (the product's enum member).
        self.roles: dict[str, StrEnum] = {str(role): role for role in grants}
        self.api_keys = list(api_keys)
        for key in self.api_keys:
            if key.role not in self.roles:
                raise ValueError(f"API key of {key.system!r}: {key.role!r} is not a role "
                                 f"(one of {', '.join(self.roles)})")
        self.issuer, self.audience = issuer, audience
        self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None
        self._known_kids: set[str | None] = set()
        self.tree = tree
        # Guessing API keys or forging tokens is throttled per client address.
        self.failures = failure_limit(failures_per_minute)

    @classmethod
    def from_settings(cls, settings: Any, grants: Grants) -> Authenticator:
        return cls([s.strip() for s in settings.auth_jwt_secret.get_secret_value().split(",")],
                   parse_api_keys(settings.auth_api_keys.get_secret_value()), grants=grants,
                   issuer=settings.auth_issuer, audience=settings.auth_audience,
                   jwks_url=settings.auth_jwks_url,
                   failures_per_minute=settings.auth_failures_per_minute)

    async def fetch_key(self, token: str) -> None:
        """Fetch an OIDC token's signing key off the event loop when its `kid` is not known
        yet: PyJWKClient fetches the JWKS with a blocking call, which would stall every
        request of the service meanwhile. Known keys are then read from its cache."""
        if self.jwks is None:
            return
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return  # refused by _claims, with its reason
        kid = header.get("kid")
        if header.get("alg") == "HS256" or kid in self._known_kids:
            return
        with contextlib.suppress(jwt.PyJWTError):
            await asyncio.to_thread(self.jwks.get_signing_key_from_jwt, token)
            self._known_kids.add(kid)

    def _claims(self, token: str) -> dict[str, Any]:
        options = {"require": ["exp", "sub", "iss", "aud"]}
        try:
            if self.jwks is not None and jwt.get_unverified_header(token).get("alg") != "HS256":
                key = self.jwks.get_signing_key_from_jwt(token).key
                return jwt.decode(token, key, algorithms=["RS256", "ES256", "EdDSA"],
                                  issuer=self.issuer, audience=self.audience, options=options)
            error: Exception = jwt.InvalidSignatureError("no secret")
            for secret in self.secrets:  # several during a rotation: the new one first
                try:
                    return jwt.decode(token, secret, algorithms=["HS256"], issuer=self.issuer,
                                      audience=self.audience, options=options)
                except jwt.InvalidSignatureError as exc:
                    error = exc
            raise error
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token_expired", "Phiên đăng nhập đã hết hạn",
                            "the token has expired") from exc
        except (jwt.PyJWTError, ValueError) as exc:
            raise AuthError("invalid_token", "Mã xác thực không hợp lệ",
                            f"the token is not valid: {exc}"[:200]) from exc

    def caller(self, token: str | None, api_key: str | None) -> Caller:
        if token:
            claims = self._claims(token)
            claimed = claims.get("role")
            role = self.roles.get(claimed) if isinstance(claimed, str) else None
            if role is None:
                raise AuthError("invalid_token", "Mã xác thực không có vai trò hợp lệ",
                                "the token names no known role")
            agency = claims.get("agency")
            if not agency or not isinstance(agency, str):
                # Never read as "everywhere": national scope is a claim of its own.
                raise AuthError("no_agency", "Mã xác thực không ghi đơn vị công tác",
                                "the token names no agency (a national role's is "
                                f"{NATIONAL!r} or the root agency)")
            return self._caller(str(claims["sub"]), str(claims.get("name") or claims["sub"]),
                                role, None if agency == NATIONAL else agency)
        if api_key:
            digest = key_digest(api_key)
            for known in self.api_keys:
                if hmac.compare_digest(known.digest, digest):
                    return self._caller(known.system, known.system, self.roles[known.role],
                                        known.agency)
            raise AuthError("invalid_api_key", "Khóa API không hợp lệ", "unknown API key")
        raise AuthError("unauthenticated", "Cần đăng nhập (Authorization: Bearer ...)",
                        "authentication required: send a bearer token or an X-API-Key")

    def _caller(self, user: str, name: str, role: StrEnum, agency: str | None) -> Caller:
        """`agency` None: the whole country (NATIONAL, said explicitly by the credential)."""
        scope = self.tree(agency)
        if scope is None:
            raise AuthError("unknown_agency", "Đơn vị trong mã xác thực không tồn tại",
                            f"the credential's agency {agency} is not in the catalogue")
        return Caller(user[:200], name[:200], role, agency, scope, self.grants[role])


def issue_token(role: str, *, user: str | None = None, name: str | None = None,
                agency: str | None = NATIONAL, secret: str = DEV_JWT_SECRET,
                hours: float = TOKEN_HOURS, issuer: str = ISSUER, audience: str = AUDIENCE) -> str:
    """A signed token, as the development issuer (`make up`, tests, bench) gives them: the
    whole country's unless an agency is given (None: no agency claim, which is refused).
    `role` is written as given: a verifier refuses one its grants do not know."""
    role = str(role)
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user or f"dev-{role}", "name": name or user or f"dev-{role}",
                              "role": role, "iss": issuer, "aud": audience,
                              "iat": now, "exp": now + int(hours * 3600)}
    if agency:
        claims["agency"] = agency
    return jwt.encode(claims, secret, algorithm="HS256")


_bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                     description="OAuth2 bearer JWT: sub, name, role, agency")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="api_key",
                        description="a system's API key")


def unauthenticated(exc: AuthError) -> ApiError:
    return ApiError(401, [Problem.of(exc.code, exc.vi, exc.en, "Authorization")],
                    headers={"WWW-Authenticate": "Bearer"})


def forbidden(caller: Caller, permission: StrEnum) -> ApiError:
    return ApiError(403, [Problem.of(
        "forbidden", f"Vai trò {caller.role} không có quyền {permission}",
        f"role {caller.role} lacks the permission {permission}", "permission")],
        missing_permission=permission.value)


def out_of_scope(agency: str | None) -> ApiError:
    return ApiError(403, [Problem.of(
        "out_of_scope", f"Đơn vị {agency} nằm ngoài phạm vi được xem",
        f"agency {agency} is outside the caller's agency tree", "agency")])


def require(permission: StrEnum, *alternatives: StrEnum,
            query_token: bool = False) -> Any:
    """A route's permission (or any of several, when the route checks the exact one by
    what is asked, e.g. an officer's action), as a dependency that answers the Caller.

    `query_token`: the route also takes the bearer token as `access_token` in the query
    (only the dashboard's event stream: a browser's EventSource cannot send headers). The
    HTTP edge takes that parameter out of every URL before anything traces or logs it, so
    on any other route it is simply not there."""
    wanted = (permission, *alternatives)

    async def authorized(request: Request,
                         bearer: HTTPAuthorizationCredentials | None = Security(_bearer),
                         api_key: str | None = Security(_api_key)) -> Caller:
        auth: Authenticator = request.app.state.auth
        token = bearer.credentials if bearer else None
        if token is None and query_token:
            token = request.scope.get(QUERY_TOKEN)
        client = client_address(request)
        if token or api_key:
            auth.failures.check(client)
        try:
            if token:
                await auth.fetch_key(token)
            caller = auth.caller(token, api_key)
        except AuthError as exc:
            if token or api_key:
                auth.failures.spend(client)
            raise unauthenticated(exc) from exc
        if not any(caller.may(p) for p in wanted):
            raise forbidden(caller, permission)
        request.state.caller = caller
        return caller

    authorized.__name__ = f"require_{permission.name}"
    authorized.permissions = wanted  # type: ignore[attr-defined]
    return Depends(authorized)


def route_permissions(route: Any) -> list[StrEnum]:
    """The permissions a route's dependencies ask for (any one of them lets the call in)."""
    dependant = getattr(route, "dependant", None)
    stack, found = list(dependant.dependencies) if dependant else [], []
    while stack:
        d = stack.pop()
        found.extend(getattr(d.call, "permissions", ()))
        stack.extend(d.dependencies)
    return found


def all_routes(app: FastAPI) -> list[Any]:
    """Every route of the app, those of included routers too (FastAPI keeps an included
    router whole; ours are included without a prefix, so their paths are the app's)."""
    found, stack = [], list(app.routes)
    while stack:
        route = stack.pop(0)
        inner = getattr(route, "original_router", None)
        if inner is not None:
            stack.extend(inner.routes)
        else:
            found.append(route)
    return found


def document_permissions(app: FastAPI) -> None:
    """Each operation's OpenAPI says which permission it needs (`x-permissions`), so a
    client (or a test) knows which role to call it as."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        for route in all_routes(app):
            wanted = route_permissions(route)
            operations = schema.get("paths", {}).get(getattr(route, "path", ""), {})
            for method in getattr(route, "methods", None) or ():
                operation = operations.get(method.lower())
                if wanted and operation is not None and "x-permissions" not in operation:
                    operation["x-permissions"] = [p.value for p in wanted]
                    operation["description"] = (operation.get("description") or "") + (
                        "\n\nPermission: " + " or ".join(p.value for p in wanted))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def check_permission(caller: Caller, permission: StrEnum) -> None:
    if not caller.may(permission):
        raise forbidden(caller, permission)


def check_agency(caller: Caller, agency: str | None) -> None:
    if not caller.sees(agency):
        raise out_of_scope(agency)


def visible(caller: Caller, row: Mapping[str, Any] | None, key: str = "agency_code"
            ) -> Mapping[str, Any] | None:
    """A row the caller may see, or None (answered as not found: codes are guessable, so a
    dossier of another tree is not even confirmed to exist)."""
    if row is None or not caller.sees(row.get(key)):
        return None
    return row


def acting(caller: Caller, claimed: str | None) -> str:
    """Who acts: the token's person. A body may still name them (older clients), but never
    someone else."""
    if claimed and claimed not in (caller.user, caller.name):
        raise ApiError(403, [Problem.of(
            "officer_not_caller", "Không được thao tác thay cán bộ khác",
            f"the body names {claimed[:60]!r}, but the token is {caller.user!r}", "officer")])
    return caller.name
