"""Partner units: the organizations outside the hierarchy that co-build projects."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlmodel import Session

from cocon.creditcode import validate_credit_code
from cocon.errors import Invalid, NotFound, Refused
from cocon.fields import clean_text
from cocon.i18n import _
from cocon.labels import parse_choice
from cocon.models import Contribution, Org, Partner, PartnerKind, Project
from cocon.scope import org_within


def clean_phone(raw: object) -> str | None:
    """Accept a phone number of digits with optional +, spaces and dashes."""
    text = clean_text(raw, "phone", limit=30)
    if text is None:
        return None
    digits = text.replace(" ", "").replace("-", "").removeprefix("+")
    if not digits.isdigit() or not 5 <= len(digits) <= 20:
        raise Invalid(
            _("'{value}' is not a phone number, e.g. 0571-88888888").format(value=text),
            field="phone",
        )
    return text


def find_partner(session: Session, credit_code: str) -> Partner | None:
    """Return the partner with this credit code, or None."""
    return session.exec(select(Partner).where(Partner.credit_code == credit_code)).scalars().first()


def get_partner(session: Session, key: str) -> Partner:
    """Return a partner by credit code, or by exact name if unique."""
    text = str(key).strip()
    partner = find_partner(session, text.upper())
    if partner is None:
        matches = session.exec(select(Partner).where(Partner.name == text).limit(2)).scalars().all()
        partner = matches[0] if len(matches) == 1 else None
    if partner is None:
        raise NotFound(_("No partner unit {key}").format(key=text))
    return partner


def save_partner(
    session: Session,
    *,
    credit_code: str,
    name: str,
    kind: str,
    contact: str | None = None,
    phone: str | None = None,
    partner: Partner | None = None,
) -> Partner:
    """Create a partner, or update the one given; the credit code stays unique."""
    values = {
        "credit_code": _checked(lambda: validate_credit_code(credit_code), "credit_code"),
        "name": clean_text(name, "name", required=True),
        "kind": parse_choice(PartnerKind, kind, "kind"),
        "contact": clean_text(contact, "contact", limit=50),
        "phone": clean_phone(phone),
    }
    other = find_partner(session, values["credit_code"])
    if other is not None and (partner is None or other.id != partner.id):
        raise Invalid(
            _("The credit code {code} belongs to {name} already").format(
                code=values["credit_code"], name=other.name
            ),
            field="credit_code",
        )
    partner = partner or Partner()
    for key, value in values.items():
        setattr(partner, key, value)
    session.add(partner)
    session.flush()
    return partner


def _checked(parse, field: str):
    try:
        return parse()
    except Invalid as error:
        raise Invalid(error.message, field=field) from None


def list_partners(
    session: Session, query: str = "", *, limit: int = 200, offset: int = 0
) -> list[Partner]:
    """List partners by name, optionally those whose name or code contains query."""
    statement = select(Partner).order_by(Partner.name)
    if query.strip():
        text = query.strip()
        statement = statement.where(
            or_(
                Partner.name.contains(text, autoescape=True),
                Partner.credit_code.contains(text.upper(), autoescape=True),
            )
        )
    return list(session.exec(statement.limit(limit).offset(offset)).scalars())


def count_partners(session: Session) -> int:
    """Count all partners."""
    return session.exec(select(func.count()).select_from(Partner)).scalar_one()


def partners_working_in(session: Session, root: Org, partner_ids: list[int]) -> set[int]:
    """Return which of the partners contribute to a project owned in root's subtree.

    Their contact person and phone are shown to the users of that subtree (who work with
    them), and to nobody else: partners are shared across the tree, their people are not.
    """
    if not partner_ids:
        return set()
    statement = (
        select(Contribution.partner_id)
        .join(Project, Project.id == Contribution.project_id)
        .join(Org, Org.id == Project.owner_id)
        .where(Contribution.partner_id.in_(partner_ids), org_within(root))
        .distinct()
    )
    return set(session.execute(statement).scalars())


def contributes_outside(session: Session, partner: Partner, root: Org) -> bool:
    """Tell whether the partner contributes to a project owned outside root's subtree."""
    statement = (
        select(Contribution.id)
        .join(Project, Project.id == Contribution.project_id)
        .join(Org, Org.id == Project.owner_id)
        .where(Contribution.partner_id == partner.id, ~org_within(root))
        .limit(1)
    )
    return session.execute(statement).first() is not None


def check_partner_editable(session: Session, partner: Partner, root: Org) -> None:
    """Refuse to change a partner that also works for orgs outside root's subtree."""
    if contributes_outside(session, partner, root):
        raise Refused(
            _(
                "This partner unit also contributes to projects outside your part of the tree:"
                " only an office above all of them may change it"
            )
        )
