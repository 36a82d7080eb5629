"""`cocon audit …`: read the audit trail and check that nobody changed it."""

from __future__ import annotations

import json
import sys

import click

from cocon.cli.base import AppContext, pass_app, report_errors
from cocon.i18n import _


@click.group("audit")
def audit_group() -> None:
    """The audit trail (操作日志): who changed what, and its integrity."""


def describe(entry) -> str:
    """Return one entry as a line: when (China time), who, what, which, the changes."""
    from cocon.times import china_time

    changes = json.loads(entry.changes or "{}")
    details = json.loads(entry.details or "{}")
    shown = "; ".join(f"{field}: {before} → {after}" for field, (before, after) in changes.items())
    extra = json.dumps(details, ensure_ascii=False) if details else ""
    return "\t".join(
        (
            str(entry.seq),
            china_time(entry.at),
            entry.actor,
            entry.action,
            entry.entity,
            entry.entity_code or "",
            shown or extra,
        )
    )


@audit_group.command("list")
@click.option("--org", "org_code", help="Only the entries of this org's subtree.")
@click.option("--user", help="Only the entries of users whose name contains this.")
@click.option("--since", help="Only the entries from this day on (China time), e.g. 2023-03-01.")
@click.option("--entity", help="Only one kind: project, allocation, partner, payment, user, …")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 100_000))
@pass_app
@report_errors
def list_command(
    app: AppContext,
    org_code: str | None,
    user: str | None,
    since: str | None,
    entity: str | None,
    limit: int,
) -> None:
    """Print the latest entries, newest first."""
    from cocon import audit_read
    from cocon.orgs import get_org
    from cocon.times import parse_day

    with app.session() as session:
        within = get_org(session, org_code) if org_code else None
        start = parse_day(since) if since else None
        filters = audit_read.Filters(within=within, user=user, entity=entity, since=start)
        for entry in audit_read.entries(session, filters, limit=limit):
            click.echo(describe(entry))


@audit_group.command("verify")
@pass_app
@report_errors
def verify_command(app: AppContext) -> None:
    """Walk the chain of hashes; exit 1 naming the first entry that does not hold."""
    from cocon import audit_read

    with app.session() as session:
        checked, broken = audit_read.verify(session)
    if broken is None:
        click.echo(_("The audit trail holds: {count} entries checked").format(count=checked))
        return
    reasons = {
        "missing": _("entry {seq} is missing (removed)"),
        "chain": _("entry {seq} does not follow the entry before it (one was removed or changed)"),
        "content": _("entry {seq} was changed after it was written"),
    }
    click.echo(
        _("The audit trail is broken: {reason}; {count} entries before it hold").format(
            reason=reasons[broken.reason].format(seq=broken.seq), count=checked
        ),
        err=True,
    )
    sys.exit(1)
