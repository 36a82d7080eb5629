"""Reversals instead of deletes: a reversed payment or funding line stays and counts zero."""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import Session

from cocon import allocations, db, orgs, projects
from cocon.actors import Actor, act_as
from cocon.audit_model import AuditEntry
from cocon.checks import DEFAULT, Blocked, Policies, Rule
from cocon.errors import Invalid, Refused
from cocon.findings import failing_rows
from cocon.models import FundingLine, Payment, Project
from cocon.reversals import find_payment, reverse_funding_line, reverse_payment
from cocon.rollup import rollup_org
from cocon.signatures import awaiting_payment

WARN_ALL = Policies({rule.value: "warn" for rule in Rule})
CHAIN = [("33", "浙江省"), ("3301", "杭州市"), ("330105", "拱墅区"), ("330105017", "文晖街道")]
COMMUNITY = "330105017003"
CLERK = Actor("clerk", user_id=7)


def _tree(session: Session) -> dict:
    made, parent = {}, None
    for code, name in CHAIN:
        made[code] = orgs.create_org(session, code, name, parent)
        parent = code
    made[COMMUNITY] = orgs.create_org(session, COMMUNITY, "胜利社区", "330105017")
    return made


def _project(
    session: Session, tree: dict, code: str = "P-1", budget: int = 50000, owner: str = "330105017"
) -> Project:
    data = projects.ProjectInput(
        code=code, name="项目", owner=tree[owner], site=tree[COMMUNITY],
        category="other", year=2023, budget=budget,
    )  # fmt: skip
    return projects.save_project(session, data)


def _pay(session: Session, line: FundingLine, amount: int, voucher: str, **kwargs) -> Payment:
    return allocations.record_payment(
        session, DEFAULT, line, paid_on=date(2023, 6, 1), amount=amount, voucher_no=voucher,
        **kwargs,
    ).row  # fmt: skip


@pytest.fixture
def world(engine):
    """Yield a session with a district allocation, a street's project drawing 30000, paid 15000."""
    with db.session_scope(engine, write=True) as session:
        act_as(session, CLERK)
        tree = _tree(session)
        money = allocations.save_allocation(
            session, DEFAULT, org=tree["330105"], year=2023, amount=100000, code="GS-A"
        ).row
        project = _project(session, tree)
        line = allocations.draw(session, DEFAULT, project, money, 30000).row
        _pay(session, line, 10000, "V1")
        _pay(session, line, 5000, "V2")
        yield session, tree, money, project, line


def _figures(session: Session, tree: dict, project: Project, money) -> tuple:
    session.refresh(project)
    session.refresh(money)
    total = rollup_org(session, tree["330105"], 2023).total
    return project.drawn_l3_fen, project.paid_fen, money.drawn_fen, total.paid, total.drawn


def test_reversing_a_payment_drops_paid_everywhere_and_keeps_it_listed(world):
    session, tree, money, project, line = world
    assert _figures(session, tree, project, money) == (3000000, 1500000, 3000000, 1500000, 3000000)
    payment = reverse_payment(session, find_payment(session, "V1"), "  凭证录错  ")
    assert _figures(session, tree, project, money) == (3000000, 500000, 3000000, 500000, 3000000)
    assert allocations.paid_on_line(session, line) == 500000
    assert payment.reversal_reason == "凭证录错" and payment.reversed_by == "clerk"
    assert payment.reversed_by_id == 7 and payment.reversed_at is not None
    assert [p.voucher_no for p in allocations.payments_of(session, line)] == ["V1", "V2"]


def test_a_line_with_counting_payments_refuses_until_they_are_reversed(world):
    session, tree, money, project, line = world
    with pytest.raises(Refused, match="reverse its payments first"):
        reverse_funding_line(session, line, "错配资金")
    for voucher in ("V1", "V2"):
        reverse_payment(session, find_payment(session, voucher, project), "错配资金")
    reverse_funding_line(session, line, "错配资金")
    assert _figures(session, tree, project, money) == (0, 0, 0, 0, 0)
    assert money.draw_count == 0
    assert allocations.commitments(session, money).total == 0
    assert session.get(FundingLine, line.id).is_reversed  # still there


def test_a_line_with_a_payment_awaiting_its_signature_refuses(world):
    session, _t, _m, project, line = world
    for voucher in ("V1", "V2"):
        reverse_payment(session, find_payment(session, voucher), "错配")
    _pay(session, line, 20000, "V3", second_signature_fen=100)
    with pytest.raises(Refused, match="V3"):
        reverse_funding_line(session, line, "错配")
    reverse_payment(session, find_payment(session, "V3"), "错配")
    with pytest.raises(Refused):
        awaiting_payment(session, project, "V3")  # a reversed payment is never confirmed
    reverse_funding_line(session, line, "错配")


def test_reversing_twice_is_refused_and_a_reason_is_required(world):
    session, _t, _m, _p, line = world
    payment = find_payment(session, "V1")
    for reason in ("", "   ", None):
        with pytest.raises(Invalid, match="required"):
            reverse_payment(session, payment, reason)
    with pytest.raises(Invalid, match="Control characters"):
        reverse_payment(session, payment, "a\x00b")
    assert not payment.is_reversed
    reverse_payment(session, payment, "重复录入")
    with pytest.raises(Refused, match="already reversed"):
        reverse_payment(session, payment, "再次冲销")
    assert payment.reversal_reason == "重复录入"
    reverse_payment(session, find_payment(session, "V2"), "重复录入")
    reverse_funding_line(session, line, "重复录入")
    with pytest.raises(Refused, match="already reversed"):
        reverse_funding_line(session, line, "再次冲销")


def test_a_reversed_line_takes_no_payment_and_a_reversed_voucher_is_not_reused(world):
    session, _t, _m, _p, line = world
    reverse_payment(session, find_payment(session, "V1"), "错")
    with pytest.raises(Invalid, match="was reversed"):
        _pay(session, line, 100, "V1")
    reverse_payment(session, find_payment(session, "V2"), "错")
    reverse_funding_line(session, line, "错")
    with pytest.raises(Invalid, match="draw on the allocation again"):
        _pay(session, line, 100, "V9")


def test_drawing_again_revives_the_reversed_line_and_the_trail_shows_both(world):
    session, tree, money, project, line = world
    for voucher in ("V1", "V2"):
        reverse_payment(session, find_payment(session, voucher), "错")
    reverse_funding_line(session, line, "金额录错")
    again = allocations.draw(session, DEFAULT, project, money, 12000).row
    assert again.id == line.id and not again.is_reversed and again.reversal_reason is None
    assert _figures(session, tree, project, money) == (1200000, 0, 1200000, 0, 1200000)
    session.flush()
    entries = session.execute(
        select(AuditEntry).where(AuditEntry.entity == "funding_line").order_by(AuditEntry.id)
    ).scalars().all()
    actions = [entry.action for entry in entries]
    assert actions == ["create", "reversal", "update"]
    reversal, redraw = (json.loads(entries[i].changes) for i in (1, 2))
    assert reversal["reversal_reason"] == [None, "金额录错"]
    assert reversal["reversed_by"] == [None, "clerk"]
    assert entries[1].actor == "clerk" and entries[1].entity_code == "P-1 ← GS-A"
    assert redraw["amount_fen"] == ["30000.00", "12000.00"]
    assert redraw["reversal_reason"] == ["金额录错", None]


def test_the_payment_reversal_is_in_the_trail(world):
    session, *_rest = world
    reverse_payment(session, find_payment(session, "V2"), "凭证作废")
    session.flush()
    entry = session.execute(
        select(AuditEntry).where(AuditEntry.entity == "payment").order_by(AuditEntry.id.desc())
    ).scalars().first()
    assert entry.action == "reversal" and entry.entity_code == "V2"
    assert json.loads(entry.changes)["reversal_reason"] == [None, "凭证作废"]


def test_a_reversed_line_frees_its_allocation_for_the_blocking_check(world):
    session, tree, money, _p, line = world
    other = _project(session, tree, "P-2", budget=90000)
    with pytest.raises(Blocked):  # refused before anything is written
        allocations.draw(session, DEFAULT, other, money, 80000)
    for voucher in ("V1", "V2"):
        reverse_payment(session, find_payment(session, voucher), "错")
    reverse_funding_line(session, line, "错")
    allocations.draw(session, DEFAULT, other, money, 80000)
    assert allocations.commitments(session, money).total == 8000000
    assert not [f for f in failing_rows(session) if f.rule == Rule.ALLOCATION_OVERCOMMITTED]


def test_cli_reverses_a_payment_and_a_line(cli):
    for args in (
        ("orgs", "add", "33", "浙江省"), ("orgs", "add", "3301", "杭州市", "--parent", "33"),
        ("orgs", "add", "330105", "拱墅区", "--parent", "3301"),
        ("orgs", "add", "330105017", "文晖街道", "--parent", "330105"),
        ("orgs", "add", COMMUNITY, "胜利社区", "--parent", "330105017"),
        ("allocations", "add", "330105", "2023", "10万", "--code", "GS-A"),
        ("projects", "add", "--code", "P-1", "--name", "项目", "--owner", "330105017",
         "--site", COMMUNITY, "--category", "other", "--year", "2023", "--budget", "3万"),
        ("funding", "add", "P-1", "GS-A", "3万"),
        ("payments", "add", "P-1", "GS-A", "1万", "--date", "2023-06-01", "--voucher", "V1"),
    ):  # fmt: skip
        cli.ok(*args)
    assert cli("payments", "reverse", "V1").exit_code == 2  # --reason is required
    refused = cli("funding", "reverse", "P-1", "GS-A", "--reason", "错配")
    assert refused.exit_code != 0 and "reverse its payments first" in refused.output + refused.stderr
    assert "Reversed payment V1" in cli.ok("payments", "reverse", "V1", "--reason", "凭证录错")
    again = cli("payments", "reverse", "V1", "--reason", "再次")
    assert again.exit_code != 0 and "already reversed" in again.output + again.stderr
    assert "Reversed the funding line P-1 ← GS-A" in cli.ok(
        "funding", "reverse", "P-1", "GS-A", "--reason", "错配"
    )
    listed = cli.ok("allocations", "list")
    assert "drawn ¥0.00" in listed and "remaining ¥100,000.00" in listed
    rollup = json.loads(cli.ok("rollup", "--org", "330105", "--format", "json"))
    assert rollup["paid"] == "0.00" and rollup["drawn"] == "0.00"
    trail = cli.ok("audit", "list", "--entity", "payment")
    assert "reversal" in trail and "凭证录错" in trail


# The property: random draws, payments and reversals on a small tree.
STEP = st.tuples(
    st.sampled_from(("draw", "pay", "reverse_payment", "reverse_line")),
    st.integers(0, 2),  # which project
    st.integers(0, 1),  # which allocation
    st.integers(1, 400),  # yuan
)
PROPERTY = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@given(steps=st.lists(STEP, min_size=1, max_size=14))
@PROPERTY
def test_reversals_net_to_zero_in_rollups(engine, steps):
    with db.session_scope(engine, write=True) as session:
        act_as(session, CLERK)
        _net_to_zero(session, steps)
        session.rollback()


def _net_to_zero(session: Session, steps) -> None:
    tree = _tree(session)
    money = [
        allocations.save_allocation(
            session, WARN_ALL, org=tree[code], year=2023, amount=5000, code=f"A-{code}"
        ).row
        for code in ("330105", "330105017")
    ]
    owners = ("330105017", "330105017", "330105")
    work = [_project(session, tree, f"P-{i}", 1000, owner) for i, owner in enumerate(owners)]
    vouchers = 0
    for action, which, source, yuan in steps:
        project, allocation = work[which], money[source]
        if action == "draw":
            # The district's project may not draw on the street's money: refused, nothing written.
            with suppress(Invalid):
                allocations.draw(session, WARN_ALL, project, allocation, yuan)
            continue
        line = _line_of(session, project, allocation)
        if line is None:
            continue
        if action == "pay" and not line.is_reversed:
            vouchers += 1
            allocations.record_payment(
                session, WARN_ALL, line, paid_on=date(2023, 5, 1), amount=yuan,
                voucher_no=f"V{vouchers}",
            )  # fmt: skip
        elif action == "reverse_payment":
            counting = [p for p in allocations.payments_of(session, line) if p.counts]
            if counting:
                reverse_payment(session, counting[yuan % len(counting)], "随机冲销")
        elif action == "reverse_line" and not line.is_reversed and not (
            allocations.paid_on_line(session, line)
        ):
            reverse_funding_line(session, line, "随机冲销")
    _assert_rollup_counts_what_was_not_reversed(session, tree)
    for payment in session.execute(select(Payment)).scalars().all():
        if not payment.is_reversed:
            reverse_payment(session, payment, "全部冲销")
    for line in session.execute(select(FundingLine)).scalars().all():
        if not line.is_reversed:
            reverse_funding_line(session, line, "全部冲销")
    total = rollup_org(session, tree["33"], 2023).total
    assert (total.paid, total.drawn, sum(total.funding_by_level)) == (0, 0, 0)
    assert failing_rows(session, policies=WARN_ALL) == []


def _line_of(session: Session, project: Project, allocation) -> FundingLine | None:
    return session.execute(
        select(FundingLine).where(
            FundingLine.project_id == project.id, FundingLine.allocation_id == allocation.id
        )
    ).scalars().first()


def _assert_rollup_counts_what_was_not_reversed(session: Session, tree: dict) -> None:
    session.flush()
    lines = session.execute(select(FundingLine)).scalars().all()
    payments = session.execute(select(Payment)).scalars().all()
    drawn = sum(line.amount_fen for line in lines if not line.is_reversed)
    paid = sum(payment.amount_fen for payment in payments if payment.counts)
    total = rollup_org(session, tree["33"], 2023).total
    assert (total.drawn, sum(total.funding_by_level), total.paid) == (drawn, drawn, paid)
    for project in session.execute(select(Project)).scalars().all():
        session.refresh(project)
        own = [line for line in lines if line.project_id == project.id]
        ids = {line.id for line in own}
        assert project.paid_fen == sum(
            p.amount_fen for p in payments if p.funding_line_id in ids and p.counts
        )
