"""The review rule by level (cocon.rights.may_submit / may_review / may_confirm_payment)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cocon.actors import Actor
from cocon.errors import Forbidden, Refused
from cocon.rights import Role, may_confirm_payment, may_review, may_submit


@dataclass(frozen=True)
class FakeOrg:
    """Just what the rule reads of an org."""

    id: int
    level: int
    path: str


CITY = FakeOrg(2, 2, "/33/3301/")
DISTRICT = FakeOrg(3, 3, "/33/3301/330105/")
STREET = FakeOrg(4, 4, "/33/3301/330105/330105017/")
COMMUNITY = FakeOrg(5, 5, "/33/3301/330105/330105017/330105017003/")
OTHER_STREET = FakeOrg(6, 4, "/33/3301/330105/330105008/")
ORGS = {org.id: org for org in (CITY, DISTRICT, STREET, COMMUNITY, OTHER_STREET)}


def user(role: Role, org: FakeOrg, user_id: int = 7) -> Actor:
    return Actor(f"{role}-{org.id}", user_id, role, org.id)


def review(actor: Actor, owner: FakeOrg, submitted_by: int | None = 1, edited_by: int | None = 2):
    return may_review(actor, ORGS.get(actor.org_id), owner, submitted_by, edited_by)


@pytest.mark.parametrize(
    ("role", "org", "owner", "allowed"),
    [
        (Role.OFFICE, STREET, COMMUNITY, True),  # one level up
        (Role.FINANCE, STREET, COMMUNITY, True),
        (Role.ADMIN, DISTRICT, COMMUNITY, True),  # any org strictly above
        (Role.OFFICE, CITY, STREET, True),
        (Role.OFFICE, STREET, STREET, False),  # the own org's office
        (Role.FINANCE, STREET, STREET, False),  # own finance below district level
        (Role.FINANCE, DISTRICT, DISTRICT, True),  # own finance from district level up
        (Role.FINANCE, CITY, CITY, True),
        (Role.OFFICE, DISTRICT, DISTRICT, False),
        (Role.ADMIN, DISTRICT, DISTRICT, False),  # admins obey the levels
        (Role.VIEWER, DISTRICT, COMMUNITY, False),
        (Role.OFFICE, OTHER_STREET, COMMUNITY, False),  # a neighbour, not above
        (Role.OFFICE, COMMUNITY, STREET, False),  # below
    ],
)
def test_who_may_review_by_level(role, org, owner, allowed):
    refusal = review(user(role, org), owner)
    assert (refusal is None) == allowed
    if not allowed:
        assert isinstance(refusal, Forbidden)


def test_four_eyes_refuse_the_submitter_and_the_last_editor():
    reviewer = user(Role.OFFICE, DISTRICT, user_id=9)
    assert isinstance(review(reviewer, STREET, submitted_by=9), Refused)
    assert isinstance(review(reviewer, STREET, edited_by=9), Refused)
    assert review(reviewer, STREET, submitted_by=None, edited_by=None) is None


def test_the_operator_is_exempt():
    cli = Actor("cli:root")
    assert review(cli, STREET, submitted_by=None, edited_by=None) is None
    assert may_submit(cli, STREET) is None
    assert may_confirm_payment(cli, None) is None


def test_the_owner_org_submits():
    assert may_submit(user(Role.OFFICE, STREET), STREET) is None
    assert may_submit(user(Role.ADMIN, STREET), STREET) is None
    assert isinstance(may_submit(user(Role.OFFICE, DISTRICT), STREET), Forbidden)
    assert isinstance(may_submit(user(Role.FINANCE, STREET), STREET), Forbidden)


def test_the_recorder_may_not_confirm_their_own_payment():
    assert isinstance(may_confirm_payment(user(Role.FINANCE, DISTRICT, 3), 3), Refused)
    assert may_confirm_payment(user(Role.FINANCE, STREET, 4), 3) is None
    assert isinstance(may_confirm_payment(user(Role.OFFICE, STREET, 4), 3), Forbidden)
