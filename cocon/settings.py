"""Settings read from COCON_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

DEFAULT_DATABASE_URL = "sqlite:///cocon.db"
LANGUAGES = ("zh_CN", "en")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def _whole(env: Mapping[str, str], name: str, default: int, low: int = 1) -> int:
    raw = env.get(name, str(default)).strip()
    if not raw.isdigit() or int(raw) < low:
        raise ValueError(f"{name} must be a whole number of at least {low}, not {raw!r}")
    return int(raw)


def _names(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None:
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _flag(env: Mapping[str, str], name: str, default: str) -> bool:
    raw = env.get(name, default).strip().lower()
    if raw not in ("0", "1", "on", "off"):
        raise ValueError(f"{name} must be 1 (on) or 0 (off), not {raw!r}")
    return raw in ("1", "on")


@dataclass(frozen=True)
class Settings:
    """What an installation of cocon is configured with."""

    database_url: str = DEFAULT_DATABASE_URL
    language: str = "zh_CN"
    floating_share_threshold: Decimal = Decimal("0.30")
    check_policies: Mapping[str, str] = field(default_factory=dict)
    secret_key: str | None = None
    # Keep rendered read pages until the next write (see cocon.web.pagecache).
    page_cache: bool = True
    # Host names the web app answers to; any other Host header is refused.
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS
    # Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (addresses or networks).
    trusted_proxies: tuple[str, ...] = ()
    secure_cookies: bool = False
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    # Workbooks waiting between preview and confirmation: per user, and on the whole server.
    upload_quota_mb: int = 60
    upload_total_mb: int = 500
    # How long a write waits for another one to end before it answers "busy, try again".
    database_busy_seconds: int = 30
    # A payment above this many fen waits for a second finance user's confirmation (None: off).
    payment_second_signature_fen: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment (os.environ by default)."""
        env = os.environ if environ is None else environ
        language = env.get("COCON_LANG", "zh_CN")
        if language not in LANGUAGES:
            raise ValueError(f"COCON_LANG must be one of {', '.join(LANGUAGES)}, not {language!r}")
        raw_threshold = env.get("COCON_FLOATING_SHARE_THRESHOLD", "0.30")
        try:
            threshold = Decimal(raw_threshold)
        except InvalidOperation:
            raise ValueError(
                f"COCON_FLOATING_SHARE_THRESHOLD must be a number like 0.30, not {raw_threshold!r}"
            ) from None
        if not Decimal(0) <= threshold <= Decimal(1):
            raise ValueError("COCON_FLOATING_SHARE_THRESHOLD must lie between 0 and 1")
        policies = {}
        for key, value in env.items():
            if key.startswith("COCON_CHECK_"):
                policies[key.removeprefix("COCON_CHECK_").lower()] = value.strip().lower()
        from cocon.checks import Policies

        Policies(policies)  # refuses an unknown check or a policy other than block / warn
        return cls(
            database_url=env.get("COCON_DATABASE_URL", DEFAULT_DATABASE_URL),
            language=language,
            floating_share_threshold=threshold,
            check_policies=policies,
            secret_key=env.get("COCON_SECRET_KEY") or None,
            page_cache=_flag(env, "COCON_PAGE_CACHE", "1"),
            allowed_hosts=_names(env, "COCON_ALLOWED_HOSTS", LOOPBACK_HOSTS),
            trusted_proxies=_names(env, "COCON_TRUSTED_PROXIES", ()),
            secure_cookies=_flag(env, "COCON_SECURE_COOKIES", "0"),
            session_idle_minutes=_whole(env, "COCON_SESSION_IDLE_MINUTES", 30),
            session_max_hours=_whole(env, "COCON_SESSION_MAX_HOURS", 12),
            upload_quota_mb=_whole(env, "COCON_UPLOAD_QUOTA_MB", 60),
            upload_total_mb=_whole(env, "COCON_UPLOAD_TOTAL_MB", 500),
            database_busy_seconds=_whole(env, "COCON_DATABASE_BUSY_SECONDS", 30),
            payment_second_signature_fen=(
                _whole(env, "COCON_PAYMENT_SECOND_SIGNATURE_FEN", 0, low=0)
                if env.get("COCON_PAYMENT_SECOND_SIGNATURE_FEN", "").strip()
                else None
            ),
        )
