"""What the API answers about a dossier, as JSON for the counter's clients."""

from __future__ import annotations

from typing import Any


def public_view(row: dict[str, Any]) -> dict[str, Any]:
    """What the API answers about a dossier (the applicant's numbers are not echoed)."""
    return {
        "dossier_code": row["code"], "status": row["status"],
        "agency_code": row["agency_code"], "procedure_code": row["procedure_code"],
        "channel": row["channel"], "return_channel": row["return_channel"],
        "received_at": row["received_at"], "due_at": row["due_at"],
        "legal_time": row["legal_time"], "catalog_version": row["catalog_version"],
        "components": row["components"], "applicant_ref": row["applicant_ref"],
        "supplement_request": row.get("supplement_request"), "reasons": row.get("reasons"),
        "channel_reference": row.get("channel_reference"),
    }

