"""Rollups over random trees: totals add up, money is counted once, subtrees agree with the whole."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from sqlmodel import Session

from cocon import allocations, orgs, partners, projects
from cocon.allocation_report import allocation_reports
from cocon.checks import Policies, Rule
from cocon.creditcode import credit_code_check_char
from cocon.findings import failing_rows
from cocon.models import ContributionKind, Org, Status
from cocon.rollup import Figures, RollupNode, rollup_tree

# Every rule only warns, so random amounts never block and failing checks show up in rollups.
WARN_ALL = Policies({rule.value: "warn" for rule in Rule})
YEARS = (2023, 2024)
# Mostly 2023, so that projects and allocations often meet.
YEAR = st.sampled_from((2023, 2023, 2023, 2024))
MAX_ORGS = 11
PROPERTY_SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Width of each level's own part of the code: 33 › 3301 › 330105 › 330105017 › 330105017003.
CODE_PARTS = {2: 2, 3: 2, 4: 3, 5: 3}


def _credit_code(body: str) -> str:
    return body + credit_code_check_char(body)


PARTNER_CODES = [_credit_code("91330105MA2B0CDE1"), _credit_code("12330100470000111")]


@dataclass
class World:
    """What an example put in the database, kept aside to compute the expected figures."""

    orgs: dict[str, Org] = field(default_factory=dict)
    # allocation id -> (org code, year, amount in fen, parent allocation id)
    allocations: dict[int, tuple[str, int, int, int | None]] = field(default_factory=dict)
    # project id -> (owner code, year, status, budget in fen)
    projects: dict[int, list] = field(default_factory=dict)
    # (project id, allocation id) -> amount drawn in fen
    lines: dict[tuple[int, int], int] = field(default_factory=dict)
    # (project id, partner id, kind) -> amount in fen
    contributions: dict[tuple[int, int, str], int] = field(default_factory=dict)
    # ((project id, allocation id), amount in fen)
    payments: list[tuple[tuple[int, int], int]] = field(default_factory=list)

    def within(self, code: str, root: str) -> bool:
        return self.orgs[code].path.startswith(self.orgs[root].path)

    def origin(self, allocation_id: int) -> int:
        """Return the root of an allocation's chain of sub-allocations."""
        while (parent := self.allocations[allocation_id][3]) is not None:
            allocation_id = parent
        return allocation_id

    def origin_level(self, allocation_id: int) -> int:
        return self.orgs[self.allocations[self.origin(allocation_id)][0]].level

    def holder_level(self, allocation_id: int) -> int:
        return self.orgs[self.allocations[allocation_id][0]].level

    def communities_under(self, code: str) -> list[str]:
        return [c for c in self.orgs if len(c) == 12 and self.within(c, code)]


def _fen(yuan: int) -> int:
    return yuan * 100


def _build_tree(session: Session, data: st.DataObject, world: World) -> None:
    provinces = data.draw(st.integers(1, 2), label="provinces")
    pending = [(f"{30 + i}", None) for i in range(1, provinces + 1)]
    while pending:
        code, parent = pending.pop(0)
        world.orgs[code] = orgs.create_org(session, code, f"机构{code}", parent)
        level = orgs.level_of_code(code) + 1
        if level > 5:
            continue
        # The first org of each level always has a child, so every tree reaches a community.
        first = code.endswith("1") and (parent is None or code[len(parent) :].lstrip("0") == "1")
        room = MAX_ORGS - len(world.orgs) - len(pending)
        least = 1 if first else 0
        count = data.draw(st.integers(least, max(least, min(2, room))), label=f"children of {code}")
        width = CODE_PARTS[level]
        pending += [(code + f"{n:0{width}d}", code) for n in range(1, count + 1)]


def _org(data: st.DataObject, world: World, codes: list[str], label: str) -> str:
    """Draw an org, first its level and then one of that level, so high orgs come up often."""
    lengths = sorted({len(code) for code in codes})
    length = data.draw(st.sampled_from(lengths), label=f"{label} level")
    return data.draw(st.sampled_from([c for c in codes if len(c) == length]), label=label)


def _build_allocations(session: Session, data: st.DataObject, world: World) -> dict:
    rows = {}
    for _ in range(data.draw(st.integers(1, 5), label="allocations")):
        parents = [a for a in rows.values() if len(world.allocations[a.id][0]) < 12]
        parent = None
        if parents and data.draw(st.booleans(), label="sub-allocation"):
            parent = data.draw(st.sampled_from(parents), label="parent")
            top, year = world.allocations[parent.id][:2]
            below = [c for c in world.orgs if c != top and world.within(c, top)]
            if not below:
                parent = None
        if parent is None:
            code = _org(data, world, sorted(world.orgs), "allocation org")
            year = data.draw(YEAR, label="allocation year")
        else:
            code = _org(data, world, sorted(below), "sub-allocation org")
        amount = data.draw(st.integers(1, 5000), label="allocation amount")
        row = allocations.save_allocation(
            session, WARN_ALL, org=world.orgs[code], year=year, amount=amount, parent=parent
        ).row
        rows[row.id] = row
        world.allocations[row.id] = (code, year, _fen(amount), parent.id if parent else None)
    return rows


def _build_projects(session: Session, data: st.DataObject, world: World) -> dict:
    owners = [code for code in sorted(world.orgs) if world.communities_under(code)]
    rows = {}
    for _ in range(data.draw(st.integers(1, 5) if owners else st.just(0), label="projects")):
        owner = _org(data, world, owners, "owner")
        site = data.draw(st.sampled_from(world.communities_under(owner)), label="site")
        year = data.draw(YEAR, label="project year")
        budget = data.draw(st.integers(0, 5000), label="budget")
        start = data.draw(st.sampled_from([None, date(year, 3, 1), date(year - 1, 12, 1)]))
        project = projects.save_project(
            session,
            projects.ProjectInput(
                name="项目",
                owner=world.orgs[owner],
                site=world.orgs[site],
                category="other",
                year=year,
                budget=budget,
                start_date=start,
            ),
        )
        for _ in range(data.draw(st.integers(0, 4), label="status steps")):
            allowed = projects.TRANSITIONS[Status(project.status)]
            if not allowed:
                break
            projects.change_status(session, project, data.draw(st.sampled_from(allowed)))
        rows[project.id] = project
        world.projects[project.id] = [owner, year, project.status, _fen(budget)]
    return rows


def _build_money(
    session: Session, data: st.DataObject, world: World, allocs: dict, project_rows: dict
) -> None:
    # Every (project, allocation) pair the rules allow: the owner's or an ancestor's, same year.
    pairs = [
        (project_id, allocation_id)
        for project_id, (owner, year, _, _) in sorted(world.projects.items())
        for allocation_id, (code, alloc_year, _, _) in sorted(world.allocations.items())
        if alloc_year == year and world.within(owner, code)
    ]
    for _ in range(data.draw(st.integers(1, 6) if pairs else st.just(0), label="lines")):
        project_id, allocation_id = data.draw(st.sampled_from(pairs), label="line")
        amount = data.draw(st.integers(1, 3000), label="draw")
        allocations.draw(session, WARN_ALL, project_rows[project_id], allocs[allocation_id], amount)
        world.lines[(project_id, allocation_id)] = _fen(amount)
    partner_rows = [
        partners.save_partner(session, credit_code=code, name=f"单位{i}", kind="enterprise")
        for i, code in enumerate(PARTNER_CODES)
    ]
    count = data.draw(st.integers(0, 3) if project_rows else st.just(0), label="contributions")
    for _ in range(count):
        project_id = data.draw(st.sampled_from(sorted(project_rows)), label="contributed")
        partner = data.draw(st.sampled_from(partner_rows), label="partner")
        kind = data.draw(st.sampled_from([k.value for k in ContributionKind]), label="kind")
        amount = data.draw(st.integers(1, 3000), label="contribution")
        projects.set_contribution(session, project_rows[project_id], partner, amount, kind)
        world.contributions[(project_id, partner.id, kind)] = _fen(amount)
    count = data.draw(st.integers(0, 4) if world.lines else st.just(0), label="payments")
    for number in range(count):
        key = data.draw(st.sampled_from(sorted(world.lines)), label="paid line")
        amount = data.draw(st.integers(1, 3000), label="payment")
        line = allocations.get_funding_line(session, project_rows[key[0]], allocs[key[1]])
        year = world.projects[key[0]][1]
        allocations.record_payment(
            session,
            WARN_ALL,
            line,
            paid_on=date(year, 6, 1),
            amount=amount,
            voucher_no=f"V{number}",
        )
        world.payments.append((key, _fen(amount)))


def build(session: Session, data: st.DataObject) -> World:
    """Make a random tree with allocations, projects, funding lines, contributions, payments."""
    world = World()
    _build_tree(session, data, world)
    allocs = _build_allocations(session, data, world)
    project_rows = _build_projects(session, data, world)
    _build_money(session, data, world, allocs, project_rows)
    return world


def run(engine, data: st.DataObject, check) -> None:
    """Build an example in one session, check it, and roll it all back for the next example."""
    with Session(engine) as session:
        try:
            world = build(session, data)
            year = data.draw(st.sampled_from([None, *YEARS]), label="rollup year")
            check(session, world, year, data)
        finally:
            session.rollback()


def figures(f: Figures) -> dict:
    """Return every field of f as plain data."""
    return {
        "projects": {status: n for status, n in f.projects.items() if n},
        "budget": f.budget,
        "funding_by_level": list(f.funding_by_level),
        "funding_by_holder_level": list(f.funding_by_holder_level),
        "partners": f.partners,
        "paid": f.paid,
        "held": f.held,
        "drawn": f.drawn,
        "failing": f.failing,
    }


def plus(a: dict, b: dict) -> dict:
    """Add two figure dicts field by field."""
    return {
        "projects": dict(Counter(a["projects"]) + Counter(b["projects"])),
        **{
            key: [x + y for x, y in zip(a[key], b[key], strict=True)]
            for key in ("funding_by_level", "funding_by_holder_level")
        },
        **{k: a[k] + b[k] for k in ("budget", "partners", "paid", "held", "drawn", "failing")},
    }


def walk(nodes: list[RollupNode]):
    for node in nodes:
        yield node
        yield from walk(node.children)


def in_year(year: int | None, value: int) -> bool:
    return year is None or year == value


# --- properties -------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(data=st.data())
def test_rollup_total_is_own_plus_children_in_every_field(engine, data):
    def check(session, world, year, data):
        roots = rollup_tree(session, None, year)
        nodes = list(walk(roots))
        assert sorted(n.code for n in nodes) == sorted(world.orgs)
        for node in nodes:
            expected = figures(node.own)
            for child in node.children:
                expected = plus(expected, figures(child.total))
            assert figures(node.total) == expected, node.code

    run(engine, data, check)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_rollup_whole_tree_totals_match_the_data(engine, data):
    def check(session, world, year, data):
        roots = rollup_tree(session, None, year)
        total = {"projects": {}, "budget": 0, "funding_by_level": [0] * 5, "partners": 0}
        total["funding_by_holder_level"] = [0] * 5
        total |= {"paid": 0, "held": 0, "drawn": 0, "failing": 0}
        for root in roots:
            total = plus(total, figures(root.total))
        chosen = {pid: p for pid, p in world.projects.items() if in_year(year, p[1])}
        funding, holder = [0] * 5, [0] * 5
        for (pid, aid), amount in world.lines.items():
            if pid in chosen:
                funding[world.origin_level(aid) - 1] += amount
                holder[world.holder_level(aid) - 1] += amount
        assert total == {
            "projects": dict(Counter(p[2] for p in chosen.values())),
            "budget": sum(p[3] for p in chosen.values()),
            "funding_by_level": funding,
            "funding_by_holder_level": holder,
            "partners": sum(a for (pid, _, _), a in world.contributions.items() if pid in chosen),
            "paid": sum(a for (key, a) in world.payments if key[0] in chosen),
            "held": sum(
                amount
                for _, alloc_year, amount, parent in world.allocations.values()
                if parent is None and in_year(year, alloc_year)
            ),
            "drawn": sum(a for (pid, _), a in world.lines.items() if pid in chosen),
            "failing": len(failing_rows(session, None, year)),
        }

    run(engine, data, check)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_rollup_held_and_drawn_of_each_subtree_count_money_once(engine, data):
    def check(session, world, year, data):
        for node in walk(rollup_tree(session, None, year)):
            held = drawn = 0
            for aid, (code, alloc_year, amount, parent) in world.allocations.items():
                if not in_year(year, alloc_year) or not world.within(code, node.code):
                    continue
                if parent is None or not world.within(world.allocations[parent][0], node.code):
                    held += amount
                drawn += sum(a for (_, line_aid), a in world.lines.items() if line_aid == aid)
            assert (node.total.held, node.total.drawn) == (held, drawn), node.code

    run(engine, data, check)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_rollup_of_subtree_root_equals_its_node_in_whole_tree(engine, data):
    def check(session, world, year, data):
        whole = {node.code: node for node in walk(rollup_tree(session, None, year))}
        code = data.draw(st.sampled_from(sorted(world.orgs)), label="subtree root")
        [root] = rollup_tree(session, world.orgs[code], year)
        sub = list(walk([root]))
        assert sorted(n.code for n in sub) == sorted(c for c in world.orgs if world.within(c, code))
        for node in sub:
            assert figures(node.own) == figures(whole[node.code].own), node.code
            assert figures(node.total) == figures(whole[node.code].total), node.code

    run(engine, data, check)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_rollup_origin_totals_of_each_subtree_sum_its_lines_by_root_allocation(engine, data):
    def check(session, world, year, data):
        for node in walk(rollup_tree(session, None, year)):
            by_root: Counter = Counter()
            holder = [0] * 5
            for (pid, aid), amount in world.lines.items():
                owner, project_year = world.projects[pid][:2]
                if in_year(year, project_year) and world.within(owner, node.code):
                    by_root[world.origin(aid)] += amount
                    holder[world.holder_level(aid) - 1] += amount
            funding = [0] * 5
            for root, amount in by_root.items():
                funding[world.orgs[world.allocations[root][0]].level - 1] += amount
            assert node.total.funding_by_level == funding, node.code
            assert node.total.funding_by_holder_level == holder, node.code

    run(engine, data, check)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_allocation_reports_count_each_sub_allocation_once(engine, data):
    def check(session, world, year, data):
        reports = allocation_reports(session, world.allocations)
        assert sorted(reports) == sorted(world.allocations)

        def tree(top: int) -> list[int]:
            return [a for a in world.allocations if top in _chain(world, a)]

        for aid, report in reports.items():
            amount = world.allocations[aid][2]
            below = [a for a in tree(aid) if a != aid]
            drawn = {a: sum(v for (_, b), v in world.lines.items() if b == a) for a in tree(aid)}
            children = [a for a in world.allocations if world.allocations[a][3] == aid]
            assert report.amount == amount
            assert report.passed_down == sum(world.allocations[a][2] for a in children)
            assert sorted(h.amount for h in report.passed_to) == sorted(
                world.allocations[a][2] for a in children
            )
            assert report.drawn_directly == drawn[aid]
            assert report.drawn_downstream == sum(drawn[a] for a in below)
            assert report.drawn_directly + report.drawn_downstream + report.unspent == amount
            assert sum(h.amount for h in report.unspent_at) == report.unspent
            assert report.paid == sum(v for (key, v) in world.payments if key[1] in tree(aid))
            assert report.origin_code == reports[world.origin(aid)].code
        # Over the roots, every line is drawn once and every payment paid once.
        roots = [r for aid, r in reports.items() if world.allocations[aid][3] is None]
        assert sum(r.drawn for r in roots) == sum(world.lines.values())
        assert sum(r.paid for r in roots) == sum(v for _, v in world.payments)

    run(engine, data, check)


def _chain(world: World, allocation_id: int) -> list[int]:
    """Return an allocation and its parents up to the root."""
    chain = [allocation_id]
    while (parent := world.allocations[chain[-1]][3]) is not None:
        chain.append(parent)
    return chain


# --- a fixed number of queries ----------------------------------------------------------------


def _tree_codes(size: int) -> list[tuple[str, str | None]]:
    """Return `size` orgs top down: one province, then cities, districts, streets, communities."""
    if size == 5:
        codes = ["33", "3301", "330105", "330105017", "330105017003"]
        return [(c, codes[i - 1] if i else None) for i, c in enumerate(codes)]
    result: list[tuple[str, str | None]] = [("33", None)]
    cities = [f"33{c:02d}" for c in range(1, 4)]
    districts = [f"{c}{d:02d}" for c in cities for d in range(1, 4)]
    streets = [f"{d}{s:03d}" for d in districts for s in range(1, 4)]
    result += [(c, "33") for c in cities]
    result += [(d, d[:4]) for d in districts]
    result += [(s, s[:6]) for s in streets]
    number = 0
    while len(result) < size:
        street = streets[number % len(streets)]
        result.append((f"{street}{number // len(streets) + 1:03d}", street))
        number += 1
    return result


@contextmanager
def count_queries(session: Session) -> Iterator[Counter]:
    """Count the 'before_cursor_execute' events, and the statements the driver itself runs
    (which include any sent on the driver's own cursor, past SQLAlchemy's events)."""
    counts: Counter = Counter()
    engine = session.get_bind()
    driver = session.connection().connection.driver_connection

    def on_execute(*_args) -> None:
        counts["events"] += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    if engine.dialect.name == "sqlite":
        driver.set_trace_callback(lambda _sql: counts.update(["driver"]))
        try:
            yield counts
        finally:
            driver.set_trace_callback(None)
            event.remove(engine, "before_cursor_execute", on_execute)
        return
    import psycopg

    execute = psycopg.Cursor.execute

    def counted(cursor, *args, **kwargs):
        counts["driver"] += 1
        return execute(cursor, *args, **kwargs)

    psycopg.Cursor.execute = counted
    try:
        yield counts
    finally:
        psycopg.Cursor.execute = execute
        event.remove(engine, "before_cursor_execute", on_execute)


def _queries_for_rollup(engine, size: int) -> Counter:
    with Session(engine) as session:
        try:
            tree = _tree_codes(size)
            created = [
                orgs.create_org(session, code, f"机构{code}", parent) for code, parent in tree
            ]
            assert len(created) == size
            community = created[-1]
            top = next(org for org in created if org.code == community.code[:6])
            allocation = allocations.save_allocation(
                session, WARN_ALL, org=top, year=2023, amount=1000
            ).row
            allocations.save_allocation(
                session, WARN_ALL, org=community, year=2023, amount=2000, parent=allocation
            )
            project = projects.save_project(
                session,
                projects.ProjectInput(
                    name="项目", owner=top, site=community, category="other", year=2023, budget=5
                ),
            )
            line = allocations.draw(session, WARN_ALL, project, allocation, 100).row
            allocations.record_payment(
                session, WARN_ALL, line, paid_on="2023-05-01", amount=200, voucher_no="V1"
            )
            with count_queries(session) as counts:
                roots = rollup_tree(session, None, 2023)
                rollup_tree(session, None, None)
            assert roots[0].total.held == 100_000
            assert roots[0].total.failing >= 3
            return counts
        finally:
            session.rollback()


def test_rollup_whole_tree_query_count_does_not_grow_with_tree_size(engine):
    small = _queries_for_rollup(engine, 5)
    large = _queries_for_rollup(engine, 200)
    assert small == large
    assert 0 < small["events"] <= small["driver"] < 40
