"""A scope's failing checks in order, and the first of them with their count, without wording all."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from cocon import db, orgs, projects
from cocon.checks import BLOCK, DEFAULT, Policies, Rule
from cocon.findings import failing_rows, first_failing_rows
from tests import workbooks

database_url = workbooks.database_url
BLOCK_DATES = Policies({Rule.DATES_OUTSIDE_YEAR.value: "block"})


def _approved_without_money(engine, count: int) -> None:
    """Add count approved projects with no funding (a gap each), every third dated 2022 too."""
    with db.session_scope(engine, write=True) as session:
        street, site = orgs.get_org(session, "330105017"), orgs.get_org(session, "330105017003")
        for number in range(count):
            data = projects.ProjectInput(
                name=f"缺口项目{number}",
                owner=street,
                site=site,
                category="other",
                year=2023,
                budget=1000 + number,
                start_date="2022-12-01" if number % 3 == 0 else None,
                code=f"GAP-{number:03d}",
            )
            project = projects.save_project(session, data)
            for status in ("submitted", "approved"):
                projects.change_status(session, project, status)


@pytest.mark.parametrize("policies", [DEFAULT, BLOCK_DATES], ids=["default", "dates-block"])
@pytest.mark.parametrize("limit", [1, 7, 1000])
def test_first_failing_rows_equal_the_head_of_failing_rows(engine, policies, limit):
    _approved_without_money(engine, 12)
    with Session(engine) as session:
        scope = orgs.get_org(session, "330105")
        every = failing_rows(session, scope, 2023, policies)
        first, count = first_failing_rows(session, scope, 2023, policies, limit)
    assert len(every) == 1 + 12 + 4  # the demo's warning, a gap each, four dated 2022
    assert every == sorted(every, key=lambda f: (f.severity != BLOCK, f.rule.value, f.subject))
    assert [(f.rule, f.severity, f.subject, f.message) for f in first] == [
        (f.rule, f.severity, f.subject, f.message) for f in every[:limit]
    ]
    assert count == len(every)
