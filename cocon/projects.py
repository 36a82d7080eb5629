"""Co-construction projects: their fields, status transitions and partner contributions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from cocon.actors import actor_of
from cocon.checks import DEFAULT, Policies
from cocon.derived import refresh_project
from cocon.errors import Invalid, NotFound, Refused
from cocon.fields import (
    FieldErrors,
    clean_code,
    clean_text,
    collect,
    parse_amount,
    parse_count,
    parse_date,
    parse_year,
)
from cocon.i18n import _
from cocon.labels import label, parse_choice
from cocon.models import (
    Category,
    Contribution,
    ContributionKind,
    Level,
    Org,
    Partner,
    Project,
    Status,
)
from cocon.orgs import is_within
from cocon.review import check_change, log_change
from cocon.scope import within

TRANSITIONS: dict[Status, tuple[Status, ...]] = {
    Status.DRAFT: (Status.SUBMITTED, Status.CANCELLED),
    Status.SUBMITTED: (Status.APPROVED, Status.DRAFT, Status.CANCELLED),
    Status.APPROVED: (Status.IN_PROGRESS, Status.CANCELLED),
    Status.IN_PROGRESS: (Status.COMPLETED, Status.CANCELLED),
    Status.COMPLETED: (),
    Status.CANCELLED: (Status.DRAFT,),
}
# The way from draft to each status: an import walks a project on from wherever it stands.
_FORWARD = (Status.DRAFT, Status.SUBMITTED, Status.APPROVED, Status.IN_PROGRESS, Status.COMPLETED)
STATUS_PATHS: dict[Status, tuple[Status, ...]] = {
    **{status: _FORWARD[: i + 1] for i, status in enumerate(_FORWARD)},
    Status.CANCELLED: (Status.DRAFT, Status.SUBMITTED, Status.CANCELLED),
}


@dataclass
class ProjectInput:
    """What a user types for a project, before checking."""

    name: object = None
    owner: Org | None = None
    site: Org | None = None
    category: object = None
    year: object = None
    start_date: object = None
    end_date: object = None
    budget: object = None
    area_m2: object = None
    households_served: object = None
    description: object = None
    code: object = None


def next_project_code(session: Session, owner: Org, year: int) -> str:
    """Return the next free code of the form <owner code>-<year>-NNN."""
    prefix = f"{owner.code}-{year}-"
    taken = session.exec(
        select(func.count()).select_from(Project).where(Project.code.startswith(prefix))
    ).scalar_one()
    number = taken + 1
    while session.exec(select(Project.id).where(Project.code == f"{prefix}{number:03d}")).first():
        number += 1
    return f"{prefix}{number:03d}"


def find_project(session: Session, code: str) -> Project | None:
    """Return the project with this code, or None."""
    return session.exec(select(Project).where(Project.code == str(code).strip())).scalars().first()


def get_project(session: Session, code: str, scope: Org | None = None) -> Project:
    """Return the project with this code within scope, or raise NotFound."""
    project = find_project(session, code)
    if project is None or (
        scope is not None and not is_within(session.get(Org, project.owner_id), scope)
    ):
        raise NotFound(_("No project has the code {code}").format(code=str(code).strip()))
    return project


def _budget(value: object) -> int:
    try:
        return parse_amount(value if value not in (None, "") else "0")
    except Invalid as error:
        raise Invalid(error.message, field="budget") from None


def clean_project(data: ProjectInput, *, code_holder: int | None, project_id: int | None) -> dict:
    """Check every field of a project and return the values to store; raise FieldErrors.

    code_holder is the id of the project that already has data.code, if any.
    """
    errors: list[Invalid] = []
    values = {
        "name": collect(errors, clean_text, data.name, "name", required=True),
        "category": collect(errors, parse_choice, Category, data.category, "category"),
        "year": collect(errors, parse_year, data.year),
        "start_date": collect(errors, parse_date, data.start_date, "start_date"),
        "end_date": collect(errors, parse_date, data.end_date, "end_date"),
        "budget_fen": collect(errors, _budget, data.budget),
        "area_m2": collect(errors, parse_count, data.area_m2, "area_m2"),
        "households_served": collect(
            errors, parse_count, data.households_served, "households_served"
        ),
        "description": collect(
            errors, clean_text, data.description, "description", limit=4000, multiline=True
        ),
    }
    code = collect(errors, clean_code, data.code) if data.code not in (None, "") else None
    if data.owner is None:
        errors.append(Invalid(_("Choose the org that leads the project"), field="owner"))
    if data.site is None:
        errors.append(Invalid(_("Choose the community where the project is sited"), field="site"))
    elif data.site.level != Level.COMMUNITY:
        errors.append(Invalid(_("The site must be a community"), field="site"))
    elif data.owner is not None and not is_within(data.site, data.owner):
        errors.append(
            Invalid(
                _("{site} is not within {owner}: a project is sited in its owner's subtree").format(
                    site=data.site.name, owner=data.owner.name
                ),
                field="site",
            )
        )
    start, end = values["start_date"], values["end_date"]
    if start and end and end < start:
        errors.append(Invalid(_("The end date is before the start date"), field="end_date"))
    if code and code_holder is not None and code_holder != project_id:
        errors.append(Invalid(_("This code cannot be used; choose another"), field="code"))
    if errors:
        raise FieldErrors(errors)
    values["owner_id"] = data.owner.id
    values["site_id"], values["site_level"] = data.site.id, data.site.level
    if code:
        values["code"] = code
    return values


def save_project(session: Session, data: ProjectInput, project: Project | None = None) -> Project:
    """Create a project, or update the one given, after checking every field."""
    holder = find_project(session, str(data.code).strip()) if data.code not in (None, "") else None
    values = clean_project(
        data, code_holder=holder.id if holder else None, project_id=project.id if project else None
    )
    new = project is None
    if new:
        code = values.get("code") or next_project_code(session, data.owner, values["year"])
        project = Project(code=code, status=Status.DRAFT.value)
    for key, value in values.items():
        setattr(project, key, value)
    project.last_edited_by_id = actor_of(session).user_id
    session.add(project)
    session.flush()
    if new:
        log_change(session, project, None, Status(project.status))
    refresh_project(session, project.id)
    return project


def check_transition(current: object, target: object) -> None:
    """Refuse a status change that makes no sense, naming the ones that do."""
    current, target = Status(current), Status(target)
    if target not in TRANSITIONS[current]:
        allowed = " / ".join(label(Status, s) for s in TRANSITIONS[current]) or _("none")
        raise Refused(
            _(
                "A project that is {current} cannot become {target}; it can become: {allowed}"
            ).format(current=label(Status, current), target=label(Status, target), allowed=allowed)
        )


def status_path(current: object, target: object) -> list[Status]:
    """Return the steps that take a project from current to target status, each one allowed."""
    current, target = Status(current), Status(target)
    path = STATUS_PATHS[target]
    steps = list(path[path.index(current) + 1 :]) if current in path else [target]
    previous = current
    for step in steps:
        check_transition(previous, step)
        previous = step
    return steps


def change_status(
    session: Session,
    project: Project,
    to_status: object,
    note: str | None = None,
    policies: Policies = DEFAULT,
) -> Project:
    """Move a project to a new status if the transition and the review rule allow it."""
    target = Status(parse_choice(Status, to_status, "status"))
    current = Status(project.status)
    check_transition(current, target)
    text = clean_text(note, "note")
    check_change(session, project, current, target, policies)
    log_change(session, project, current, target, text)
    project.status = target.value
    session.add(project)
    refresh_project(session, project.id)
    return project


def set_contribution(
    session: Session,
    project: Project,
    partner: Partner,
    amount: object,
    kind: object = "cash",
    note: str | None = None,
) -> Contribution:
    """Record what a partner puts into a project (cash or in kind), replacing an earlier figure."""
    kind_value = parse_choice(ContributionKind, kind or "cash", "kind")
    fen = parse_amount(amount, allow_zero=False)
    if fen == 0:
        raise Invalid(_("A contribution must be more than zero"), field="amount")
    # Lock the project (PostgreSQL) so parallel draws, payments and contributions see each
    # other's rows when they recompute its figures.
    session.exec(
        select(Project)
        .where(Project.id == project.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).scalars().one()
    statement = select(Contribution).where(
        Contribution.project_id == project.id,
        Contribution.partner_id == partner.id,
        Contribution.kind == kind_value,
    )
    contribution = session.exec(statement).scalars().first() or Contribution(
        project_id=project.id, partner_id=partner.id, kind=kind_value, amount_fen=fen
    )
    contribution.amount_fen = fen
    contribution.note = clean_text(note, "note")
    session.add(contribution)
    refresh_project(session, project.id)
    return contribution


def contributions_of(session: Session, project: Project) -> list[tuple[Contribution, Partner]]:
    """Return the project's contributions with their partners."""
    statement = (
        select(Contribution, Partner)
        .join(Partner, Partner.id == Contribution.partner_id)
        .where(Contribution.project_id == project.id)
        .order_by(Partner.name)
    )
    return [(c, p) for c, p in session.execute(statement)]


def list_projects(
    session: Session,
    *,
    scope: Org | None = None,
    year: int | None = None,
    status: object = None,
    category: object = None,
    text: str = "",
    limit: int | None = None,
    offset: int = 0,
) -> list[tuple[Project, Org, Org]]:
    """List projects owned in scope, filtered, with their owner and site, by code."""
    owner, site = aliased(Org), aliased(Org)
    statement = (
        select(Project, owner, site)
        .join(owner, owner.id == Project.owner_id)
        .join(site, site.id == Project.site_id)
        .where(within(owner, scope))
        .order_by(Project.code)
    )
    if year is not None:
        statement = statement.where(Project.year == year)
    if status:
        statement = statement.where(Project.status == parse_choice(Status, status, "status"))
    if category:
        statement = statement.where(
            Project.category == parse_choice(Category, category, "category")
        )
    if text.strip():
        needle = text.strip()
        statement = statement.where(
            or_(
                Project.name.contains(needle, autoescape=True),
                Project.code.contains(needle, autoescape=True),
            )
        )
    if limit is not None:
        statement = statement.limit(limit).offset(offset)
    return [tuple(row) for row in session.execute(statement)]
