"""org_figures stays equal to the projects on every write path; the cached tree shape follows
every move, insert, delete and rollback; figures too big to pack still add up exactly."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlmodel import Session

from cocon import allocations, db, orgs, projects
from cocon.checks import Policies, Rule
from cocon.derived import rebuild_org_figures
from cocon.models import Org, Project
from cocon.rollup import compute_rollup

WARN_ALL = Policies({rule.value: "warn" for rule in Rule})
CHAIN = [("33", "浙江省"), ("3301", "杭州市"), ("330105", "拱墅区"), ("330105017", "文晖街道")]
COMMUNITIES = ["330105017003", "330105017004"]
GROUPED = """SELECT owner_id, year, COUNT(*), {statuses}, SUM(budget_fen), SUM(drawn_l1_fen),
    SUM(drawn_l2_fen), SUM(drawn_l3_fen), SUM(drawn_l4_fen), SUM(drawn_l5_fen), SUM(partners_fen),
    SUM(paid_fen), SUM(failing_checks), SUM(holder_l1_fen), SUM(holder_l2_fen), SUM(holder_l3_fen),
    SUM(holder_l4_fen), SUM(holder_l5_fen) FROM project GROUP BY owner_id, year"""
STATUSES = ("draft", "submitted", "approved", "in_progress", "completed", "cancelled")
FIGURES = """SELECT org_id, year, projects, draft, submitted, approved, in_progress, completed,
    cancelled, budget_fen, drawn_l1_fen, drawn_l2_fen, drawn_l3_fen, drawn_l4_fen, drawn_l5_fen,
    partners_fen, paid_fen, failing_checks, holder_l1_fen, holder_l2_fen, holder_l3_fen,
    holder_l4_fen, holder_l5_fen FROM org_figures"""


def _rows(session: Session, sql: str) -> list[tuple]:
    session.flush()
    return sorted(tuple(int(v) for v in row) for row in session.execute(text(sql)))


def _figures(session: Session) -> list[tuple]:
    """Return org_figures' rows, checking that each row's generated text holds its values."""
    rows = _rows(session, FIGURES)
    texts = session.execute(text("SELECT figures_text FROM org_figures ORDER BY org_id, year"))
    expected = [",".join(str(v) for v in (row[0], *row[2:])) for row in rows]
    assert [text_ for (text_,) in texts] == expected
    return rows


def _grouped(session: Session) -> list[tuple]:
    statuses = ", ".join(f"SUM(CASE WHEN status = '{s}' THEN 1 ELSE 0 END)" for s in STATUSES)
    return _rows(session, GROUPED.format(statuses=statuses))


def _tree(session: Session) -> dict[str, Org]:
    made, parent = {}, None
    for code, name in CHAIN:
        made[code] = orgs.create_org(session, code, name, parent)
        parent = code
    for code in COMMUNITIES:
        made[code] = orgs.create_org(session, code, f"社区{code[-1]}", CHAIN[-1][0])
    return made


def _project(session: Session, owner: Org, site: Org, budget: int, year: int = 2023) -> Project:
    data = projects.ProjectInput(
        name="项目", owner=owner, site=site, category="other", year=year, budget=budget
    )
    return projects.save_project(session, data)


def test_org_figures_follow_every_write_path(engine):
    with db.session_scope(engine, write=True) as session:
        tree = _tree(session)
        site = tree[COMMUNITIES[0]]
        first = _project(session, tree["330105"], site, 900)
        second = _project(session, site, site, 300, year=2024)
        assert _figures(session) == _grouped(session)
        projects.change_status(session, first, "submitted")
        projects.change_status(session, first, "approved")
        money = allocations.save_allocation(
            session, WARN_ALL, org=tree["3301"], year=2023, amount=5000
        ).row
        allocations.draw(session, WARN_ALL, first, money, 400)
        line = allocations.get_funding_line(session, first, money)
        allocations.record_payment(
            session, WARN_ALL, line, paid_on=date(2023, 6, 1), amount=100, voucher_no="V1"
        )
        assert _figures(session) == _grouped(session)
        # City money passed down to the district: drawn by origin on the city, held by the district.
        passed = allocations.save_allocation(
            session, WARN_ALL, org=tree["330105"], year=2023, amount=1000, parent=money
        ).row
        allocations.draw(session, WARN_ALL, first, passed, 250)
        session.refresh(first)
        assert (first.drawn_l2_fen, first.drawn_l3_fen) == (65_000, 0)
        assert (first.holder_l2_fen, first.holder_l3_fen) == (40_000, 25_000)
        assert _figures(session) == _grouped(session)
        session.execute(text("UPDATE project SET holder_l4_fen = 7 WHERE id = :id"), {"id": 1})
        assert _figures(session) == _grouped(session)
        # A new owner and year moves the project's figures from one row to another.
        data = projects.ProjectInput(
            name="项目", owner=tree["330105017"], site=site, category="other", year=2024, budget=50
        )
        projects.save_project(session, data, second)
        assert _figures(session) == _grouped(session)
        # Raw SQL goes through the triggers too; the last project of a row takes the row with it.
        session.execute(text("UPDATE project SET status = 'cancelled' WHERE id = :id"), {"id": 2})
        session.execute(text("DELETE FROM status_change WHERE project_id = 2"))
        session.execute(text("DELETE FROM project WHERE id = 2"))
        assert _figures(session) == _grouped(session)
        assert len(_figures(session)) == 1
        expected = _figures(session)
        rebuild_org_figures(session)
        assert _figures(session) == expected


def test_figures_too_big_to_pack_add_up_exactly(engine):
    big = 30_000_000_000  # yuan: 3e12 fen, far over the 31 bits a packed pair holds
    with db.session_scope(engine, write=True) as session:
        tree = _tree(session)
        site = tree[COMMUNITIES[1]]
        _project(session, tree["330105"], site, big)
        _project(session, site, site, 7)
        street = tree["330105017"]
        # 600 projects of one street in one year: more than a packed 9-bit count holds.
        rows = [
            (f"BULK{i}", "批量", street.id, site.id, 5, "other", 2023, "approved", 100 * i)
            for i in range(600)
        ]
        db.bulk_insert(
            session.connection(),
            "project",
            (
                "code",
                "name",
                "owner_id",
                "site_id",
                "site_level",
                "category",
                "year",
                "status",
                "budget_fen",
            ),
            rows,
        )
    with db.session_scope(engine) as session:
        for year in (2023, None):
            rollup = compute_rollup(session, None, year)
            province = rollup.total_figures(tree["33"].id)
            assert province.budget == big * 100 + 700 + sum(100 * i for i in range(600))
            assert province.projects["approved"] == 600
            assert province.project_count == 602
            assert rollup.own_figures(street.id).projects["approved"] == 600
            assert rollup.own_figures(site.id).budget == 700


def _province_projects(engine) -> dict[str, int]:
    with db.session_scope(engine) as session:
        rollup = compute_rollup(session)
        found = session.execute(text("SELECT id, code FROM org WHERE level <= 2")).all()
        return {code: rollup.total_figures(org_id).project_count for org_id, code in found}


def _two_cities_one_project(engine) -> None:
    """Make Hangzhou with a project of Gongshu's, and Ningbo empty, both in Zhejiang."""
    with db.session_scope(engine, write=True) as session:
        tree = _tree(session)
        orgs.create_org(session, "3302", "宁波市", "33")
        _project(session, tree["330105"], tree[COMMUNITIES[0]], 10)
    assert _province_projects(engine) == {"33": 1, "3301": 1, "3302": 0}


def test_cached_tree_shape_follows_moves_inserts_deletes_and_rollbacks(engine):
    _two_cities_one_project(engine)
    with db.session_scope(engine, write=True) as session:
        ningbo = orgs.get_org(session, "3302")
        orgs.move_org(session, orgs.get_org(session, "330105"), ningbo)
    assert _province_projects(engine) == {"33": 1, "3301": 0, "3302": 1}
    # A rolled-back org gives its id to the next one: the shape read inside must not stay.
    with Session(engine) as session:
        orgs.create_org(session, "330106", "西湖区", "3301")
        rollup = compute_rollup(session)
        assert len(rollup.ids) == 8
        session.rollback()
    with db.session_scope(engine, write=True) as session:
        district = orgs.create_org(session, "330206", "海曙区", "3302")
    with db.session_scope(engine) as session:
        rollup = compute_rollup(session)
        ningbo = orgs.get_org(session, "3302")
        assert rollup.parents[rollup.position(district.id)] == rollup.position(ningbo.id)
    with db.session_scope(engine, write=True) as session:
        street = orgs.create_org(session, "330206001", "街道", "330206")
        community = orgs.create_org(session, "330206001001", "社区", "330206001")
        _project(session, street, community, 5)
    assert _province_projects(engine) == {"33": 2, "3301": 0, "3302": 2}
    with db.session_scope(engine) as session:
        rollup = compute_rollup(session)
        assert rollup.total_figures(district.id).project_count == 1
    with db.session_scope(engine, write=True) as session:
        session.execute(text("DELETE FROM status_change"))
        session.execute(text("DELETE FROM project WHERE owner_id = :id"), {"id": street.id})
        orgs.delete_org(session, session.get(Org, community.id))
    with db.session_scope(engine) as session:
        rollup = compute_rollup(session)
        assert community.id not in rollup.ids.tolist()
        assert rollup.total_figures(district.id).project_count == 0


def test_own_figures_row_by_row_and_all_at_once_agree_for_one_year_and_all(engine):
    with db.session_scope(engine, write=True) as session:
        tree = _tree(session)
        site = tree[COMMUNITIES[0]]
        _project(session, tree["330105"], site, 900)
        _project(session, tree["330105"], site, 50, year=2024)
        _project(session, site, site, 300, year=2024)
        _project(session, tree["33"], tree[COMMUNITIES[1]], 7)
        allocations.save_allocation(session, WARN_ALL, org=tree["3301"], year=2023, amount=5000)
    with db.session_scope(engine) as session:
        by_year = [compute_rollup(session, None, year) for year in (2023, 2024)]
        every_year = compute_rollup(session)
        assert (every_year.total == by_year[0].total + by_year[1].total).all()
        assert every_year.own_figures(tree["330105"].id).budget == 95_000
        assert every_year.total_figures(tree["33"].id).held == 500_000
        for rollup in (*by_year, every_year):
            own = rollup.own
            for row in range(len(rollup.ids)):
                assert (rollup.own_row(row) == own[row]).all()
                children = rollup.total[rollup.parents == row]
                assert (own[row] + children.sum(axis=0) == rollup.total[row]).all()
        district = compute_rollup(session, tree["330105"])
        for org_id in district.ids.tolist():
            assert district.own_figures(org_id) == every_year.own_figures(org_id)
            assert district.total_figures(org_id) == every_year.total_figures(org_id)


def test_cached_tree_shape_not_kept_from_before_a_move_commits(engine):
    # A move still uncommitted when another session reads the tree: that session must not keep
    # the old shape under a key the committed move will show (on PostgreSQL a sequence would
    # show the move at once, before its commit, and the old shape would stay cached for good).
    _two_cities_one_project(engine)
    with db.session_scope(engine, write=True) as mover:
        orgs.move_org(mover, orgs.get_org(mover, "330105"), orgs.get_org(mover, "3302"))
        mover.flush()
        assert _province_projects(engine) == {"33": 1, "3301": 1, "3302": 0}
    assert _province_projects(engine) == {"33": 1, "3301": 0, "3302": 1}
