"""The API's authorization matrix: every API route × every Gongshu role × orgs in and around
its subtree, and every route × every state of a token that must not work.

Routes are read from the app, so a new API route joins the matrix by itself. A role without
the route's right gets 403, a target outside the subtree 404, a request without a working token
401 (none, a session cookie alone, an unknown, revoked or expired token, a disabled owner's);
on every refusal nothing is written, and no answer names anything outside the subtree.
"""

from __future__ import annotations

import pytest

from cocon.rights import Right, may
from tests.api.conftest import BROKEN_STATES, ROLES
from tests.web.test_authorization import REVERSIBLE, TARGETS, Target, outside_words, route_table

API = "/api/v1"
# The right a request needs beyond its route's: the status change sent is a cancellation.
EFFECTIVE = {("POST", "/api/v1/projects/{code:str}/status"): Right.EDIT}


def api_routes(app) -> list[tuple[str, str, Right]]:
    """Return every (method, path, right) of the API (its documentation pages included)."""
    return [row for row in route_table(app) if row[1].startswith(API)]


def concrete(path: str, target: Target) -> str:
    """Fill a route's path parameters from target."""
    code = target.project if path.startswith(f"{API}/projects/") else target.org
    voucher = REVERSIBLE.get(target.kind, ("", "T-NONE"))[1]
    path = path.replace("{code:str}", code).replace("{voucher:str}", voucher)
    return path.replace("{path:str}", "nothing-here")


def params(path: str, target: Target) -> dict[str, str]:
    """Return the query a route needs: a search asks for the target's code."""
    return {"q": target.org} if path == f"{API}/orgs" else {}


def body(method: str, path: str, target: Target) -> dict | None:
    """Return a plausible body for a write (a refusal must come before it matters)."""
    if method == "GET":
        return None
    if path.endswith("/status"):
        return {"to_status": "cancelled"}
    if path.endswith(("/return", "/reverse")):
        return {"reason": "the matrix sends it back"}
    if path.endswith("/funding"):
        return {"allocation": target.allocation, "amount": "1"}
    if path.endswith("/payments"):
        return {"allocation": target.allocation, "paid_on": "2023-09-01", "amount": "1",
                "voucher_no": f"MATRIX-{target.kind}"}  # fmt: skip
    if method == "PATCH":
        return {"version": 1, "description": "changed by the matrix"}
    return {"name": "matrix project", "owner": target.org, "site": "330105017003",
            "category": "other", "year": 2023}  # fmt: skip


def expected(method: str, path: str, right: Right, role: str, target: Target) -> set[int]:
    """Return the statuses allowed for one request of the matrix."""
    if right is Right.PUBLIC:
        return {200, 404}  # the documentation; its unknown pages are 404
    if not may(role, right):
        return {403}
    if path == f"{API}/orgs" or (path == f"{API}/projects" and method == "GET"):
        return {200}  # lists of the token's own subtree, whatever the target
    if path == f"{API}/projects":
        return {201} if target.inside else {400}  # an owner outside is a field error
    if not target.inside:
        return {404}
    inner = EFFECTIVE.get((method, path))
    if inner is not None and not may(role, inner):
        return {403}
    return {200, 201} if method == "GET" else {200, 201, 400, 409}


@pytest.mark.parametrize("role", ROLES)
def test_api_authorization_matrix(api, role):
    failures = []
    for target in TARGETS:
        for method, template, right in api_routes(api.client.app):
            path = concrete(template, target)
            before = api.data_revision()
            response = api.client.request(
                method, path, params=params(template, target), json=body(method, template, target),
                headers=api.as_role(role),
            )
            allowed = expected(method, template, right, role, target)
            where = f"{role} {method} {path} ({target.kind})"
            if response.status_code not in allowed:
                failures.append(f"{where}: {response.status_code}, expected {sorted(allowed)}")
            if allowed <= {400, 403, 404, 409} and api.data_revision() != before:
                failures.append(f"{where}: refused, but something was written")
            if leaked := outside_words(response, path):
                failures.append(f"{where}: shows {leaked}")
            problem = response.headers["content-type"] == "application/problem+json"
            if response.status_code >= 400 and right is not Right.PUBLIC and not problem:
                failures.append(f"{where}: {response.headers['content-type']}, not a problem")
    assert failures == [], "\n".join(failures)


def _credentials(api, state: str) -> tuple[dict[str, str], dict[str, str]]:
    """Return the headers and cookies of a request whose token is in state."""
    if state == "none":
        return {}, {}
    if state == "cookie_only":  # a signed-in browser session, CSRF token and all
        cookies = api.tokens.cookies
        return {"x-csrftoken": cookies.get("csrftoken", "")}, cookies
    if state == "unknown":
        return {"Authorization": "Bearer cocon_" + "x" * 43}, {}
    if state == "basic":
        return {"Authorization": "Basic Z29uZ3NodS1hZG1pbjpkZW1v"}, {}
    return {"Authorization": f"Bearer {api.tokens.broken[state]}"}, {}


@pytest.mark.parametrize("state", ["none", "cookie_only", "unknown", "basic", *BROKEN_STATES])
def test_api_refuses_every_route_without_a_working_token(api, state):
    failures = []
    target = TARGETS[0]
    for method, template, right in api_routes(api.client.app):
        if right is Right.PUBLIC:
            continue
        headers, cookies = _credentials(api, state)
        api.client.cookies.clear()
        api.client.cookies.update(cookies)
        path = concrete(template, target)
        before = api.data_revision()
        response = api.client.request(
            method, path, params=params(template, target), json=body(method, template, target),
            headers=headers,
        )
        where = f"{state} {method} {path}"
        if response.status_code != 401:
            failures.append(f"{where}: {response.status_code}, expected 401")
        elif response.headers.get("www-authenticate", "").split()[0:1] != ["Bearer"]:
            failures.append(f"{where}: no WWW-Authenticate: Bearer")
        if api.data_revision() != before:
            failures.append(f"{where}: refused, but something was written")
    api.client.cookies.clear()
    assert failures == [], "\n".join(failures)


def test_api_matrix_covers_every_api_route(api):
    routes = {(method, path) for method, path, _right in api_routes(api.client.app)}
    documented = {
        (method.upper(), path)
        for path, item in api.client.get(f"{API}/openapi.json").json()["paths"].items()
        for method in item
    }
    as_templates = {
        (m, p.replace("{code}", "{code:str}").replace("{voucher}", "{voucher:str}"))
        for m, p in documented
    }
    assert as_templates <= routes
    assert len(routes) >= 13
