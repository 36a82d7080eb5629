"""Parallel writers never over-commit an allocation: the checks and the writes are one step."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select
from sqlmodel import Session

from cocon import allocations, orgs, partners, projects
from cocon.checks import DEFAULT, Blocked
from cocon.creditcode import credit_code_check_char
from cocon.db import session_scope
from cocon.models import Allocation, Contribution, FundingLine, Partner, Payment, Project
from cocon.rollup import rollup_tree

WRITERS = 20
CHAIN = [("33", "浙江省"), ("3301", "杭州市"), ("330105", "拱墅区"), ("330105017", "文晖街道")]
COMMUNITY = ("330105017003", "胜利社区")


def _setup(engine, project_count: int) -> tuple[int, list[int]]:
    """Make the org chain, a ¥100,000 Gongshu allocation and projects; return their ids."""
    with session_scope(engine, write=True) as session:
        parent = None
        for code, name in [*CHAIN, COMMUNITY]:
            orgs.create_org(session, code, name, parent)
            parent = code
        gongshu, site = orgs.get_org(session, "330105"), orgs.get_org(session, COMMUNITY[0])
        allocation = allocations.save_allocation(
            session, DEFAULT, org=gongshu, year=2023, amount="100000", code="GS-2023"
        ).row
        project_ids = [
            projects.save_project(
                session,
                projects.ProjectInput(
                    name=f"项目{i}", owner=gongshu, site=site, category="elderly_care", year=2023
                ),
            ).id
            for i in range(project_count)
        ]
        return allocation.id, project_ids


def _race(engine, jobs: list[Callable[[Session], None]]) -> tuple[int, int]:
    """Run each job in its own write session, all released at once; count accepted and blocked."""
    barrier = threading.Barrier(len(jobs), timeout=60)

    def run(job: Callable[[Session], None]) -> bool:
        barrier.wait()
        try:
            with session_scope(engine, write=True) as session:
                job(session)
        except Blocked:
            return False
        return True

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        outcomes = list(pool.map(run, jobs))
    return outcomes.count(True), outcomes.count(False)


def test_concurrent_draws_never_overcommit_allocation(engine):
    allocation_id, project_ids = _setup(engine, WRITERS)

    def draw_for(project_id: int) -> Callable[[Session], None]:
        def job(session: Session) -> None:
            project = session.get(Project, project_id)
            allocation = session.get(Allocation, allocation_id)
            allocations.draw(session, DEFAULT, project, allocation, "10000")

        return job

    accepted, blocked = _race(engine, [draw_for(pid) for pid in project_ids])
    assert (accepted, blocked) == (10, 10)
    with session_scope(engine) as session:
        drawn, lines = session.execute(
            select(func.sum(FundingLine.amount_fen), func.count()).where(
                FundingLine.allocation_id == allocation_id
            )
        ).one()
    assert (int(drawn), lines) == (10_000_000, 10)


def test_concurrent_suballocations_never_exceed_parent(engine):
    parent_id, _ = _setup(engine, 0)

    def sub_allocate(session: Session) -> None:
        street = orgs.get_org(session, "330105017")
        parent = session.get(Allocation, parent_id)
        allocations.save_allocation(
            session, DEFAULT, org=street, year=2023, amount="10000", parent=parent
        )

    accepted, blocked = _race(engine, [sub_allocate] * WRITERS)
    assert (accepted, blocked) == (10, 10)
    with session_scope(engine) as session:
        total, count = session.execute(
            select(func.sum(Allocation.amount_fen), func.count()).where(
                Allocation.parent_id == parent_id
            )
        ).one()
        codes = session.execute(
            select(Allocation.code).where(Allocation.parent_id == parent_id)
        ).scalars()
        codes = sorted(codes)
    assert (int(total), count) == (10_000_000, 10)
    assert codes == [f"330105017-2023-A{n:02d}" for n in range(1, 11)]


def _project_figures(engine, project_id: int) -> tuple[int, int]:
    """Return the project's funding and paid as the rollup reads them, and as the rows say."""
    with session_scope(engine) as session:
        [root] = rollup_tree(session, None, 2023)
        kept = root.total.funded, root.total.paid
        lines = session.execute(
            select(func.coalesce(func.sum(FundingLine.amount_fen), 0)).where(
                FundingLine.project_id == project_id
            )
        ).scalar_one()
        paid = session.execute(
            select(func.coalesce(func.sum(Payment.amount_fen), 0))
            .join(FundingLine, FundingLine.id == Payment.funding_line_id)
            .where(FundingLine.project_id == project_id)
        ).scalar_one()
    return kept, (int(lines), int(paid))


def test_concurrent_draws_for_one_project_all_count_in_rollup(engine):
    _, [project_id] = _setup(engine, 1)
    with session_scope(engine, write=True) as session:
        gongshu = orgs.get_org(session, "330105")
        sources = [
            allocations.save_allocation(
                session, DEFAULT, org=gongshu, year=2023, amount="10000", code=f"GS-{n}"
            ).row.id
            for n in range(WRITERS)
        ]

    def draw_from(allocation_id: int) -> Callable[[Session], None]:
        def job(session: Session) -> None:
            project = session.get(Project, project_id)
            allocation = session.get(Allocation, allocation_id)
            allocations.draw(session, DEFAULT, project, allocation, "1000")

        return job

    assert _race(engine, [draw_from(a) for a in sources]) == (WRITERS, 0)
    kept, actual = _project_figures(engine, project_id)
    assert actual == (WRITERS * 100_000, 0)
    assert kept == actual


def test_concurrent_payments_on_one_project_all_count_in_rollup(engine):
    _, [project_id] = _setup(engine, 1)
    with session_scope(engine, write=True) as session:
        gongshu = orgs.get_org(session, "330105")
        project = session.get(Project, project_id)
        line_ids = []
        for n in range(WRITERS):
            allocation = allocations.save_allocation(
                session, DEFAULT, org=gongshu, year=2023, amount="10000", code=f"GS-{n}"
            ).row
            line_ids.append(allocations.draw(session, DEFAULT, project, allocation, "1000").row.id)

    def pay_on(line_id: int) -> Callable[[Session], None]:
        def job(session: Session) -> None:
            line = session.get(FundingLine, line_id)
            allocations.record_payment(
                session, DEFAULT, line, paid_on="2023-05-01", amount="500", voucher_no=f"V{line_id}"
            )

        return job

    assert _race(engine, [pay_on(line) for line in line_ids]) == (WRITERS, 0)
    kept, actual = _project_figures(engine, project_id)
    assert actual == (WRITERS * 100_000, WRITERS * 50_000)
    assert kept == actual


def test_concurrent_draws_and_contributions_on_one_project_all_count_in_rollup(engine):
    _, [project_id] = _setup(engine, 1)
    half = WRITERS // 2
    with session_scope(engine, write=True) as session:
        gongshu = orgs.get_org(session, "330105")
        sources = [
            allocations.save_allocation(
                session, DEFAULT, org=gongshu, year=2023, amount="10000", code=f"GS-{n}"
            ).row.id
            for n in range(half)
        ]
        partner_ids = []
        for n in range(half):
            body = f"9133010500000{n:04d}"
            partner = partners.save_partner(
                session,
                credit_code=body + credit_code_check_char(body),
                name=f"单位{n}",
                kind="企业",
            )
            partner_ids.append(partner.id)

    def draw_from(allocation_id: int) -> Callable[[Session], None]:
        def job(session: Session) -> None:
            project = session.get(Project, project_id)
            allocations.draw(
                session, DEFAULT, project, session.get(Allocation, allocation_id), "1000"
            )

        return job

    def contribute(partner_id: int) -> Callable[[Session], None]:
        def job(session: Session) -> None:
            project = session.get(Project, project_id)
            projects.set_contribution(session, project, session.get(Partner, partner_id), "300")

        return job

    jobs = [draw_from(a) for a in sources] + [contribute(p) for p in partner_ids]
    assert _race(engine, jobs) == (WRITERS, 0)
    with session_scope(engine) as session:
        [root] = rollup_tree(session, None, 2023)
        given = session.execute(select(func.sum(Contribution.amount_fen))).scalar_one()
    assert int(given) == half * 30_000
    assert (root.total.partners, root.total.funded) == (half * 30_000, half * 130_000)
