"""What a list of projects can be narrowed to, as SQL conditions.

The project list page and finance's workbook export narrow projects by the same rules, so a
download of a filtered list holds exactly the projects the list shows: one definition, here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import aliased

from cocon.models import Contribution, Org, Partner, Project
from cocon.scope import within


@dataclass(frozen=True)
class ProjectFilters:
    """What the project list is narrowed to (None or "" means no filter) and sorted by."""

    year: int | None = None
    status: str | None = None
    category: str | None = None
    level: int | None = None
    under: Org | None = None
    partner: str = ""
    text: str = ""
    sort: str = "code"
    descending: bool = False


def project_conditions(filters: ProjectFilters, owner=None) -> list:
    """Return the conditions on Project that keep what filters keep (sorting aside).

    owner is the project's owner org table when the statement joins it already; without it
    the owner's place and level are checked by subqueries, so the conditions fit any
    statement that reads Project.
    """
    conditions: list = []
    if filters.year is not None:
        conditions.append(Project.year == filters.year)
    if filters.status:
        conditions.append(Project.status == filters.status)
    if filters.category:
        conditions.append(Project.category == filters.category)
    if filters.under is not None or filters.level is not None:
        # An alias of our own: a plain Org in the outer statement would be correlated away.
        table = owner if owner is not None else aliased(Org)
        on_owner = []
        if filters.under is not None:
            on_owner.append(within(table, filters.under))
        if filters.level is not None:
            on_owner.append(table.level == filters.level)
        if owner is not None:
            conditions += on_owner
        else:
            conditions.append(Project.owner_id.in_(select(table.id).where(*on_owner)))
    if filters.text:
        conditions.append(
            or_(
                Project.name.contains(filters.text, autoescape=True),
                Project.code.contains(filters.text, autoescape=True),
            )
        )
    if filters.partner:
        # Aliases again: the export lists contributions, whose table must not be correlated.
        contribution, partner = aliased(Contribution), aliased(Partner)
        conditions.append(
            exists(
                select(contribution.id)
                .join(partner, partner.id == contribution.partner_id)
                .where(
                    contribution.project_id == Project.id,
                    or_(
                        partner.credit_code == filters.partner.upper(),
                        partner.name.contains(filters.partner, autoescape=True),
                    ),
                )
            )
        )
    return conditions
