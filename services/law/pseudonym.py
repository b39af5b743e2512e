"""Keyed pseudonyms: broad topics name an applicant by HMAC, never by ID number."""

from __future__ import annotations

import base64
import hashlib
import hmac

from contracts.common import IndividualApplicant, OrganizationApplicant


def pseudonym(key: str, kind: str, number: str) -> str:
    digest = hmac.new(key.encode(), f"{kind}:{number.strip()}".encode(), hashlib.sha256).digest()
    return "p1_" + base64.b32encode(digest[:20]).decode().lower()


def applicant_pseudonym(key: str, applicant: IndividualApplicant | OrganizationApplicant) -> str:
    if isinstance(applicant, IndividualApplicant):
        return pseudonym(key, "individual", applicant.id_number)
    return pseudonym(key, "organization", applicant.unit_code)
