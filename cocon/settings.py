"""Settings read from COCON_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

DEFAULT_DATABASE_URL = "sqlite:///cocon.db"
LANGUAGES = ("zh_CN", "en")


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
        raw_cache = env.get("COCON_PAGE_CACHE", "1").strip().lower()
        if raw_cache not in ("0", "1", "on", "off"):
            raise ValueError(f"COCON_PAGE_CACHE must be 1 (on) or 0 (off), not {raw_cache!r}")
        from cocon.checks import Policies

        Policies(policies)  # refuses an unknown check or a policy other than block / warn
        return cls(
            database_url=env.get("COCON_DATABASE_URL", DEFAULT_DATABASE_URL),
            language=language,
            floating_share_threshold=threshold,
            check_policies=policies,
            secret_key=env.get("COCON_SECRET_KEY") or None,
            page_cache=raw_cache in ("1", "on"),
        )
