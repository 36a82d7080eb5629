"""Generate the rollup benchmark's data: the national tree plus 1,000,000 projects (fixed seed)."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, text

from cocon import db
from cocon.derived import recompute_all
from cocon.divisions import import_divisions

YEAR = 2023
SEED = 20231


def build(engine: Engine, data_dir: Path, projects: int, seed: int = SEED) -> dict[str, int]:
    """Load the national tree and generate allocations, projects, funding, contributions, payments."""
    rng = random.Random(seed)
    db.migrate(engine)
    with db.session_scope(engine, write=True) as session:
        import_divisions(session, data_dir)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT id, parent_id, level FROM org ORDER BY id")).all()
    parent = {org_id: parent_id for org_id, parent_id, _level in rows}
    by_level: dict[int, list[int]] = {level: [] for level in range(1, 6)}
    for org_id, _parent_id, level in rows:
        by_level[level].append(org_id)
    level_of = {org_id: level for org_id, _p, level in rows}

    # Allocations: every province, city and district; a third of streets; sub-allocations to streets.
    allocations: list[tuple] = []
    allocation_of: dict[int, int] = {}
    next_id = 1
    for level in (1, 2, 3):
        for org_id in by_level[level]:
            allocations.append(
                (next_id, f"A{next_id}", org_id, YEAR, rng.randint(50, 500) * 1_000_000, None, None)
            )
            allocation_of[org_id] = next_id
            next_id += 1
    for org_id in by_level[4]:
        if rng.random() < 1 / 3:
            district_allocation = allocation_of[parent[org_id]]
            allocations.append(
                (
                    next_id,
                    f"A{next_id}",
                    org_id,
                    YEAR,
                    rng.randint(1, 20) * 100_000,
                    district_allocation,
                    None,
                )
            )
            allocation_of[org_id] = next_id
            next_id += 1

    communities = by_level[5]
    projects_rows, lines, contributions, payments = [], [], [], []
    line_id = 0
    statuses = ["draft", "submitted", "approved", "in_progress", "completed", "cancelled"]
    weights = [5, 5, 30, 30, 25, 5]
    categories = [
        "venue_renovation",
        "elderly_care",
        "child_care",
        "culture_sports",
        "party_mass_service",
        "community_governance",
        "other",
    ]
    for project_id in range(1, projects + 1):
        site = rng.choice(communities)
        owner = site
        for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
            owner = parent[owner]
        budget = rng.randint(3, 60) * 1_000_000
        status = rng.choices(statuses, weights)[0]
        projects_rows.append(
            (
                project_id,
                f"P{project_id:07d}",
                f"项目{project_id}",
                owner,
                site,
                5,
                rng.choice(categories),
                YEAR,
                status,
                date(YEAR, 3, 1),
                date(YEAR, 11, 30),
                budget,
                rng.randint(50, 5000),
                rng.randint(10, 3000),
            )
        )
        # Funding from one or two allocations above the owner.
        ancestors = []
        node = owner
        while node is not None:
            if node in allocation_of:
                ancestors.append(allocation_of[node])
            node = parent[node]
        remaining = budget
        for allocation_id in rng.sample(ancestors, k=min(len(ancestors), rng.choice((1, 2)))):
            amount = remaining // 2 if remaining > 2 else remaining
            if amount <= 0:
                continue
            line_id += 1
            lines.append((line_id, project_id, allocation_id, amount))
            remaining -= amount
            if status in ("in_progress", "completed"):
                payments.append(
                    (line_id, line_id, date(YEAR, 6, 1), amount // 2 or amount, f"V{line_id}", None)
                )
        if remaining > 0 and rng.random() < 0.5:
            contributions.append(
                (project_id, project_id, 1 + project_id % 500, "cash", remaining, None)
            )

    partners = [
        (i, f"9133010{i:010d}X", f"共建单位{i}", "enterprise", None, None) for i in range(1, 501)
    ]
    with engine.begin() as conn:
        db.bulk_insert(
            conn,
            "allocation",
            ("id", "code", "org_id", "year", "amount_fen", "parent_id", "source_note"),
            allocations,
        )
        db.bulk_insert(
            conn, "partner", ("id", "credit_code", "name", "kind", "contact", "phone"), partners
        )
        project_columns = (
            "id",
            "code",
            "name",
            "owner_id",
            "site_id",
            "site_level",
            "category",
            "year",
            "status",
            "start_date",
            "end_date",
            "budget_fen",
            "area_m2",
            "households_served",
        )
        for start in range(0, len(projects_rows), 100_000):
            db.bulk_insert(conn, "project", project_columns, projects_rows[start : start + 100_000])
        for start in range(0, len(lines), 100_000):
            db.bulk_insert(
                conn,
                "funding_line",
                ("id", "project_id", "allocation_id", "amount_fen"),
                lines[start : start + 100_000],
            )
        for start in range(0, len(contributions), 100_000):
            db.bulk_insert(
                conn,
                "contribution",
                ("id", "project_id", "partner_id", "kind", "amount_fen", "note"),
                contributions[start : start + 100_000],
            )
        for start in range(0, len(payments), 100_000):
            db.bulk_insert(
                conn,
                "payment",
                ("id", "funding_line_id", "paid_on", "amount_fen", "voucher_no", "note"),
                payments[start : start + 100_000],
            )
        if engine.dialect.name == "postgresql":
            for table in (
                "allocation",
                "partner",
                "project",
                "funding_line",
                "contribution",
                "payment",
            ):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    )
                )
    with db.session_scope(engine, write=True) as session:
        recompute_all(session)
    return {
        "orgs": len(rows),
        "allocations": len(allocations),
        "projects": len(projects_rows),
        "funding_lines": len(lines),
        "contributions": len(contributions),
        "payments": len(payments),
        "levels": len(set(level_of.values())),
    }
