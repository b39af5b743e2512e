"""Who may do what: the roles of the people and systems that call, the permissions a route
asks for, and which role holds which (a product and legal decision, docs/security.md).

The runtime's auth (services/common/http/auth.py) knows none of these: each service's wiring
gives it ROLE_PERMISSIONS, and routes name their permission from here.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    counter_officer = "counter_officer"        # cán bộ một cửa: receives, digitizes, returns
    processing_officer = "processing_officer"  # chuyên viên: works the steps of a case
    department_head = "department_head"        # trưởng phòng: assigns, explains delays
    office_leader = "office_leader"            # lãnh đạo cơ quan: decides, signs results
    national_monitor = "national_monitor"      # giám sát toàn quốc: dashboards and reports
    provincial_system = "provincial_system"    # a province's system (API key)
    ops = "ops"                                # vận hành: runs the platform, no dossiers
    internal_service = "internal_service"      # one of our services calling another


class Permission(StrEnum):
    catalog_read = "catalog:read"
    dossier_read = "dossier:read"              # status and facts of a dossier / case
    personal_read = "personal:read"            # slips and letters printing personal data
    dossier_receive = "dossier:receive"        # submit, refuse, supplement, withdraw
    supplement_request = "dossier:request_supplement"
    case_process = "case:process"              # claim, steps, supplement, other agencies, stop
    case_decide = "case:decide"                # approve, deny, issue the result
    case_return = "case:return"                # hand the result over
    case_explain = "case:explain"              # explanations and apology letters of delays
    document_digitize = "document:digitize"
    document_sign = "document:sign"
    document_read = "document:read"
    warehouse_read = "warehouse:read"
    warehouse_write = "warehouse:write"
    notification_read = "notification:read"
    inbox_read = "inbox:read"                  # one's own inbox
    inbox_any = "inbox:any"                    # anyone's inbox
    report_read = "report:read"                # dashboards, statistics, legal reports
    rating_record = "rating:record"
    # A citizen's rating, relayed by the service that checked their dossier code and ID digits.
    rating_citizen = "rating:citizen"


P = Permission
_OFFICER = {P.catalog_read, P.dossier_read, P.personal_read, P.inbox_read,
            P.notification_read, P.document_read, P.warehouse_read}
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.counter_officer: frozenset(_OFFICER | {
        P.dossier_receive, P.supplement_request, P.case_return, P.document_digitize,
        P.warehouse_write, P.rating_record}),
    Role.processing_officer: frozenset(_OFFICER | {P.supplement_request, P.case_process}),
    Role.department_head: frozenset(_OFFICER | {P.supplement_request, P.case_process,
                                                P.case_explain, P.report_read}),
    Role.office_leader: frozenset(_OFFICER | {P.case_decide, P.case_explain, P.report_read,
                                              P.document_sign}),
    Role.national_monitor: frozenset({P.catalog_read, P.dossier_read, P.report_read,
                                      P.inbox_read}),
    Role.provincial_system: frozenset({P.catalog_read, P.dossier_read}),
    Role.ops: frozenset({P.catalog_read, P.report_read, P.notification_read, P.inbox_read,
                         P.inbox_any}),
    Role.internal_service: frozenset({P.catalog_read, P.dossier_read, P.document_sign,
                                      P.document_read, P.warehouse_read, P.warehouse_write,
                                      P.rating_citizen}),
}
