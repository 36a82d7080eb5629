"""The one place where errors become RFC 9457 problem details on the API.

Every refusal the core raises on purpose (cocon.errors), Litestar's own (a bad parameter, no
such route, a missing token) and anything unexpected answer as application/problem+json, in
the language of the request's Accept-Language, with the fields at fault and their messages
(the same messages as the forms). A stale update also carries the current version.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.types import ExceptionHandlersMap
from sqlalchemy.orm.exc import StaleDataError

from cocon.errors import CoconError, ImportFailed
from cocon.i18n import DEFAULT_LANGUAGE, _, use_language
from cocon.projects import FieldErrors
from cocon.versions import StaleVersion
from cocon.web.errors import GENERIC, TITLES, denied, status_of
from cocon.web.i18n import from_accept_language

logger = logging.getLogger("cocon.api")
PREFIX = "/api/"
PROBLEM = "application/problem+json"


class FieldError(msgspec.Struct):
    """One field at fault and what is wrong with it."""

    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem: what went wrong, for people, and which fields were at fault."""

    status: int
    title: str
    type: str = "about:blank"
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] = []
    current_version: int | None = None


def api_language(request: ASGIConnection) -> str:
    """Return the language an API request asks for: Accept-Language only (no cookie, no ?lang)."""
    return from_accept_language(request.headers.get("accept-language", "")) or DEFAULT_LANGUAGE


def is_api(request: Request) -> bool:
    """Tell whether a request is for the API (the web's own error pages answer the rest)."""
    return request.url.path.startswith(PREFIX)


def problem(
    request: Request,
    status: int,
    detail: str | None = None,
    *,
    errors: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Answer with a problem document: a title for the status, the detail and the field errors."""
    key = status if status in TITLES else (500 if status >= 500 else 400)
    with use_language(api_language(request)):
        title = _(TITLES[key]) if status != 429 else _("Too many requests")
        text = detail or (_(GENERIC[key]) if status != 429 else _("Wait, then try again."))
    fields = [{"field": name, "message": message} for name, message in (errors or {}).items()]
    body = {key: value for key, value in extra.items() if value is not None}
    if fields:
        body["errors"] = fields
    exception = ProblemDetailsException(
        status_code=status,
        title=title,
        detail=text,
        instance=request.url.path,
        headers=headers,
        extra=body or None,
    )
    return exception.to_response(request)


def field_errors(error: CoconError) -> dict[str, str]:
    """Return the messages of an error by field (none for an error of no field)."""
    if isinstance(error, FieldErrors):
        return error.by_field()
    if isinstance(error, ImportFailed):
        return {}
    field = getattr(error, "field", None)
    return {field: error.message} if field else {}


def handle_cocon_error(request: Request, error: CoconError) -> Response:
    """Answer a refusal of the core with its own message."""
    if isinstance(error, StaleVersion):
        return problem(
            request, 409, error.message, errors={"version": error.message},
            current_version=error.current,
        )  # fmt: skip
    status = status_of(error)
    if status == 403:
        denied(request, "role")
    if isinstance(error, FieldErrors):
        with use_language(api_language(request)):
            detail = _("Check the fields named in errors.")
        return problem(request, status, detail, errors=field_errors(error))
    return problem(request, status, error.message, errors=field_errors(error))


def handle_validation(request: Request, error: ValidationException) -> Response:
    """Answer a request Litestar could not read (a parameter or a body of the wrong type)."""
    with use_language(api_language(request)):
        message = _("This value has the wrong type or form")
        detail = _("Check the fields named in errors.")
    extra = error.extra if isinstance(error.extra, list) else []
    names = [str(item.get("key") or "body") for item in extra if isinstance(item, dict)]
    return problem(request, 400, detail, errors={name: message for name in names or ["body"]})


def handle_http_error(request: Request, error: HTTPException) -> Response:
    """Answer Litestar's own errors (no route, a method not allowed, not signed in)."""
    if error.status_code == 403:
        denied(request, str(error.detail)[:100])
    headers = dict(error.headers or {})
    if error.status_code == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="cocon"')
        with use_language(api_language(request)):
            detail = _("Send a personal API token as Authorization: Bearer <token>.")
        return problem(request, 401, detail, headers=headers)
    return problem(request, error.status_code, headers=headers or None)


def handle_stale(request: Request, _error: Exception) -> Response:
    """Refuse a save that raced another save of the same record."""
    with use_language(api_language(request)):
        message = _("Someone saved this at the same moment: nothing of yours was saved. Reload the page and try again.")
    return problem(request, 409, message)


def handle_unexpected(request: Request, error: Exception) -> Response:
    """Log anything unexpected and answer 500 without saying more."""
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(request, 500)


# Every key the app maps for the pages is mapped here too: a route's handlers are looked up by
# the exception's class first, so the app's page for a missing sign-in would otherwise answer.
EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    NotAuthorizedException: handle_http_error,
    PermissionDeniedException: handle_http_error,
    StaleDataError: handle_stale,
    CoconError: handle_cocon_error,
    ValidationException: handle_validation,
    HTTPException: handle_http_error,
    Exception: handle_unexpected,
}

DESCRIPTIONS = {
    400: "The request or a field in it is wrong (see errors)",
    401: "No working token (none, unknown, revoked, expired, or its owner disabled)",
    403: "The token's role may not do this",
    404: "No such thing within the token's orgs (nor any route, nor a path holding NUL)",
    409: "Not allowed now; on a stale update, current_version holds the version now saved",
    429: "Too many failed tokens from this address; see Retry-After",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """Return the OpenAPI description of the problems a handler may answer with."""
    return {
        status: ResponseSpec(
            data_container=Problem, description=DESCRIPTIONS[status], media_type=PROBLEM
        )
        for status in sorted({400, 401, 404, 429, *statuses})
    }

