"""Signing in and out, and the health check: the routes a visitor reaches without a session."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import Session

from cocon.actors import Actor, act_as
from cocon.audit import record
from cocon.rights import Right
from cocon.settings import Settings
from cocon.users import Client, SignInRefused, find_user, sign_in
from cocon.web.auth import (
    CSRF_COOKIE,
    PUBLIC,
    SAFE_METHODS,
    client_address,
    current_account,
    needs,
    session_data,
)
from cocon.web.errors import error_page
from cocon.web.render import STATIC
from cocon.web.sessions import rotate_session

FORM_PUBLIC = {**PUBLIC, "csrf_form": True}
FAVICON = "favicon.svg"


def local_target(raw: str | None) -> str:
    """Return where to go after signing in: a path on this site only, never another site."""
    text = (raw or "").strip()
    parts = urlsplit(text)
    if (
        not text.startswith("/")
        or text.startswith(("//", "/\\"))
        or parts.scheme
        or parts.netloc
        or any(ord(char) < 32 for char in text)
    ):
        return "/"
    return text


def _login_page(target: str, username: str = "", error: str | None = None, status: int = 200):
    context = {"next": target, "username": username, "error": error}
    return Template("login.html", context=context, status_code=status)


@get("/login", name="login_page", opt=FORM_PUBLIC)
async def login_page(request: Request) -> Template:
    """Show the sign-in form."""
    return _login_page(local_target(request.query_params.get("next")))


@post("/login", name="login", sync_to_thread=True, opt=PUBLIC)
def login(
    request: Request,
    session: NamedDependency[Session],
    settings: NamedDependency[Settings],
    data: URLEncodedBody[dict[str, str]],
) -> Template | Redirect:
    """Sign in and go where the visitor was going; else the form again, saying only that it failed."""
    values: Mapping[str, str] = data
    username = str(values.get("username") or "").strip()[:200]
    password = str(values.get("password") or "")
    target = local_target(values.get("next"))
    client = Client(username, client_address(request, settings))
    try:
        user = sign_in(session, client, password)
    except SignInRefused as refused:
        act_as(session, Actor(f"anonymous@{client.address}"))
        known = find_user(session, username) if username.isprintable() else None
        record(
            session,
            "login_failed",
            "session",
            code="".join(char for char in username if char.isprintable()),  # as typed, less NUL
            org_id=known.org_id if known else None,  # the admins of that user see it
            details={"address": client.address},
        )
        return _login_page(target, username, refused.message, status=400)
    act_as(session, Actor(user.username, user.id, user.role, user.org_id))
    record(session, "login", "session", code=user.username, org_id=user.org_id,
           details={"address": client.address})  # fmt: skip
    rotate_session(request)
    request.set_session(session_data(user.id, user.session_epoch))
    response = Redirect(target, status_code=303)
    # The next form page hands out a new CSRF token, and this session takes it as its own.
    response.delete_cookie(CSRF_COOKIE)
    return response


@get("/logout", name="logout_page", opt=needs(Right.SIGNED_IN, csrf_form=True))
async def logout_page() -> Template:
    """Ask whether to sign out (a form, so that a link alone never signs anyone out)."""
    return Template("logout.html", context={})


@post("/logout", name="logout", sync_to_thread=True, opt=needs(Right.SIGNED_IN))
def logout(request: Request, session: NamedDependency[Session]) -> Redirect:
    """End the session at once: its cookie is worth nothing from now on."""
    account = current_account(request)
    record(session, "logout", "session", code=account.username, org_id=account.org_id)
    request.clear_session()
    response = Redirect("/login", status_code=303)
    response.delete_cookie(CSRF_COOKIE)
    return response


@get("/health", name="health", opt=PUBLIC, media_type="text/plain")
async def health() -> str:
    """Answer that the app runs (for load balancers)."""
    return "ok"


@get("/favicon.ico", name="favicon", opt=PUBLIC, sync_to_thread=False)
def favicon() -> Response:
    """Send the site's icon to browsers that ask for it before reading any page (no sign-in)."""
    return Response(
        (STATIC / FAVICON).read_bytes(),
        media_type="image/svg+xml",
        headers={"cache-control": "public, max-age=86400"},
    )


def signed_out(request: Request, _error: NotAuthorizedException) -> Response:
    """Send a reader to the sign-in page and back; tell a writer the session has ended."""
    if request.method in SAFE_METHODS:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/login?next={quote(local_target(target), safe='')}", status_code=303)
    return error_page(request, 401)


ROUTES = [login_page, login, logout_page, logout, health, favicon]
