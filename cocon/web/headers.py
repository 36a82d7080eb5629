"""Headers every response carries: no sniffing, no framing, no caching of private data.

Cookies are made Secure here when the request came over HTTPS (directly, or through a trusted
proxy) or COCON_SECURE_COOKIES is set, whichever part of the app set them.
"""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from cocon.settings import Settings
from cocon.web.auth import is_https

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; "
        b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    # Pages and downloads hold what only this user may see: no browser or proxy keeps them.
    # (The static files set their own, public, Cache-Control.)
    (b"cache-control", b"no-store"),
)


class SecurityHeadersMiddleware(ASGIMiddleware):
    """Add the security headers to every HTTP response that lacks them."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        secure = is_https(ASGIConnection(scope), self.settings)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _value in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                if secure:
                    headers = [_secure_cookie(name, value) for name, value in headers]
                message = {**message, "headers": headers}
            await send(message)

        await next_app(scope, receive, send_with_headers)


def _secure_cookie(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    if name.lower() == b"set-cookie" and b"; secure" not in value.lower():
        return name, value + b"; Secure"
    return name, value
