"""The cocon command line: each command parses, calls the core, and prints."""

from __future__ import annotations

import click

from cocon.cli.audit import audit_group
from cocon.cli.base import AppContext, pass_app, report_errors
from cocon.cli.money import COMMANDS as MONEY_COMMANDS
from cocon.cli.orgs import orgs_group, print_division_summary
from cocon.cli.reversals import funding_reverse, payment_reverse  # noqa: F401 (registers them)
from cocon.cli.users import users_group
from cocon.cli.workbook import COMMANDS as WORKBOOK_COMMANDS
from cocon.cli.workbook import print_import_report
from cocon.i18n import _, use_language
from cocon.rights import role_name
from cocon.settings import Settings


@click.group()
@click.option("--lang", type=click.Choice(["zh_CN", "en"]), help="Language of the output.")
@click.pass_context
def main(ctx: click.Context, lang: str | None) -> None:
    """cocon: co-construction projects and funding across the five-level linkage."""
    try:
        settings = Settings.from_env()
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    ctx.with_resource(use_language(lang or settings.language))
    app = AppContext(settings)
    ctx.obj = app
    ctx.call_on_close(app.close)


@main.command()
@pass_app
@report_errors
def init(app: AppContext) -> None:
    """Create the database schema or upgrade it to the newest version."""
    url = app.engine.url.render_as_string()  # making the engine migrates the schema
    click.echo(_("Schema is up to date: {url}").format(url=url))


@main.command("demo")
@pass_app
@report_errors
def demo_command(app: AppContext) -> None:
    """Load the Gongshu demo data (running it again changes nothing)."""
    from cocon import demo  # the importer and the division loader: only this command needs them
    with app.session(write=True) as session:
        summary = demo.load_demo(session, policies=app.policies)
    print_division_summary(summary.divisions)
    print_import_report(summary.data)
    click.echo(_("Demo accounts (password for all: {password}):").format(password=demo.DEMO_PASSWORD))
    for username, role, code in summary.users:
        click.echo(f"  {username}\t{role_name(role)}\t{code}")
    click.echo(
        _("Warning: these accounts and their password are for the demo only. On a real "
          "installation create users with `cocon users add` and never load the demo.")
    )


main.add_command(orgs_group)
main.add_command(users_group)
main.add_command(audit_group)
for command in MONEY_COMMANDS:
    main.add_command(command)
for command in WORKBOOK_COMMANDS:
    main.add_command(command)
from cocon.cli.serve import serve_command  # noqa: E402

main.add_command(serve_command)
