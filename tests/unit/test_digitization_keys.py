"""Keys follow their signers: a person's by their token's subject, an office's by its agency
code; settings name them, development mints a missing one once (its certificate naming the
person and their office), and without a minter (production) a missing key is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from services.common.http.auth import Caller, ExactAgency
from services.digitization.keys import HolderKind, Keyring, NoSigningKey
from services.digitization.pki import DEV_PASSPHRASE, ensure_holder_key, pki_dir
from services.digitization.settings import DigitizationSettings
from services.digitization.signing import KeyFile
from services.product.roles import ROLE_PERMISSIONS, Role

OFFICES = {"000.00.01.H26": "Bảo hiểm xã hội thành phố Hà Nội"}


def caller(user: str, agency: str | None = "000.00.01.H26") -> Caller:
    return Caller(user, f"Tên của {user}", Role.office_leader, agency, ExactAgency(agency),
                  ROLE_PERMISSIONS[Role.office_leader])


def subject(key: KeyFile) -> x509.Name:
    _, cert, _ = pkcs12.load_key_and_certificates(Path(key.path).read_bytes(),
                                                  key.passphrase.encode())
    assert cert is not None
    return cert.subject


async def test_without_a_minter_a_missing_key_is_refused(tmp_path: Path) -> None:
    configured = KeyFile(str(tmp_path / "ld.p12"), "x")
    ring = Keyring({"ld-01": configured}, {}, OFFICES.get, "x")
    assert await ring.key(ring.person(caller("ld-01"))) == configured
    for holder in (ring.person(caller("ld-02")), ring.office("000.00.01.H26"),
                   ring.office(None)):
        with pytest.raises(NoSigningKey) as refused:
            await ring.key(holder)
        assert refused.value.holder == holder


async def test_development_mints_a_key_once_naming_the_person_and_office(
        tmp_path: Path) -> None:
    def mint(kind: str, holder: str, name: str, office: str | None) -> Path:
        made.append(holder)
        return ensure_holder_key(tmp_path, kind, holder, name, office)

    made: list[str] = []
    ring = Keyring({}, {}, OFFICES.get, DEV_PASSPHRASE, mint)
    key = await ring.key(ring.person(caller("../../etc/ld-01")))
    again = await ring.key(ring.person(caller("../../etc/ld-01")))
    assert key == again and made == ["../../etc/ld-01"]
    # The file stays in the development CA's folder, whatever the subject holds.
    assert Path(key.path).parent == pki_dir(tmp_path) / "officers"
    name = subject(key)
    assert name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == \
        "Tên của ../../etc/ld-01"
    assert name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == \
        OFFICES["000.00.01.H26"]
    seal = await ring.key(ring.office("000.00.01.H26"))
    assert ring.office("000.00.01.H26").kind == HolderKind.office
    assert subject(seal).get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == \
        OFFICES["000.00.01.H26"]
    # Another replica (a new ring on the same folder) finds the file made.
    other = Keyring({}, {}, OFFICES.get, DEV_PASSPHRASE, mint)
    assert (await other.key(other.person(caller("../../etc/ld-01")))).path == key.path
    with pytest.raises(NoSigningKey):  # an office of no agency has no seal, even here
        await ring.key(ring.office(None))


def test_production_takes_keys_only_from_settings(tmp_path: Path) -> None:
    def production(**values: object) -> DigitizationSettings:
        # The digitization check alone (the shared ones want production secrets besides).
        made = DigitizationSettings.model_construct(**{
            "env": "production", "dev_pki": False, "officer_keys": {}, "office_keys": {},
            "trust_roots": [tmp_path / "ca.pem"], **values})
        return made._no_dev_pki_in_production()

    with pytest.raises(ValueError, match="DIGITIZATION_OFFICE_KEYS"):
        production()
    with pytest.raises(ValueError, match="DIGITIZATION_DEV_PKI"):
        production(dev_pki=True, office_keys={"000.00.01.H26": tmp_path / "hn.p12"})
    assert production(office_keys={"000.00.01.H26": tmp_path / "hn.p12"})
    assert production(officer_keys={"ld-01": tmp_path / "ld.p12"})


def test_a_long_vietnamese_office_name_is_clipped_to_64_bytes(tmp_path: Path) -> None:
    # cryptography measures an X.520 attribute in bytes: 64 characters of Vietnamese are more.
    office = "Bảo hiểm xã hội khu vực XXXV — Thành phố Hồ Chí Minh và các tỉnh phía Nam"
    path = ensure_holder_key(tmp_path, "offices", "000.00.35.H99", office, office)
    name = subject(KeyFile(str(path), DEV_PASSPHRASE))
    common = name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert len(common.encode()) <= 64 and office.startswith(common)
