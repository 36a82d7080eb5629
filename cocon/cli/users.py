"""`cocon users …`: the server operator manages who may sign in to the web app."""

from __future__ import annotations

import sys

import click

from cocon.cli.base import AppContext, pass_app, report_errors
from cocon.i18n import _
from cocon.rights import Role, role_name


@click.group("users")
def users_group() -> None:
    """Users of the web app, their roles and passwords."""


def read_password(from_stdin: bool) -> str:
    """Return a new password from standard input (one line) or typed twice at a prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt(
        _("Password"), hide_input=True, confirmation_prompt=_("Repeat the password")
    )


ROLES = click.Choice([role.value for role in Role])
STDIN_OPTION = click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input."
)


@users_group.command("add")
@click.argument("username")
@click.option("--role", required=True, type=ROLES, help="admin, office, finance or viewer.")
@click.option("--org", "org_code", required=True, help="The org whose subtree the user works in.")
@click.option("--name", help="The name shown in the app (default: the username).")
@STDIN_OPTION
@pass_app
@report_errors
def add_command(
    app: AppContext,
    username: str,
    role: str,
    org_code: str,
    name: str | None,
    password_stdin: bool,
) -> None:
    """Add a user with a role at an org."""
    from cocon.users import create_user, resolve_user_org

    password = read_password(password_stdin)
    with app.session(write=True) as session:
        org = resolve_user_org(session, org_code)
        user = create_user(
            session, username, role=role, org=org, password=password, display_name=name
        )
        click.echo(
            _("Added {username}: {role} at {org} ({code})").format(
                username=user.username, role=role_name(role), org=org.name, code=org.code
            )
        )


@users_group.command("list")
@pass_app
@report_errors
def list_command(app: AppContext) -> None:
    """List every user with role, org, state and last sign-in."""
    from cocon.users import list_users

    with app.session() as session:
        for user, org in list_users(session):
            where = f"{org.name} ({org.code})" if org else "—"
            state = _("active") if user.active else _("disabled")
            last = user.last_login_at.isoformat(timespec="minutes") if user.last_login_at else "—"
            click.echo(
                f"{user.username}\t{user.display_name}\t{role_name(user.role)}\t{where}\t"
                f"{state}\t{last}"
            )


def _change(app: AppContext, username: str, change) -> None:
    from cocon.users import get_user

    with app.session(write=True) as session:
        user = get_user(session, username)
        change(session, user)


@users_group.command("disable")
@click.argument("username")
@pass_app
@report_errors
def disable_command(app: AppContext, username: str) -> None:
    """Stop a user from signing in; their sessions end at once."""
    from cocon.users import set_active

    _change(app, username, lambda session, user: set_active(session, user, False))
    click.echo(_("{username} is disabled").format(username=username.strip().lower()))


@users_group.command("enable")
@click.argument("username")
@pass_app
@report_errors
def enable_command(app: AppContext, username: str) -> None:
    """Let a disabled user sign in again."""
    from cocon.users import set_active

    _change(app, username, lambda session, user: set_active(session, user, True))
    click.echo(_("{username} is enabled").format(username=username.strip().lower()))


@users_group.command("set-password")
@click.argument("username")
@STDIN_OPTION
@pass_app
@report_errors
def set_password_command(app: AppContext, username: str, password_stdin: bool) -> None:
    """Give a user a new password; their sessions end."""
    from cocon.users import set_password

    password = read_password(password_stdin)
    _change(app, username, lambda session, user: set_password(session, user, password))
    click.echo(_("The password of {username} is changed").format(username=username.strip().lower()))


@users_group.command("set-role")
@click.argument("username")
@click.argument("role", type=ROLES)
@click.option("--org", "org_code", help="Move the user to this org too.")
@pass_app
@report_errors
def set_role_command(app: AppContext, username: str, role: str, org_code: str | None) -> None:
    """Give a user another role (and org); their sessions end."""
    from cocon.users import resolve_user_org, set_role

    def change(session, user) -> None:
        org = resolve_user_org(session, org_code) if org_code else None
        set_role(session, user, role, org)

    _change(app, username, change)
    click.echo(
        _("{username} is now {role}").format(username=username.strip().lower(), role=role_name(role))
    )


@users_group.command("token-create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for, e.g. the script using it.")
@click.option("--expires", "expires_on", help="Last day it works (2027-06-30); none by default.")
@pass_app
@report_errors
def token_create_command(app: AppContext, username: str, name: str, expires_on: str | None) -> None:
    """Make a personal API token for a user and print it once."""
    from cocon.tokens import create_token
    from cocon.users import get_user

    with app.session(write=True) as session:
        user = get_user(session, username)
        _token, secret = create_token(session, user, name, expires_on)
    click.echo(secret)
    click.echo(_("Keep it now: it is not shown again."), err=True)


@users_group.command("token-revoke")
@click.argument("username")
@click.argument("token")
@pass_app
@report_errors
def token_revoke_command(app: AppContext, username: str, token: str) -> None:
    """Revoke a user's API token, named by its number or its name."""
    from cocon.tokens import find_token, revoke_token
    from cocon.users import get_user

    with app.session(write=True) as session:
        user = get_user(session, username)
        found = find_token(session, user, token)
        revoke_token(session, user, found)
        click.echo(_("Token {name} of {username} is revoked").format(name=found.name, username=user.username))


@users_group.command("token-list")
@click.argument("username")
@pass_app
@report_errors
def token_list_command(app: AppContext, username: str) -> None:
    """List a user's API tokens: number, name, state, made, last used, expiry."""
    from cocon.times import china_time
    from cocon.tokens import list_tokens, token_state, token_state_name
    from cocon.users import get_user

    with app.session() as session:
        user = get_user(session, username)
        for token in list_tokens(session, user):
            moments = [
                china_time(moment) if moment else "—"
                for moment in (token.created_at, token.last_used_at, token.expires_at)
            ]
            state = token_state_name(token_state(token, user))
            click.echo("\t".join([str(token.id), token.name, token.hint + "…", state, *moments]))

