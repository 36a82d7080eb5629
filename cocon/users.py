"""Users: creating and changing them, their passwords, and signing in with a throttle.

Passwords are hashed with Argon2id (argon2-cffi) and judged by zxcvbn, whose lists hold the most
common passwords. Signing in answers the same, in about the same time, for an unknown user and
a wrong password; failures are counted in the database per account name and per client address
and the lock-out lifts by itself once the window has passed.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import delete, func, select
from sqlmodel import Session

from cocon.actors import Actor
from cocon.errors import Invalid, NotFound, Refused
from cocon.fields import clean_text
from cocon.i18n import _
from cocon.models import Org
from cocon.orgs import is_within, resolve_org
from cocon.rights import Role, parse_role
from cocon.user_models import LoginFailure, User

MIN_PASSWORD = 10
MAX_PASSWORD = 200
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,49}")
# zxcvbn's score: 0 and 1 are the passwords found in its lists of common ones, or close to them.
WEAKEST_ACCEPTED = 2
THROTTLE_WINDOW = 15 * 60
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 30


@cache
def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()  # Argon2id with the library's recommended parameters


@cache
def _dummy_hash() -> str:
    return _hasher().hash("an unknown user still costs one verification")


def hash_password(password: str) -> str:
    """Hash a password with Argon2id."""
    return _hasher().hash(password)


def check_password_strength(password: str, *, username: str = "", name: str = "") -> None:
    """Refuse a password that is short, too long, or among the most common ones."""
    from zxcvbn import zxcvbn

    if len(password) < MIN_PASSWORD:
        raise Invalid(
            _("A password needs at least {count} characters; a phrase of several words is best")
            .format(count=MIN_PASSWORD),
            field="password",
        )
    if len(password) > MAX_PASSWORD:
        raise Invalid(
            _("At most {limit} characters").format(limit=MAX_PASSWORD), field="password"
        )
    if any(ord(char) < 32 or ord(char) == 127 for char in password):
        raise Invalid(_("Control characters are not allowed here"), field="password")
    hints = [text for text in (username, name) if text]
    if zxcvbn(password, user_inputs=hints)["score"] < WEAKEST_ACCEPTED:
        raise Invalid(
            _("This password is too common or too easy to guess; add words or characters"),
            field="password",
        )


def clean_username(raw: str) -> str:
    """Return a username in lower case: letters, digits, dot, dash or underscore, 2–50 long."""
    text = (raw or "").strip().lower()
    if not USERNAME.fullmatch(text):
        raise Invalid(
            _("A username has 2 to 50 letters, digits, dots, dashes or underscores"),
            field="username",
        )
    return text


def now_utc() -> datetime:
    """Return the present moment in UTC."""
    return datetime.now(UTC)


def find_user(session: Session, username: str) -> User | None:
    """Return the user with username (any case), or None."""
    text = (username or "").strip().lower()
    return session.exec(select(User).where(User.username == text)).scalar_one_or_none()


def get_user(session: Session, username: str, within: Org | None = None) -> User:
    """Return the user with username whose org lies within (anywhere without it), or not found."""
    user = find_user(session, username)
    org = session.get(Org, user.org_id) if user is not None and user.org_id else None
    if user is None or (within is not None and (org is None or not is_within(org, within))):
        raise NotFound(_("No user is called {name}").format(name=(username or "").strip()))
    return user


def create_user(
    session: Session,
    username: str,
    *,
    role: Role | str,
    org: Org,
    password: str,
    display_name: str | None = None,
) -> User:
    """Add a user with a role at org; the username must be free and the password strong."""
    name = clean_username(username)
    role = parse_role(str(role))
    display = clean_text(display_name, "display_name", limit=100) or name
    if find_user(session, name) is not None:
        raise Invalid(_("This username cannot be used; choose another"), field="username")
    check_password_strength(password, username=name, name=display)
    user = User(
        username=name,
        display_name=display,
        role=role.value,
        org_id=org.id,
        password_hash=hash_password(password),
        created_at=now_utc(),
    )
    session.add(user)
    session.flush()
    return user


def end_sessions(user: User) -> None:
    """Make every session the user signed in before end at its next request."""
    user.session_epoch += 1


def set_password(session: Session, user: User, password: str) -> None:
    """Give a user a new password; the sessions signed in with the old one end."""
    check_password_strength(password, username=user.username, name=user.display_name)
    user.password_hash = hash_password(password)
    end_sessions(user)
    session.add(user)
    session.flush()


def set_active(session: Session, user: User, active: bool) -> None:
    """Enable or disable a user; disabling ends their sessions at once."""
    if user.active != active:
        user.active = active
        end_sessions(user)
        session.add(user)
        session.flush()


def set_role(
    session: Session,
    user: User,
    role: Role | str,
    org: Org | None = None,
    display_name: str | None = None,
) -> None:
    """Give a user another role (and org, and name); their sessions end if the rights changed."""
    new_role = parse_role(str(role))
    new_org_id = org.id if org is not None else user.org_id
    if display_name is not None:
        user.display_name = clean_text(display_name, "display_name", limit=100) or user.username
    if (new_role.value, new_org_id) != (user.role, user.org_id):
        user.role, user.org_id = new_role.value, new_org_id
        end_sessions(user)
    session.add(user)
    session.flush()


def list_users(session: Session, within: Org | None = None) -> list[tuple[User, Org | None]]:
    """Return the users whose org lies within (every user without it), by username."""
    statement = select(User, Org).outerjoin(Org, Org.id == User.org_id).order_by(User.username)
    if within is not None:
        from cocon.scope import org_within

        statement = statement.where(org_within(within))
    return [(user, org) for user, org in session.execute(statement)]


def has_admin(session: Session) -> bool:
    """Tell whether an active admin exists."""
    statement = select(func.count(User.id)).where(User.role == Role.ADMIN.value, User.active)
    return bool(session.execute(statement).scalar())


def resolve_user_org(session: Session, code: str, within: Org | None = None) -> Org:
    """Return the org a user is given, which must lie within (an admin gives only their own)."""
    org = resolve_org(session, code)
    if not is_within(org, within):
        raise NotFound(_("No org has the code {code}").format(code=(code or "").strip()))
    return org


@dataclass(frozen=True)
class Client:
    """Who is signing in: the account name typed and the address the request came from."""

    username: str
    address: str


def _failures(session: Session, kind: str, key: str, since: float) -> int:
    statement = select(func.count(LoginFailure.id)).where(
        LoginFailure.kind == kind, LoginFailure.key == key, LoginFailure.at >= since
    )
    return int(session.execute(statement).scalar() or 0)


def throttled(session: Session, client: Client, at: float | None = None) -> bool:
    """Tell whether too many sign-ins failed lately for the account name or the address."""
    since = (at or time.time()) - THROTTLE_WINDOW
    account = client.username.strip().lower()[:200]
    return (
        _failures(session, "account", account, since) >= MAX_FAILURES_PER_ACCOUNT
        or _failures(session, "address", client.address[:200], since) >= MAX_FAILURES_PER_ADDRESS
    )


def record_failure(session: Session, client: Client, at: float | None = None) -> None:
    """Count a failed sign-in against the account name and the address; forget old ones."""
    moment = at or time.time()
    session.execute(delete(LoginFailure).where(LoginFailure.at < moment - THROTTLE_WINDOW))
    account = client.username.strip().lower()[:200]
    session.add(LoginFailure(kind="account", key=account, at=moment))
    session.add(LoginFailure(kind="address", key=client.address[:200], at=moment))
    session.flush()


class SignInRefused(Refused):
    """A sign-in that failed: the message never tells which part was wrong."""


def sign_in(session: Session, client: Client, password: str) -> User:
    """Return the user whose name and password these are, if they may sign in now.

    An unknown name costs a verification too, and every failure says the same thing.
    """
    from argon2.exceptions import InvalidHashError, VerificationError

    if any(ord(char) < 32 or ord(char) == 127 for char in client.username + client.address):
        # No account name holds one, and PostgreSQL refuses a NUL in a query: nothing to look up.
        raise SignInRefused(_("The username or the password is wrong"))
    if throttled(session, client):
        # The attempt is not verified at all, so a guess during the lock-out tells nothing.
        raise SignInRefused(
            _("Too many failed sign-ins: wait {minutes} minutes and try again").format(
                minutes=THROTTLE_WINDOW // 60
            )
        )
    user = find_user(session, client.username)
    hashed = user.password_hash if user is not None else _dummy_hash()
    try:
        _hasher().verify(hashed, password[:MAX_PASSWORD])
        verified = user is not None
    except (VerificationError, InvalidHashError):
        verified = False
    org = session.get(Org, user.org_id) if verified and user.org_id else None
    if not verified or not user.active or org is None:
        record_failure(session, client)
        raise SignInRefused(_("The username or the password is wrong"))
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now_utc()
    session.add(user)
    session.flush()
    return user


@dataclass(frozen=True)
class Account:
    """The signed-in user a request acts for, as loaded at its start."""

    id: int
    username: str
    display_name: str
    role: Role
    org_id: int
    session_epoch: int

    @property
    def actor(self) -> Actor:
        """Return who the account acts as in what it writes."""
        return Actor(self.username, self.id, self.role, self.org_id)


def load_account(session: Session, user_id: int, epoch: int) -> Account | None:
    """Return the account of a session, or None if it may no longer act.

    It may not once the user is disabled, has no org, or its sessions were ended since
    (a new password, role or org; disabling).
    """
    user = session.get(User, user_id)
    if user is None or not user.active or user.org_id is None or user.session_epoch != epoch:
        return None
    if session.get(Org, user.org_id) is None:
        return None
    return Account(
        user.id, user.username, user.display_name, Role(user.role), user.org_id, epoch
    )
