"""The audit trail on the web: the page of the subtree's entries, its download, history panels."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from litestar import Request, Response, Router, get
from litestar.di import NamedDependency
from litestar.response import Template
from sqlmodel import Session

from cocon import audit_read
from cocon.audit_model import AuditEntry
from cocon.errors import Invalid
from cocon.i18n import N_, _
from cocon.models import Org
from cocon.rights import Right, may
from cocon.times import china_time, parse_day
from cocon.web.auth import current_account, needs
from cocon.web.scope import current_scope

PAGE_SIZE = 50
HISTORY_SHOWN = 30
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ACTIONS = {
    "create": N_("created"),
    "update": N_("changed"),
    "delete": N_("deleted"),
    "status": N_("status changed"),
    "payment": N_("payment recorded"),
    "reversal": N_("reversed"),
    "login": N_("signed in"),
    "logout": N_("signed out"),
    "login_failed": N_("sign-in failed"),
    "denied": N_("access denied"),
    "import": N_("imported"),
    "export": N_("exported"),
    "token_created": N_("API token made"),
    "token_revoked": N_("API token revoked"),
}
ENTITIES = {
    "project": N_("project"),
    "allocation": N_("allocation"),
    "partner": N_("partner unit"),
    "funding_line": N_("funding line"),
    "payment": N_("payment"),
    "contribution": N_("partner contribution"),
    "community_profile": N_("community profile"),
    "user": N_("user"),
    "org": N_("org"),
    "session": N_("session"),
    "access": N_("access"),
    "workbook": N_("workbook"),
    "api_token": N_("API token"),
}
# Fields of a partner that only the users who work with it may read, in its history too.
CONTACT_FIELDS = ("contact", "phone")


@dataclass(frozen=True)
class Row:
    """One entry as a page shows it."""

    entry: AuditEntry
    when: str
    action: str
    entity: str
    changes: list[tuple[str, object, object]]
    details: dict


def shown_rows(entries: list[AuditEntry], contacts: set[str] | None = None) -> list[Row]:
    """Return entries ready to show: China time, names of actions and things, the changes.

    A partner's contact person and phone show only for the partners (by credit code) in
    contacts: those the reader works with (None: every one).
    """
    rows = []
    for entry in entries:
        changes = []
        hidden = contacts is not None and entry.entity_code not in contacts
        for field, (before, after) in json.loads(entry.changes or "{}").items():
            if hidden and entry.entity == "partner" and field in CONTACT_FIELDS:
                before, after = ("…" if before else before), ("…" if after else after)
            changes.append((field, before, after))
        rows.append(
            Row(
                entry,
                china_time(entry.at),
                _(ACTIONS.get(entry.action, entry.action)),
                _(ENTITIES.get(entry.entity, entry.entity)),
                changes,
                json.loads(entry.details or "{}"),
            )
        )
    return rows


def visible_contacts(request: Request, session: Session, found: list[AuditEntry]) -> set[str]:
    """Return the credit codes of the partners in found whose contacts this reader may see."""
    from sqlalchemy import select

    from cocon.models import Partner
    from cocon.partners import partners_working_in
    from cocon.web.scope import allowed_root

    if not may(current_account(request).role, Right.SEE_CONTACTS):
        return set()
    codes = {entry.entity_code for entry in found if entry.entity == "partner"}
    if not codes:
        return set()
    partners = dict(
        session.execute(
            select(Partner.id, Partner.credit_code).where(Partner.credit_code.in_(codes))
        ).all()
    )
    working = partners_working_in(session, allowed_root(request, session), list(partners))
    return {partners[partner_id] for partner_id in working}


def history(
    request: Request, session: Session, entity: str | None, codes: list[str], scope: Org
) -> list[Row]:
    """Return the latest entries of things by code, for the history panel of a page."""
    filters = audit_read.Filters(within=scope, entity=entity, codes=tuple(codes))
    found = audit_read.entries(session, filters, limit=HISTORY_SHOWN)
    return shown_rows(found, visible_contacts(request, session, found))


def project_history(
    request: Request, session: Session, project, lines, payments, scope: Org
) -> list[Row]:
    """Return the history of a project with its funding lines, contributions and payments."""
    codes = [project.code]
    codes += [f"{project.code} ← {row.allocation.code}" for row in lines]
    codes += [payment.voucher_no for _code, rows in payments for payment in rows]
    return history(request, session, None, codes, scope)


def parse_audit_filters(
    session: Session, scope: Org, params: Mapping[str, str]
) -> tuple[audit_read.Filters, dict[str, str], dict[str, str]]:
    """Read the audit page's filters from the query; return them, what was typed, the errors."""
    keys = ("user", "action", "entity", "since", "until")
    raw = {key: (params.get(key) or "").strip()[:100] for key in keys}
    errors: dict[str, str] = {}
    days = {}
    for key in ("since", "until"):
        if raw[key]:
            try:
                days[key] = parse_day(raw[key])
            except Invalid as error:
                errors[key] = error.message
    if "until" in days:
        days["until"] += timedelta(days=1)  # the whole of the last day
    filters = audit_read.Filters(
        within=scope,
        user=raw["user"] or None,
        action=raw["action"] if raw["action"] in ACTIONS else None,
        entity=raw["entity"] if raw["entity"] in ENTITIES else None,
        since=days.get("since"),
        until=days.get("until"),
    )
    return filters, raw, errors


def _page(raw: str | None) -> int:
    text = (raw or "").strip()
    return int(text) if text.isdigit() and 0 < int(text) < 1_000_000 else 1


@get("/audit", name="audit_page", sync_to_thread=True, opt=needs(Right.AUDIT))
def audit_page(request: Request, session: NamedDependency[Session]) -> Template:
    """List the audit trail of the scope, newest first, filtered and paged."""
    scope = current_scope(request, session)
    filters, raw, errors = parse_audit_filters(session, scope, request.query_params)
    total = 0 if errors else audit_read.count_entries(session, filters)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(_page(request.query_params.get("page")), pages)
    found = [] if errors else audit_read.entries(
        session, filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    query = {k: v for k, v in raw.items() if v}

    def link(path: str, **more: object) -> str:
        params = {"org": request.query_params.get("org"), **query, **more}
        return f"{path}?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})

    context = {
        "scope": scope,
        "rows": shown_rows(found, visible_contacts(request, session, found)),
        "raw": raw,
        "errors": errors,
        "total": total,
        "page": page,
        "pages": pages,
        "page_url": lambda number: link("/audit", page=number),
        "actions": [(key, _(name)) for key, name in ACTIONS.items()],
        "entities": [(key, _(name)) for key, name in ENTITIES.items()],
        "download": link("/audit.xlsx"),
    }
    return Template("audit/list.html", context=context, status_code=400 if errors else 200)


@get("/audit.xlsx", name="audit_download", sync_to_thread=True, opt=needs(Right.AUDIT))
def audit_download(request: Request, session: NamedDependency[Session]) -> Response:
    """Download the filtered audit trail of the scope as a workbook."""
    import xlsxwriter

    scope = current_scope(request, session)
    filters, _raw, errors = parse_audit_filters(session, scope, request.query_params)
    if errors:
        raise Invalid("; ".join(errors.values()))
    with tempfile.TemporaryFile() as handle:
        book = xlsxwriter.Workbook(handle, {"constant_memory": True, "in_memory": False})
        sheet = book.add_worksheet(_("Audit trail"))
        headers = [_("No."), _("When (China time)"), _("Who"), _("Action"), _("Thing"),
                   _("Code"), _("Changes"), _("Details")]  # fmt: skip
        bold = book.add_format({"bold": True})
        for column, title in enumerate(headers):
            sheet.write_string(0, column, title, bold)
        found = audit_read.entries(session, filters, limit=None)
        rows = shown_rows(found, visible_contacts(request, session, found))
        for line, row in enumerate(rows, 1):
            changes = "; ".join(f"{f}: {b} → {a}" for f, b, a in row.changes)
            cells = [row.when, row.entry.actor, row.action, row.entity,
                     row.entry.entity_code or "", changes,
                     json.dumps(row.details, ensure_ascii=False) if row.details else ""]  # fmt: skip
            sheet.write_number(line, 0, row.entry.seq or 0)
            for column, value in enumerate(cells, 1):
                sheet.write_string(line, column, str(value))  # text, never a formula
        sheet.freeze_panes(1, 0)
        book.close()
        handle.seek(0)
        content = handle.read()
    name = f"cocon-audit-{scope.code}.xlsx"
    return Response(
        content,
        media_type=XLSX,
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


ROUTES = [audit_page, audit_download]


def router() -> Router:
    """Group the audit routes (one registration per path: see cocon.web.projects.router)."""
    return Router(path="/", route_handlers=ROUTES)
