"""Roles and the rights each one holds: the one table every surface asks.

A user holds one role at one org; every right applies inside that org's subtree only. Every web
route names the right it needs (a route naming none is refused); the CLI is the server
operator's and holds every right.
"""

from __future__ import annotations

from enum import StrEnum

from cocon.i18n import _
from cocon.labels import N_


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


_READING = {Right.SIGNED_IN, Right.READ, Right.EXPORT}
_OFFICE = {Right.EDIT, Right.IMPORT, Right.CHANGE_STATUS, Right.SUBMIT, Right.CHECK}
_FINANCE = {Right.CHANGE_STATUS, Right.APPROVE, Right.PAY, Right.CHECK}
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

# The right a status change needs: approving is finance's, submitting the office's, the rest
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
