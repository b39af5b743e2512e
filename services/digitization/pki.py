"""A development certification authority and officer certificates (PKCS#12), made once under
`var/pki/` so `make up` on a bare machine can sign: the CA at start, a person's or an
office's key on its first signature (keys.py). Production names real PKCS#12 files in
settings and never calls this (settings refuse dev PKI in production)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

DEV_PASSPHRASE = "onestop-development-only"
# Officer id -> the name on the certificate (what the signature box and verify show;
# a common name holds at most 64 characters).
DEV_OFFICERS = {
    "tnhs-01": "Nguyễn Thị Lan - Viên chức TNHS",
    "ketqua-01": "Trần Văn Minh - Bộ phận trả kết quả",
}
_ORG = "Bảo hiểm xã hội Việt Nam (môi trường phát triển)"
_YEARS = 10


def pki_dir(var_dir: Path) -> Path:
    return var_dir / "pki"


def ca_cert_path(var_dir: Path) -> Path:
    return pki_dir(var_dir) / "ca.pem"


def officer_key_path(var_dir: Path, officer: str) -> Path:
    return pki_dir(var_dir) / "officers" / f"{officer}.p12"


def ensure_dev_pki(var_dir: Path, officers: dict[str, str] | None = None,
                   passphrase: str = DEV_PASSPHRASE) -> dict[str, Path]:
    """The development CA (ca.pem, ca.key) and one PKCS#12 per officer, each made only when
    missing; returns officer id -> PKCS#12 path. Safe when replicas start together: a file
    lock serialises them and every file appears whole (written aside, then renamed)."""
    officers = officers or DEV_OFFICERS
    root = pki_dir(var_dir)
    (root / "officers").mkdir(parents=True, exist_ok=True)
    with _locked(root / ".lock"):
        ca_key, ca_cert = _ensure_ca(root)
        paths = {}
        for officer, name in officers.items():
            path = officer_key_path(var_dir, officer)
            if not path.exists():
                _write(path, _officer_p12(officer, name, ca_key, ca_cert, passphrase))
            paths[officer] = path
    return paths


def ensure_dev_ca(var_dir: Path) -> Path:
    """The development CA (made when missing): the certificate every minted key chains to."""
    root = pki_dir(var_dir)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / ".lock"):
        _ensure_ca(root)
    return ca_cert_path(var_dir)


def holder_key_path(var_dir: Path, kind: str, holder: str) -> Path:
    """A person's (by token subject) or an office's (by agency code) PKCS#12: the file name
    is readable and cannot leave the folder, whatever the identifier holds."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", holder)[:48].lstrip(".") or "_"
    digest = hashlib.sha256(holder.encode()).hexdigest()[:12]
    folder = "offices" if kind == "office" else "officers"
    return pki_dir(var_dir) / folder / f"{safe}-{digest}.p12"


def ensure_holder_key(var_dir: Path, kind: str, holder: str, common: str,
                      organization: str | None, passphrase: str = DEV_PASSPHRASE) -> Path:
    """The development key of one person or office, made on first use by the development CA:
    the certificate names them (common name) and their office (organisation)."""
    path = holder_key_path(var_dir, kind, holder)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    root = pki_dir(var_dir)
    with _locked(root / ".lock"):
        ca_key, ca_cert = _ensure_ca(root)
        if not path.exists():  # another replica may have made it meanwhile
            _write(path, _officer_p12(holder, common, ca_key, ca_cert, passphrase,
                                      organization))
    return path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    os.replace(tmp, path)


def _clip(value: str, limit: int = 64) -> str:
    """At most `limit` bytes of UTF-8, cut at a character: cryptography measures an X.520
    attribute in bytes, and a Vietnamese letter takes two or three."""
    return value.encode("utf-8")[:limit].decode("utf-8", "ignore")


def _name(common: str, organization: str | None = None) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, _clip(organization or _ORG)),
                      x509.NameAttribute(NameOID.COMMON_NAME, _clip(common) or "?")])


def _ensure_ca(root: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key_path, cert_path = root / "ca.key", root / "ca.pem"
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key, x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = _name("Onestop Development CA — không dùng thật")
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365 * _YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    _write(key_path, key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    cert_path.chmod(0o644)
    return key, cert


def _officer_p12(officer: str, common: str, ca_key: rsa.RSAPrivateKey,
                 ca_cert: x509.Certificate, passphrase: str,
                 organization: str | None = None) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(common, organization))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365 * (_YEARS - 1)))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            # Signing documents: digital signature and non-repudiation (content commitment).
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return pkcs12.serialize_key_and_certificates(
        officer.encode(), key, cert, [ca_cert],
        serialization.BestAvailableEncryption(passphrase.encode()))
