"""Fixtures for the JSON API: the demo database of tests/web, tokens in every state.

`api_template` is a copy of the web tests' demo with the orgs outside Gongshu the authorization
matrix uses, and a token for each Gongshu role plus one revoked, one expired and one whose owner
is disabled. Each test gets its own copy of it (`api`), so what one test writes no other sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import Engine, select

from cocon import db
from cocon.orgs import get_org
from cocon.tokens import create_token, digest, find_token, revoke_token
from cocon.user_models import ApiToken
from cocon.users import create_user, get_user, now_utc, set_active
from cocon.web import create_app
from tests.web import conftest as web_fixtures
from tests.web.conftest import SIGNED_IN, TEST_HOST, _copy_database, _drop_database, web_settings
from tests.web.test_authorization import _add_outside

# The demo databases of the web tests, loaded once per session for both.
writable_demo = web_fixtures.writable_demo
ROLES = ("admin", "office", "finance", "viewer")
BROKEN_STATES = ("revoked", "expired", "owner_disabled")


@dataclass(frozen=True)
class Tokens:
    """The secrets of the test tokens: one per Gongshu role, and the broken ones by state."""

    by_role: dict[str, str]
    broken: dict[str, str]
    cookies: dict[str, str]


def _make_tokens(url: str, kind: str) -> Tokens:
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine, write=True) as session:
            _add_outside(session)
            by_role = {
                role: create_token(session, get_user(session, f"gongshu-{role}"), "tests")[1]
                for role in ROLES
            }
            office = get_user(session, "gongshu-office")
            revoked = create_token(session, office, "revoked")[1]
            revoke_token(session, office, find_token(session, office, "revoked"))
            expired_token, expired = create_token(session, office, "expired", "2099-01-01")
            expired_token.expires_at = now_utc() - timedelta(minutes=1)
            session.add(expired_token)
            leaver = create_user(
                session, "t-leaver", role="admin", org=get_org(session, "330105"),
                password="a leaver of the district office",
            )  # fmt: skip
            disabled = create_token(session, leaver, "leaver")[1]
            set_active(session, leaver, False)
        broken = {"revoked": revoked, "expired": expired, "owner_disabled": disabled}
        return Tokens(by_role, broken, SIGNED_IN[kind]["gongshu-admin"])
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def api_template(
    writable_demo: tuple[str, object], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, object, Tokens]]:
    """Yield a demo copy with the outside orgs and the test tokens, to copy for each test."""
    kind = writable_demo[0]
    url, handle = _copy_database(*writable_demo, tmp_path_factory.mktemp("api"))
    tokens = _make_tokens(url, kind)
    if kind == "sqlite":
        template: object = Path(url.removeprefix("sqlite:///"))
    else:
        template = (writable_demo[1][0], handle[1])
    yield kind, template, tokens
    _drop_database(handle)


@dataclass
class Api:
    """A started app on a fresh copy of the API database, its URL and the test tokens."""

    client: TestClient
    url: str
    tokens: Tokens
    engine: Engine

    def as_role(self, role: str) -> dict[str, str]:
        """Return the headers of a request with the token of a Gongshu role."""
        return {"Authorization": f"Bearer {self.tokens.by_role[role]}", "Accept-Language": "en"}

    def data_revision(self) -> int:
        """Return the database's count of writing transactions."""
        with db.session_scope(self.engine) as session:
            return db.data_revision(session)

    def token_row(self, secret: str) -> ApiToken:
        """Return the stored row of a token."""
        with db.session_scope(self.engine) as session:
            statement = select(ApiToken).where(ApiToken.digest == digest(secret))
            return session.execute(statement).scalar_one()


@pytest.fixture
def api(api_template: tuple[str, object, Tokens], tmp_path: Path) -> Iterator[Api]:
    """Yield a started app on its own copy of the API database."""
    kind, template, tokens = api_template
    url, handle = _copy_database(kind, template, tmp_path)
    engine = db.make_engine(url)
    with TestClient(app=create_app(web_settings(url)), base_url=f"http://{TEST_HOST}") as client:
        yield Api(client, url, tokens, engine)
    engine.dispose()
    _drop_database(handle)
