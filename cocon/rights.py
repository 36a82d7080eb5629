"""Roles and the rights each one holds: the one table every surface asks.

A user holds one role at one org; every right applies inside that org's subtree only. Every web
route names the right it needs (a route naming none is refused); the CLI is the server
operator's and holds every right.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from cocon.errors import Forbidden, Refused
from cocon.i18n import N_, _

if TYPE_CHECKING:
    from cocon.actors import Actor
    from cocon.models import Org


class Role(StrEnum):
    """What a user is there for (管理员 · 党建办 · 财务 · 只读)."""

    ADMIN = "admin"
    OFFICE = "office"
    FINANCE = "finance"
    VIEWER = "viewer"


class Right(StrEnum):
    """One thing a route or command may need."""

    PUBLIC = "public"  # no login: the login page, static files, the health check
    SIGNED_IN = "signed_in"  # any user: logout, their own password
    READ = "read"  # pages, rollups, charts, downloads of the figures
    SEE_CONTACTS = "see_contacts"  # partners' contact person and phone (where they work with us)
    EDIT = "edit"  # projects, partners, contributions, allocations, funding lines, profiles
    IMPORT = "import"
    CHANGE_STATUS = "change_status"  # the status buttons; each change needs its own right too
    SUBMIT = "submit"  # send a project up for review
    APPROVE = "approve"
    PAY = "pay"  # record and reverse payments
    EXPORT = "export"
    CHECK = "check"  # run the money checks
    MANAGE_USERS = "manage_users"
    AUDIT = "audit"  # read the audit trail of the subtree


_READING = {Right.SIGNED_IN, Right.READ, Right.EXPORT}
# Approving covers returning too; who may review which project is the level rule below.
_OFFICE = {Right.EDIT, Right.IMPORT, Right.CHANGE_STATUS, Right.SUBMIT, Right.APPROVE, Right.CHECK}
_FINANCE = {Right.CHANGE_STATUS, Right.APPROVE, Right.PAY, Right.CHECK, Right.AUDIT}
ROLE_RIGHTS: dict[Role, frozenset[Right]] = {
    Role.ADMIN: frozenset(Right) - {Right.PUBLIC},
    Role.OFFICE: frozenset(_READING | {Right.SEE_CONTACTS} | _OFFICE),
    Role.FINANCE: frozenset(_READING | {Right.SEE_CONTACTS} | _FINANCE),
    Role.VIEWER: frozenset(_READING),
}

ROLE_NAMES = {
    Role.ADMIN: N_("admin"),
    Role.OFFICE: N_("party-building office"),
    Role.FINANCE: N_("finance"),
    Role.VIEWER: N_("read only"),
}

# The right a status change needs: approving is a reviewer's, submitting the office's, the rest
# (starting, completing, cancelling, reopening, withdrawing) is the office's editing.
STATUS_RIGHTS = {"submitted": Right.SUBMIT, "approved": Right.APPROVE}


def may(role: Role | str | None, right: Right) -> bool:
    """Tell whether a role holds a right (no role holds any but the public one)."""
    if right is Right.PUBLIC:
        return True
    try:
        return right in ROLE_RIGHTS[Role(role)]
    except ValueError:
        return False


def status_right(to_status: str) -> Right:
    """Return the right that moving a project to to_status needs."""
    return STATUS_RIGHTS.get(to_status, Right.EDIT)


def role_name(role: Role | str) -> str:
    """Return the name of a role in the current language."""
    return _(ROLE_NAMES[Role(role)])


def parse_role(text: str) -> Role:
    """Read a role from its key or its name in either language."""
    from cocon.errors import Invalid

    cleaned = (text or "").strip().lower()
    for role in Role:
        if cleaned in (role.value, role_name(role).lower(), ROLE_NAMES[role].lower()):
            return role
    names = " / ".join(role.value for role in Role)
    raise Invalid(_("Choose one of: {choices}").format(choices=names), field="role")


# The review flow (五级联动审批): the owner org's office submits; an office or finance user of an
# org strictly above the owner reviews (approves, or returns for revision); a project owned at
# district level or higher may also be reviewed by a finance user of its own org. Admins hold
# every right of their subtree but obey the same levels. Nobody reviews a project they
# submitted or last saved (four eyes). The operator (the CLI) is exempt from all of it.
OWN_ORG_REVIEW_LEVEL = 3  # district (cocon.models.Level.DISTRICT) and the levels above it
REVIEWING_ROLES = frozenset({Role.ADMIN, Role.OFFICE, Role.FINANCE})
OWN_ORG_REVIEWING_ROLES = frozenset({Role.FINANCE})


def role_refusal(role: Role | str | None) -> Forbidden:
    """Return the refusal of an action a role does not hold the right to."""
    return Forbidden(
        _("Your role ({role}) may not do this; ask an administrator").format(
            role=role_name(role) if role else "—"
        )
    )


def _role_refusal(actor: Actor) -> Forbidden:
    return role_refusal(actor.role)


def may_submit(actor: Actor, owner: Org) -> Forbidden | None:
    """Return why actor may not submit a project owned by owner, or None if they may."""
    if actor.is_operator:
        return None
    if not actor.may(Right.SUBMIT):
        return _role_refusal(actor)
    if actor.org_id != owner.id:
        return Forbidden(_("A project is submitted by its owner org, not by the orgs above it"))
    return None


def is_strictly_above(org: Org | None, owner: Org) -> bool:
    """Tell whether org is an ancestor of owner (not owner itself)."""
    return org is not None and org.id != owner.id and owner.path.startswith(org.path)


def may_review(
    actor: Actor,
    actor_org: Org | None,
    owner: Org,
    submitted_by_id: int | None,
    last_edited_by_id: int | None,
) -> Forbidden | Refused | None:
    """Return why actor (of actor_org) may not approve or return owner's project, or None."""
    if actor.is_operator:
        return None
    role = Role(actor.role) if actor.role else None
    if not actor.may(Right.APPROVE) or role not in REVIEWING_ROLES:
        return _role_refusal(actor)
    own_org = (
        actor.org_id == owner.id
        and owner.level <= OWN_ORG_REVIEW_LEVEL
        and role in OWN_ORG_REVIEWING_ROLES
    )
    if not own_org and not is_strictly_above(actor_org, owner):
        return Forbidden(
            _(
                "A project is reviewed by an org above its owner (or, from district level up, by"
                " its owner's finance), not by yours"
            )
        )
    if actor.user_id is not None and actor.user_id == submitted_by_id:
        return Refused(_("You submitted this project: another user must review it (four eyes)"))
    if actor.user_id is not None and actor.user_id == last_edited_by_id:
        return Refused(_("You last edited this project: another user must review it (four eyes)"))
    return None


def may_confirm_payment(actor: Actor, recorded_by_id: int | None) -> Forbidden | Refused | None:
    """Return why actor may not give a payment its second signature, or None if they may."""
    if actor.is_operator:
        return None
    if not actor.may(Right.PAY):
        return _role_refusal(actor)
    if actor.user_id == recorded_by_id:
        return Refused(_("You recorded this payment: a second finance user must confirm it"))
    return None
