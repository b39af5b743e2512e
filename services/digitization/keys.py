"""Who signs with which key. The key follows the caller's token, never a form field or a
query: a person signs with their own key (by the token's `sub`), an office's seal is the key
of that office (by agency code). Keys are PKCS#12 files named in settings
(DIGITIZATION_OFFICER_KEYS, DIGITIZATION_OFFICE_KEYS); in development the development CA
mints a missing one on its first signature (pki.py), production never does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from contracts.common import Problem
from services.common.errors import DomainError
from services.common.http.auth import Caller
from services.digitization.signing import KeyFile


class HolderKind(StrEnum):
    person = "person"
    office = "office"


@dataclass(frozen=True)
class Holder:
    """Whose key signs: a person (`id` the token's subject) or an office (its agency code);
    `name` and `office` are what a minted development certificate says."""

    kind: HolderKind
    id: str
    name: str
    office: str | None


class NoSigningKey(DomainError):
    """The signer has no key here (403, naming the token that asked): a person without a
    certificate, or an office without a seal."""

    status = 403

    def __init__(self, holder: Holder) -> None:
        if holder.kind == HolderKind.office:
            office = holder.id or "(không có đơn vị)"
            vi = f"Không có chứng thư số (con dấu) của đơn vị {office}"
            en = f"no signing key (seal) for the office {holder.id or '(no agency)'}"
        else:
            vi = f"Không có chứng thư số của người ký {holder.id}"
            en = f"no signing key of your own ({holder.id}): ask for your certificate"
        super().__init__([Problem.of("no_signing_key", vi, en, "Authorization")])
        self.args = (holder,)
        self.holder = holder


# (kind, id, name, office) -> the PKCS#12 file made for them: the development CA's.
Minter = Callable[[str, str, str, str | None], Path]
# agency code -> its name in the catalogue (None when unknown).
OfficeNames = Callable[[str], str | None]


class Keyring:
    def __init__(self, people: dict[str, KeyFile], offices: dict[str, KeyFile],
                 office_names: OfficeNames, passphrase: str,
                 mint: Minter | None = None) -> None:
        self._keys = {HolderKind.person: dict(people), HolderKind.office: dict(offices)}
        self.office_names = office_names
        self.passphrase = passphrase
        self.mint = mint  # development only: None in production

    def person(self, caller: Caller) -> Holder:
        office = self.office_names(caller.agency) if caller.agency else None
        return Holder(HolderKind.person, caller.user, caller.name, office)

    def office(self, agency: str | None) -> Holder:
        name = (self.office_names(agency) if agency else None) or agency or ""
        return Holder(HolderKind.office, agency or "", name, name)

    async def key(self, holder: Holder) -> KeyFile:
        """The holder's key, or NoSigningKey; in development a missing one is minted (the
        file is made once, a lock keeps replicas from making it twice)."""
        known = self._keys[holder.kind].get(holder.id) if holder.id else None
        if known is not None:
            return known
        if self.mint is None or not holder.id:
            raise NoSigningKey(holder)
        path = await asyncio.to_thread(self.mint, holder.kind.value, holder.id, holder.name,
                                       holder.office)
        made = self._keys[holder.kind][holder.id] = KeyFile(str(path), self.passphrase)
        return made
