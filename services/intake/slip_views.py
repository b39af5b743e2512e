"""From intake's record of a dossier to the slips' inputs (the slips package draws them)."""

from __future__ import annotations

from typing import Any

from services.intake import slips
from services.law.catalog import CatalogIndex

CLOCK_RULE_VI = ("Thời hạn giải quyết được tính lại kể từ ngày nhận đủ hồ sơ "
                 "(Luật Bảo hiểm xã hội 2024).")
DEFAULT_OFFICER = "Viên chức tiếp nhận hồ sơ"


def context(catalog: CatalogIndex, row: dict[str, Any]) -> slips.SlipContext:
    agency = catalog.agency(row["agency_code"])
    parent = catalog.agency(agency.parent) if agency and agency.parent else None
    procedure = catalog.procedure(row["procedure_code"])
    a = row["applicant"]
    individual = a["kind"] == "individual"
    return slips.SlipContext(
        dossier_code=row["code"],
        agency=slips.SlipAgency(row["agency_code"], agency.name if agency else row["agency_code"],
                                parent.name if parent else None),
        applicant=slips.SlipApplicant(
            name=a["full_name"] if individual else a["name"],
            id_label=slips.PERSONAL_ID_LABEL if individual else slips.ORG_ID_LABEL,
            id_value=a["id_number"] if individual else a["unit_code"],
            address=a.get("address"), phone=a.get("phone"), email=a.get("email")),
        procedure_name=procedure.name if procedure else row["procedure_code"],
        received_at=row["received_at"], officer=row.get("officer") or DEFAULT_OFFICER,
        channel=row["channel"])


def component_names(catalog: CatalogIndex, row: dict[str, Any]) -> dict[str, str]:
    procedure = catalog.procedure(row["procedure_code"])
    return {c.code: c.name for c in procedure.components} if procedure else {}


def receipt(catalog: CatalogIndex, row: dict[str, Any]) -> bytes:
    names = component_names(catalog, row)
    components = [slips.SlipComponent(name=names.get(c["code"], c["code"]), form=c["form"],
                                      reused=bool(c.get("reused")))
                  for c in row["components"]]
    ctx = context(catalog, row)
    # Only a counter return has a place: the agency's one-stop unit.
    place = (f"Bộ phận Một cửa, {ctx.agency.name}" if row["return_channel"] == "counter"
             else None)
    return slips.receipt_slip(ctx, components, row["due_at"], row["return_channel"], place)


def supplement_request(catalog: CatalogIndex, row: dict[str, Any]) -> bytes:
    names = component_names(catalog, row)
    items = row["supplement_request"]["items"]
    problems = [slips.SlipProblem(
        (f"{names.get(i['component_code'], i['component_code'])}: " if i.get("component_code")
         else "") + i["problem_vi"], i.get("legal_basis")) for i in items]
    return slips.supplement_request(context(catalog, row), problems, CLOCK_RULE_VI)


def refusal(catalog: CatalogIndex, row: dict[str, Any]) -> bytes:
    reasons = [slips.SlipProblem(r["message_vi"], r.get("legal_basis")) for r in row["reasons"]]
    return slips.refusal_slip(context(catalog, row), reasons)
