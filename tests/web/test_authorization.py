"""The authorization matrix: every role of a district × orgs in and around its subtree × every route.

The acting users are the demo's four Gongshu accounts (admin, office, finance, viewer). The
targets are the district itself, a child (a street), a grandchild (a community), a sibling
district, the parent city and a district of another city, each with a project, an allocation
and a user of its own. Every route of the app is tried for each (GET and POST, downloads and
uploads included): a role without the route's right gets 403, a target outside the subtree
404, and on either nothing is written (no writing transaction commits: the data revision stays).
Nothing from outside the subtree shows in any page, download or error message.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest
from litestar.testing import TestClient

from cocon import db
from cocon.allocations import save_allocation
from cocon.checks import DEFAULT
from cocon.orgs import create_org, get_org
from cocon.partners import save_partner
from cocon.projects import ProjectInput, save_project, set_contribution
from cocon.rights import Right, may
from cocon.users import create_user
from cocon.web import create_app
from tests.web.conftest import _copy_database, _drop_database, sign_in, web_settings

ROLES = ("admin", "office", "finance", "viewer")
OUTSIDE_PARTNER = "91330106MA2B00001Y"


@dataclass(frozen=True)
class Target:
    """An org and the things of it that routes name."""

    kind: str
    org: str
    project: str
    allocation: str
    user: str
    inside: bool


TARGETS = (
    Target("own", "330105", "GS-2023-028", "GS-2023", "t-own", True),
    Target("child", "330105017", "GS-2023-005", "WH-2023-OWN", "t-child", True),
    Target("grandchild", "330105017003", "GS-2023-002", "SL-2023", "t-grandchild", True),
    Target("sibling", "330106", "XH-T-001", "XH-T-A", "t-sibling", False),
    Target("parent", "3301", "HZ-T-001", "HZ-2023", "t-parent", False),
    Target("other", "330203", "NB-T-001", "NB-T-A", "t-other", False),
)
# Words that name something outside Gongshu's subtree (ancestors' names may show in breadcrumbs).
OUTSIDE_WORDS = (
    "西湖区", "西湖测试街道", "海曙区", "宁波市", "XH-T-001", "XH-T-A", "NB-T-001", "NB-T-A",
    "HZ-T-001", "t-sibling", "t-parent", "t-other", "王测试", "13900000000",
)  # fmt: skip


def _add_outside(session) -> None:
    """Add a sibling district, a district of another city, and things the targets name."""
    create_org(session, "330106", "西湖区", "3301")
    create_org(session, "330106001", "西湖测试街道", "330106")
    xihu_community = create_org(session, "330106001001", "西湖测试社区", "330106001")
    create_org(session, "3302", "宁波市", "33")
    create_org(session, "330203", "海曙区", "3302")
    create_org(session, "330203001", "海曙测试街道", "330203")
    haishu_community = create_org(session, "330203001001", "海曙测试社区", "330203001")
    places = (
        ("XH-T-001", "330106", xihu_community),
        ("HZ-T-001", "3301", xihu_community),
        ("NB-T-001", "330203", haishu_community),
    )
    for code, owner, site in places:
        save_project(
            session,
            ProjectInput(
                code=code,
                name=f"{code} 测试项目",
                owner=get_org(session, owner),
                site=site,
                category="other",
                year=2023,
                budget="1万",
            ),
        )
    for code, org in (("XH-T-A", "330106"), ("NB-T-A", "330203")):
        save_allocation(session, DEFAULT, org=get_org(session, org), year=2023, amount="1万", code=code)
    partner = save_partner(
        session,
        credit_code=OUTSIDE_PARTNER,
        name="西湖测试共建单位",
        kind="enterprise",
        contact="王测试",
        phone="13900000000",
    )
    from cocon.allocations import draw, get_allocation, record_payment
    from cocon.projects import get_project

    set_contribution(session, get_project(session, "XH-T-001"), partner, "1000")
    # The child's project draws only on the city's money: give it a line and payment of its own.
    save_allocation(session, DEFAULT, org=get_org(session, "330105017"), year=2023, amount="1万",
                    code="WH-T-A")  # fmt: skip
    child = draw(session, DEFAULT, get_project(session, "GS-2023-005"),
                 get_allocation(session, "WH-T-A"), "1000").row  # fmt: skip
    record_payment(session, DEFAULT, child, paid_on="2023-08-01", amount="500",
                   voucher_no="T-MATRIX-PAY")  # fmt: skip
    for target in TARGETS:
        create_user(
            session,
            target.user,
            role="viewer",
            org=get_org(session, target.org),
            password="a target of the matrix",
        )


@pytest.fixture(scope="module")
def matrix_template(
    writable_demo: tuple[str, object], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, object, dict[str, dict[str, str]]]]:
    """Yield a demo copy with the outside orgs and targets, signed into by each Gongshu role."""
    kind = writable_demo[0]
    url, handle = _copy_database(*writable_demo, tmp_path_factory.mktemp("matrix"))
    engine = db.make_engine(url)
    with db.session_scope(engine, write=True) as session:
        _add_outside(session)
    engine.dispose()
    cookies = {}
    with TestClient(app=create_app(web_settings(url))) as client:
        for role in ROLES:
            client.cookies.clear()
            sign_in(client, f"gongshu-{role}")
            cookies[role] = dict(client.cookies)
    if kind == "sqlite":
        template: object = Path(url.removeprefix("sqlite:///"))
    else:
        template = (writable_demo[1][0], handle[1])  # (admin URL, database name)
    yield kind, template, cookies
    _drop_database(handle)


@pytest.fixture
def matrix(
    matrix_template: tuple[str, object, dict], tmp_path: Path
) -> Iterator[tuple[TestClient, str, dict[str, dict[str, str]]]]:
    """Yield a started app on a fresh copy of the matrix database, its URL and the cookies."""
    kind, template, cookies = matrix_template
    url, handle = _copy_database(kind, template, tmp_path)
    with TestClient(app=create_app(web_settings(url))) as client:
        yield client, url, cookies
    _drop_database(handle)


def route_table(app) -> list[tuple[str, str, Right]]:
    """Return every (method, path template, right) of the app but Litestar's OPTIONS answers."""
    table = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods):
                if method == "OPTIONS":
                    continue
                table.append((method, route.path, handler.opt.get("right")))
    return table


def test_every_route_declares_a_right(fresh_app):
    undeclared = [(m, p) for m, p, right in route_table(fresh_app.app) if not isinstance(right, Right)]
    assert undeclared == []


def test_a_route_without_a_right_is_refused(fresh_client):
    from litestar import get

    @get("/undeclared", sync_to_thread=False)
    def undeclared() -> str:
        return "should never answer"

    fresh_client.app.register(undeclared)
    response = fresh_client.get("/undeclared")
    assert response.status_code == 403 and "should never answer" not in response.text


def concrete(path: str, target: Target) -> tuple[str, bool]:
    """Fill a route's path parameters from target; tell whether the path names target's things."""
    names = {
        "/orgs/{code:str}": target.org,
        "/projects/{code:str}": target.project,
        "/allocations/{code:str}": target.allocation,
    }
    for prefix, value in names.items():
        if path.startswith(prefix):
            return path.replace("{code:str}", value), True
    if "{username:str}" in path:
        return path.replace("{username:str}", target.user), True
    if "{credit_code:str}" in path:
        code = OUTSIDE_PARTNER if not target.inside else "91330105MA2GL3K724"
        return path.replace("{credit_code:str}", code), True
    if "{token:str}" in path:
        return path.replace("{token:str}", "A" * 32), True
    if "{token_id:int}" in path:  # an API token that is not the user's
        return path.replace("{token_id:int}", "999999"), True
    if "{file_path:path}" in path:
        return path.replace("{file_path:path}", "cocon.css"), False
    return path, False


# A funding line and a payment of each target's project that the target's scope holds.
REVERSIBLE = {
    "own": ("GS-2023", "GS2023-0061"),
    "child": ("WH-T-A", "T-MATRIX-PAY"),
    "grandchild": ("SL-2023", "GS2023-0007"),
}


def concrete_target(path: str, target: Target) -> tuple[str, bool]:
    """Fill a route's path as concrete does, and the funding line's and payment's parts."""
    path, names_target = concrete(path, target)
    allocation, voucher = REVERSIBLE.get(target.kind, (target.allocation, "T-NONE"))
    return path.replace("{allocation:str}", allocation).replace("{voucher:str}", voucher), (
        names_target
    )


# The right a request needs beyond its route's: the status change sent is a cancellation.
EFFECTIVE = {("POST", "/projects/{code:str}/status"): Right.EDIT}
# Public or session routes the matrix leaves to their own tests (sign-in, sign-out).
SKIPPED = {("POST", "/login"), ("POST", "/logout")}
# The JSON API takes no session: its own matrix (tests/api) tries every route of it with tokens.
API_PREFIX = "/api/"


def expected(method: str, path: str, right: Right, role: str, target: Target) -> set[int]:
    """Return the statuses allowed for one request of the matrix."""
    if not may(role, right):
        return {403}
    inner = EFFECTIVE.get((method, path))
    if "{token_id:int}" in path:
        return {404}  # none of the user's own API tokens
    if right in (Right.PUBLIC, Right.SIGNED_IN):
        return {200, 303, 400}
    if "{token:str}" in path:
        return {404}  # no such upload, for anyone
    if "{credit_code:str}" in path:
        if path.endswith("/edit") and not target.inside:
            return {409}  # shared partner working outside: read only
        return {200, 303, 400, 409} if method == "POST" else {200}
    if not target.inside:
        return {404}
    if inner is not None and not may(role, inner):
        return {403}
    return {200, 303, 400, 409} if method == "POST" else {200}


def request(client: TestClient, method: str, path: str, target: Target, names_target: bool):
    """Send one request of the matrix: the target by path, else by ?org=."""
    query = "" if names_target or path.startswith("/static") else f"?org={target.org}"
    url = path + query
    if method in ("GET", "HEAD"):
        return client.request(method, url, follow_redirects=False)
    data = {"_csrf_token": client.cookies.get("csrftoken") or ""}
    if path == "/projects/{code:str}/status".replace("{code:str}", target.project):
        data["to_status"] = "cancelled"
    if path == "/import":
        return client.post(url, data=data, files={"other": ("x.txt", b"")}, follow_redirects=False)
    return client.post(url, data=data, follow_redirects=False)


def outside_words(response, asked: str = "") -> list[str]:
    """Return the words naming things outside the subtree found in a page or a workbook.

    The identifier a request asked for may be echoed ("no project has the code …"): that names
    nothing the user did not type (a test below checks it reads as one that does not exist).
    """
    body = response.content
    if body[:2] == b"PK":
        with zipfile.ZipFile(BytesIO(body)) as book:
            text = "".join(
                book.read(name).decode("utf-8", "replace")
                for name in book.namelist()
                if name.endswith(".xml")
            )
    else:
        text = response.text
    return [word for word in OUTSIDE_WORDS if word in text and word not in asked]


@pytest.mark.parametrize("role", ROLES)
def test_authorization_matrix(matrix, role):
    client, url, cookies = matrix
    engine = db.make_engine(url)
    failures = []
    try:
        for target in TARGETS:
            for method, template, right in route_table(client.app):
                if (method, template) in SKIPPED or template.startswith(API_PREFIX):
                    continue
                client.cookies.clear()
                client.cookies.update(cookies[role])
                path, names_target = concrete_target(template, target)
                with db.session_scope(engine) as session:
                    before = db.data_revision(session)
                response = request(client, method, path, target, names_target)
                allowed = expected(method, template, right, role, target)
                with db.session_scope(engine) as session:
                    after = db.data_revision(session)
                where = f"{role} {method} {path} ({target.kind})"
                if response.status_code not in allowed:
                    failures.append(f"{where}: {response.status_code}, expected {sorted(allowed)}")
                if allowed <= {403, 404, 409} and after != before:
                    failures.append(f"{where}: refused, but something was written")
                if leaked := outside_words(response, path):
                    failures.append(f"{where}: shows {leaked}")
    finally:
        engine.dispose()
    assert failures == [], "\n".join(failures)


def test_signing_out_is_allowed_to_every_role(matrix):
    client, _url, cookies = matrix
    for role in ROLES:
        client.cookies.clear()
        client.cookies.update(cookies[role])
        token = client.cookies.get("csrftoken")
        response = client.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login"
        assert client.get("/", follow_redirects=False).status_code == 303


def test_lists_and_rollups_hold_nothing_from_outside(matrix):
    client, _url, cookies = matrix
    client.cookies.clear()
    client.cookies.update(cookies["admin"])
    for path in ("/", "/projects", "/allocations", "/partners", "/users", "/orgs?q=测试", "/orgs?q=3302"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert outside_words(response) == [], path
    partner = client.get(f"/partners/{OUTSIDE_PARTNER}").text
    assert "王测试" not in partner and "13900000000" not in partner  # no contacts across the tree
    assert re.search(r"<h1>西湖测试共建单位", partner)  # the unit itself is shared


@pytest.mark.parametrize(
    ("path", "outside", "unknown"),
    [
        ("/projects/{}", "XH-T-001", "ZZ-NONE-001"),
        ("/projects/{}/funding", "HZ-T-001", "ZZ-NONE-001"),
        ("/allocations/{}/edit", "NB-T-A", "ZZ-NONE-A"),
        ("/orgs/{}", "330106", "330199"),
        ("/users/{}/edit", "t-other", "t-nobody"),
        ("/projects?org={}", "330203", "330299"),
    ],
)
def test_outside_reads_exactly_as_what_does_not_exist(matrix, path, outside, unknown):
    client, _url, cookies = matrix
    client.cookies.clear()
    client.cookies.update(cookies["admin"])
    there = client.get(path.format(outside))
    nowhere = client.get(path.format(unknown))
    assert there.status_code == nowhere.status_code == 404
    assert there.text.replace(outside, "…") == nowhere.text.replace(unknown, "…")
