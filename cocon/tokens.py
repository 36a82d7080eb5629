"""Personal API tokens: made and revoked by their owner (or the operator), checked per request.

A token is `cocon_` and 43 characters of `secrets.token_urlsafe(32)`: 256 random bits. Only its
SHA-256 digest is stored. A slow hash (Argon2, as for passwords) guards secrets people choose,
which can be guessed; nobody can guess 256 random bits, so one fast hash is as safe and lets a
request find its token by an indexed lookup of the digest instead of verifying every token.

A token acts with its owner's role and org as they are at each request; it stops once revoked,
expired, or at anything that ends its owner's sessions (disabled, a new password, role or org),
so that a change of rights or a suspected break-in never leaves a key behind.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from cocon.audit import record
from cocon.errors import Invalid, NotFound
from cocon.fields import clean_text
from cocon.i18n import _
from cocon.labels import N_
from cocon.projects import parse_date
from cocon.times import CHINA
from cocon.user_models import ApiToken, User
from cocon.users import Account, load_account, now_utc

PREFIX = "cocon_"
HINT_LENGTH = len(PREFIX) + 6
# Writing the last use on every request would turn each read into a write: once a minute is enough.
LAST_USED_EVERY = timedelta(minutes=1)
MAX_TOKENS = 20
STATE_NAMES = {
    "active": N_("active"),
    "revoked": N_("revoked"),
    "expired": N_("expired"),
    "ended": N_("ended (password, role or org changed)"),
}


def digest(secret: str) -> str:
    """Return what is stored of a token's secret."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _expiry(expires_on: object, today: date) -> datetime | None:
    day = parse_date(expires_on, "expires_on")
    if day is None:
        return None
    if day <= today:
        raise Invalid(_("Choose a day after today"), field="expires_on")
    # Valid through that day in China time.
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=CHINA)
    return end.astimezone(UTC)


def create_token(
    session: Session, user: User, name: object, expires_on: object = None
) -> tuple[ApiToken, str]:
    """Make a token for user; return it and its secret, which is never shown again."""
    label = clean_text(name, "name", required=True, limit=100)
    now = now_utc()
    expires = _expiry(expires_on, now.astimezone(CHINA).date())
    if len(list_tokens(session, user, live_only=True)) >= MAX_TOKENS:
        raise Invalid(
            _("You have {count} tokens: revoke one you no longer use first").format(
                count=MAX_TOKENS
            ),
            field="name",
        )
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=label,
        digest=digest(secret),
        hint=secret[:HINT_LENGTH],
        epoch=user.session_epoch,
        created_at=now,
        expires_at=expires,
    )
    session.add(token)
    session.flush()
    details = {"user": user.username, "expires": expires.isoformat() if expires else None}
    record(session, "token_created", "api_token", code=label, org_id=user.org_id, details=details)
    return token, secret


def list_tokens(session: Session, user: User, *, live_only: bool = False) -> list[ApiToken]:
    """Return a user's tokens, newest first (only those that still work with live_only)."""
    statement = (
        select(ApiToken)
        .where(ApiToken.user_id == user.id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    tokens = list(session.exec(statement).scalars())
    if live_only:
        tokens = [token for token in tokens if token_state(token, user) == "active"]
    return tokens


def find_token(session: Session, user: User, key: object) -> ApiToken:
    """Return the user's token named key (its number or its name), or not found."""
    text = str(key or "").strip()
    statement = select(ApiToken).where(ApiToken.user_id == user.id)
    if text.isdigit():
        statement = statement.where(ApiToken.id == int(text))
    else:
        statement = statement.where(ApiToken.name == text, ApiToken.revoked_at.is_(None))
    found = session.exec(statement.limit(2)).scalars().all()
    if len(found) != 1:
        raise NotFound(_("{user} has no token {token}").format(user=user.username, token=text))
    return found[0]


def revoke_token(session: Session, user: User, token: ApiToken) -> None:
    """Stop a token at once (revoking it again changes nothing)."""
    if token.revoked_at is not None:
        return
    token.revoked_at = now_utc()
    session.add(token)
    session.flush()
    record(
        session,
        "token_revoked",
        "api_token",
        code=token.name,
        org_id=user.org_id,
        details={"user": user.username},
    )


def _lapsed(token: ApiToken, now: datetime) -> str | None:
    """Tell whether a token was revoked or has expired (None if neither)."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and _naive_utc(token.expires_at) <= _naive_utc(now):
        return "expired"
    return None


def token_state(token: ApiToken, user: User, now: datetime | None = None) -> str:
    """Tell whether a token works: active, revoked, expired, or ended (its owner's sessions)."""
    if lapsed := _lapsed(token, now or now_utc()):
        return lapsed
    if not user.active or token.epoch != user.session_epoch:
        return "ended"
    return "active"


def token_state_name(state: str) -> str:
    """Return a token state in the current language."""
    return _(STATE_NAMES[state])


@dataclass(frozen=True)
class TokenUse:
    """Who a token acts for, and whether its last use needs writing."""

    account: Account
    token_id: int
    stale_last_use: bool


def check_token(session: Session, secret: str, now: datetime | None = None) -> TokenUse | None:
    """Return who the secret acts for, or None if it is no working token."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    token = session.exec(select(ApiToken).where(ApiToken.digest == digest(secret))).scalars().first()
    if token is None:
        return None
    moment = now or now_utc()
    if _lapsed(token, moment):
        return None
    # As a session: refused once the owner is disabled, has no org, or their sessions ended.
    account = load_account(session, token.user_id, token.epoch)
    if account is None:
        return None
    last = _naive_utc(token.last_used_at)
    stale = last is None or _naive_utc(moment) - last >= LAST_USED_EVERY
    return TokenUse(account, token.id, stale)


def mark_used(session: Session, token_id: int, now: datetime | None = None) -> None:
    """Write a token's last use (callers do it at most once a minute per token)."""
    token = session.get(ApiToken, token_id)
    if token is not None:
        token.last_used_at = now or now_utc()
        session.add(token)
        session.flush()
