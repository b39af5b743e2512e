"""The dated slip form sets, as data (forms.yaml beside this file), and which one is in force.

A form set is its legal basis, its valid_from and, for each of the three slips, the form
number, title and body blocks (see the comment at the top of forms.yaml). Adding a set is
an entry in that file: the blocks are rendered by render.py, whatever set they come from.
The file is validated when this module is imported, so a mistake stops the service at
start with the file, line and field named, never mid-way through printing a slip.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    model_validator,
)

from services.intake.slips.inputs import local
from services.law.yamldata import load_yaml_model

DEFAULT_FILE = Path(__file__).with_name("forms.yaml")

SlipName = Literal["receipt", "supplement", "refusal"]
ApplicantField = Literal["id", "address", "phone", "email", "procedure", "channel",
                         "received_at"]

# What each slip is given beyond the dossier's context, hence the blocks only it can print;
# each of them must be printed (a receipt without its appointment is not a receipt).
SLIP_BLOCKS: dict[str, frozenset[str]] = {
    "receipt": frozenset({"components", "due", "return"}),
    "supplement": frozenset({"problems", "clock_rule"}),
    "refusal": frozenset({"problems"}),
}
# Printed on every slip (docs/law.md#slips-and-their-contents: who, what, when, the officer).
REQUIRED_BLOCKS = frozenset({"applicant", "signatures"})
PLACEHOLDERS = frozenset({"agency", "officer"})


class FormSetError(ValueError):
    """forms.yaml (or a file given to load_form_sets) is not a valid list of form sets."""


def _template(text: str) -> str:
    # Checked here so a typo such as {agncy} fails at start, not when a slip is printed.
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"{exc} (write a literal brace twice)") from exc
    for _, name, spec, conversion in parts:
        if name is not None and (name not in PLACEHOLDERS or spec or conversion):
            raise ValueError(f"unknown placeholder {{{name}}}; texts may name "
                             + ", ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS)))
    return text


NonEmpty = Annotated[str, Field(min_length=1)]
Template = Annotated[str, Field(min_length=1), AfterValidator(_template)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApplicantBlock(_Data):
    kind: Literal["applicant"]
    intro: Template
    fields: tuple[ApplicantField, ...]

    @model_validator(mode="after")
    def _once_each(self) -> ApplicantBlock:
        if len(set(self.fields)) != len(self.fields):
            raise ValueError("an applicant field is listed twice")
        return self


class TextBlock(_Data):
    kind: Literal["heading", "text", "note"]
    text: Template


class DueBlock(_Data):
    kind: Literal["due"]
    label: NonEmpty


class InputBlock(_Data):
    """A block drawn from what the slip is given (SLIP_BLOCKS); it takes no wording."""

    kind: Literal["components", "return", "problems", "clock_rule"]


class SignaturesBlock(_Data):
    kind: Literal["signatures"]
    officer: NonEmpty
    applicant_signs: Literal["never", "at_counter"]


Block = Annotated[ApplicantBlock | TextBlock | DueBlock | InputBlock | SignaturesBlock,
                  Field(discriminator="kind")]


class SlipForm(_Data):
    """One slip of a form set: form number, title and body blocks, top to bottom."""

    form: NonEmpty
    title: NonEmpty
    body: tuple[Block, ...] = Field(min_length=1)


class SlipForms(_Data):
    receipt: SlipForm
    supplement: SlipForm
    refusal: SlipForm

    @model_validator(mode="after")
    def _blocks_fit_the_slip(self) -> SlipForms:
        problems = []
        for slip, given in SLIP_BLOCKS.items():
            kinds = [b.kind for b in getattr(self, slip).body]
            others = set().union(*SLIP_BLOCKS.values()) - given
            if wrong := sorted(others & set(kinds)):
                problems.append(f"{slip} cannot print {', '.join(wrong)}: it is not given them")
            if missing := sorted((given | REQUIRED_BLOCKS) - set(kinds)):
                problems.append(f"{slip} must print {', '.join(missing)}")
            if twice := sorted({k for k in kinds if k in REQUIRED_BLOCKS and kinds.count(k) > 1}):
                problems.append(f"{slip} prints {', '.join(twice)} more than once")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class SlipRuleSet(_Data):
    """The form set in force from valid_from (docs/law.md#the-law-as-dated-data)."""

    name: NonEmpty
    valid_from: date
    legal_basis: NonEmpty
    # Decree 118/2025 adds personal identification on slips: the ID line becomes mandatory.
    personal_id_on_slip: StrictBool
    slips: SlipForms

    @model_validator(mode="after")
    def _id_is_printed_when_mandatory(self) -> SlipRuleSet:
        if self.personal_id_on_slip:
            for slip in SLIP_BLOCKS:
                blocks = getattr(self.slips, slip).body
                if any(isinstance(b, ApplicantBlock) and "id" not in b.fields for b in blocks):
                    raise ValueError(f"personal_id_on_slip, but the {slip} slip's applicant "
                                     f"fields leave out id")
        return self

    def slip(self, name: SlipName) -> SlipForm:
        form: SlipForm = getattr(self.slips, name)
        return form

    # The names the flat rule set had before the sets became data; callers still use them.
    @property
    def receipt_title(self) -> str:
        return self.slips.receipt.title

    @property
    def supplement_title(self) -> str:
        return self.slips.supplement.title

    @property
    def refusal_title(self) -> str:
        return self.slips.refusal.title

    @property
    def receipt_form(self) -> str:
        return self.slips.receipt.form

    @property
    def supplement_form(self) -> str:
        return self.slips.supplement.form

    @property
    def refusal_form(self) -> str:
        return self.slips.refusal.form


class _FormSetsFile(_Data):
    form_sets: tuple[SlipRuleSet, ...] = Field(min_length=1)


def _yaml_path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The error's path in the file: a block's path in pydantic also holds the block's kind
    (the union's tag, right after the body index), which is no key of the YAML."""
    return tuple(part for i, part in enumerate(loc)
                 if not (i >= 2 and loc[i - 2] == "body" and isinstance(loc[i - 1], int)))


def load_form_sets(path: Path | str = DEFAULT_FILE) -> tuple[SlipRuleSet, ...]:
    """Every form set in the file, oldest first; FormSetError names file, line and field."""
    path = Path(path)
    parsed = load_yaml_model(path, _FormSetsFile, FormSetError, what="slip form sets",
                             yaml_path=_yaml_path)
    sets = sorted(parsed.form_sets, key=lambda s: s.valid_from)
    for what, key in (("valid_from", lambda s: s.valid_from), ("name", lambda s: s.name)):
        values = [key(s) for s in sets]
        if dup := sorted({str(v) for v in values if values.count(v) > 1}):
            raise FormSetError(f"{path}: two form sets share a {what}: {', '.join(dup)}")
    return tuple(sets)


RULE_SETS: tuple[SlipRuleSet, ...] = load_form_sets()


def rule_set_for(received_at: datetime,
                 form_sets: Sequence[SlipRuleSet] = RULE_SETS) -> SlipRuleSet:
    """The form set in force on the Vietnamese calendar day of receipt."""
    day = local(received_at, "received_at").date()
    in_force = [r for r in form_sets if r.valid_from <= day]
    if not in_force:
        raise ValueError(f"no slip rule set in force on {day.isoformat()}")
    return max(in_force, key=lambda r: r.valid_from)
