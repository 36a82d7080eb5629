"""A project as typed in a form or an API body: every field as text, checked together.

The web form and the API save a project through `save_form`, so both say the same about the
same input, field by field.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel import Session

from cocon.errors import Invalid, NotFound
from cocon.i18n import _
from cocon.models import Org, Project
from cocon.money import format_yuan
from cocon.orgs import org_in_scope
from cocon.projects import FieldErrors, ProjectInput, clean_project, save_project

FORM_FIELDS = (
    "code",
    "name",
    "owner",
    "site",
    "category",
    "year",
    "start_date",
    "end_date",
    "budget",
    "area_m2",
    "households_served",
    "description",
)


def form_values(data: Mapping[str, str]) -> dict[str, str]:
    """Keep what the user typed in each field of the project form."""
    return {key: str(data.get(key) or "").strip() for key in FORM_FIELDS}


def project_values(session: Session, project: Project) -> dict[str, str]:
    """Return a project's fields as the form shows them."""
    dates = {k: getattr(project, k) for k in ("start_date", "end_date")}
    return {
        "code": project.code,
        "name": project.name,
        "owner": session.get(Org, project.owner_id).code,
        "site": session.get(Org, project.site_id).code,
        "category": project.category,
        "year": str(project.year),
        **{k: d.isoformat() if d else "" for k, d in dates.items()},
        "budget": format_yuan(project.budget_fen, symbol=False),
        "area_m2": "" if project.area_m2 is None else str(project.area_m2),
        "households_served": (
            "" if project.households_served is None else str(project.households_served)
        ),
        "description": project.description or "",
        "version": str(project.version),
    }


def save_form(
    session: Session, scope: Org, values: dict[str, str], project: Project | None = None
) -> tuple[Project | None, dict[str, str]]:
    """Save the project form; return the project, or the errors by field (nothing saved)."""
    errors: dict[str, str] = {}
    orgs: dict[str, Org | None] = {"owner": None, "site": None}
    for field in orgs:
        if values[field]:
            try:
                orgs[field] = org_in_scope(session, values[field], scope)
            except (Invalid, NotFound) as error:
                errors[field] = error.message
    data = ProjectInput(**{**{k: v for k, v in values.items() if k != "version"}, **orgs})
    try:
        if errors:  # check the rest too, so every error shows at once, but save nothing
            clean_project(data, code_holder=None, project_id=None)
            return None, errors
        return save_project(session, data, project), {}
    except FieldErrors as error:
        errors = {**error.by_field(), **errors}
    except Invalid as error:
        errors = {error.field or "name": error.message, **errors}
    for field in ("category", "year"):  # left empty: say so rather than list what is valid
        if field in errors and not values[field]:
            errors[field] = _("This field is required")
    return None, errors
