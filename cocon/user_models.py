"""Tables of users and of what the web keeps between requests: sessions, throttles, uploads.

Everything one app server keeps for the next request lives here, in the application's own
database, so several workers and servers over one PostgreSQL share it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlmodel import Field, SQLModel

from cocon.models import version_column
from cocon.rights import Role

USER_VERSION = version_column()


class User(SQLModel, table=True):
    """Someone who signs in: a role at an org, whose subtree is all they see."""

    __tablename__ = "user_account"
    __mapper_args__ = {"version_id_col": USER_VERSION}
    __table_args__ = (
        CheckConstraint(
            "role IN (" + ", ".join(repr(role.value) for role in Role) + ")", name="ck_user_role"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(default=1, sa_column=USER_VERSION)
    # Kept in lower case: usernames compare without regard to case.
    username: str = Field(max_length=50, unique=True)
    display_name: str = Field(max_length=100)
    role: str = Field(max_length=16)
    # A deleted org leaves its users without one: they see nothing and cannot sign in.
    org_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("org.id", ondelete="SET NULL"))
    )
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    password_hash: str = Field(max_length=200)
    # Advanced whenever the sessions signed in before must end (disabled, new password, new role).
    session_epoch: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    created_at: datetime
    last_login_at: datetime | None = None


class WebSession(SQLModel, table=True):
    """One signed-in browser's session data, under the id its cookie carries."""

    __tablename__ = "web_session"

    key: str = Field(sa_column=Column(String(128), primary_key=True))
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # Unix time; the session is gone once it passes (the idle timeout, renewed on use).
    expires_at: float = Field(sa_column=Column(Float, nullable=False, index=True))


class LoginFailure(SQLModel, table=True):
    """One failed sign-in, counted against the account name typed and the client address."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_key", "kind", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=10)  # "account" or "address"
    key: str = Field(max_length=200)
    at: float = Field(sa_column=Column(Float, nullable=False))


class WaitingUpload(SQLModel, table=True):
    """A workbook uploaded for import, waiting between its preview and its confirmation."""

    __tablename__ = "waiting_upload"

    token: str = Field(sa_column=Column(String(64), primary_key=True))
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    scope_code: str = Field(max_length=12)
    name: str = Field(max_length=120)
    created: float = Field(sa_column=Column(Float, nullable=False))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    content: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    problems: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    result: str | None = Field(default=None, sa_column=Column(Text))


class InstallationSecret(SQLModel, table=True):
    """A secret made once per installation (the signing key when COCON_SECRET_KEY is unset)."""

    __tablename__ = "installation_secret"

    name: str = Field(sa_column=Column(String(40), primary_key=True))
    value: str = Field(sa_column=Column(String(200), nullable=False))


class ApiToken(SQLModel, table=True):
    """A personal API token: it acts with its owner's role and scope until revoked or expired.

    Only the SHA-256 digest of the secret is kept; the secret is shown once, when made.
    """

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    name: str = Field(max_length=100)
    digest: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    # The secret's first characters, shown in lists so that its owner can tell tokens apart.
    hint: str = Field(max_length=16)
    # The owner's session_epoch when it was made: what ends their sessions ends it too.
    epoch: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
