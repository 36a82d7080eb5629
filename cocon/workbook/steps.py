"""Apply one imported row through the domain functions: every sheet upserts by its natural key."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlmodel import Session, SQLModel

from cocon.allocations import (
    draw,
    find_allocation,
    get_allocation,
    get_funding_line,
    record_payment,
    save_allocation,
)
from cocon.checks import Policies
from cocon.creditcode import normalize_credit_code
from cocon.errors import CoconError, Invalid, NotFound
from cocon.i18n import _
from cocon.labels import parse_choice
from cocon.models import Allocation, Contribution, ContributionKind, Org, Payment, Project
from cocon.orgs import is_within, resolve_org
from cocon.partners import find_partner, get_partner, save_partner
from cocon.profiles import get_profile, parse_count, parse_unit_type, set_profile
from cocon.projects import (
    FieldErrors,
    get_project,
    set_contribution,
)
from cocon.versions import check_row_version

Row = dict[str, object]
Change = tuple[dict | None, SQLModel]
Step = Callable[[Session, Policies, Row, Org | None], Change]


def snapshot(row: SQLModel | None) -> dict | None:
    """Return a row's values, to tell afterwards whether an import changed it."""
    return None if row is None else row.model_dump()


def _field(column: str, call: Callable, *args, **kwargs):
    """Call a domain function; an error that names no field is put on column."""
    try:
        return call(*args, **kwargs)
    except FieldErrors:
        raise
    except CoconError as error:
        raise Invalid(error.message, field=getattr(error, "field", None) or column) from None


def _gather(errors: list[Invalid], column: str, call: Callable, *args, **kwargs):
    """Call a domain function like _field, but collect its error so the row's next ones show."""
    try:
        return _field(column, call, *args, **kwargs)
    except FieldErrors as error:
        errors.extend(error.errors)
    except Invalid as error:
        errors.append(error)
    return None


def _read_at(row: Row, record: SQLModel | None) -> None:
    """Refuse a row exported before someone else saved its record (see cocon.versions)."""
    check_row_version(getattr(record, "version", None), row.get("version"))


def _text(row: Row, column: str) -> str:
    value = row.get(column)
    return "" if value is None else str(value).strip()


def _key(row: Row, column: str) -> str:
    """Return the natural key of a row; without it a second import could not find the row."""
    value = _text(row, column)
    if not value:
        raise Invalid(_("This field is required"), field=column)
    return value


def outside_scope(message: str, column: str) -> Invalid:
    """Return the error of a row that names something outside the scope of the import.

    It reads like a thing that does not exist: nothing outside is named or confirmed.
    """
    return Invalid(message, field=column)


def no_org(text: str) -> str:
    """Say that the tree the user works in has no org by that code or name."""
    return _("There is no org {text} in the part of the tree you work in").format(text=text)


def no_project(code: str) -> str:
    """Say that the tree the user works in has no project with that code."""
    return _("There is no project {code} in the part of the tree you work in").format(code=code)


def no_allocation(code: str) -> str:
    """Say that the tree the user works in holds no allocation with that code."""
    return _("There is no allocation {code} in the part of the tree you work in").format(
        code=code
    )


def in_scope(org: Org, scope: Org | None, column: str, typed: str | None = None) -> Org:
    """Return org if it lies in scope (anywhere without a scope); refuse it on column if not."""
    if not is_within(org, scope):
        raise outside_scope(no_org(typed or org.code), column)
    return org


def _org(session: Session, row: Row, column: str, scope: Org | None) -> Org:
    typed = _key(row, column)
    return in_scope(_field(column, resolve_org, session, typed), scope, column, typed)


def _project(session: Session, row: Row, scope: Org | None) -> Project:
    project = _field("project", get_project, session, _key(row, "project"))
    if not is_within(session.get(Org, project.owner_id), scope):
        raise outside_scope(no_project(project.code), "project")
    return project


def _own_allocation(
    session: Session, allocation: Allocation | None, scope: Org | None, column: str
) -> Allocation | None:
    """Return allocation if it is held in scope (or is None); refuse it on column if not."""
    if allocation is not None and not is_within(session.get(Org, allocation.org_id), scope):
        raise outside_scope(no_allocation(allocation.code), column)
    return allocation


def _allocation(session: Session, code: str, scope: Org | None, column: str) -> Allocation:
    return _own_allocation(session, _field(column, get_allocation, session, code), scope, column)


def profile_step(
    session: Session, policies: Policies, row: Row, scope: Org | None = None
) -> Change:
    """Create or update a community profile."""
    org = _org(session, row, "code", scope)
    existing = get_profile(session, org)
    _read_at(row, existing)
    before = snapshot(existing)
    errors: list[Invalid] = []
    values = {
        key: _gather(errors, key, parse_count, row.get(key), key)
        for key in ("households", "permanent_residents", "floating_residents")
    }
    unit_type = _gather(errors, "unit_type", parse_unit_type, row.get("unit_type"))
    if errors:
        raise FieldErrors(errors)
    profile = _field("code", set_profile, session, org, unit_type=unit_type, **values)
    return before, profile


def partner_step(
    session: Session, policies: Policies, row: Row, scope: Org | None = None
) -> Change:
    """Create or update a partner unit by its credit code (partners belong to no org: any scope)."""
    existing = find_partner(session, normalize_credit_code(_key(row, "credit_code")))
    _read_at(row, existing)
    before = snapshot(existing)
    return before, save_partner(
        session,
        credit_code=_text(row, "credit_code"),
        name=_text(row, "name"),
        kind=_text(row, "kind"),
        contact=row.get("contact"),
        phone=row.get("phone"),
        partner=existing,
    )


def allocation_step(
    session: Session, policies: Policies, row: Row, scope: Org | None = None
) -> Change:
    """Create or update an allocation by its code."""
    existing = find_allocation(session, _key(row, "code"))
    if existing is not None and not is_within(session.get(Org, existing.org_id), scope):
        raise outside_scope(_("This code cannot be used; choose another"), "code")
    _read_at(row, existing)
    before = snapshot(existing)
    parent_code = _text(row, "parent")
    parent = _allocation(session, parent_code, scope, "parent") if parent_code else None
    saved = _field(
        "amount",
        save_allocation,
        session,
        policies,
        org=_org(session, row, "org", scope),
        year=row.get("year"),
        amount=row.get("amount"),
        code=_text(row, "code"),
        parent=parent,
        source_note=row.get("source_note"),
        allocation=existing,
    )
    return before, saved.row


def contribution_step(
    session: Session, policies: Policies, row: Row, scope: Org | None = None
) -> Change:
    """Create or update what a partner puts into a project."""
    project = _project(session, row, scope)
    partner = _field("partner", get_partner, session, _key(row, "partner"))
    kind = _field(
        "kind", parse_choice, ContributionKind, _text(row, "kind") or ContributionKind.CASH, "kind"
    )
    statement = select(Contribution).where(
        Contribution.project_id == project.id,
        Contribution.partner_id == partner.id,
        Contribution.kind == kind,
    )
    before = snapshot(session.exec(statement).scalars().first())
    return before, _field(
        "amount",
        set_contribution,
        session,
        project,
        partner,
        row.get("amount"),
        kind,
        row.get("note"),
    )


def _line_ends(session: Session, row: Row, scope: Org | None) -> tuple[Project, Allocation]:
    project = _project(session, row, scope)
    return project, _allocation(session, _key(row, "allocation"), scope, "allocation")


def funding_step(
    session: Session, policies: Policies, row: Row, scope: Org | None = None
) -> Change:
    """Create or update what a project draws from an allocation."""
    project, allocation = _line_ends(session, row, scope)
    try:
        existing = get_funding_line(session, project, allocation)
    except NotFound:
        existing = None
    _read_at(row, existing)
    before = snapshot(existing)
    return before, _field(
        "amount", draw, session, policies, project, allocation, row.get("amount")
    ).row


def payment_step(
    session: Session, policies: Policies, row: Row, scope: Org | None = None
) -> Change:
    """Create or update a payment by its voucher number."""
    project, allocation = _line_ends(session, row, scope)
    line = _field("allocation", get_funding_line, session, project, allocation)
    statement = select(Payment).where(Payment.voucher_no == _key(row, "voucher_no"))
    before = snapshot(session.exec(statement).scalars().first())
    saved = _field(
        "amount",
        record_payment,
        session,
        policies,
        line,
        paid_on=row.get("paid_on"),
        amount=row.get("amount"),
        voucher_no=_text(row, "voucher_no"),
        note=row.get("note"),
    )
    return before, saved.row


STEPS: dict[str, Step] = {
    "profiles": profile_step,
    "partners": partner_step,
    "contributions": contribution_step,
    "allocations": allocation_step,
    "funding": funding_step,
    "payments": payment_step,
}
