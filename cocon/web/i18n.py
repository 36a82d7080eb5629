"""The language of a request: ?lang= (remembered in a cookie), else the cookie, else the browser."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

from jinja2 import Environment
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from cocon import i18n
from cocon.settings import LANGUAGES

COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}


def from_accept_language(header: str) -> str | None:
    """Pick zh_CN or en from an Accept-Language header by preference, or None."""
    choices = []
    for position, part in enumerate(header.split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        tag = tag.strip().lower()
        language = "zh_CN" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if language and quality > 0:
            choices.append((-quality, position, language))
    return min(choices)[2] if choices else None


def negotiate(asked: str | None, cookie: str | None, accept_language: str | None) -> str:
    """Return the language of a request: asked (?lang=), else cookie, else the browser's, else zh_CN."""
    for candidate in (asked, cookie):
        if candidate in LANGUAGES:
            return candidate
    return from_accept_language(accept_language or "") or i18n.DEFAULT_LANGUAGE


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def _cookie(scope: Scope, name: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(_header(scope, b"cookie"))
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def _asked(scope: Scope) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("lang")
    return values[-1] if values and values[-1] in LANGUAGES else None


def language_of(scope: Scope) -> str:
    """Return the language a request asks for (works on any ASGI scope, e.g. Request.scope)."""
    return negotiate(_asked(scope), _cookie(scope, COOKIE), _header(scope, b"accept-language"))


class LanguageMiddleware(ASGIMiddleware):
    """Handle each request in its language; ?lang= also sets the cookie that remembers it."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        asked = _asked(scope)
        language = negotiate(asked, _cookie(scope, COOKIE), _header(scope, b"accept-language"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"vary", b"Accept-Language, Cookie"))
                if asked:
                    cookie = f"{COOKIE}={asked}; Path=/; Max-Age={COOKIE_MAX_AGE}; SameSite=Lax"
                    headers.append((b"set-cookie", cookie.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        with i18n.use_language(language):
            await next_app(scope, receive, send_with_headers)


def install(env: Environment) -> None:
    """Give templates gettext that follows the current request's language."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True
    )
    env.globals["current_language"] = i18n.current_language
    env.globals["html_lang"] = lambda: HTML_LANG[i18n.current_language()]
