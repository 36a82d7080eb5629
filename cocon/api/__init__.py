"""The JSON API at /api/v1: the same core functions as the pages and the CLI, with a token.

`api_router()` is mounted by cocon.web.create_app; `openapi_config()` describes its routes
(and only them: the pages are left out of the schema) at /api/v1/openapi.json, with a page to
browse it at /api/v1/docs.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get
from litestar.enums import MediaType
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from cocon.api import money, orgs, projects
from cocon.api.auth import API_OPT, API_PUBLIC, API_PUBLIC_KEY, TokenMiddleware
from cocon.api.errors import EXCEPTION_HANDLERS
from cocon.web.auth import PUBLIC

PREFIX = "/api/v1"
VERSION = "1.0"


@get("/openapi.json", sync_to_thread=False, opt=API_PUBLIC, include_in_schema=False)
def openapi_document(request: Request) -> Response[dict[str, Any]]:
    """Return the OpenAPI document of the API, generated from the handlers' types."""
    return Response(request.app.openapi_schema.to_schema(), media_type=MediaType.JSON)


def api_router() -> Router:
    """Return the API's routes with their own authentication and problem-details errors."""
    return Router(
        path=PREFIX,
        route_handlers=[openapi_document, *orgs.ROUTES, *projects.ROUTES, *money.ROUTES],
        middleware=[DefineMiddleware(TokenMiddleware, exclude_from_auth_key=API_PUBLIC_KEY)],
        exception_handlers=EXCEPTION_HANDLERS,
        opt=API_OPT,
        include_in_schema=True,
    )


class DocsPage(OpenAPIRenderPlugin):
    """A page to browse the API's OpenAPI document, drawn on the server (the site's CSP holds)."""

    def __init__(self) -> None:
        super().__init__(path="/")

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        """Render every operation with its parameters, body and answers."""
        template = request.app.template_engine.get_template("api/docs.html")
        return template.render(request=request, schema=openapi_schema).encode()


def openapi_config() -> OpenAPIConfig:
    """Return the description of the API: its routes only, the token as bearer security."""
    return OpenAPIConfig(
        title="cocon API",
        version=VERSION,
        description=(
            "The co-construction projects and their money, as the pages show them. Send a"
            " personal API token (made on /account) as `Authorization: Bearer <token>`."
        ),
        use_handler_docstrings=True,
        components=Components(
            security_schemes={"token": SecurityScheme(type="http", scheme="bearer")}
        ),
        security=[{"token": []}],
        render_plugins=[DocsPage()],
        openapi_router=Router(
            path=f"{PREFIX}/docs", route_handlers=[], include_in_schema=False, opt=PUBLIC
        ),
    )
