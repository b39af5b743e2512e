"""What the API answers about a dossier, as JSON for the counter's clients."""

from __future__ import annotations

from typing import Any

from services.intake.dossier import Dossier


def public_view(d: Dossier) -> dict[str, Any]:
    """What the API answers about a dossier (the applicant's numbers are not echoed)."""
    return {
        "dossier_code": d.code, "status": d.status,
        "agency_code": d.agency_code, "procedure_code": d.procedure_code,
        "channel": d.channel, "return_channel": d.return_channel,
        "received_at": d.received_at, "due_at": d.due_at,
        "legal_time": d.legal_time, "catalog_version": d.catalog_version,
        "components": d.components, "applicant_ref": d.applicant_ref,
        "supplement_request": d.supplement_request, "reasons": d.reasons,
        "channel_reference": d.channel_reference,
    }

