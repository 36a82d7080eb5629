"""User pages: an admin manages the users of their subtree; everyone changes their own password."""

from __future__ import annotations

from collections.abc import Mapping

from litestar import Request, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import Session

from cocon.errors import Invalid, NotFound, Refused
from cocon.i18n import _
from cocon.models import Org
from cocon.orgs import breadcrumb
from cocon.rights import Right, Role, role_name
from cocon.users import (
    create_user,
    get_user,
    list_users,
    resolve_user_org,
    set_active,
    set_password,
    set_role,
)
from cocon.versions import StaleVersion, check_version
from cocon.web.auth import current_account, needs
from cocon.web.projects import beijing_time
from cocon.web.scope import allowed_root, current_scope

MANAGE = needs(Right.MANAGE_USERS)
MANAGE_FORM = needs(Right.MANAGE_USERS, csrf_form=True)
ACCOUNT_DONE = ("password", "token", "revoked")
FIELDS = ("username", "display_name", "role", "org", "password", "active")


def role_choices() -> list[tuple[str, str]]:
    """Return the roles as (value, name) pairs in the current language."""
    return [(role.value, role_name(role)) for role in Role]


def _values(data: Mapping[str, str]) -> dict[str, str]:
    return {key: str(data.get(key) or "").strip() for key in FIELDS if key != "password"} | {
        "password": str(data.get("password") or "")
    }


def _form(scope: Org, values: dict, errors: dict, user=None, status: int = 200) -> Template:
    context = {
        "scope": scope,
        "user": user,
        "values": values,
        "errors": errors,
        "roles": role_choices(),
    }
    return Template("users/form.html", context=context, status_code=status)


@get("/users", name="user_list", sync_to_thread=True, opt=MANAGE)
def user_list(request: Request, session: NamedDependency[Session]) -> Template:
    """List the users of the admin's subtree."""
    scope = current_scope(request, session)
    rows = [
        (user, org, beijing_time(user.last_login_at) if user.last_login_at else "")
        for user, org in list_users(session, within=scope)
    ]
    done = request.query_params.get("done")
    context = {
        "scope": scope,
        "rows": rows,
        "role_names": dict(role_choices()),
        "done": done if done in ("created", "saved") else None,
    }
    return Template("users/list.html", context=context)


@get("/users/new", name="user_new", sync_to_thread=True, opt=MANAGE_FORM)
def user_new(request: Request, session: NamedDependency[Session]) -> Template:
    """Show an empty user form; the org starts as the scope org."""
    scope = current_scope(request, session)
    values = _values({"org": scope.code, "role": Role.VIEWER.value, "active": "1"})
    return _form(scope, values, {})


@post("/users/new", name="user_create", sync_to_thread=True, opt=MANAGE)
def user_create(
    request: Request, session: NamedDependency[Session], data: URLEncodedBody[dict[str, str]]
) -> Template | Redirect:
    """Create a user of the admin's subtree, or show the form again with the errors."""
    scope = current_scope(request, session)
    values = _values(data)
    errors: dict[str, str] = {}
    try:
        org = resolve_user_org(session, values["org"], allowed_root(request, session))
        create_user(
            session,
            values["username"],
            role=values["role"],
            org=org,
            password=values["password"],
            display_name=values["display_name"],
        )
    except (Invalid, NotFound) as error:
        session.rollback()
        errors[getattr(error, "field", None) or "org"] = error.message
        return _form(scope, {**values, "password": ""}, errors, status=400)
    return Redirect("/users?done=created", status_code=303)


def _editable(request: Request, session: Session, username: str):
    """Return a user the admin may change: inside their subtree, and not themselves."""
    user = get_user(session, username, within=allowed_root(request, session))
    if user.id == current_account(request).id:
        raise Refused(_("Change your own role or org with the operator's CLI, not here"))
    return user


@get("/users/{username:str}/edit", name="user_edit", sync_to_thread=True, opt=MANAGE_FORM)
def user_edit(
    username: FromPath[str], request: Request, session: NamedDependency[Session]
) -> Template:
    """Show a user's form, filled in (a new password is optional)."""
    scope = current_scope(request, session)
    user = _editable(request, session, username)
    org = session.get(Org, user.org_id) if user.org_id else None
    values = _values(
        {
            "username": user.username,
            "display_name": user.display_name,
            "role": user.role,
            "org": org.code if org else "",
            "active": "1" if user.active else "",
        }
    )
    return _form(scope, {**values, "version": str(user.version)}, {}, user)


@post("/users/{username:str}/edit", name="user_update", sync_to_thread=True, opt=MANAGE)
def user_update(
    username: FromPath[str],
    request: Request,
    session: NamedDependency[Session],
    data: URLEncodedBody[dict[str, str]],
) -> Template | Redirect:
    """Save a user's name, role, org, state and (if typed) new password."""
    scope = current_scope(request, session)
    user = _editable(request, session, username)
    values = _values(data)
    values["username"] = user.username
    try:
        check_version(user, data.get("version"))
    except StaleVersion as stale:
        values = {**values, "password": "", "version": str(user.version)}
        return _form(scope, values, {"version": stale.message}, user, status=409)
    try:
        org = resolve_user_org(session, values["org"], allowed_root(request, session))
        set_role(session, user, values["role"], org, display_name=values["display_name"])
        set_active(session, user, values["active"] == "1")
        if values["password"]:
            set_password(session, user, values["password"])
    except (Invalid, NotFound) as error:
        session.rollback()
        errors = {getattr(error, "field", None) or "org": error.message}
        return _form(scope, {**values, "password": ""}, errors, user, status=400)
    return Redirect("/users?done=saved", status_code=303)


def _account_context(session: Session, account, errors: dict, **extra) -> dict:
    """Gather what the account page shows: who, where, the password form and the API tokens."""
    from cocon.times import china_time
    from cocon.tokens import list_tokens, token_state, token_state_name
    from cocon.user_models import User

    org = session.get(Org, account.org_id)
    user = session.get(User, account.id)
    tokens = [
        {
            "token": token,
            "active": (state := token_state(token, user)) == "active",
            "state": token_state_name(state),
            "created": china_time(token.created_at),
            "last_used": china_time(token.last_used_at) if token.last_used_at else "",
            "expires": china_time(token.expires_at) if token.expires_at else "",
        }
        for token in list_tokens(session, user)
    ]
    context = {"account": account, "trail": breadcrumb(session, org), "errors": errors}
    return {"done": False, "tokens": tokens, "new_token": None, "token_values": {}, **context, **extra}


@get("/account", name="account_page", sync_to_thread=True, opt=needs(Right.SIGNED_IN, csrf_form=True))
def account_page(request: Request, session: NamedDependency[Session]) -> Template:
    """Show who is signed in, where, the form to change one's password, and one's API tokens."""
    account = current_account(request)
    done = request.query_params.get("done")
    context = _account_context(session, account, {}, done=done if done in ACCOUNT_DONE else False)
    return Template("users/account.html", context=context)


@post("/account", name="account_password", sync_to_thread=True, opt=needs(Right.SIGNED_IN))
def account_password(
    request: Request, session: NamedDependency[Session], data: URLEncodedBody[dict[str, str]]
) -> Template | Redirect:
    """Change one's own password (the current one is asked again); other sessions end."""
    from cocon.users import Client, SignInRefused, sign_in

    account = current_account(request)
    errors: dict[str, str] = {}
    try:
        client = Client(account.username, f"account:{account.id}")
        user = sign_in(session, client, str(data.get("current") or ""))
    except SignInRefused:
        errors["current"] = _("This is not your current password")
    else:
        try:
            set_password(session, user, str(data.get("password") or ""))
        except Invalid as error:
            session.rollback()
            errors["password"] = error.message
    if errors:
        context = _account_context(session, account, errors)
        return Template("users/account.html", context=context, status_code=400)
    request.set_session({**request.session, "epoch": user.session_epoch})
    return Redirect("/account?done=password", status_code=303)


@post("/account/tokens", name="token_create", sync_to_thread=True, opt=needs(Right.SIGNED_IN))
def token_create(
    request: Request, session: NamedDependency[Session], data: URLEncodedBody[dict[str, str]]
) -> Template:
    """Make an API token and show its secret, this once (a redirect would have to keep it)."""
    from cocon.tokens import create_token
    from cocon.user_models import User

    account = current_account(request)
    values = {key: str(data.get(key) or "").strip() for key in ("name", "expires_on")}
    try:
        _token, secret = create_token(
            session, session.get(User, account.id), values["name"], values["expires_on"]
        )
    except Invalid as error:
        session.rollback()
        errors = {f"token_{error.field or 'name'}": error.message}
        context = _account_context(session, account, errors, token_values=values)
        return Template("users/account.html", context=context, status_code=400)
    context = _account_context(session, account, {}, new_token=secret, done="token")
    return Template("users/account.html", context=context)


@post("/account/tokens/{token_id:int}/revoke", name="token_revoke", sync_to_thread=True, opt=needs(Right.SIGNED_IN))
def token_revoke(
    token_id: FromPath[int], request: Request, session: NamedDependency[Session]
) -> Redirect:
    """Revoke one of one's own API tokens."""
    from cocon.tokens import find_token, revoke_token
    from cocon.user_models import User

    user = session.get(User, current_account(request).id)
    revoke_token(session, user, find_token(session, user, str(token_id)))
    return Redirect("/account?done=revoked", status_code=303)


ROUTES = [
    user_list,
    user_new,
    user_create,
    user_edit,
    user_update,
    account_page,
    account_password,
    token_create,
    token_revoke,
]


def router() -> Router:
    """Group the user routes (one registration per path: see cocon.web.projects.router)."""
    return Router(path="/", route_handlers=ROUTES)
