"""The API and the pages agree: the same filters give the same rows and totals, the rollup is
the CLI's, a refused payment and a wrong project field say the same words; and the API's own
conventions (money in yuan strings, 409 with the current version, the review flow)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from cocon.money import format_yuan
from tests.conftest import Cli
from tests.web.forms import csrf_token, field_error
from tests.web.test_projects import project_codes, totals_cards

API = "/api/v1"
QUERIES = [
    {},
    {"year": "2023"},
    {"status": "completed"},
    {"category": "elderly_care", "sort": "budget", "dir": "desc"},
    {"level": "street", "sort": "funded"},
    {"under": "330105017", "sort": "name"},
    {"q": "篮球"},
    {"partner": "91330105MA2GL3K724"},
    {"year": "2022"},
]


def fen(yuan: str) -> int:
    """Return the fen of an amount the API writes in yuan."""
    return int(Decimal(yuan) * 100)


def web_session(api) -> None:
    """Give the client the Gongshu admin's browser session (English pages)."""
    api.client.cookies.clear()
    api.client.cookies.update(api.tokens.cookies)


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()) or "all")
def test_api_list_has_the_web_lists_rows_and_totals(api, query):
    found = api.client.get(f"{API}/projects", params={**query, "per_page": 200}, headers=api.as_role("admin"))
    assert found.status_code == 200, found.text
    page = found.json()
    web_session(api)
    html = api.client.get("/projects", params={**query, "lang": "en"}).text
    assert [item["code"] for item in page["items"]] == project_codes(html)
    cards = totals_cards(html)
    totals = page["totals"]
    assert f"<dd>{totals['count']}</dd>" in cards
    for key in ("budget", "funded", "paid"):
        assert format_yuan(fen(totals[key])) in cards, key
    assert totals["count"] == len(page["items"])


def test_api_list_pages_are_stable_and_cover_the_set(api):
    headers = api.as_role("admin")
    whole = api.client.get(f"{API}/projects", params={"sort": "year", "per_page": 200}, headers=headers).json()
    count = -(-whole["totals"]["count"] // 7)
    pages = [
        api.client.get(f"{API}/projects", params={"sort": "year", "per_page": 7, "page": n}, headers=headers).json()
        for n in range(1, count + 1)
    ]
    assert [item["code"] for p in pages for item in p["items"]] == [i["code"] for i in whole["items"]]
    assert all(p["totals"] == whole["totals"] for p in pages)
    assert pages[0]["pages"] == len(pages)


def test_api_list_bad_filters_say_what_the_web_says(api):
    query = {"year": "1999", "status": "nonsense", "under": "330106"}
    found = api.client.get(f"{API}/projects", params=query, headers=api.as_role("admin"))
    assert found.status_code == 400
    errors = {e["field"]: e["message"] for e in found.json()["errors"]}
    web_session(api)
    html = api.client.get("/projects", params={**query, "lang": "en"}).text
    assert set(errors) == {"year", "status", "under"}
    for field, message in errors.items():
        assert field_error(html, field) == message


def test_api_rollup_is_the_cli_json(api):
    cli = Cli(api.url)
    expected = json.loads(cli.ok("rollup", "--org", "330105", "--year", "2023", "--depth", "2", "--format", "json"))
    found = api.client.get(f"{API}/orgs/330105000000/rollup", params={"year": 2023, "depth": 2}, headers=api.as_role("viewer"))
    assert found.status_code == 200
    assert found.json() == expected
    assert found.json()["budget"].count(".") == 1 and isinstance(found.json()["budget"], str)


def test_a_payment_refused_by_a_blocking_check_says_the_same_in_both(api):
    pay = {"allocation": "GS-2023-WH", "paid_on": "2023-12-20", "amount": "2万", "voucher_no": "GS2023-0900"}
    web_session(api)
    token = csrf_token(api.client, "/projects/GS-2023-004/pay")
    page = api.client.post("/projects/GS-2023-004/pay?lang=en", data={**pay, "_csrf_token": token})
    api.client.cookies.clear()
    between = api.data_revision()
    found = api.client.post(f"{API}/projects/GS-2023-004/payments", json=pay, headers=api.as_role("finance"))
    assert api.data_revision() == between  # nothing written
    assert page.status_code == found.status_code == 409
    assert found.json()["detail"] == field_error(page.text, "amount")
    assert "exceeds it by ¥5,000.00" in found.json()["detail"]


def test_a_payment_is_recorded_and_listed(api):
    pay = {"allocation": "GS-2023-WH", "paid_on": "2023-12-20", "amount": "10000.00", "voucher_no": "API-0001"}
    saved = api.client.post(f"{API}/projects/GS-2023-004/payments", json=pay, headers=api.as_role("finance"))
    assert saved.status_code == 201, saved.text
    assert saved.json()["payment"]["amount"] == "10000.00"
    listed = api.client.get(f"{API}/projects/GS-2023-004/payments", headers=api.as_role("viewer")).json()
    assert any(p["voucher_no"] == "API-0001" and p["paid_on"] == "2023-12-20" for p in listed)
    project = api.client.get(f"{API}/projects/GS-2023-004", headers=api.as_role("viewer")).json()
    assert fen(project["paid"]) >= 10000 * 100


def test_api_project_field_errors_are_the_forms(api):
    body = {"name": "", "owner": "330105", "site": "330105017003", "category": "other", "year": 1999, "budget": "lots"}
    found = api.client.post(f"{API}/projects", json=body, headers=api.as_role("office"))
    assert found.status_code == 400
    errors = {e["field"]: e["message"] for e in found.json()["errors"]}
    web_session(api)
    token = csrf_token(api.client, "/projects/new")
    form = {**body, "year": "1999", "_csrf_token": token}
    html = api.client.post("/projects/new?lang=en", data=form).text
    assert set(errors) == {"name", "year", "budget"}
    for field, message in errors.items():
        assert field_error(html, field) == message


def test_api_errors_follow_accept_language(api):
    headers = {**api.as_role("office"), "Accept-Language": "zh-CN,zh;q=0.9"}
    found = api.client.post(f"{API}/projects", json={"name": "", "owner": "330105", "site": "330105017003",
                                                   "category": "other", "year": 2023}, headers=headers)  # fmt: skip
    assert found.status_code == 400
    assert {"field": "name", "message": "此项为必填项"} in found.json()["errors"]


def test_api_create_update_and_stale_update(api):
    office = api.as_role("office")
    body = {"name": "API 共建项目", "owner": "330105", "site": "330105017003", "category": "other",
            "year": 2023, "budget": "200万"}  # fmt: skip
    created = api.client.post(f"{API}/projects", json=body, headers=office)
    assert created.status_code == 201, created.text
    project = created.json()
    assert project["budget"] == "2000000.00" and project["status"] == "draft" and project["version"] == 1
    code = project["code"]
    changed = api.client.patch(f"{API}/projects/{code}", json={"version": 1, "budget": "2,500,000"}, headers=office)
    assert changed.status_code == 200 and changed.json()["budget"] == "2500000.00"
    assert changed.json()["name"] == "API 共建项目" and changed.json()["version"] == 2
    stale = api.client.patch(f"{API}/projects/{code}", json={"version": 1, "name": "late"}, headers=office)
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2
    assert stale.headers["content-type"] == "application/problem+json"
    assert api.client.get(f"{API}/projects/{code}", headers=office).json()["name"] == "API 共建项目"


def test_api_review_flow_submit_approve_and_return(api):
    office, finance = api.as_role("office"), api.as_role("finance")
    body = {"name": "待审项目", "owner": "330105", "site": "330105017003", "category": "other", "year": 2023}
    code = api.client.post(f"{API}/projects", json=body, headers=office).json()["code"]
    refused = api.client.post(f"{API}/projects/{code}/status", json={"to_status": "approved"}, headers=office)
    assert refused.status_code == 409  # a draft is submitted before it is approved
    submitted = api.client.post(f"{API}/projects/{code}/status", json={"to_status": "submitted"}, headers=office)
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"
    viewer = api.client.post(f"{API}/projects/{code}/status", json={"to_status": "approved"}, headers=api.as_role("viewer"))
    assert viewer.status_code == 403
    approved = api.client.post(f"{API}/projects/{code}/status", json={"to_status": "approved"}, headers=finance)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    returned = api.client.post(f"{API}/projects/GS-2023-006/return", json={"reason": "补充预算明细"}, headers=finance)
    assert returned.status_code == 200 and returned.json()["status"] == "draft"
    again = api.client.post(f"{API}/projects/GS-2023-006/return", json={"reason": "again"}, headers=finance)
    assert again.status_code == 409


def test_api_writes_are_in_the_audit_trail_under_the_token_owner(api):
    from sqlalchemy import select

    from cocon import db
    from cocon.audit_model import AuditEntry

    body = {"name": "留痕项目", "owner": "330105", "site": "330105017003", "category": "other", "year": 2023}
    code = api.client.post(f"{API}/projects", json=body, headers=api.as_role("office")).json()["code"]
    api.client.patch(f"{API}/projects/{code}", json={"version": 1, "budget": "5万"}, headers=api.as_role("admin"))
    with db.session_scope(api.engine) as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.actor)
            .where(AuditEntry.entity == "project", AuditEntry.entity_code == code)
            .order_by(AuditEntry.id)
        ).all()
    assert rows[0] == ("create", "gongshu-office")
    assert ("update", "gongshu-admin") in rows


def test_api_payment_reversal_keeps_it_listed_at_zero(api):
    finance = api.as_role("finance")
    before = fen(api.client.get(f"{API}/projects/GS-2023-028", headers=finance).json()["paid"])
    path = f"{API}/projects/GS-2023-028/payments/GS2023-0061/reverse"
    assert api.client.post(path, json={"reason": ""}, headers=finance).status_code == 400
    reversed_ = api.client.post(path, json={"reason": "凭证号录错，冲销"}, headers=finance)
    assert reversed_.status_code == 200, reversed_.text
    payment = reversed_.json()
    assert payment["reversed"] and payment["reversal_reason"] == "凭证号录错，冲销"
    after = fen(api.client.get(f"{API}/projects/GS-2023-028", headers=finance).json()["paid"])
    assert after == before - fen(payment["amount"])
    assert api.client.post(path, json={"reason": "again"}, headers=finance).status_code == 409
    listed = api.client.get(f"{API}/projects/GS-2023-028/payments", headers=finance).json()
    assert [p["reversed"] for p in listed if p["voucher_no"] == "GS2023-0061"] == [True]


def test_openapi_document_describes_the_api_alone_and_the_docs_page_shows_it(api):
    document = api.client.get(f"{API}/openapi.json")
    assert document.status_code == 200 and document.headers["content-type"].startswith("application/json")
    spec = document.json()
    assert spec["paths"] and all(path.startswith(f"{API}/") for path in spec["paths"])
    assert spec["components"]["securitySchemes"]["token"] == {"type": "http", "scheme": "bearer"}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert {"400", "401", "404"} <= set(operation["responses"]), (method, path)
            assert operation["responses"]["401"]["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
    page = api.client.get(f"{API}/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"POST {API}/projects/{{code}}/payments" in page.text and "<script" not in page.text
    assert 'id="schema-ProjectPage"' in page.text


def test_a_draw_refused_by_a_blocking_check_says_the_same_in_both(api):
    draw = {"allocation": "GS-2023-WH", "amount": "1万"}
    web_session(api)
    token = csrf_token(api.client, "/projects/GS-2023-006/draw")
    page = api.client.post("/projects/GS-2023-006/draw?lang=en", data={**draw, "_csrf_token": token})
    api.client.cookies.clear()
    before = api.data_revision()
    found = api.client.post(f"{API}/projects/GS-2023-006/funding", json=draw, headers=api.as_role("office"))
    assert page.status_code == found.status_code == 409
    assert found.json()["detail"] == field_error(page.text, "amount")
    assert "this draw of ¥10,000.00 exceeds it by ¥10,000.00" in found.json()["detail"]
    assert api.data_revision() == before


def test_a_draw_is_saved_and_listed(api):
    office = api.as_role("office")
    lines = api.client.get(f"{API}/projects/GS-2023-026/funding", headers=office).json()
    saved = api.client.post(f"{API}/projects/GS-2023-026/funding", json={"allocation": "GS-2023-BS", "amount": "7万"}, headers=office)
    assert saved.status_code == 201, saved.text
    line = saved.json()["line"]
    assert (line["allocation"], line["holder"], line["amount"]) == ("GS-2023-BS", "330105011", "70000.00")
    after = api.client.get(f"{API}/projects/GS-2023-026/funding", headers=office).json()
    assert line in after and {x["allocation"] for x in after} == {x["allocation"] for x in lines} | {"GS-2023-BS"}
    unknown = api.client.post(f"{API}/projects/GS-2023-026/funding", json={"allocation": "NB-T-A", "amount": "1"}, headers=office)
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "allocation"
