"""Commands for Excel: the import template, importing, and finance's review workbook."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cocon.cli.base import AppContext, pass_app, print_warnings, report_errors, terminal_progress
from cocon.i18n import _, current_language

# The importer and exporter (SQLModel, openpyxl) are imported by each command.
if TYPE_CHECKING:
    from cocon.workbook.importer import ImportReport

WARNINGS_SHOWN = 20


def print_import_report(report: ImportReport) -> None:
    """Print, per sheet, what was (or would be) created, updated and left unchanged."""
    for sheet in report.sheets:
        click.echo(
            _("{sheet}: {created} to create, {updated} to update, {unchanged} unchanged").format(
                sheet=sheet.title,
                created=sheet.created,
                updated=sheet.updated,
                unchanged=sheet.unchanged,
            )
        )
        if sheet.ignored_columns:
            click.echo(
                "  "
                + _("Ignored columns: {columns}").format(columns=", ".join(sheet.ignored_columns))
            )
        if sheet.example_skipped:
            click.echo("  " + _("The template's example row was left unchanged and skipped."))
    if report.ignored_sheets:
        click.echo(_("Ignored sheets: {sheets}").format(sheets=", ".join(report.ignored_sheets)))
    print_warnings(report.warnings[:WARNINGS_SHOWN])
    if report.warning_count > WARNINGS_SHOWN:
        click.echo(
            _("… and {count} more warnings: run `cocon check` to see them all").format(
                count=report.warning_count - WARNINGS_SHOWN
            ),
            err=True,
        )


@click.command("template")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@pass_app
@report_errors
def template_command(app: AppContext, path: Path) -> None:
    """Write the import workbook: instructions, one sheet per kind of row, dropdowns."""
    from cocon.workbook.template import write_template

    write_template(path, language=current_language())
    click.echo(_("Wrote {path}").format(path=path))


@click.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and report, write nothing.")
@click.option(
    "--errors-to",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a copy of the workbook with each bad cell marked.",
)
@pass_app
@report_errors
def import_command(app: AppContext, path: Path, dry_run: bool, errors_to: Path | None) -> None:
    """Import a workbook (or a folder of CSV files): every row, or nothing."""
    from cocon.workbook.importer import WorkbookRejected, import_source
    from cocon.workbook.importer import dry_run as check_source

    try:
        if dry_run:  # reads only: other writers do not wait for it (see importer.dry_run)
            with terminal_progress() as progress, app.session() as session:
                report = check_source(session, path, app.policies, progress=progress)
            if report.all_problems:
                raise WorkbookRejected(report)
        else:
            with terminal_progress() as progress, app.session(write=True) as session:
                report = import_source(session, path, app.policies, progress)
    except WorkbookRejected as rejected:
        print_import_report(rejected.report)
        if errors_to is not None and path.is_file():
            from cocon.workbook.marking import mark_errors

            mark_errors(path, errors_to, rejected.problems)
            click.echo(_("Marked the problems in {path}").format(path=errors_to), err=True)
        raise
    print_import_report(report)
    click.echo(_("Dry run: nothing was written.") if dry_run else _("Imported."))


@click.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--org", "org_code", help="Export this org's subtree (everything without it).")
@click.option("--year", type=int)
@pass_app
@report_errors
def export_command(app: AppContext, path: Path, org_code: str | None, year: int | None) -> None:
    """Write finance's review workbook for an org's subtree and a year."""
    from cocon import orgs
    from cocon.audit import record
    from cocon.workbook.exporter import export_workbook

    with terminal_progress() as progress, app.session() as session:
        root = orgs.resolve_org(session, org_code) if org_code else None
        summary = export_workbook(
            session, path, root=root, year=year, language=current_language(), progress=progress
        )
    with app.session(write=True, data=False) as session:
        record(session, "export", "workbook", code=root.code if root else None,
               org_id=root.id if root else None, details={"file": str(path), "year": year})  # fmt: skip
    click.echo(_("Wrote {path}").format(path=path))
    if summary is not None:
        for sheet, rows in getattr(summary, "rows", {}).items():
            click.echo(f"  {sheet}: {rows}")


COMMANDS = [template_command, import_command, export_command]
