"""The project list: its filters as typed in a query, its sorted pages and the totals of a filtered set.

The web list, its workbook export and the API read the same parameters with the same parser
and list and total with the same statements, so the same query gives the same rows and totals
on every surface.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from cocon.errors import Invalid, NotFound
from cocon.filters import ProjectFilters, project_conditions
from cocon.i18n import _
from cocon.labels import parse_choice
from cocon.models import Category, Level, Org, Project, Status
from cocon.orgs import level_name, org_in_scope
from cocon.projects import parse_year
from cocon.scope import within

FILTER_PARAMS = ("year", "status", "category", "level", "under", "partner", "q")
LEVEL_KEYS = {level.name.lower(): int(level) for level in Level}
SORT_KEYS = ("code", "name", "budget", "funded", "year")


def parse_level(raw: str) -> int:
    """Read an org level by its key (district) or number (3)."""
    value = LEVEL_KEYS.get(raw.lower()) or (int(raw) if raw.isdecimal() else 0)
    if value not in LEVEL_KEYS.values():
        names = " / ".join(level_name(level) for level in Level)
        raise Invalid(_("Choose one of: {choices}").format(choices=names), field="level")
    return value


def parse_project_filters(
    session: Session, scope: Org, params: Mapping[str, str]
) -> tuple[ProjectFilters, int, dict[str, str]]:
    """Read a project list's filters, sorting and page from query parameters; collect errors by field.

    The web list, its workbook export and the API read their parameters here, so the same
    query keeps the same projects everywhere.
    """
    raw = {key: (params.get(key) or "").strip() for key in (*FILTER_PARAMS, "sort", "dir", "page")}
    errors: dict[str, str] = {}
    parsers = {
        "year": parse_year,
        "status": lambda text: parse_choice(Status, text, "status"),
        "category": lambda text: parse_choice(Category, text, "category"),
        "level": parse_level,
        "under": lambda text: org_in_scope(session, text, scope),
    }
    values: dict[str, Any] = {}
    for key, parse in parsers.items():
        if raw[key]:
            try:
                values[key] = parse(raw[key])
            except (Invalid, NotFound) as error:
                errors[key] = error.message
    page = int(raw["page"]) if raw["page"].isdecimal() and int(raw["page"]) > 0 else 1
    filters = ProjectFilters(
        **values,
        partner=raw["partner"][:200],
        text=raw["q"][:200],
        sort=raw["sort"] if raw["sort"] in SORT_KEYS else "code",
        descending=raw["dir"] == "desc",
    )
    return filters, page, errors


def funded_column(project=Project):
    """Return the SQL sum of a project's funding from every level and its partners."""
    return (
        project.drawn_l1_fen
        + project.drawn_l2_fen
        + project.drawn_l3_fen
        + project.drawn_l4_fen
        + project.drawn_l5_fen
        + project.partners_fen
    )


@dataclass(frozen=True)
class ProjectTotals:
    """Count and money of a whole filtered set of projects."""

    count: int
    budget: int
    funded: int
    paid: int


def _project_conditions(owner, scope: Org, filters: ProjectFilters) -> list:
    return [within(owner, scope), *project_conditions(filters, owner)]


def project_totals(session: Session, scope: Org, filters: ProjectFilters) -> ProjectTotals:
    """Count and sum budget, funding and payments over every project the filters keep."""
    owner = aliased(Org)
    statement = (
        select(
            func.count(Project.id),
            func.coalesce(func.sum(Project.budget_fen), 0),
            func.coalesce(func.sum(funded_column()), 0),
            func.coalesce(func.sum(Project.paid_fen), 0),
        )
        .join(owner, owner.id == Project.owner_id)
        .where(*_project_conditions(owner, scope, filters))
    )
    count, budget, funded, paid = session.execute(statement).one()
    return ProjectTotals(int(count), int(budget), int(funded), int(paid))


def project_rows(
    session: Session, scope: Org, filters: ProjectFilters, *, limit: int, offset: int = 0
) -> list[tuple[Project, Org, Org, int]]:
    """Return one page of the projects the filters keep, with owner, site and funding, sorted."""
    owner, site = aliased(Org), aliased(Org)
    key = {
        "code": Project.code,
        "name": Project.name,
        "budget": Project.budget_fen,
        "funded": funded_column(),
        "year": Project.year,
    }[filters.sort if filters.sort in SORT_KEYS else "code"]
    order = key.desc() if filters.descending else key.asc()
    statement = (
        select(Project, owner, site, funded_column())
        .join(owner, owner.id == Project.owner_id)
        .join(site, site.id == Project.site_id)
        .where(*_project_conditions(owner, scope, filters))
        .order_by(order, Project.code)
        .limit(limit)
        .offset(offset)
    )
    return [(p, o, s, int(f)) for p, o, s, f in session.execute(statement)]
