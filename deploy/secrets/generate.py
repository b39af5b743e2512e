"""`make secrets`: every secret docker-compose.yml asks for, made once into `.env`, and the
files behind some of them under `secrets/` (both git-ignored, never printed).

Safe to run again: a value already in `.env` is kept (operators' own lines and comments too)
and only what is missing is added, so a secret a later version needs is simply filled in.
Derived values follow what they derive from: the service API key's digest in
ONESTOP_AUTH_API_KEYS, a key and password for a province system added to
services/intake/province_systems.yaml.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from deploy.secrets.compose import parse_env_file
from services.common.settings import key_digest
from services.digitization.pki import DEV_OFFICERS, ca_cert_path, ensure_dev_pki, pki_dir
from services.intake.ingest import load_systems
from services.intake.settings import IntakeSettings
from services.law.catalog import load_catalogs
from services.product.roles import Role

ENV_FILE = ".env"
SECRETS_DIR = "secrets"
# Where docker-compose.yml (and deploy/k8s) mount the PKI material inside digitization.
PKI_MOUNT = "/run/onestop/pki"
OFFICERS_MOUNT = f"{PKI_MOUNT}/officers"
OFFICES_MOUNT = f"{PKI_MOUNT}/offices"
TRUST_MOUNT = f"{PKI_MOUNT}/trust"
# The image's user (Dockerfile): it must be able to read the mounted key files.
IMAGE_UID = 10001
SERVICES_SYSTEM = "onestop-services"
# What `make secrets` writes for the screens' OIDC issuer until the operator puts in the
# issuer's own: a host under .invalid (RFC 2606), which never resolves.
OIDC_PLACEHOLDER = "https://oidc.invalid"
OPS_SYSTEM = "onestop-ops"
HEADER = """\
# Written by `make secrets` (python -m deploy.secrets): what docker-compose.yml needs.
# Never commit it (.gitignore) and never paste it anywhere; docs/production.md says how
# each value is rotated. Running `make secrets` again keeps every value here and adds
# only what is missing. Values stay unquoted so `kubectl create secret generic
# --from-env-file` reads them as compose does.
"""


@dataclass(frozen=True)
class Entry:
    name: str
    comment: str
    make: Callable[[dict[str, str]], str]


def _hex(n: int) -> Callable[[dict[str, str]], str]:
    return lambda _: secrets.token_hex(n)


def _urlsafe(n: int) -> Callable[[dict[str, str]], str]:
    return lambda _: secrets.token_urlsafe(n)


def _fernet(_: dict[str, str]) -> str:
    return Fernet.generate_key().decode()


def _province_systems() -> dict[str, list[str]]:
    return load_systems(IntakeSettings.model_fields["province_systems_file"].default)


def _offices() -> dict[str, str]:
    """Every agency of the catalogue (any version) and its newest name."""
    names: dict[str, str] = {}
    for index in load_catalogs().indexes:
        names.update({a.code: a.name for a in index.catalog.agencies})
    return names


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _officer_keys(_: dict[str, str]) -> str:
    return _compact({o: f"{OFFICERS_MOUNT}/{key_file(o)}" for o in DEV_OFFICERS})


def _office_keys(_: dict[str, str]) -> str:
    return _compact({a: f"{OFFICES_MOUNT}/{key_file(a)}" for a in _offices()})


def key_file(holder: str) -> str:
    """A holder's PKCS#12 file name: readable, and it cannot leave its folder."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", holder).lstrip(".")[:64] + ".p12"


ENTRIES = (
    Entry("ONESTOP_DB_PASSWORD", "PostgreSQL's password for the services' user onestop",
          _hex(24)),
    Entry("ONESTOP_PSEUDONYM_KEY", "keys the pseudonyms on broad topics (never rotate: "
          "pseudonyms would change)", _hex(32)),
    Entry("ONESTOP_DLQ_KEY", "seals dead letters of personal-data topics (comma-separated: "
          "the first seals, every one opens)", _fernet),
    Entry("ONESTOP_DATA_KEY", "seals personal columns at rest (comma-separated, as above)",
          _fernet),
    Entry("ONESTOP_AUDIT_KEY", "keys the audit chain and its anchors (comma-separated: the "
          "first keys new rows, every one verifies)", _urlsafe(48)),
    Entry("ONESTOP_AUTH_JWT_SECRET", "HS256 secret of `python -m deploy.secrets token` "
          "(comma-separated: the first signs, every one verifies)", _urlsafe(48)),
    Entry("ONESTOP_AUTH_JWKS_URL", "your OIDC issuer's JWKS URL (its RS256/ES256/EdDSA "
          "tokens are then verified against it); empty: only the secret above", lambda _: ""),
    Entry("ONESTOP_AUTH_ISSUER", "the tokens' iss (your OIDC issuer's, with a JWKS URL)",
          lambda _: "onestop"),
    Entry("ONESTOP_AUTH_AUDIENCE", "the tokens' aud", lambda _: "onestop"),
    Entry("WEB_OIDC_AUTHORIZATION_ENDPOINT", "not a secret: the screens sign in through "
          "your OIDC issuer (authorization code with PKCE; the workbench a public client "
          "whose redirect URI is <the front's address>/workbench/). Replace these "
          "placeholders with the issuer's own before anyone signs in",
          lambda _: f"{OIDC_PLACEHOLDER}/authorize"),
    Entry("WEB_OIDC_TOKEN_ENDPOINT", "", lambda _: f"{OIDC_PLACEHOLDER}/token"),
    Entry("WEB_OIDC_CLIENT_ID", "", lambda _: "onestop-workbench"),
    Entry("WEB_OIDC_END_SESSION_ENDPOINT", "", lambda _: ""),
    Entry("WEB_OIDC_SCOPE", "", lambda _: "openid profile"),
    Entry("ONESTOP_SERVICE_API_KEY", "what the services send each other (X-API-Key)",
          _urlsafe(32)),
    Entry("ONESTOP_AUTH_API_KEYS", "system:role:agency:sha256(key) of every API key; the "
          "keys themselves are in secrets/api-keys.txt", lambda _: ""),
    Entry("INTAKE_PROVINCE_KEYS", "each province system's HMAC key for signing ingest "
          "records (hand each system its own)", lambda _: "{}"),
    Entry("ONESTOP_PROVINCE_PASSWORDS", "each province system's SASL/SCRAM password on the "
          "PROVINCES listener (deploy/kafka/provinces.sh)", lambda _: ""),
    Entry("NOTIFICATION_WEBHOOK_SECRET", "signs notification webhooks (HMAC-SHA256)",
          _urlsafe(32)),
    Entry("PROCESSING_PORTAL_URL", "the National Public Service Portal's status endpoint "
          "(https://; docs/portal-sync.md) and the bearer token it gave; empty: the status "
          "sync is off", lambda _: ""),
    Entry("PROCESSING_PORTAL_TOKEN", "", lambda _: ""),
    Entry("DIGITIZATION_OFFICER_KEY_PASSPHRASE", "opens the officers' PKCS#12 files",
          _urlsafe(24)),
    Entry("DIGITIZATION_OFFICER_KEYS", "a person (token subject) -> their PKCS#12 inside "
          f"the container (secrets/pki/officers is mounted at {OFFICERS_MOUNT}); "
          "`python -m deploy.secrets officer SUB NAME` adds one", _officer_keys),
    Entry("DIGITIZATION_OFFICE_KEYS", "an agency code -> its office's seal (PKCS#12; "
          f"secrets/pki/offices is mounted at {OFFICES_MOUNT})", _office_keys),
    Entry("DIGITIZATION_TRUST_ROOTS", "the CA certificates a signature must chain to "
          f"(secrets/pki/trust is mounted at {TRUST_MOUNT})",
          lambda _: json.dumps([f"{TRUST_MOUNT}/ca.pem"])),
    Entry("DIGITIZATION_PUBLIC_URL", "not a secret: the address citizens and other systems "
          "reach digitization at (verification links, QR codes); set it before going live",
          lambda _: "http://localhost:8002"),
    Entry("ONESTOP_S3_ROOT_USER", "the object store's (MinIO's) administrator",
          lambda _: "onestop-admin"),
    Entry("ONESTOP_S3_ROOT_PASSWORD", "", _urlsafe(24)),
    Entry("DIGITIZATION_S3_ACCESS_KEY_ID", "digitization's own object-store user, allowed "
          "only the documents bucket (deploy/minio/init.sh)", lambda _: "digitization"),
    Entry("DIGITIZATION_S3_SECRET_ACCESS_KEY", "", _urlsafe(32)),
    Entry("GRAFANA_ADMIN_PASSWORD", "Grafana's admin (docker compose --profile grafana)",
          _urlsafe(16)),
)


def placeholders(values: dict[str, str]) -> list[str]:
    """The settings still holding what `make secrets` wrote in place of the site's own."""
    return [name for name, value in values.items() if value.startswith(OIDC_PLACEHOLDER)]


def generate(directory: Path) -> list[str]:
    """Fill in `.env` and `secrets/` under `directory`; returns the names added or changed
    (never their values)."""
    env_path = directory / ENV_FILE
    text = env_path.read_text(encoding="utf-8") if env_path.exists() else ""
    lines, current = text.splitlines(), parse_env_file(text)
    changed: dict[str, str] = {}
    for entry in ENTRIES:
        if entry.name not in current:
            changed[entry.name] = entry.make({**current, **changed})
    values = {**current, **changed}
    for name, value in _derived(values, directory / SECRETS_DIR).items():
        if values.get(name) != value:
            changed[name] = value
    values.update(changed)
    _check_unquoted(changed)
    _write_env(env_path, lines, changed)
    _pki(directory / SECRETS_DIR, values)
    return list(changed)


def _derived(values: dict[str, str], secrets_dir: Path) -> dict[str, str]:
    """The province keys and passwords for every registered system, and the API keys'
    digests with the services' own key among them."""
    systems = _province_systems()
    keys = json.loads(values["INTAKE_PROVINCE_KEYS"] or "{}")
    for system in systems:
        keys.setdefault(system, secrets.token_hex(32))
    passwords = dict(p.split("=", 1) for p in values["ONESTOP_PROVINCE_PASSWORDS"].split())
    for system in systems:
        passwords.setdefault(system, secrets.token_hex(24))
    entries = [e for e in values["ONESTOP_AUTH_API_KEYS"].split(",") if e
               and not e.startswith(f"{SERVICES_SYSTEM}:")]
    if not entries:
        entries = _new_api_keys(systems, secrets_dir / "api-keys.txt")
    service = f"{SERVICES_SYSTEM}:{Role.internal_service}:*:"
    service += key_digest(values["ONESTOP_SERVICE_API_KEY"])
    return {"INTAKE_PROVINCE_KEYS": json.dumps(keys, separators=(",", ":")),
            "ONESTOP_PROVINCE_PASSWORDS": " ".join(f"{k}={v}" for k, v in passwords.items()),
            "ONESTOP_AUTH_API_KEYS": ",".join([service, *entries])}


def _new_api_keys(systems: dict[str, list[str]], path: Path) -> list[str]:
    """An API key for the operators and one per province system (its statuses, read over
    HTTP), written for handing out; settings keep only their digests."""
    made = [(OPS_SYSTEM, Role.ops, "*", secrets.token_urlsafe(32))]
    for system, agencies in systems.items():
        for i, agency in enumerate(agencies):
            name = system if i == 0 else f"{system}-{i + 1}"
            made.append((name, Role.provincial_system, agency, secrets.token_urlsafe(32)))
    path.parent.mkdir(parents=True, exist_ok=True)
    _private(path, "# system role agency key: hand each system its own key (X-API-Key)\n"
             + "".join(f"{s} {r} {a} {k}\n" for s, r, a, k in made))
    return [f"{s}:{r}:{a}:{key_digest(k)}" for s, r, a, k in made]


def _check_unquoted(values: dict[str, str]) -> None:
    for name, value in values.items():
        if value != value.strip() or any(c in value for c in "$#'\n") or value[:1] == '"':
            raise ValueError(f"{name}: a generated value must stay unquoted in .env")


def _write_env(path: Path, lines: list[str], changed: dict[str, str]) -> None:
    comments = {e.name: e.comment for e in ENTRIES}
    out = list(lines) or HEADER.splitlines()
    for i, line in enumerate(out):
        key = line.partition("=")[0].strip()
        if "=" in line and not line.lstrip().startswith("#") and key in changed:
            out[i] = f"{key}={changed.pop(key)}"
    for name, value in changed.items():
        if comments.get(name):
            out += ["", f"# {comments[name]}"]
        out.append(f"{name}={value}")
    _private(path, "\n".join(out) + "\n")


def _private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _pki(secrets_dir: Path, values: dict[str, str]) -> None:
    """A CA of this deployment, a PKCS#12 for each person and office `.env` names whose file
    is missing (pki.py's maker, with this deployment's passphrase), and the CA's certificate
    as the trust root. Replace them with real certificates before documents must carry
    legal signatures (docs/production.md)."""
    passphrase = values["DIGITIZATION_OFFICER_KEY_PASSPHRASE"]
    root = pki_dir(secrets_dir)
    names = {**DEV_OFFICERS, **_offices()}
    for setting, folder in (("DIGITIZATION_OFFICER_KEYS", "officers"),
                            ("DIGITIZATION_OFFICE_KEYS", "offices")):
        wanted = {h: root / folder / Path(p).name
                  for h, p in json.loads(values.get(setting) or "{}").items()}
        mint(secrets_dir, {h: (path, names.get(h, h)) for h, path in wanted.items()
                           if not path.exists()}, passphrase)
    trust = root / "trust" / "ca.pem"
    if not trust.exists() and ca_cert_path(secrets_dir).exists():
        trust.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ca_cert_path(secrets_dir), trust)
    _readable_by_the_image(root)


def mint(secrets_dir: Path, holders: dict[str, tuple[Path, str]], passphrase: str) -> None:
    """holder -> (where its PKCS#12 goes, the name on its certificate): made by this
    deployment's CA under secrets/pki (made first when missing)."""
    if not holders:
        return
    root = pki_dir(secrets_dir)
    if not (root / "ca.key").exists() and any(root.glob("*/*.p12")):
        raise ValueError(f"no PKCS#12 for {sorted(holders)} and no CA key in {root} to make "
                         "one: put each holder's file where .env names it")
    # pki.py names a file after its holder: give it the file's own (safe) name, and an
    # X.520 common name of at most 64 characters.
    made = ensure_dev_pki(secrets_dir, {path.stem: name[:64] for path, name in
                                        holders.values()}, passphrase)
    for path, _ in holders.values():
        if made[path.stem] != path:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(made[path.stem], path)


def _readable_by_the_image(root: Path) -> None:
    """The image runs as uid 10001; bind mounts keep the host's owners and modes. As root:
    the mounted files are given to that uid, mode 0600. Otherwise they are made readable
    (0644; each PKCS#12 is encrypted with the passphrase in .env, mode 0600). The CA's key
    is never mounted and stays 0600."""
    as_root = os.geteuid() == 0
    for sub in ("officers", "offices", "trust"):
        folder = root / sub
        if not folder.exists():
            continue
        for path in (folder, *folder.iterdir()):
            if as_root:
                os.chown(path, IMAGE_UID, IMAGE_UID)
                path.chmod(0o700 if path.is_dir() else 0o600)
            else:
                path.chmod(0o755 if path.is_dir() else 0o644)


def add_officer(directory: Path, subject: str, name: str) -> Path:
    """A person who signs (their token's `sub`): a PKCS#12 made by this deployment's CA,
    named in DIGITIZATION_OFFICER_KEYS; returns the file. An existing entry is kept."""
    env_path = directory / ENV_FILE
    text = env_path.read_text(encoding="utf-8") if env_path.exists() else ""
    values = parse_env_file(text)
    if "DIGITIZATION_OFFICER_KEY_PASSPHRASE" not in values:
        raise ValueError(f"{env_path} has no officer keys yet: run `make secrets` first")
    officers = json.loads(values.get("DIGITIZATION_OFFICER_KEYS") or "{}")
    officers.setdefault(subject, f"{OFFICERS_MOUNT}/{key_file(subject)}")
    path = pki_dir(directory / SECRETS_DIR) / "officers" / Path(officers[subject]).name
    if not path.exists():
        mint(directory / SECRETS_DIR, {subject: (path, name)},
             values["DIGITIZATION_OFFICER_KEY_PASSPHRASE"])
        _readable_by_the_image(pki_dir(directory / SECRETS_DIR))
    _write_env(env_path, text.splitlines(), {"DIGITIZATION_OFFICER_KEYS": _compact(officers)})
    return path
