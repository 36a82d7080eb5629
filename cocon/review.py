"""The review flow by level (五级联动审批): submit, approve, return for revision, and who waits.

The rule of who may do what lives in cocon.rights (may_submit, may_review) next to the role
table; this module applies it to projects, reads who submitted a project from its status
history, and gathers what the project page and the dashboard show of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache

from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlmodel import Session

from cocon.actors import Actor, actor_of
from cocon.checks import Blocked, Finding, Policies, Rule
from cocon.derived import refresh_project
from cocon.errors import CoconError, Invalid, Refused
from cocon.fields import clean_text
from cocon.i18n import _
from cocon.models import FundingLine, Org, Project, Status, StatusChange
from cocon.rights import OWN_ORG_REVIEW_LEVEL, Right, may_review, may_submit
from cocon.rules import funded, gap_message, gap_template, has_gap
from cocon.scope import scope_params, within_scope

BEIJING = timezone(timedelta(hours=8))
# Candidates the waiting list looks at per section, before the rule sorts out the ones it shows.
WAITING_LIMIT = 50


def org_of(session: Session, actor: Actor) -> Org | None:
    """Return the org the actor belongs to (None for the operator)."""
    return session.get(Org, actor.org_id) if actor.org_id is not None else None


def submitted_by_id(session: Session, project: Project) -> int | None:
    """Return the user who last submitted the project (None: nobody, or the operator)."""
    return session.execute(_last_submission(), {"project_id": project.id}).scalar()


@cache
def _last_submission() -> Select:
    # Built once: the waiting list asks for every project it looks at.
    return (
        select(StatusChange.changed_by_id)
        .where(
            StatusChange.project_id == bindparam("project_id"),
            StatusChange.to_status == Status.SUBMITTED.value,
        )
        .order_by(StatusChange.id.desc())
        .limit(1)
    )


def review_refusal(session: Session, project: Project, actor: Actor | None = None) -> CoconError | None:
    """Return why the actor may not approve or return the project now, or None if they may."""
    actor = actor or actor_of(session)
    owner = session.get(Org, project.owner_id)
    return may_review(
        actor,
        org_of(session, actor),
        owner,
        submitted_by_id(session, project),
        project.last_edited_by_id,
    )


def submit_refusal(session: Session, project: Project, actor: Actor | None = None) -> CoconError | None:
    """Return why the actor may not submit (or withdraw) the project, or None if they may."""
    return may_submit(actor or actor_of(session), session.get(Org, project.owner_id))


def check_change(
    session: Session, project: Project, current: Status, target: Status, policies: Policies
) -> list[Finding]:
    """Refuse a status change the review rule does not allow; return the approval's warnings.

    Approving runs the money checks as if the project were approved: a blocking one refuses.
    """
    refusal = None
    if target == Status.SUBMITTED or (current, target) == (Status.SUBMITTED, Status.DRAFT):
        refusal = submit_refusal(session, project)
    elif target == Status.APPROVED:
        refusal = review_refusal(session, project)
    if refusal is not None:
        raise refusal
    if target != Status.APPROVED:
        return []
    findings = approval_findings(session, org_of(session, actor_of(session)), policies, project)
    for finding in findings:
        if policies.blocks(finding.rule):
            raise Blocked(finding)
    return findings


def approval_findings(
    session: Session, scope: Org | None, policies: Policies, project: Project
) -> list[Finding]:
    """Return the money checks that fail on the project once approved, as the reviewer sees them.

    A gap counts only from approval on, so a submitted project's gap is worded here; the
    allocations it draws on are checked where scope holds them (no others are named).
    """
    from cocon.findings import allocation_findings, project_findings

    findings = project_findings(session, None, None, policies, project_ids=[project.id])
    money = funded(project)
    now_gap = has_gap(project.status, project.budget_fen, money)
    if not now_gap and has_gap(Status.APPROVED.value, project.budget_fen, money):
        message = gap_message(gap_template(), project.code, money, project.budget_fen)
        rule = Rule.FUNDING_VS_BUDGET
        findings.append(
            Finding(
                rule,
                policies.of(rule),
                project.code,
                project.owner_id,
                message,
                project.budget_fen - money,
            )
        )
    held = [
        allocation_id
        for (allocation_id,) in session.execute(
            select(FundingLine.allocation_id).where(FundingLine.project_id == project.id)
        )
    ]
    if held:
        findings += allocation_findings(session, scope, None, policies, allocation_ids=held)
    return findings


def return_project(session: Session, project: Project, reason: object) -> Project:
    """Send a submitted project back to draft for revision, with the reason (退回修改)."""
    if Status(project.status) != Status.SUBMITTED:
        raise Refused(_("Only a submitted project can be returned for revision"))
    text = clean_text(reason, "reason", required=True)
    if not text:
        raise Invalid(_("Give the reason for returning the project"), field="reason")
    refusal = review_refusal(session, project)
    if refusal is not None:
        raise refusal
    log_change(session, project, Status.SUBMITTED, Status.DRAFT, text, returned=True)
    project.status = Status.DRAFT.value
    session.add(project)
    refresh_project(session, project.id)
    return project


def log_change(
    session: Session,
    project: Project,
    current: Status | None,
    target: Status,
    note: str | None = None,
    returned: bool = False,
) -> None:
    """Add a step to the project's status history, naming who acts."""
    actor = actor_of(session)
    session.add(
        StatusChange(
            project_id=project.id,
            from_status=current.value if current else None,
            to_status=target.value,
            changed_at=datetime.now(UTC),
            note=note,
            changed_by=actor.name,
            changed_by_id=actor.user_id,
            returned=returned,
        )
    )


def entry_step(change: type[StatusChange] = StatusChange) -> ColumnElement[bool]:
    """Return the condition of the status step that logs a project's entry (from no status).

    Its time is when the project was entered, whether by the form, the CLI or an import;
    change may be an alias of StatusChange.
    """
    return change.from_status.is_(None)


def status_history(session: Session, project: Project) -> list[StatusChange]:
    """Return the project's status changes, oldest first."""
    statement = (
        select(StatusChange).where(StatusChange.project_id == project.id).order_by(StatusChange.id)
    )
    return list(session.exec(statement).scalars())


def beijing_date(moment: datetime) -> date:
    """Return the day a stored UTC moment falls on in China (UTC+8)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(BEIJING).date()


def _latest_changes():
    """Return a subquery of each project's latest status change id."""
    return (
        select(StatusChange.project_id, func.max(StatusChange.id).label("last_id"))
        .group_by(StatusChange.project_id)
        .subquery()
    )


def latest_return(session: Session, project: Project) -> StatusChange | None:
    """Return the return that put a draft project back, until it is submitted again."""
    if Status(project.status) != Status.DRAFT:
        return None
    last = session.execute(
        select(StatusChange)
        .where(StatusChange.project_id == project.id)
        .order_by(StatusChange.id.desc())
        .limit(1)
    ).scalar()
    return last if last is not None and last.returned else None


def approvals():
    """Return a subquery of each project's latest approval: project_id, approved_by, approved_at."""
    last = (
        select(func.max(StatusChange.id).label("id"))
        .where(StatusChange.to_status == Status.APPROVED.value)
        .group_by(StatusChange.project_id)
        .subquery()
    )
    return (
        select(
            StatusChange.project_id,
            StatusChange.changed_by.label("approved_by"),
            StatusChange.changed_at.label("approved_at"),
        )
        .join(last, last.c.id == StatusChange.id)
        .subquery()
    )


@dataclass(frozen=True)
class Waiting:
    """A project waiting for the user: to review, or returned to them for revision."""

    project: Project
    owner: Org
    change: StatusChange


def waiting_for(session: Session, scope: Org) -> tuple[list[Waiting], list[Waiting]]:
    """Return the projects in scope the acting user may review, and their org's returned ones."""
    actor = actor_of(session)
    candidates, own = _waiting_statements(actor.org_id is not None)
    params = {**scope_params(scope), "actor_org": actor.org_id}
    to_review: list[Waiting] = []
    if actor.may(Right.APPROVE):
        for project, owner, change in session.execute(candidates, params):
            if review_refusal(session, project, actor) is None:
                to_review.append(Waiting(project, owner, change))
            if len(to_review) == WAITING_LIMIT:
                break
    returned: list[Waiting] = []
    if actor.org_id is not None and actor.may(Right.SUBMIT):
        returned = [Waiting(p, o, c) for p, o, c in session.execute(own, params)]
    return to_review, returned


@cache
def _waiting_statements(of_an_org: bool) -> tuple[Select, Select]:
    """Build once the waiting list's two reads, run with the scope and the actor's org."""
    latest = _latest_changes()
    base = (
        select(Project, Org, StatusChange)
        .join(Org, Org.id == Project.owner_id)
        .join(latest, latest.c.project_id == Project.id)
        .join(StatusChange, StatusChange.id == latest.c.last_id)
        .where(within_scope(Org))
        .order_by(StatusChange.changed_at, Project.code)
    )
    # The rule decides; the query only leaves out what it can never allow (the own org's
    # projects below district level), so the limit is not spent on them.
    candidates = base.where(Project.status == Status.SUBMITTED.value)
    if of_an_org:
        actor_org = bindparam("actor_org")
        candidates = candidates.where((Org.id != actor_org) | (Org.level <= OWN_ORG_REVIEW_LEVEL))
    own = base.where(
        Project.status == Status.DRAFT.value,
        Project.owner_id == bindparam("actor_org"),
        StatusChange.returned.is_(True),
    ).limit(WAITING_LIMIT)
    return candidates.limit(WAITING_LIMIT * 4), own


def review_panel(session: Session, scope: Org, project: Project, policies: Policies) -> dict:
    """Gather the user's status steps, the return reason and the checks that fail on approving."""
    from cocon.projects import TRANSITIONS

    actor = actor_of(session)
    current = Status(project.status)
    reviewable = current == Status.SUBMITTED and review_refusal(session, project) is None
    may_submit_it = submit_refusal(session, project) is None
    steps = []
    for target in TRANSITIONS[current]:
        if target == Status.APPROVED:
            allowed = reviewable
        elif target == Status.SUBMITTED or (current == Status.SUBMITTED and target == Status.DRAFT):
            allowed = may_submit_it
        else:
            allowed = actor.may(Right.EDIT)
        if allowed:
            steps.append(target.value)
    return {
        "transitions": steps,
        "may_review": reviewable,
        "returned": latest_return(session, project),
        "approval_findings": (
            approval_findings(session, scope, policies, project) if reviewable else []
        ),
    }
