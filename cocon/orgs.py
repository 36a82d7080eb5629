"""The five-level org tree: code forms, parent rules, subtree queries, moving and deleting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlmodel import Session

from cocon.errors import Invalid, NotFound, Refused
from cocon.fields import refuse_control_characters
from cocon.i18n import _
from cocon.models import CODE_LENGTHS, Allocation, Level, Org, Project

LEVEL_BY_LENGTH = {length: level for level, length in CODE_LENGTHS.items()}
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
# No division code begins 00 (provinces run from 11 to 82): the import template's example
# community uses such a code, so no org may take one.
EXAMPLE_ORG_PREFIX = "00"


def level_name(level: int) -> str:
    """Return the translated name of a level."""
    names = {
        Level.PROVINCE: _("province"),
        Level.CITY: _("city"),
        Level.DISTRICT: _("district"),
        Level.STREET: _("street"),
        Level.COMMUNITY: _("community"),
    }
    return names[Level(level)]


def clean_code(raw: str) -> str:
    """Strip a typed code and check that it is digits of a level's length (or 12, padded)."""
    code = str(raw).strip().translate(_FULL_WIDTH_DIGITS)
    if not code.isdigit() or len(code) not in LEVEL_BY_LENGTH:
        raise Invalid(
            _("'{code}' is not a division code: write 2, 4, 6, 9 or 12 digits, e.g. 330105").format(
                code=raw
            ),
            field="code",
        )
    return code


def code_candidates(code: str) -> list[str]:
    """List the codes a typed code may name, most specific first (330105000000 → 330105)."""
    candidates = [code]
    for length in (9, 6, 4, 2):
        if length < len(code) and set(code[length:]) == {"0"}:
            candidates.append(code[:length])
    return candidates


def level_of_code(code: str) -> Level:
    """Return the level an unpadded code's length stands for."""
    return LEVEL_BY_LENGTH[len(code)]


def subtree_bounds(path: str) -> tuple[str, str]:
    """Return the index range [low, high) of the paths under path (inclusive)."""
    # Every path ends in '/', and '0' is the character right after '/'.
    return path, path[:-1] + "0"


def subtree_condition(path: str, column: ColumnElement | None = None) -> ColumnElement[bool]:
    """Select rows whose path lies under path (inclusive) as one index range."""
    column = Org.path if column is None else column
    low, high = subtree_bounds(path)
    return and_(column >= low, column < high)


def child_path(parent: Org | None, code: str) -> str:
    """Return the path of an org with code under parent."""
    return (parent.path if parent else "/") + code + "/"


def find_org(session: Session, raw_code: str) -> Org | None:
    """Find the org a code names in any of its forms, or None."""
    candidates = code_candidates(clean_code(raw_code))
    found = {
        org.code: org for org in session.exec(select(Org).where(Org.code.in_(candidates))).scalars()
    }
    return next((found[c] for c in candidates if c in found), None)


def get_org(session: Session, raw_code: str) -> Org:
    """Return the org a code names, or raise NotFound."""
    org = find_org(session, raw_code)
    if org is None:
        raise NotFound(_("No org has the code {code}").format(code=str(raw_code).strip()))
    return org


def resolve_org(session: Session, text: str) -> Org:
    """Return the org named by a code in any form or by a unique name."""
    stripped = str(text).strip()
    if stripped.translate(_FULL_WIDTH_DIGITS).isdigit():
        return get_org(session, stripped)
    matches = session.exec(select(Org).where(Org.name == stripped).limit(2)).scalars().all()
    if not matches:
        raise NotFound(_("No org is named {name}").format(name=stripped))
    if len(matches) > 1:
        raise Invalid(
            _("More than one org is named {name}: give its code instead").format(name=stripped)
        )
    return matches[0]


def search_orgs(
    session: Session, query: str, *, within: Org | None = None, limit: int = 20
) -> list[Org]:
    """Find orgs whose name contains query or whose code starts with it."""
    text = query.strip()
    if not text:
        return []
    digits = text.translate(_FULL_WIDTH_DIGITS)
    condition = Org.name.contains(text, autoescape=True)
    if digits.isdigit():
        condition = or_(
            condition,
            Org.code.in_(code_candidates(digits) if len(digits) in LEVEL_BY_LENGTH else []),
            Org.code.startswith(digits),
        )
    statement = select(Org).where(condition)
    if within is not None:
        statement = statement.where(subtree_condition(within.path))
    return list(session.exec(statement.order_by(Org.level, Org.code).limit(limit)).scalars())


def ancestors(session: Session, org: Org) -> list[Org]:
    """Return the org's ancestors from the province down, without the org itself."""
    codes = org.path.strip("/").split("/")[:-1]
    if not codes:
        return []
    rows = session.exec(select(Org).where(Org.code.in_(codes))).scalars()
    return sorted(rows, key=lambda o: o.level)


def breadcrumb(session: Session, org: Org) -> list[Org]:
    """Return the chain from the province down to org, inclusive."""
    return [*ancestors(session, org), org]


def children(session: Session, org: Org) -> list[Org]:
    """Return the org's direct children ordered by code."""
    return list(
        session.exec(select(Org).where(Org.parent_id == org.id).order_by(Org.code)).scalars()
    )


def count_descendants(session: Session, org: Org) -> int:
    """Count the orgs under org."""
    total = session.exec(
        select(func.count()).select_from(Org).where(subtree_condition(org.path))
    ).scalar_one()
    return total - 1


def is_within(org: Org, scope: Org | None) -> bool:
    """Tell whether org lies in the subtree of scope (everything is within no scope)."""
    return scope is None or org.path.startswith(scope.path)


def org_in_scope(session: Session, code: str, scope: Org) -> Org:
    """Return the org with code if it lies in scope; outside it reads as not found."""
    org = get_org(session, code)
    if not is_within(org, scope):
        raise NotFound(_("No org has the code {code}").format(code=code.strip()))
    return org


def _check_parent(code: str, parent: Org | None) -> Level:
    level = level_of_code(code)
    if level == Level.PROVINCE:
        if parent is not None:
            raise Invalid(_("A province has no parent"), field="parent")
        return level
    if parent is None:
        raise Invalid(
            _("A {level} needs a parent {parent_level}").format(
                level=level_name(level), parent_level=level_name(level - 1)
            ),
            field="parent",
        )
    if parent.level != level - 1:
        raise Invalid(
            _(
                "The parent of a {level} must be a {parent_level}, but {parent} is a {actual}"
            ).format(
                level=level_name(level),
                parent_level=level_name(level - 1),
                parent=f"{parent.name} ({parent.code})",
                actual=level_name(parent.level),
            ),
            field="parent",
        )
    return level


def clean_name(raw: str) -> str:
    """Strip an org name and check that it is present and not too long."""
    name = str(raw or "").strip()
    if not name:
        raise Invalid(_("The name is missing"), field="name")
    if len(name) > 100:
        raise Invalid(_("The name is longer than 100 characters"), field="name")
    return refuse_control_characters(name, "name")


def create_org(session: Session, raw_code: str, name: str, parent_code: str | None = None) -> Org:
    """Add an org under its parent, checking the code form and the level rule."""
    code = clean_code(raw_code)
    if code.startswith(EXAMPLE_ORG_PREFIX):
        raise Invalid(
            _("{code} is not a division code: none begins with {prefix}").format(
                code=code, prefix=EXAMPLE_ORG_PREFIX
            ),
            field="code",
        )
    padded = len(code) == 12 and len(code_candidates(code)) > 1
    if padded and find_org(session, code) is None:
        # A padded form such as 330105000000 names a higher level, not a new community.
        raise Invalid(
            _("{code} is a padded code: write it without the trailing zeros").format(code=code)
        )
    # Only the exact code is taken: district 441900 may sit under city 4419.
    taken = select(Org.id).where(Org.code == code)
    if padded or session.exec(taken).first() is not None:
        raise Invalid(
            _("An org with the code {code} exists already").format(code=code), field="code"
        )
    parent = get_org(session, parent_code) if parent_code else None
    level = _check_parent(code, parent)
    org = Org(
        code=code,
        name=clean_name(name),
        level=int(level),
        parent_id=parent.id if parent else None,
        parent_level=parent.level if parent else None,
        path=child_path(parent, code),
    )
    session.add(org)
    session.flush()
    return org


def rename_org(session: Session, org: Org, name: str) -> Org:
    """Give org a new name."""
    org.name = clean_name(name)
    session.add(org)
    session.flush()
    return org


def move_org(session: Session, org: Org, new_parent: Org) -> Org:
    """Put org under a new parent of the same level; its whole subtree moves with it."""
    _check_parent(org.code, new_parent)
    if new_parent.path.startswith(org.path):
        raise Invalid(_("An org cannot move under itself"), field="parent")
    old_path, new_path = org.path, child_path(new_parent, org.code)
    session.flush()
    session.execute(
        update(Org)
        .where(subtree_condition(old_path))
        .values(path=new_path + func.substr(Org.path, len(old_path) + 1))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Org)
        .where(Org.id == org.id)
        .values(parent_id=new_parent.id, parent_level=new_parent.level)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return session.get(Org, org.id)


def delete_org(session: Session, org: Org) -> None:
    """Delete an org that has no children and nothing attached, or say why not."""
    count = session.exec(
        select(func.count()).select_from(Org).where(Org.parent_id == org.id)
    ).scalar_one()
    if count:
        raise Refused(
            _("{name} ({code}) has {count} child orgs: move or delete them first").format(
                name=org.name, code=org.code, count=count
            )
        )
    attached = _money_attached(session, org)
    if attached:
        raise Refused(
            _("{name} ({code}) has money attached ({attached}): it cannot be deleted").format(
                name=org.name, code=org.code, attached=attached
            )
        )
    session.delete(org)
    session.flush()


def _money_attached(session: Session, org: Org) -> str:
    """Say what projects and allocations refer to org, or return ''."""
    projects = session.exec(
        select(func.count())
        .select_from(Project)
        .where(or_(Project.owner_id == org.id, Project.site_id == org.id))
    ).scalar_one()
    allocations = session.exec(
        select(func.count()).select_from(Allocation).where(Allocation.org_id == org.id)
    ).scalar_one()
    parts = []
    if projects:
        parts.append(_("{count} projects").format(count=projects))
    if allocations:
        parts.append(_("{count} allocations").format(count=allocations))
    return ", ".join(parts)


@dataclass(frozen=True)
class TreeNode:
    """One org in a printed tree, with how deep it sits and how many orgs lie under it."""

    org: Org
    depth: int
    descendants: int


def path_length(level: int) -> int:
    """Return the length of the path of any org at level ('/33/' is 4, '/33/3301/' is 9, …)."""
    return 1 + sum(CODE_LENGTHS[Level(lv)] + 1 for lv in range(1, level + 1))


def subtree(session: Session, root: Org | None, *, depth: int | None = None) -> list[TreeNode]:
    """List the orgs under root (all provinces without one) in tree order with their counts."""
    top = root.level if root is not None else Level.PROVINCE
    bottom = Level.COMMUNITY if depth is None else min(Level.COMMUNITY, top + depth)
    within = subtree_condition(root.path) if root is not None else Org.path.is_not(None)
    statement = select(Org).where(within, Org.level <= bottom).order_by(Org.path)
    orgs: Sequence[Org] = session.exec(statement).scalars().all()
    counts: dict[str, int] = {}
    for level in range(top, bottom + 1):
        prefix = func.substr(Org.path, 1, path_length(level))
        grouped = select(prefix, func.count()).where(within, Org.level >= level).group_by(prefix)
        counts.update({path: total - 1 for path, total in session.execute(grouped)})
    return [
        TreeNode(org=org, depth=org.level - top, descendants=counts.get(org.path, 0))
        for org in orgs
    ]
