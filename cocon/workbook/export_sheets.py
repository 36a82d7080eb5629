"""The sheets of finance's review workbook, each written top to bottom by a SheetWriter.

Every data sheet streams its rows from the database (``_Context.stream``) into the sheet as
they arrive, so memory stays flat however many rows there are; only the Summary (one row per
org down to a capped depth) is built in memory. The Checks stream too, rule by rule, in the
order cocon.findings.failing_rows gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from xlsxwriter.utility import xl_col_to_name

from cocon.allocation_report import allocation_reports
from cocon.i18n import current_language
from cocon.models import (
    Allocation,
    Category,
    Contribution,
    ContributionKind,
    FundingLine,
    Level,
    Org,
    Partner,
    PartnerKind,
    Payment,
    Project,
    Status,
)
from cocon.money import to_decimal_yuan
from cocon.orgs import level_name
from cocon.review import approvals, beijing_date
from cocon.rollup import RollupNode, rollup_tree
from cocon.rules import funded_sql
from cocon.scope import within
from cocon.workbook.export_layout import (
    ALLOCATION_EXTRAS,
    CHART_DATA,
    CHART_TITLES,
    CONTRIBUTION_EXTRAS,
    FUNDING_EXTRAS,
    PIXELS_PER_CM,
    PROJECT_EXTRAS,
    SUMMARY,
    SUMMARY_DEPTH_CAP,
    pick,
)
from cocon.workbook.export_sheet import Formula, SheetWriter
from cocon.workbook.export_text import xml_safe_text
from cocon.workbook.schema import (
    ALLOCATIONS,
    CONTRIBUTIONS,
    FUNDING,
    PARTNERS,
    PAYMENTS,
    PROJECTS,
)

if TYPE_CHECKING:
    from cocon.workbook.exporter import _Context


def _summary_depth(root: Org | None) -> int | None:
    if root is not None and root.level >= Level.DISTRICT:
        return None
    return SUMMARY_DEPTH_CAP


def _walk(nodes: list[RollupNode], depth: int = 0) -> Iterator[tuple[RollupNode, int]]:
    for node in nodes:
        yield node, depth
        yield from _walk(node.children, depth + 1)


def write_summary(context: _Context) -> None:
    """Write the rollup of every org down to the capped depth, as an outline, and its chart."""
    roots = rollup_tree(context.session, context.root, context.year, _summary_depth(context.root))
    nodes = list(_walk(roots))
    writer = SheetWriter(context, SUMMARY, SUMMARY.columns, freeze="C2", outline=True)
    ws = writer.ws
    writer.start(len(nodes))
    for node, depth in nodes:
        total = node.total
        if depth:
            # Before any cell of the row: constant_memory writes a row out when the next begins.
            ws.set_row(writer.cursor, None, None, {"level": min(depth, 7), "hidden": False})
            writer.name(1, node.name, depth)
            name = None
        else:
            name = node.name
        writer.typed_row(
            (
                node.code,
                name,
                level_name(node.level),
                total.project_count,
                total.budget,
                *total.funding_by_level,
                total.partners,
                total.funded,
                total.paid,
                total.held,
                total.drawn,
                total.remaining,
                total.failing,
                *total.funding_by_holder_level,
            )
        )
    _summary_chart(writer, roots, context.root is not None)
    writer.finish(autofilter=False)


def _summary_chart(writer: SheetWriter, roots: list[RollupNode], rooted: bool) -> None:
    """Below the outline: held, drawn and paid of each child of root, and a bar chart of them."""
    chart_nodes = (roots[0].children if rooted and roots else roots) or roots
    if not chart_nodes:
        return
    ws = writer.ws
    writer.skip()  # a blank row below the outline
    title_row = writer.cursor
    ws.write_string(title_row, 0, pick(CHART_DATA), writer.formats.total_label)
    writer.skip()
    keys = ("held", "drawn", "paid")
    for node in chart_nodes:
        row: list[object] = [None] * len(writer.columns)
        row[0], row[1] = node.code, node.name
        for key in keys:
            row[writer.index(key)] = getattr(node.total, key)
        writer.cells(row)
    first, last = title_row + 1, title_row + len(chart_nodes)  # 0-based sheet rows
    chart = writer.context.workbook.add_chart({"type": "column", "subtype": "clustered"})
    # constant_memory cannot read the cells back for the chart's caches: hand them over, so
    # a viewer that draws from the caches shows the bars and names too.
    names = ["" if node.name is None else xml_safe_text(node.name) for node in chart_nodes]
    for key in keys:
        col = writer.index(key)
        values = [float(to_decimal_yuan(getattr(node.total, key))) for node in chart_nodes]
        chart.add_series(
            {
                "name": writer.columns[col].header(current_language()),
                "categories": [writer.title, first, 1, last, 1],
                "values": [writer.title, first, col, last, col],
                "categories_data": names,
                "values_data": values,
            }
        )
    chart.set_title({"name": pick(CHART_TITLES)})
    chart.set_y_axis(
        {"name": "元" if current_language() == "zh_CN" else "yuan", "num_format": "#,##0"}
    )
    width_cm = max(18, min(40, 2.2 * len(chart_nodes)))
    chart.set_size({"width": round(width_cm * PIXELS_PER_CM), "height": round(9 * PIXELS_PER_CM)})
    ws.insert_chart(last + 2, 0, chart)


def write_partners(context: _Context) -> None:
    """Write the partners that contribute to the exported projects (every one unscoped)."""
    statement = select(
        Partner.credit_code,
        Partner.name,
        Partner.kind,
        Partner.contact,
        Partner.phone,
        Partner.version,
    ).order_by(Partner.credit_code)
    if context.root is not None or context.year is not None or context.conditions:
        used = context.projects_in_scope(
            select(Contribution.partner_id).join(Project, Project.id == Contribution.project_id)
        )
        statement = statement.where(Partner.id.in_(used))
    writer = SheetWriter(context, PARTNERS, PARTNERS.columns)
    writer.start(context.count(statement))
    for credit_code, name, kind, contact, phone, version in context.stream(statement):
        if not context.with_contacts:
            contact = phone = None
        named = context.named(PartnerKind, kind)
        writer.typed_row((credit_code, name, named, contact, phone, version))
    writer.finish()


def write_projects(context: _Context) -> None:
    """Write the projects of the scope with their names, funding, gap and payments."""
    site = aliased(Org)
    owner = aliased(Org)
    approval = approvals()
    statement = (
        select(
            Project.code,
            Project.name,
            owner.code,
            site.code,
            Project.category,
            Project.year,
            Project.status,
            Project.start_date,
            Project.end_date,
            Project.budget_fen,
            Project.area_m2,
            Project.households_served,
            Project.description,
            Project.version,
            owner.name,
            site.name,
            funded_sql(),
            Project.paid_fen,
            approval.c.approved_by,
            approval.c.approved_at,
        )
        .join(owner, owner.id == Project.owner_id)
        .join(site, site.id == Project.site_id)
        .outerjoin(approval, approval.c.project_id == Project.id)
        .where(within(owner, context.root), *context.conditions)
        .order_by(Project.code)
    )
    if context.year is not None:
        statement = statement.where(Project.year == context.year)
    columns = (*PROJECTS.columns, *PROJECT_EXTRAS)
    writer = SheetWriter(context, PROJECTS, columns, freeze="C2")
    writer.start(context.count(statement))
    for row in context.stream(statement):
        (code, name, owner_code, site_code, category, year, status, start, end, budget) = row[:10]
        area, households, description, version, owner_name, site_name, funded, paid = row[10:18]
        approved_by, approved_at = row[18:]
        writer.typed_row(
            (
                code,
                name,
                owner_code,
                site_code,
                context.named(Category, category),
                year,
                context.named(Status, status),
                start,
                end,
                budget,
                area,
                households,
                description,
                version,
                owner_name,
                site_name,
                funded,
                budget - funded,
                paid,
                approved_by,
                beijing_date(approved_at) if approved_at else None,
            )
        )
    writer.finish(("budget", "funded", "gap", "paid"))


def write_funding(context: _Context) -> None:
    """Write the funding lines of the exported projects and whose allocation each draws on."""
    holder, root, origin = aliased(Org), aliased(Allocation), aliased(Org)
    statement = context.projects_in_scope(
        select(
            Project.code,
            Allocation.code,
            FundingLine.amount_fen,
            FundingLine.version,
            holder.name,
            holder.level,
            origin.name,
            origin.level,
        )
        .select_from(FundingLine)
        .join(Project, Project.id == FundingLine.project_id)
        .join(Allocation, Allocation.id == FundingLine.allocation_id)
        .join(holder, holder.id == Allocation.org_id)
        .join(root, root.id == func.coalesce(Allocation.origin_id, Allocation.id))
        .join(origin, origin.id == root.org_id)
        # A reversed line draws nothing: imported back, it would draw again.
        .where(FundingLine.counting())
    ).order_by(Project.code, Allocation.code)
    writer = SheetWriter(context, FUNDING, (*FUNDING.columns, *FUNDING_EXTRAS))
    writer.start(context.count(statement))
    for project, allocation, amount, version, org_name, level, source, source_level in (
        context.stream(statement)
    ):
        writer.typed_row(
            (
                project,
                allocation,
                amount,
                version,
                org_name,
                level_name(level),
                source,
                level_name(source_level),
            )
        )
    writer.finish(("amount",))


def write_contributions(context: _Context) -> None:
    """Write the partner contributions of the exported projects."""
    statement = context.projects_in_scope(
        select(
            Project.code,
            Partner.credit_code,
            Contribution.kind,
            Contribution.amount_fen,
            Contribution.note,
            Partner.name,
        )
        .select_from(Contribution)
        .join(Project, Project.id == Contribution.project_id)
        .join(Partner, Partner.id == Contribution.partner_id)
    ).order_by(Project.code, Partner.credit_code, Contribution.kind)
    writer = SheetWriter(context, CONTRIBUTIONS, (*CONTRIBUTIONS.columns, *CONTRIBUTION_EXTRAS))
    writer.start(context.count(statement))
    for project_code, credit_code, kind, amount, note, name in context.stream(statement):
        writer.typed_row(
            (project_code, credit_code, context.named(ContributionKind, kind), amount, note, name)
        )
    writer.finish(("amount",))


def write_allocations(context: _Context) -> None:
    """Write the allocations of the scope, each with a formula for what remains of it."""
    holder, parent = aliased(Org), aliased(Allocation)
    statement = (
        select(
            Allocation.code,
            holder.code,
            Allocation.year,
            Allocation.amount_fen,
            parent.code,
            Allocation.source_note,
            Allocation.version,
            holder.name,
            Allocation.drawn_fen,
            Allocation.sub_allocated_fen,
            Allocation.id,
        )
        .join(holder, holder.id == Allocation.org_id)
        .outerjoin(parent, parent.id == Allocation.parent_id)
        .where(within(holder, context.root))
        .order_by(Allocation.code)
    )
    if context.year is not None:
        statement = statement.where(Allocation.year == context.year)
    columns = (*ALLOCATIONS.columns, *ALLOCATION_EXTRAS)
    writer = SheetWriter(context, ALLOCATIONS, columns)
    keys = ("amount", "drawn", "passed_down")
    (amount, drawn, passed), remaining = (writer.index(k) for k in keys), writer.index("remaining")
    letters = [xl_col_to_name(col) for col in (amount, drawn, passed)]
    writer.start(context.count(statement))
    reports = allocation_reports(
        context.session, [row[-1] for row in context.session.execute(statement)]
    )
    for *values, allocation_id in context.stream(statement):
        row = writer.cursor
        excel_row = row + 1
        left = (values[amount] or 0) - (values[drawn] or 0) - (values[passed] or 0)
        formula = "={}{row}-{}{row}-{}{row}".format(*letters, row=excel_row)
        writer.sums[remaining] += left
        report = reports[allocation_id]
        tree = (report.origin_code, report.drawn_downstream, report.unspent, report.paid)
        writer.typed_row((*values, Formula(formula, left), *tree))
    if writer.rows:
        letter = xl_col_to_name(remaining)
        writer.ws.conditional_format(
            f"A2:{letter}{writer.last_row}",
            {"type": "formula", "criteria": f"=${letter}2<0", "format": writer.formats.over},
        )
    writer.finish(("amount", "drawn", "passed_down", "remaining"))


def write_payments(context: _Context) -> None:
    """Write the payments against the exported projects' funding lines."""
    statement = context.projects_in_scope(
        select(
            Payment.voucher_no,
            Project.code,
            Allocation.code,
            Payment.paid_on,
            Payment.amount_fen,
            Payment.note,
        )
        .select_from(Payment)
        .join(FundingLine, FundingLine.id == Payment.funding_line_id)
        .join(Project, Project.id == FundingLine.project_id)
        .join(Allocation, Allocation.id == FundingLine.allocation_id)
        # One awaiting its second signature is not paid yet, a reversed one never was:
        # imported back, either would count.
        .where(Payment.counted_fen() == Payment.amount_fen)
    ).order_by(Project.code, Allocation.code, Payment.paid_on, Payment.voucher_no)
    writer = SheetWriter(context, PAYMENTS, PAYMENTS.columns)
    writer.start(context.count(statement))
    for values in context.stream(statement):
        writer.typed_row(values)
    writer.finish(("amount",))
