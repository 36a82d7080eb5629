"""Commands for partners, projects, allocations, funding, payments, rollups and checks."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from cocon.cli.base import AppContext, pass_app, print_warnings, report_errors
from cocon.i18n import _
from cocon.money import format_yuan

# The core (SQLModel, numpy) is imported by each command, so `cocon --help` starts fast.
if TYPE_CHECKING:
    from cocon.models import Org
    from cocon.rollup import RollupNode


@click.group("partners")
def partners_group() -> None:
    """Partner units (共建单位)."""


@partners_group.command("add")
@click.argument("credit_code")
@click.argument("name")
@click.option(
    "--kind",
    default="enterprise",
    show_default=True,
    help="enterprise, school, hospital, … (or 企业, 学校, …)",
)
@click.option("--contact", help="Contact person.")
@click.option("--phone", help="Contact phone.")
@pass_app
@report_errors
def partner_add(
    app: AppContext, credit_code: str, name: str, kind: str, contact: str | None, phone: str | None
) -> None:
    """Add a partner unit, or update the one with this credit code."""
    from cocon import partners
    from cocon.labels import label
    from cocon.models import PartnerKind

    with app.session(write=True) as session:
        existing = partners.find_partner(session, credit_code.strip().upper())
        partner = partners.save_partner(
            session,
            credit_code=credit_code,
            name=name,
            kind=kind,
            contact=contact,
            phone=phone,
            partner=existing,
        )
        click.echo(f"{partner.credit_code}  {partner.name}  {label(PartnerKind, partner.kind)}")


@partners_group.command("list")
@click.option("--search", default="", help="Part of the name or credit code.")
@pass_app
@report_errors
def partner_list(app: AppContext, search: str) -> None:
    """List partner units."""
    from cocon import partners
    from cocon.labels import label
    from cocon.models import PartnerKind

    with app.session() as session:
        for partner in partners.list_partners(session, search):
            click.echo(
                f"{partner.credit_code}  {partner.name}  {label(PartnerKind, partner.kind)}  "
                f"{partner.contact or ''} {partner.phone or ''}".rstrip()
            )


@click.group("projects")
def projects_group() -> None:
    """Co-construction projects (共建项目)."""


@projects_group.command("add")
@click.option("--code", help="Project code, e.g. GS-2023-001 (made up when left out).")
@click.option("--name", required=True)
@click.option("--owner", required=True, help="Code or name of the leading org.")
@click.option("--site", required=True, help="Code or name of the community where it is sited.")
@click.option("--category", required=True, help="e.g. elderly_care or 养老服务.")
@click.option("--year", required=True)
@click.option("--budget", default="0", help="e.g. 120000, 12万, ¥120,000.00.")
@click.option("--start", "start_date")
@click.option("--end", "end_date")
@click.option("--area", "area_m2", help="Area in square metres.")
@click.option("--households", "households_served", help="Households served.")
@click.option("--description")
@pass_app
@report_errors
def project_add(app: AppContext, owner: str, site: str, **fields: str | None) -> None:
    """Add a project (status draft)."""
    from cocon import allocations, orgs, projects

    with app.session(write=True) as session:
        data = projects.ProjectInput(
            owner=orgs.resolve_org(session, owner), site=orgs.resolve_org(session, site), **fields
        )
        project = projects.save_project(session, data)
        print_warnings(allocations.project_warnings(session, app.policies, project))
        click.echo(_("Added project {code}").format(code=project.code))


@projects_group.command("list")
@click.option("--org", "org_code", help="Only projects owned in this org's subtree.")
@click.option("--year", type=int)
@click.option("--status", help="e.g. approved or 已批准.")
@pass_app
@report_errors
def project_list(
    app: AppContext, org_code: str | None, year: int | None, status: str | None
) -> None:
    """List projects with owner, site, status and budget."""
    from cocon import orgs, projects
    from cocon.labels import label
    from cocon.models import Category, Status

    with app.session() as session:
        scope = orgs.resolve_org(session, org_code) if org_code else None
        found = projects.list_projects(session, scope=scope, year=year, status=status)
        for project, owner, site in found:
            click.echo(
                f"{project.code}  {project.name}  {owner.name} › {site.name}  {label(Category, project.category)}  "
                f"{project.year}  {label(Status, project.status)}  {format_yuan(project.budget_fen)}"
            )


@projects_group.command("status")
@click.argument("code")
@click.argument("status")
@click.option("--note")
@pass_app
@report_errors
def project_status(app: AppContext, code: str, status: str, note: str | None) -> None:
    """Move a project to a new status (e.g. submitted, approved, in_progress)."""
    from cocon import projects
    from cocon.labels import label
    from cocon.models import Status

    with app.session(write=True) as session:
        project = projects.change_status(session, projects.get_project(session, code), status, note)
        click.echo(f"{project.code}: {label(Status, project.status)}")


@projects_group.command("contribute")
@click.argument("code")
@click.argument("partner")
@click.argument("amount")
@click.option(
    "--kind", default="cash", show_default=True, help="cash or in_kind (现金 / 实物（折价）)."
)
@click.option("--note")
@pass_app
@report_errors
def project_contribute(
    app: AppContext, code: str, partner: str, amount: str, kind: str, note: str | None
) -> None:
    """Record a partner's contribution to a project."""
    from cocon import allocations, partners, projects

    with app.session(write=True) as session:
        project = projects.get_project(session, code)
        projects.set_contribution(
            session, project, partners.get_partner(session, partner), amount, kind, note
        )
        print_warnings(allocations.project_warnings(session, app.policies, project))
        click.echo(_("Recorded"))


@click.group("allocations")
def allocations_group() -> None:
    """Allocations (专项资金) and sub-allocations (下拨)."""


@allocations_group.command("add")
@click.argument("org_code")
@click.argument("year")
@click.argument("amount")
@click.option("--code", help="Allocation code (made up when left out).")
@click.option(
    "--parent", "parent_code", help="Code of the parent allocation, for a sub-allocation."
)
@click.option("--note", "source_note", help="Where the money comes from.")
@pass_app
@report_errors
def allocation_add(
    app: AppContext,
    org_code: str,
    year: str,
    amount: str,
    code: str | None,
    parent_code: str | None,
    source_note: str | None,
) -> None:
    """Add an allocation of an org for a year; with --parent, a sub-allocation."""
    from cocon import allocations, orgs

    with app.session(write=True) as session:
        parent = allocations.get_allocation(session, parent_code) if parent_code else None
        saved = allocations.save_allocation(
            session,
            app.policies,
            org=orgs.resolve_org(session, org_code),
            year=year,
            amount=amount,
            code=code,
            parent=parent,
            source_note=source_note,
        )
        print_warnings(saved.warnings)
        click.echo(_("Added allocation {code}").format(code=saved.row.code))


@allocations_group.command("list")
@click.option("--org", "org_code", help="Only allocations held in this org's subtree.")
@click.option("--year", type=int)
@pass_app
@report_errors
def allocation_list(app: AppContext, org_code: str | None, year: int | None) -> None:
    """List allocations with amount, drawn, passed down and remaining."""
    from cocon import allocations, orgs

    with app.session() as session:
        scope = orgs.resolve_org(session, org_code) if org_code else None
        for allocation, org, used in allocations.list_allocations(session, scope=scope, year=year):
            click.echo(
                f"{allocation.code}  {org.name}  {allocation.year}  {format_yuan(allocation.amount_fen)}  "
                + _("drawn {drawn}, passed down {subs}, remaining {remaining}").format(
                    drawn=format_yuan(used.drawn),
                    subs=format_yuan(used.sub_allocated),
                    remaining=format_yuan(used.remaining),
                )
            )


@click.group("funding")
def funding_group() -> None:
    """Funding lines: projects drawing on allocations (资金安排)."""


@funding_group.command("add")
@click.argument("project_code")
@click.argument("allocation_code")
@click.argument("amount")
@pass_app
@report_errors
def funding_add(app: AppContext, project_code: str, allocation_code: str, amount: str) -> None:
    """Set how much a project draws from an allocation."""
    from cocon import allocations, projects

    with app.session(write=True) as session:
        project = projects.get_project(session, project_code)
        allocation = allocations.get_allocation(session, allocation_code)
        saved = allocations.draw(session, app.policies, project, allocation, amount)
        print_warnings(saved.warnings)
        click.echo(
            _("{project} draws {amount} from {allocation}").format(
                project=project.code,
                amount=format_yuan(saved.row.amount_fen),
                allocation=allocation.code,
            )
        )


@click.group("payments")
def payments_group() -> None:
    """Payments (拨付) against funding lines."""


@payments_group.command("add")
@click.argument("project_code")
@click.argument("allocation_code")
@click.argument("amount")
@click.option("--date", "paid_on", required=True, help="e.g. 2023-05-10.")
@click.option("--voucher", "voucher_no", required=True, help="Voucher number.")
@click.option("--note")
@pass_app
@report_errors
def payment_add(
    app: AppContext,
    project_code: str,
    allocation_code: str,
    amount: str,
    paid_on: str,
    voucher_no: str,
    note: str | None,
) -> None:
    """Record a payment on a project's funding line from an allocation."""
    from cocon import allocations, projects

    with app.session(write=True) as session:
        project = projects.get_project(session, project_code)
        line = allocations.get_funding_line(
            session, project, allocations.get_allocation(session, allocation_code)
        )
        saved = allocations.record_payment(
            session,
            app.policies,
            line,
            paid_on=paid_on,
            amount=amount,
            voucher_no=voucher_no,
            note=note,
        )
        print_warnings(saved.warnings)
        click.echo(
            _("Paid {amount} ({voucher})").format(
                amount=format_yuan(saved.row.amount_fen), voucher=voucher_no
            )
        )


def _scope_and_year(session, org_code: str | None) -> Org | None:
    from cocon import orgs

    return orgs.resolve_org(session, org_code) if org_code else None


@click.command("rollup")
@click.option("--org", "org_code", help="Root of the rollup (every province without it).")
@click.option("--year", type=int)
@click.option(
    "--depth", type=click.IntRange(min=0), default=None, help="Levels to show below the root."
)
@click.option(
    "--format", "output", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@pass_app
@report_errors
def rollup_command(
    app: AppContext, org_code: str | None, year: int | None, depth: int | None, output: str
) -> None:
    """Print the figures of every org in a subtree, summed over its own subtree."""
    from cocon.labels import source_label
    from cocon.rollup import SOURCE_KEYS, nodes_to_dicts, rollup_tree

    with app.session() as session:
        roots = rollup_tree(session, _scope_and_year(session, org_code), year, depth)
        data = nodes_to_dicts(session, roots, year) if output == "json" else []
    if output == "json":
        click.echo(json.dumps(data[0] if org_code else data, ensure_ascii=False, indent=2))
        return
    headers = [
        _("Project count"),
        _("Budget"),
        *[source_label(key) for key in (*SOURCE_KEYS, "partners")],
        _("Paid"),
        _("Held"),
        _("Drawn"),
        _("Remaining"),
    ]
    click.echo(_("Org") + " | " + " | ".join(headers))
    for root in roots:
        _print_node(root, 0)


def _print_node(node: RollupNode, depth: int) -> None:
    total = node.total
    cells = [str(total.project_count), format_yuan(total.budget)]
    cells += [format_yuan(amount) for amount in total.funding_by_level]
    cells += [
        format_yuan(total.partners),
        format_yuan(total.paid),
        format_yuan(total.held),
        format_yuan(total.drawn),
        format_yuan(total.remaining),
    ]
    mark = "! " if total.failing else "  "
    failing = (
        "  " + _("[{count} failing checks]").format(count=total.failing) if total.failing else ""
    )
    click.echo(f"{mark}{'  ' * depth}{node.name} ({node.code}) | " + " | ".join(cells) + failing)
    for child in node.children:
        _print_node(child, depth + 1)


@click.command("check")
@click.option("--org", "org_code", help="Check this org's subtree (everything without it).")
@click.option("--year", type=int)
@pass_app
@report_errors
def check_command(app: AppContext, org_code: str | None, year: int | None) -> None:
    """List every failing check; exit status 1 when a blocking rule fails."""
    from cocon.findings import failing_rows

    with app.session() as session:
        findings = failing_rows(session, _scope_and_year(session, org_code), year, app.policies)
    for finding in findings:
        severity = _("BLOCK") if finding.severity == "block" else _("WARN")
        click.echo(f"[{severity}] {finding.message}")
    blocking = sum(1 for f in findings if f.severity == "block")
    click.echo(
        _("{count} failing checks, {blocking} blocking").format(
            count=len(findings), blocking=blocking
        )
    )
    if blocking:
        raise SystemExit(1)


COMMANDS = [
    partners_group,
    projects_group,
    allocations_group,
    funding_group,
    payments_group,
    rollup_command,
    check_command,
]
