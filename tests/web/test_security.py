"""Security of the web app, as an attacker would try it: sessions (fixation, replay, ending,
timeouts), CSRF, sign-in throttling and enumeration, Host headers, control characters, open
redirects, HEAD and caching, cookie flags. Every test runs on its own copy of the demo."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from urllib.parse import quote

import argon2
import pytest
from litestar.connection import ASGIConnection
from litestar.testing import TestClient
from sqlalchemy import select

import cocon.users
from cocon import db
from cocon.demo import DEMO_PASSWORD
from cocon.models import Project
from cocon.project_input import project_values
from cocon.settings import LOOPBACK_HOSTS
from cocon.user_models import LoginFailure, WebSession
from cocon.users import (
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_ADDRESS,
    THROTTLE_WINDOW,
    find_user,
    set_active,
    set_password,
)
from cocon.web import auth, create_app, sessions
from cocon.web.app import host_allowed
from cocon.web.auth import client_address, is_https
from cocon.web.sessions import SESSION_COOKIE
from tests.conftest import Cli, snapshot
from tests.web.conftest import (
    SIGNED_IN,
    TEST_HOST,
    use_session,
    web_settings,
)
from tests.web.forms import csrf_token, field_error

YUNHE = "91330105MA2GL3K724"  # a partner of Gongshu's projects
PROJECT = "GS-2023-004"
WRONG = "The username or the password is wrong"
TOO_MANY = "Too many failed sign-ins"
CONTROL = "Control characters (such as NUL or a line break) are not allowed here"
PROXY = "10.0.0.1"  # the peer of the tests that sit behind a trusted proxy
PROXY_SETTINGS = {"trusted_proxies": ("10.0.0.0/8",)}


# --- helpers --------------------------------------------------------------------------------


class Clock:
    """A stand-in for the time module whose time() the test moves on."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        """Return the test's present moment."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the present moment on by seconds."""
        self.now += seconds


def idle_app(url: str, **changes) -> TestClient:
    """Return a client (to start with `with`) of an app whose sessions end after 30 idle minutes."""
    settings = replace(web_settings(url), session_idle_minutes=30, **changes)
    return TestClient(app=create_app(settings))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Give the session store, the session checks and the sign-in throttle one test clock."""
    fake = Clock()
    for module in (auth, sessions, cocon.users):
        monkeypatch.setattr(module, "time", fake)
    return fake


def in_database(url: str, work, write: bool = False):
    """Run work(session) on the database at url, outside the app, and return what it returns."""
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine, write=write) as session:
            return work(session)
    finally:
        engine.dispose()


def session_keys(url: str) -> set[str]:
    """Return the ids of the sessions stored in the database."""
    return set(in_database(url, lambda s: s.execute(select(WebSession.key)).scalars().all()))


def failures(url: str, kind: str) -> list[str]:
    """Return the keys of the failed sign-ins recorded of a kind ("account" or "address")."""
    statement = select(LoginFailure.key).where(LoginFailure.kind == kind)
    return list(in_database(url, lambda s: s.execute(statement).scalars().all()))


def seed_failures(url: str, kind: str, key: str, count: int) -> None:
    """Record count failed sign-ins against one account name or address, as of now."""
    rows = [LoginFailure(kind=kind, key=key, at=time.time()) for _ in range(count)]
    in_database(url, lambda s: s.add_all(rows), write=True)


def change_user(url: str, username: str, change) -> None:
    """Apply change(session, user) to a user, as the CLI would."""
    in_database(url, lambda s: change(s, find_user(s, username)), write=True)


def post_login(
    client: TestClient,
    username: str,
    password: str = DEMO_PASSWORD,
    target: str | None = None,
    headers: dict[str, str] | None = None,
):
    """Open the sign-in form and send it; return the response (redirects not followed)."""
    data = {"username": username, "password": password, "_csrf_token": csrf_token(client, "/login")}
    if target is not None:
        data["next"] = target
    return client.post("/login?lang=en", data=data, headers=headers, follow_redirects=False)


def login_error(html: str) -> str:
    """Return the message the sign-in form shows ('' when none)."""
    found = re.search(r'<div class="error-summary"[^>]*><p>([^<]*)</p>', html)
    return found[1] if found else ""


def session_cookie(response) -> str:
    """Return the Set-Cookie header of the session cookie in a response."""
    found = [c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)]
    assert len(found) == 1, response.headers
    return found[0]


def cookie_value(header: str) -> str:
    """Return the value in a Set-Cookie header."""
    return header.split(";", 1)[0].split("=", 1)[1]


def flags(header: str) -> set[str]:
    """Return the attributes of a Set-Cookie header, in lower case."""
    return {part.strip().lower() for part in header.split(";")[1:]}


def signed_in(client: TestClient) -> bool:
    """Tell whether the client's cookies carry a session that may read the dashboard."""
    response = client.get("/", follow_redirects=False)
    if response.status_code == 303:
        assert response.headers["location"].startswith("/login?next=")
        return False
    assert response.status_code == 200, response.text
    return True


def partner_form(client: TestClient, **changes: str) -> dict[str, str]:
    """Open the edit form of the Yunhe partner and return what it sends, with changes."""
    token = csrf_token(client, f"/partners/{YUNHE}/edit")
    data = {"credit_code": YUNHE, "name": "杭州运河文体发展有限公司", "kind": "enterprise"}
    return {**data, "contact": "陈志远", "phone": "0571-88231457", "_csrf_token": token, **changes}


def served(app, peer: str | None = None):
    """Wrap an ASGI app to get requests as a server hands them over: raw_path without the query
    (the test client leaves it in), and from peer when given (the test client's is no address)."""

    async def as_served(scope, receive, send):
        if scope["type"] == "http":
            scope = {**scope, "raw_path": scope["raw_path"].split(b"?", 1)[0]}
            if peer is not None:
                scope["client"] = (peer, 1234)
        await app(scope, receive, send)

    return as_served


@contextmanager
def served_client(url: str, peer: str | None = None, **changes) -> Iterator[TestClient]:
    """Yield a client of an app served as a server would, from peer (see served)."""
    with TestClient(app=served(create_app(web_settings(url, **changes)), peer)) as client:
        yield client


@contextmanager
def proxied_client(url: str, **changes) -> Iterator[TestClient]:
    """Yield a client of an app whose requests arrive from the trusted proxy 10.0.0.1."""
    with served_client(url, PROXY, **PROXY_SETTINGS, **changes) as client:
        yield client


def connection(peer: str, headers: list[tuple[str, str]]) -> ASGIConnection:
    """Make the connection of a request from peer with headers, outside any app."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "scheme": "http",
        "client": (peer, 1234),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "state": {},
    }
    return ASGIConnection(scope)


# --- 1. session fixation --------------------------------------------------------------------


def test_session_fixation_chosen_id_is_replaced_at_sign_in(fresh_app, fresh_url):
    chosen = "a" * 64
    fresh_app.cookies.set(SESSION_COOKIE, chosen, domain=TEST_HOST)
    before = session_keys(fresh_url)
    token = csrf_token(fresh_app, "/login")  # a visitor gets no session: the unknown id is dropped
    assert session_keys(fresh_url) == before
    fresh_app.cookies.set(SESSION_COOKIE, chosen, domain=TEST_HOST)  # planted again
    data = {"username": "gongshu-viewer", "password": DEMO_PASSWORD, "_csrf_token": token}
    response = fresh_app.post("/login", data=data, follow_redirects=False)
    assert response.status_code == 303
    new_id = cookie_value(session_cookie(response))
    assert new_id != chosen and new_id not in before
    assert chosen not in session_keys(fresh_url) and new_id in session_keys(fresh_url)
    fresh_app.cookies.clear()
    fresh_app.cookies.set(SESSION_COOKIE, chosen, domain=TEST_HOST)
    assert not signed_in(fresh_app)


def test_session_fixation_planted_live_session_is_ended_at_sign_in(fresh_app, fresh_url, backend):
    # The attacker plants the id of a session of their own; the victim signs in over it.
    planted = SIGNED_IN[backend]["gongshu-admin"][SESSION_COOKIE]
    assert planted in session_keys(fresh_url)
    fresh_app.cookies.set(SESSION_COOKIE, planted, domain=TEST_HOST)
    response = post_login(fresh_app, "gongshu-viewer")
    assert response.status_code == 303
    new_id = cookie_value(session_cookie(response))
    assert new_id != planted
    assert planted not in session_keys(fresh_url)
    use_session(fresh_app, "gongshu-admin", backend)  # the attacker's copy of the planted id
    assert not signed_in(fresh_app)


# --- 2. replay after logout -----------------------------------------------------------------


def test_logout_replayed_cookies_read_as_signed_out(fresh_client, fresh_url):
    data = partner_form(fresh_client, name="改名")
    copied = dict(fresh_client.cookies)
    session_id = copied[SESSION_COOKIE]
    token = csrf_token(fresh_client, "/logout")
    response = fresh_client.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert session_id not in session_keys(fresh_url)
    before = snapshot(fresh_url)
    fresh_client.cookies.clear()
    fresh_client.cookies.update(copied)
    response = fresh_client.get("/projects", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fprojects"
    fresh_client.cookies.clear()
    fresh_client.cookies.update(copied)
    response = fresh_client.post(f"/partners/{YUNHE}/edit", data=data, follow_redirects=False)
    assert response.status_code == 401
    assert snapshot(fresh_url) == before


# --- 3. ending a user's sessions ------------------------------------------------------------


def test_disabled_user_session_ends_and_enabling_does_not_revive_it(fresh_client, fresh_url):
    copied = dict(fresh_client.cookies)
    assert signed_in(fresh_client)
    Cli(fresh_url).ok("users", "disable", "gongshu-admin")
    assert not signed_in(fresh_client)
    Cli(fresh_url).ok("users", "enable", "gongshu-admin")
    fresh_client.cookies.update(copied)
    assert not signed_in(fresh_client)


def test_disabled_user_session_ends_even_when_enabled_before_the_next_request(
    fresh_client, fresh_url
):
    assert signed_in(fresh_client)
    change_user(fresh_url, "gongshu-admin", lambda s, user: set_active(s, user, False))
    change_user(fresh_url, "gongshu-admin", lambda s, user: set_active(s, user, True))
    assert not signed_in(fresh_client)


def test_disabled_user_write_is_refused(fresh_client, fresh_url):
    data = partner_form(fresh_client, name="改名")
    change_user(fresh_url, "gongshu-admin", lambda s, user: set_active(s, user, False))
    before = snapshot(fresh_url)
    response = fresh_client.post(f"/partners/{YUNHE}/edit", data=data, follow_redirects=False)
    assert response.status_code == 401
    assert snapshot(fresh_url) == before


def test_new_password_ends_old_sessions(fresh_client, fresh_url):
    copied = dict(fresh_client.cookies)
    assert signed_in(fresh_client)
    new = "a fresh phrase of several words 2024"
    change_user(fresh_url, "gongshu-admin", lambda s, user: set_password(s, user, new))
    assert not signed_in(fresh_client)
    fresh_client.cookies.update(copied)
    assert not signed_in(fresh_client)


# --- 4. idle and absolute timeouts ----------------------------------------------------------


def test_idle_timeout_ends_an_unused_session(fresh_url, clock):
    with idle_app(fresh_url) as client:
        assert post_login(client, "gongshu-viewer").status_code == 303
        clock.advance(29 * 60)
        assert signed_in(client)
        session_id = client.cookies[SESSION_COOKIE]
        clock.advance(31 * 60)
        assert not signed_in(client)
        assert session_id not in session_keys(fresh_url)


def test_idle_timeout_is_renewed_by_activity(fresh_url, clock):
    with idle_app(fresh_url) as client:
        assert post_login(client, "gongshu-viewer").status_code == 303
        for _step in range(6):  # three hours, never 30 minutes idle
            clock.advance(25 * 60)
            assert signed_in(client)
        statement = select(WebSession.expires_at).where(
            WebSession.key == client.cookies[SESSION_COOKIE]
        )
        expires = in_database(fresh_url, lambda s: s.execute(statement).scalar_one())
        assert round(expires - clock.now) == 30 * 60  # renewed by the last request
        clock.advance(30 * 60 + 1)
        assert not signed_in(client)


def test_absolute_timeout_ends_even_an_active_session(fresh_url, clock):
    with idle_app(fresh_url, session_max_hours=12) as client:
        assert post_login(client, "gongshu-viewer").status_code == 303
        for _step in range(12 * 60 // 25):  # a request every 25 minutes for 11 h 40
            clock.advance(25 * 60)
            assert signed_in(client)
        clock.advance(12 * 3600 - (12 * 60 // 25) * 25 * 60 + 1)  # 12 h and a second in
        assert not signed_in(client)


# --- 5. CSRF --------------------------------------------------------------------------------


def test_csrf_missing_token_is_refused(fresh_client, fresh_url):
    data = partner_form(fresh_client, name="改名")
    del data["_csrf_token"]
    before = snapshot(fresh_url)
    response = fresh_client.post(f"/partners/{YUNHE}/edit", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert snapshot(fresh_url) == before


def test_csrf_wrong_token_is_refused(fresh_client, fresh_url):
    token = partner_form(fresh_client)["_csrf_token"]
    before = snapshot(fresh_url)
    for wrong in ("x" * len(token), token[:-1] + ("0" if token[-1] != "0" else "1"), ""):
        data = partner_form(fresh_client, name="改名", _csrf_token=wrong)
        response = fresh_client.post(f"/partners/{YUNHE}/edit", data=data, follow_redirects=False)
        assert response.status_code == 403, wrong
    assert snapshot(fresh_url) == before


def test_csrf_token_of_another_session_is_refused(fresh_app, fresh_url, backend):
    from tests.web.conftest import PROVINCE_ADMIN

    use_session(fresh_app, PROVINCE_ADMIN, backend)  # user A
    data = partner_form(fresh_app, name="改名")
    a_pair = fresh_app.cookies["csrftoken"]
    victim = {**SIGNED_IN[backend]["gongshu-admin"], "csrftoken": a_pair}  # user B's session
    before = snapshot(fresh_url)
    fresh_app.cookies.clear()
    fresh_app.cookies.update(victim)
    response = fresh_app.post(f"/partners/{YUNHE}/edit", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert snapshot(fresh_url) == before
    # The pair itself was good: in A's own session it saves.
    use_session(fresh_app, PROVINCE_ADMIN, backend)
    fresh_app.cookies.set("csrftoken", a_pair, domain=TEST_HOST)
    response = fresh_app.post(f"/partners/{YUNHE}/edit", data=data, follow_redirects=False)
    assert response.status_code == 303
    assert snapshot(fresh_url) != before


def test_csrf_form_page_token_works(fresh_client, fresh_url):
    before = snapshot(fresh_url)
    data = partner_form(fresh_client, name="杭州运河文体")
    response = fresh_client.post(f"/partners/{YUNHE}/edit", data=data, follow_redirects=False)
    assert response.status_code == 303
    assert snapshot(fresh_url) != before


def test_csrf_cross_site_write_is_refused(fresh_client, fresh_url):
    data = partner_form(fresh_client, name="改名")
    before = snapshot(fresh_url)
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": f"http://{TEST_HOST}"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": f"http://{TEST_HOST}.evil.example"},
    ):
        response = fresh_client.post(
            f"/partners/{YUNHE}/edit", data=data, headers=headers, follow_redirects=False
        )
        assert response.status_code == 403, headers
    assert snapshot(fresh_url) == before


# --- 6. brute force -------------------------------------------------------------------------


def test_brute_force_account_is_locked_after_five_failures(fresh_app, fresh_url, monkeypatch):
    for attempt in range(MAX_FAILURES_PER_ACCOUNT):
        spoofed = {"X-Forwarded-For": f"198.51.100.{attempt + 1}"}  # from an untrusted peer
        response = post_login(fresh_app, "gongshu-viewer", "wrong password", headers=spoofed)
        assert response.status_code == 400 and login_error(response.text) == WRONG
    assert set(failures(fresh_url, "address")) == {"testclient"}  # the peer, not the header
    verified = []
    monkeypatch.setattr(argon2.PasswordHasher, "verify", lambda *args: verified.append(args))
    response = post_login(fresh_app, "Gongshu-Viewer", headers={"X-Forwarded-For": "192.0.2.9"})
    assert response.status_code == 400
    assert login_error(response.text).startswith(TOO_MANY)
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert verified == []  # a guess during the lock-out is not even checked


def test_brute_force_rotating_forwarded_for_does_not_escape_the_address_limit(fresh_app, fresh_url):
    seed_failures(fresh_url, "address", "testclient", MAX_FAILURES_PER_ADDRESS - 1)
    response = post_login(fresh_app, "nobody-1", "guess", headers={"X-Forwarded-For": "1.2.3.4"})
    assert login_error(response.text) == WRONG
    response = post_login(fresh_app, "gongshu-viewer", headers={"X-Forwarded-For": "5.6.7.8"})
    assert response.status_code == 400
    assert login_error(response.text).startswith(TOO_MANY)
    assert set(failures(fresh_url, "address")) == {"testclient"}


def test_brute_force_address_behind_a_trusted_proxy_is_the_forwarded_one(fresh_url):
    client_ip = "203.0.113.7"
    with proxied_client(fresh_url) as client:
        response = post_login(
            client, "nobody-1", "guess", headers={"X-Forwarded-For": f"198.51.100.1, {client_ip}"}
        )
        assert login_error(response.text) == WRONG
        assert failures(fresh_url, "address") == [client_ip]
        seed_failures(fresh_url, "address", client_ip, MAX_FAILURES_PER_ADDRESS - 1)
        # A made-up left-most entry does not make the client someone else.
        spoofed = {"X-Forwarded-For": f"192.0.2.55, {client_ip}"}
        response = post_login(client, "gongshu-viewer", headers=spoofed)
        assert response.status_code == 400
        assert login_error(response.text).startswith(TOO_MANY)
        # Another client behind the same proxy is not locked out.
        other = {"X-Forwarded-For": "203.0.113.8"}
        assert post_login(client, "gongshu-viewer", headers=other).status_code == 303
    assert PROXY not in failures(fresh_url, "address")


def test_brute_force_client_address_takes_the_right_most_untrusted_hop():
    settings = web_settings("sqlite://", **PROXY_SETTINGS)
    xff = "X-Forwarded-For"
    cases = [
        ("10.0.0.1", [(xff, "1.1.1.1, 203.0.113.7")], "203.0.113.7"),
        ("10.0.0.1", [(xff, "1.1.1.1, 203.0.113.7, 10.0.0.2")], "203.0.113.7"),
        ("10.0.0.1", [(xff, "1.1.1.1"), (xff, "203.0.113.7")], "203.0.113.7"),
        ("10.0.0.1", [(xff, "garbage, 203.0.113.7")], "203.0.113.7"),
        ("10.0.0.1", [], "10.0.0.1"),
        ("10.0.0.1", [(xff, "10.0.0.3, 10.0.0.2")], "10.0.0.3"),
        ("192.0.2.1", [(xff, "203.0.113.7")], "192.0.2.1"),  # an untrusted peer
        ("testclient", [(xff, "203.0.113.7")], "testclient"),
    ]
    for peer, headers, expected in cases:
        assert client_address(connection(peer, headers), settings) == expected, (peer, headers)
    untrusting = web_settings("sqlite://")
    assert client_address(connection("10.0.0.1", [(xff, "1.1.1.1")]), untrusting) == "10.0.0.1"


def test_brute_force_lock_out_lifts_after_the_window(fresh_app, fresh_url, clock):
    seed_failures(fresh_url, "account", "gongshu-viewer", MAX_FAILURES_PER_ACCOUNT)
    response = post_login(fresh_app, "gongshu-viewer")
    assert login_error(response.text).startswith(TOO_MANY)
    clock.advance(THROTTLE_WINDOW - 5)
    assert login_error(post_login(fresh_app, "gongshu-viewer").text).startswith(TOO_MANY)
    clock.advance(10)
    assert post_login(fresh_app, "gongshu-viewer").status_code == 303


# --- 7. user enumeration --------------------------------------------------------------------


def test_user_enumeration_unknown_user_and_wrong_password_look_the_same(
    fresh_app, fresh_url, monkeypatch
):
    change_user(fresh_url, "gongshu-finance", lambda s, user: set_active(s, user, False))
    original = argon2.PasswordHasher.verify
    verified: list[str] = []

    def spy(self, hashed, password):
        verified.append(hashed)
        return original(self, hashed, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", spy)
    answers = {}
    for username, password in (
        ("nobody-here", DEMO_PASSWORD),
        ("gongshu-viewer", "wrong password"),
        ("gongshu-finance", DEMO_PASSWORD),  # disabled: the right password tells nothing either
    ):
        verified.clear()
        response = post_login(fresh_app, username, password)
        assert len(verified) == 1, username  # one Argon2 verification each
        body = response.text.replace(f'value="{username}"', 'value=""')
        body = re.sub(r'name="_csrf_token" value="[^"]+"', "", body)
        answers[username] = (response.status_code, login_error(response.text), body, verified[0])
    statuses, errors, bodies, hashes = zip(*answers.values(), strict=True)
    assert set(statuses) == {400} and set(errors) == {WRONG}
    assert len(set(bodies)) == 1
    parameters = {hashed.rsplit("$", 2)[0] for hashed in hashes}  # $argon2id$v=19$m=…,t=…,p=…
    assert len(parameters) == 1 and next(iter(parameters)).startswith("$argon2id$")


# --- 8. Host header -------------------------------------------------------------------------


def test_host_header_of_another_site_is_refused(fresh_client, fresh_url):
    evil = {"Host": "evil.example", "Origin": "http://evil.example"}
    assert fresh_client.get("/", headers=evil).status_code == 400
    assert fresh_client.get("/health", headers=evil).status_code == 400
    assert fresh_client.get("/login", headers=evil).status_code == 400
    data = partner_form(fresh_client, name="改名")
    before = snapshot(fresh_url)
    response = fresh_client.post(f"/partners/{YUNHE}/edit", data=data, headers=evil)
    assert response.status_code == 400
    assert snapshot(fresh_url) == before


def test_host_header_allowed_with_a_port_works(fresh_client):
    for host in (f"{TEST_HOST}:8080", TEST_HOST.upper()):
        response = fresh_client.get("/", headers={"Host": host}, follow_redirects=False)
        assert response.status_code == 200, host
    assert fresh_client.get("/", headers={"Host": f"{TEST_HOST}:x"}).status_code == 400


def test_host_allowed_patterns():
    allowed = ("*.example.org", "cocon.gov.cn", "[::1]")
    for header in (
        "a.example.org",
        "a.b.example.org:8443",
        "A.EXAMPLE.ORG",
        "cocon.gov.cn:80",
        "[::1]:8000",
        "[::1]",
    ):
        assert host_allowed(header, allowed), header
    for header in (
        "example.org",
        "evilexample.org",
        "example.org.evil.com",
        "evil.example",
        "cocon.gov.cn.evil.com",
        "xcocon.gov.cn",
        "",
        None,
        "[::1",
        ":80",
        "cocon.gov.cn:http",
    ):
        assert not host_allowed(header, allowed), header
    assert host_allowed("anything.example", ("*",))
    assert not host_allowed("localhost", ())
    assert host_allowed("localhost:8000", LOOPBACK_HOSTS)
    assert host_allowed("[::1]:8000", LOOPBACK_HOSTS)


def test_host_allowed_ipv6_pattern_without_brackets():
    allowed = ("2001:db8::1",)  # as COCON_ALLOWED_HOSTS=2001:db8::1 gives it
    assert host_allowed("[2001:db8::1]:8000", allowed)
    assert not host_allowed("[2001:db8::7]", allowed)
    assert not host_allowed(":", ("::1",))


# --- 9. control characters ------------------------------------------------------------------


def project_form(client: TestClient, url: str, **changes: str) -> dict[str, str]:
    """Open the edit form of a project and return what it sends, with changes."""
    token = csrf_token(client, f"/projects/{PROJECT}/edit")

    def values(session):
        project = session.execute(select(Project).where(Project.code == PROJECT)).scalar_one()
        return project_values(session, project)

    return {**in_database(url, values), "_csrf_token": token, **changes}


def test_control_characters_in_a_project_name_are_refused(fresh_client, fresh_url):
    before = snapshot(fresh_url)
    for text in ("现代\x00城", "现代\n城", "现代\x1b[31m城", "现代\x7f城", "\x00"):
        data = project_form(fresh_client, fresh_url, name=text)
        response = fresh_client.post(f"/projects/{PROJECT}/edit?lang=en", data=data)
        assert response.status_code == 400, repr(text)
        assert field_error(response.text, "name") == CONTROL, repr(text)
    assert snapshot(fresh_url) == before


def test_control_characters_in_a_project_description_are_refused(fresh_client, fresh_url):
    data = project_form(fresh_client, fresh_url, description="第一行\n第二行\x00")
    before = snapshot(fresh_url)
    response = fresh_client.post(f"/projects/{PROJECT}/edit?lang=en", data=data)
    assert response.status_code == 400
    assert field_error(response.text, "description") == CONTROL
    assert snapshot(fresh_url) == before


def test_control_characters_in_a_partner_contact_are_refused(fresh_client, fresh_url):
    before = snapshot(fresh_url)
    for text in ("陈\x00志远", "陈\r\n志远", "陈\x08志远"):
        data = partner_form(fresh_client, contact=text)
        response = fresh_client.post(f"/partners/{YUNHE}/edit?lang=en", data=data)
        assert response.status_code == 400, repr(text)
        assert field_error(response.text, "contact") == CONTROL, repr(text)
    assert snapshot(fresh_url) == before


def test_control_characters_in_a_new_partner_are_refused(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/partners/new")
    data = {
        "credit_code": YUNHE[:-1] + "\x00",
        "name": "新\x00单位",
        "kind": "enterprise",
        "contact": "\x00",
        "phone": "0571\x00",
        "_csrf_token": token,
    }
    before = snapshot(fresh_url)
    response = fresh_client.post("/partners/new?lang=en", data=data)
    assert response.status_code == 400
    assert field_error(response.text, "name") == CONTROL
    assert field_error(response.text, "contact") == CONTROL
    assert snapshot(fresh_url) == before


def test_control_characters_in_a_login_username_never_fail(fresh_app, fresh_url):
    for username in ("gongshu-viewer\x00", "\x00", "gongshu\x1b-viewer", "gongshu-\nviewer"):
        response = post_login(fresh_app, username)  # the right password
        assert response.status_code == 400, repr(username)
        assert login_error(response.text) == WRONG
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert not any("\x00" in key for key in failures(fresh_url, "account"))


def test_control_characters_in_a_login_password_never_fail(fresh_app):
    response = post_login(fresh_app, "gongshu-viewer", DEMO_PASSWORD + "\x00")
    assert response.status_code == 400 and login_error(response.text) == WRONG


QUERIES_WITH_NUL = [
    "/projects?q=%00",
    "/projects?q=a%00b&status=%00",
    "/projects?category=%00&level=%00&under=%00&year=%00",
    "/projects?org=%00",
    f"/projects/{PROJECT}?org=%00",
    "/orgs?q=%00",
    "/partners?q=%00",
    "/?org=%00",
    "/export?q=%00",
]


def test_control_characters_in_a_query_string_are_not_found(fresh_url, backend):
    with served_client(fresh_url) as client:
        use_session(client, "gongshu-admin", backend)
        for path in QUERIES_WITH_NUL:
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 404, (path, response.status_code)
            assert "Something went wrong" not in client.get(f"{path}&lang=en").text
        for path in ("/orgs?q=%0A%1B", "/partners?q=%01", "/projects?q=%7F"):
            assert client.get(path).status_code == 200, path
        response = client.get("/login?next=%2Fprojects%3Fq%3D%00", follow_redirects=False)
        assert response.status_code == 404  # a NUL anywhere in the address: not found


def test_control_characters_in_the_session_cookie_never_fail(fresh_url):
    with served_client(fresh_url) as client:
        for value in ("%00", "a%00b", "null%00"):
            for path in ("/health", "/login", "/"):
                headers = {"Cookie": f"{SESSION_COOKIE}={value}; csrftoken={value}"}
                response = client.get(path, headers=headers, follow_redirects=False)
                assert response.status_code == (303 if path == "/" else 200), (value, path)


# --- 10. open redirect ----------------------------------------------------------------------


def test_open_redirect_login_page_keeps_no_foreign_target(fresh_app):
    for target in (
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        " //evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
    ):
        html = fresh_app.get(f"/login?next={quote(target, safe='')}").text
        assert '<input type="hidden" name="next" value="/">' in html, target


def test_open_redirect_sign_in_lands_on_the_site(fresh_app):
    for target in ("https://evil.example", "//evil.example", "/\\evil.example"):
        fresh_app.cookies.clear()
        response = post_login(fresh_app, "gongshu-viewer", target=target)
        assert response.status_code == 303
        assert response.headers["location"] == "/", target


def test_open_redirect_local_target_with_a_query_is_kept(fresh_app):
    response = fresh_app.get("/projects?status=completed&q=a", follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location == "/login?next=%2Fprojects%3Fstatus%3Dcompleted%26q%3Da"
    assert 'value="/projects?status=completed&amp;q=a"' in fresh_app.get(location).text
    response = post_login(fresh_app, "gongshu-viewer", target="/projects?status=completed&q=a")
    assert response.status_code == 303
    assert response.headers["location"] == "/projects?status=completed&q=a"


# --- 11. HEAD, NUL in paths, caching --------------------------------------------------------


def test_head_is_answered_where_get_is(fresh_client):
    for path in ("/", "/projects", f"/partners/{YUNHE}", "/health", "/static/cocon.css"):
        got = fresh_client.get(path)
        head = fresh_client.head(path)
        assert got.status_code == head.status_code == 200, path
        assert head.content == b"" and got.content
        assert head.headers["content-type"] == got.headers["content-type"]
    fresh_client.cookies.clear()
    response = fresh_client.head("/projects", follow_redirects=False)
    assert response.status_code == 303 and response.content == b""


def test_nul_in_a_path_is_not_found(fresh_url, backend):
    with served_client(fresh_url) as client:
        use_session(client, "gongshu-admin", backend)
        for path in ("/static/%00x", "/static/cocon.css%00", "/static/%00", "/projects/%00"):
            assert client.get(path).status_code == 404, path
            assert client.head(path).status_code == 404, path


def test_cache_control_no_store_on_pages_and_downloads(fresh_client):
    for path in ("/", "/projects", "/login", "/export", "/projects/NO-SUCH"):
        response = fresh_client.get(path)
        assert response.headers["cache-control"] == "no-store", path
    assert "attachment" in fresh_client.get("/export").headers["content-disposition"]
    fresh_client.cookies.clear()
    assert fresh_client.get("/login").headers["cache-control"] == "no-store"


def test_cache_control_public_on_static_files(fresh_app):
    response = fresh_app.get("/static/cocon.css")
    assert response.status_code == 200
    parts = {part.strip() for part in response.headers["cache-control"].split(",")}
    assert "public" in parts and "no-store" not in parts
    assert any(part.startswith("max-age=") for part in parts)


# --- 12. cookie flags -----------------------------------------------------------------------


def test_cookie_flags_session_cookie_is_http_only_and_lax(fresh_app):
    response = post_login(fresh_app, "gongshu-viewer")
    cookie = flags(session_cookie(response))
    assert {"httponly", "samesite=lax", "path=/"} <= cookie
    assert "secure" not in cookie
    csrf = [
        c
        for c in fresh_app.get("/account").headers.get_list("set-cookie")
        if c.startswith("csrftoken=")
    ]
    assert csrf and {"httponly", "samesite=lax"} <= flags(csrf[0])


def secure_sign_in(client: TestClient, headers: dict[str, str] | None = None):
    """Sign in even when the CSRF cookie is Secure (the test client keeps those off http)."""
    token = csrf_token(client, "/login")
    value = client.cookies["csrftoken"]
    client.cookies.clear()
    client.cookies.set("csrftoken", value, domain=TEST_HOST)
    data = {"username": "gongshu-viewer", "password": DEMO_PASSWORD, "_csrf_token": token}
    response = client.post("/login", data=data, headers=headers, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


def test_cookie_flags_secure_when_configured(fresh_url):
    app = create_app(web_settings(fresh_url, secure_cookies=True))
    with TestClient(app=app) as client:
        response = secure_sign_in(client)
        assert {"secure", "httponly", "samesite=lax"} <= flags(session_cookie(response))
        assert all("secure" in flags(c) for c in response.headers.get_list("set-cookie"))


def test_cookie_flags_secure_behind_a_trusted_https_proxy(fresh_url):
    with proxied_client(fresh_url) as client:
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
        token_page = client.get("/login", headers=headers)
        assert all("secure" in flags(c) for c in token_page.headers.get_list("set-cookie"))
        response = secure_sign_in(client, headers)
        assert {"secure", "httponly", "samesite=lax"} <= flags(session_cookie(response))


def test_cookie_flags_not_secure_when_an_untrusted_peer_claims_https(fresh_url):
    app = create_app(web_settings(fresh_url, **PROXY_SETTINGS))
    with TestClient(app=app) as client:  # its peer, "testclient", is no trusted proxy
        response = post_login(client, "gongshu-viewer", headers={"X-Forwarded-Proto": "https"})
        assert response.status_code == 303
        assert "secure" not in flags(session_cookie(response))


def test_cookie_flags_is_https():
    trusted = web_settings("sqlite://", **PROXY_SETTINGS)
    proto = ("X-Forwarded-Proto", "https")
    assert is_https(connection("10.0.0.1", [proto]), trusted)
    assert is_https(connection("10.0.0.1", [("X-Forwarded-Proto", "HTTPS, http")]), trusted)
    assert not is_https(connection("10.0.0.1", [("X-Forwarded-Proto", "http, https")]), trusted)
    assert not is_https(connection("10.0.0.1", []), trusted)
    assert not is_https(connection("192.0.2.1", [proto]), trusted)
    assert not is_https(connection("testclient", [proto]), trusted)
    assert not is_https(connection("10.0.0.1", [proto]), web_settings("sqlite://"))
    assert is_https(connection("192.0.2.1", []), web_settings("sqlite://", secure_cookies=True))


def test_signing_secret_survives_a_restart_so_an_open_form_still_saves(fresh_url, backend):
    from litestar.testing import TestClient

    from cocon.web import create_app
    from tests.web.conftest import use_session, web_settings
    from tests.web.forms import csrf_token

    with TestClient(app=create_app(web_settings(fresh_url))) as before:
        use_session(before, "gongshu-admin", backend)
        token = csrf_token(before, "/partners/91330105MA2GL3K724/edit")
        cookies = dict(before.cookies)
    with TestClient(app=create_app(web_settings(fresh_url))) as after:  # the server restarted
        after.cookies.update(cookies)
        data = {"credit_code": "91330105MA2GL3K724", "name": "杭州运河文体", "kind": "enterprise",
                "_csrf_token": token}  # fmt: skip
        response = after.post("/partners/91330105MA2GL3K724/edit", data=data, follow_redirects=False)
    assert response.status_code == 303
