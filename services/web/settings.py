"""Settings of the screens' front service (prefix WEB_), beside the shared ones it reads."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import AUDIENCE, DEV_JWT_SECRET, ISSUER
from services.law.catalog.loader import DEFAULT_DIR


def _shared(name: str) -> AliasChoices:
    return AliasChoices(name)


def origin(url: str) -> str:
    """scheme://host[:port] of a URL: what a browser's CORS and CSP compare."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class WebSettings(BaseSettings):
    """The front serves pages and no data: it holds no database, no broker and no key but
    the development issuer's secret (development only)."""

    model_config = SettingsConfigDict(env_prefix="WEB_", extra="ignore", populate_by_name=True)

    env: str = Field("development", validation_alias=_shared("ONESTOP_ENV"))
    log_level: str = Field("INFO", validation_alias=_shared("ONESTOP_LOG_LEVEL"))
    trusted_proxies: str = Field("", validation_alias=_shared("ONESTOP_TRUSTED_PROXIES"))
    # The development issuer (the sign-in page of development): the services' own secret
    # (the first of ONESTOP_AUTH_JWT_SECRET), issuer and audience.
    auth_jwt_secret: SecretStr = Field(SecretStr(DEV_JWT_SECRET),
                                       validation_alias=_shared("ONESTOP_AUTH_JWT_SECRET"))
    auth_issuer: str = Field(ISSUER, validation_alias=_shared("ONESTOP_AUTH_ISSUER"))
    auth_audience: str = Field(AUDIENCE, validation_alias=_shared("ONESTOP_AUTH_AUDIENCE"))

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_max_body_bytes: int = 16 * 1024
    catalog_dir: str = str(DEFAULT_DIR)  # the agencies the development sign-in offers
    # Where the browser reaches each service: the pages call them directly, so each lists
    # this front's origin in ONESTOP_CORS_ORIGINS.
    intake_url: str = "http://127.0.0.1:8001"
    digitization_url: str = "http://127.0.0.1:8002"
    processing_url: str = "http://127.0.0.1:8003"
    notification_url: str = "http://127.0.0.1:8004"
    reporting_url: str = "http://127.0.0.1:8005"
    # Production sign-in: the OIDC issuer's authorization code flow with PKCE, the page a
    # public client (no client secret). The issuer's access tokens carry role and agency
    # and are what the services verify (ONESTOP_AUTH_JWKS_URL).
    oidc_authorization_endpoint: str | None = None
    oidc_token_endpoint: str | None = None
    oidc_end_session_endpoint: str | None = None
    oidc_client_id: str | None = None
    oidc_scope: str = "openid profile"

    @model_validator(mode="after")
    def _production_signs_in_through_the_issuer(self) -> WebSettings:
        if self.env != "production":
            return self
        if not (self.oidc_authorization_endpoint and self.oidc_token_endpoint
                and self.oidc_client_id):
            raise ValueError("production signs in through the OIDC issuer: set "
                             "WEB_OIDC_AUTHORIZATION_ENDPOINT, WEB_OIDC_TOKEN_ENDPOINT and "
                             "WEB_OIDC_CLIENT_ID")
        if DEV_JWT_SECRET in self.auth_jwt_secret.get_secret_value().split(","):
            raise ValueError("the development token secret must not be used in production "
                             "(ONESTOP_AUTH_JWT_SECRET)")
        return self

    @property
    def oidc(self) -> bool:
        return bool(self.oidc_authorization_endpoint and self.oidc_token_endpoint
                    and self.oidc_client_id)

    def service_urls(self) -> dict[str, str]:
        return {name: getattr(self, f"{name}_url").rstrip("/") for name in
                ("intake", "digitization", "processing", "notification", "reporting")}
