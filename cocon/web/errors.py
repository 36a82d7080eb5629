"""The one place where errors become HTTP statuses and error pages (never a traceback or SQL)."""

from __future__ import annotations

import logging
from html import escape
from urllib.parse import urlsplit

from litestar import Request, Response
from litestar.datastructures import UploadFile
from litestar.enums import MediaType
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.types import Empty, ExceptionHandlersMap
from litestar.utils.scope.state import ScopeState
from sqlalchemy.orm.exc import StaleDataError

from cocon.errors import Busy, CoconError, Forbidden, Invalid, NotFound, Refused
from cocon.i18n import N_, _, use_language
from cocon.web.i18n import language_of

logger = logging.getLogger("cocon.web")

TITLES = {
    400: N_("The request cannot be handled"),
    401: N_("Please sign in"),
    403: N_("Not allowed"),
    404: N_("Page not found"),
    405: N_("The request cannot be handled"),
    409: N_("Not allowed now"),
    500: N_("Something went wrong"),
    503: N_("The database is busy"),
}
GENERIC = {
    400: N_("Check what you typed and try again."),
    401: N_("Your session has ended: sign in again, then repeat what you did."),
    403: N_("You may not do this here."),
    404: N_("There is no such page, or it lies outside the orgs you can see."),
    405: N_("Check what you typed and try again."),
    409: N_("The action is not allowed in the current state."),
    500: N_("The error has been logged. Try again later or tell the administrator."),
    503: N_("The database is busy; try again"),
}
# How long the busy page tells a client to wait before sending again.
RETRY_AFTER_SECONDS = 5


def status_of(error: CoconError) -> int:
    """Return the HTTP status for an error the core raised on purpose."""
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Refused):
        return 409
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, Busy):
        return 503
    return 400  # Invalid, ImportFailed and any other CoconError: the input was wrong


def error_page(request: Request, status: int, message: str | None = None) -> Response:
    """Render the site's error page for status in the request's language."""
    key = status if status in TITLES else (500 if status >= 500 else 400)
    with use_language(language_of(request.scope)):
        title = _(TITLES[key])
        text = message or _(GENERIC[key])
        try:
            template = request.app.template_engine.get_template("error.html")
            html = template.render(request=request, status=status, title=title, message=text)
        except Exception:  # the error page must never fail in its turn
            logger.exception("rendering the error page failed")
            html = (
                f"<!doctype html><title>{status}</title><h1>{escape(title)}</h1><p>{escape(text)}"
            )
    return Response(html, status_code=status, media_type=MediaType.HTML)


def handle_cocon_error(request: Request, error: CoconError) -> Response:
    """Show the core's message, which is written for the user."""
    message = error.message
    if isinstance(error, Invalid) and getattr(error, "field", None):
        logger.info("invalid %s on %s: %s", error.field, request.url.path, message)
    if isinstance(error, Forbidden):
        denied(request, "role")
    return error_page(request, status_of(error), message)


def denied(request: Request, reason: str) -> None:
    """Record a refused request in the audit trail."""
    from cocon.web.auth import record_apart

    where = f"{request.method} {request.url.path}"[:200]
    record_apart(request, "denied", "access", code=where, details={"reason": reason})


def handle_http_error(request: Request, error: HTTPException) -> Response:
    """Show Litestar's own errors (no route, bad parameter) with a generic message."""
    from cocon.api import errors as api_errors

    if api_errors.is_api(request):  # no route of the API matched: answer as the API would
        return api_errors.handle_http_error(request, error)
    return error_page(request, error.status_code)


def handle_refused_write(request: Request, error: PermissionDeniedException) -> Response:
    """Refuse a write without a valid form token; drop the token so that a reload gets a new one."""
    reason = str(error.detail)
    denied(request, reason[:100])
    if "csrf" not in reason.lower():
        return error_page(request, 403)
    with use_language(language_of(request.scope)):
        message = _("This form has expired or was not handed to you: reload the page and send it again.")
    response = error_page(request, 403, message)
    response.delete_cookie("csrftoken")
    return response


def handle_unexpected(request: Request, error: Exception) -> Response:
    """Log anything unexpected and show a generic page."""
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return error_page(request, 500)


def handle_stale(request: Request, _error: Exception) -> Response:
    """Refuse a save that raced another save of the same record (SQLAlchemy's version check)."""
    with use_language(language_of(request.scope)):
        message = _("Someone saved this at the same moment: nothing of yours was saved. Reload the page and try again.")
    return error_page(request, 409, message)


def sent_fields(request: Request) -> tuple[list[tuple[str, str]], bool]:
    """Return the form fields the request sent (name, value) and whether it sent a file too."""
    form = ScopeState.from_scope(request.scope).form
    if form is Empty or not isinstance(form, dict):
        return [], False
    fields, had_file = [], False
    for name, value in form.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, UploadFile):
                had_file = True
            else:
                fields.append((name, str(item)))
    return fields, had_file


def same_site_referer(request: Request) -> str | None:
    """Return the page a request came from when it is on this site (path and query only)."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.headers.get("host", "") or not referer.path.startswith("/"):
        return None
    return referer.path + (f"?{referer.query}" if referer.query else "")


def handle_busy(request: Request, _error: Busy) -> Response:
    """Answer 503 when the database stayed busy: nothing was saved, and nothing typed is lost.

    A form's fields come back on the page, ready to be sent again with one click (the file of
    an upload cannot: the page says to send it again); Retry-After tells clients when.
    """
    fields, had_file = sent_fields(request)
    action = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    back = same_site_referer(request) or ("/" if request.method != "GET" else action)
    with use_language(language_of(request.scope)):
        title = _(TITLES[503])
        message = _(GENERIC[503])
        try:
            template = request.app.template_engine.get_template("busy.html")
            html = template.render(
                request=request,
                title=title,
                message=message,
                action=action,
                back=back,
                fields=fields,
                resend=request.method == "POST" and bool(fields) and not had_file,
                had_file=had_file,
            )
        except Exception:  # the busy page must never fail in its turn
            logger.exception("rendering the busy page failed")
            html = f"<!doctype html><title>503</title><h1>{escape(title)}</h1><p>{escape(message)}"
    logger.warning("database busy on %s %s", request.method, request.url.path)
    return Response(
        html,
        status_code=503,
        media_type=MediaType.HTML,
        headers={"retry-after": str(RETRY_AFTER_SECONDS)},
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    Busy: handle_busy,
    StaleDataError: handle_stale,
    CoconError: handle_cocon_error,
    PermissionDeniedException: handle_refused_write,
    HTTPException: handle_http_error,
    Exception: handle_unexpected,
}
