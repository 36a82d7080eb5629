"""Commands for the org tree and community profiles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cocon.cli.base import AppContext, pass_app, report_errors, terminal_progress
from cocon.i18n import _
from cocon.settings import Settings

# The core (SQLModel) is imported by each command, so `cocon --help` starts fast.
if TYPE_CHECKING:
    from cocon.divisions import DivisionSummary


@click.group("orgs")
def orgs_group() -> None:
    """The five-level org tree."""


def print_division_summary(summary: DivisionSummary) -> None:
    """Print created / updated / unchanged per level."""
    from cocon import orgs

    for level, counts in summary.levels.items():
        click.echo(
            _("{level}: {created} created, {updated} updated, {unchanged} unchanged").format(
                level=orgs.level_name(level),
                created=counts.created,
                updated=counts.updated,
                unchanged=counts.unchanged,
            )
        )


@orgs_group.command("import-divisions")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--root", "root_code", help="Load only this org's subtree and its ancestors.")
@pass_app
@report_errors
def import_divisions_command(app: AppContext, directory: Path, root_code: str | None) -> None:
    """Load the national division files (provinces.csv … villages.csv) from DIRECTORY."""
    from cocon import divisions

    with terminal_progress() as progress, app.session(write=True) as session:
        summary = divisions.import_divisions(session, directory, root_code, progress)
    print_division_summary(summary)


def describe(org) -> str:
    """Return an org's name, code and level in one phrase."""
    from cocon import orgs

    return f"{org.name} ({org.code}, {orgs.level_name(org.level)})"


@orgs_group.command("tree")
@click.option("--root", "root_code", help="Start at this org (all provinces without it).")
@click.option("--depth", type=click.IntRange(min=0), help="Levels to show below the root.")
@pass_app
@report_errors
def tree_command(app: AppContext, root_code: str | None, depth: int | None) -> None:
    """Print the org tree with each node's level and number of descendants."""
    from cocon import orgs

    with app.session() as session:
        root = orgs.get_org(session, root_code) if root_code else None
        nodes = orgs.subtree(session, root, depth=depth)
        if not nodes:
            click.echo(_("No orgs yet: run `cocon demo` or `cocon orgs import-divisions DIR`."))
            return
        for node in nodes:
            click.echo(
                "  " * node.depth
                + describe(node.org)
                + " · "
                + _("{count} below").format(count=node.descendants)
            )


@orgs_group.command("show")
@click.argument("code")
@pass_app
@report_errors
def show_command(app: AppContext, code: str) -> None:
    """Print one org with its breadcrumb, children and community profile."""
    from cocon import orgs
    from cocon.models import Level

    with app.session() as session:
        org = orgs.resolve_org(session, code)
        click.echo(" › ".join(o.name for o in orgs.breadcrumb(session, org)))
        click.echo(_("Code: {code}").format(code=org.code))
        click.echo(_("Level: {level}").format(level=orgs.level_name(org.level)))
        kids = orgs.children(session, org)
        click.echo(_("Children: {count}").format(count=len(kids)))
        for kid in kids:
            click.echo(f"  {kid.name} ({kid.code})")
        if org.level == Level.COMMUNITY:
            print_profile(session, org, app.settings)


def print_profile(session, org, settings: Settings) -> None:
    """Print a community's profile and whether it qualifies as a large community unit."""
    from cocon import profiles

    profile = profiles.get_profile(session, org)
    if profile is None:
        click.echo(_("Profile: none yet"))
        return
    unknown = _("unknown")
    click.echo(_("Profile:"))
    click.echo("  " + _("Households: {n}").format(n=_count(profile.households, unknown)))
    click.echo(
        "  " + _("Permanent residents: {n}").format(n=_count(profile.permanent_residents, unknown))
    )
    click.echo(
        "  "
        + _("Renting/floating residents: {n}").format(n=_count(profile.floating_residents, unknown))
    )
    click.echo(
        "  "
        + _("Unit type: {type}").format(type=profiles.unit_type_name(profile.unit_type) or unknown)
    )
    result = profiles.qualify(profile, settings.floating_share_threshold)
    verdict = _("qualifies") if result.qualifies else _("does not qualify")
    click.echo(
        "  "
        + _("Integrated large community unit: {verdict} ({reasons})").format(
            verdict=verdict, reasons="; ".join(result.reasons)
        )
    )


def _count(value: int | None, unknown: str) -> str:
    return unknown if value is None else f"{value:,}"


@orgs_group.command("find")
@click.argument("text")
@pass_app
@report_errors
def find_command(app: AppContext, text: str) -> None:
    """Find orgs by part of their name or the start of their code."""
    from cocon import orgs

    with app.session() as session:
        found = orgs.search_orgs(session, text)
        for org in found:
            click.echo(describe(org))
        if not found:
            click.echo(_("Nothing found for {text}").format(text=text))


@orgs_group.command("add")
@click.argument("code")
@click.argument("name")
@click.option("--parent", "parent_code", help="Code of the parent org (one level up).")
@pass_app
@report_errors
def add_command(app: AppContext, code: str, name: str, parent_code: str | None) -> None:
    """Add an org under its parent."""
    from cocon import orgs

    with app.session(write=True) as session:
        org = orgs.create_org(session, code, name, parent_code)
        click.echo(_("Added {org}").format(org=describe(org)))


@orgs_group.command("rename")
@click.argument("code")
@click.argument("name")
@pass_app
@report_errors
def rename_command(app: AppContext, code: str, name: str) -> None:
    """Give an org a new name."""
    from cocon import orgs

    with app.session(write=True) as session:
        org = orgs.rename_org(session, orgs.get_org(session, code), name)
        click.echo(_("Renamed: {org}").format(org=describe(org)))


@orgs_group.command("move")
@click.argument("code")
@click.option("--to", "parent_code", required=True, help="Code of the new parent.")
@pass_app
@report_errors
def move_command(app: AppContext, code: str, parent_code: str) -> None:
    """Move an org, with its whole subtree, under a new parent."""
    from cocon import orgs

    with app.session(write=True) as session:
        org = orgs.get_org(session, code)
        moved = orgs.move_org(session, org, orgs.get_org(session, parent_code))
        click.echo(
            _("Moved {org}: {path}").format(
                org=describe(moved),
                path=" › ".join(o.name for o in orgs.breadcrumb(session, moved)),
            )
        )


@orgs_group.command("delete")
@click.argument("code")
@pass_app
@report_errors
def delete_command(app: AppContext, code: str) -> None:
    """Delete an org that has no children and nothing attached."""
    from cocon import orgs

    with app.session(write=True) as session:
        org = orgs.get_org(session, code)
        label = describe(org)
        orgs.delete_org(session, org)
        click.echo(_("Deleted {org}").format(org=label))


@orgs_group.command("profile")
@click.argument("code")
@click.option("--households", help="Number of households.")
@click.option("--residents", help="Permanent residents.")
@click.option("--floating", help="Renting / floating residents.")
@click.option("--type", "unit_type", help="Unit type (e.g. 商住融合型 or business_integration).")
@pass_app
@report_errors
def profile_command(
    app: AppContext,
    code: str,
    households: str | None,
    residents: str | None,
    floating: str | None,
    unit_type: str | None,
) -> None:
    """Set a community's profile (options left out keep their value) and print it."""
    from cocon import fields, orgs, profiles

    with app.session(write=True) as session:
        org = orgs.resolve_org(session, code)
        current = profiles.get_profile(session, org)

        def keep(raw: str | None, field: str, parse: Callable) -> object:
            if raw is None:
                return getattr(current, field) if current else None
            return parse(raw)

        profiles.set_profile(
            session,
            org,
            households=keep(
                households, "households", lambda v: fields.parse_count(v, "households")
            ),
            permanent_residents=keep(
                residents, "permanent_residents", lambda v: fields.parse_count(v, "residents")
            ),
            floating_residents=keep(
                floating, "floating_residents", lambda v: fields.parse_count(v, "floating")
            ),
            unit_type=keep(unit_type, "unit_type", profiles.parse_unit_type),
        )
        click.echo(describe(org))
        print_profile(session, org, app.settings)
