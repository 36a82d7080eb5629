"""Partner pages: the list and search, one partner's contributions within scope, the forms;
CSRF on every form (`client` reads the shared demo, `fresh_client` writes to a copy)."""

from __future__ import annotations

import re

from cocon import db
from cocon.creditcode import credit_code_check_char
from cocon.partners import find_partner
from tests.web.forms import csrf_token, field_error

YUNHE = "91330105MA2GL3K724"  # 杭州运河文体发展有限公司: GS-2023-001, -011 and -030
NEW_CODE = "91330105MA2ABCDE1" + credit_code_check_char("91330105MA2ABCDE1")


def partner_in(url: str, credit_code: str):
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            return find_partner(session, credit_code)
    finally:
        engine.dispose()


def contribution_rows(html: str) -> list[str]:
    start = html.index('aria-labelledby="contributions-title"')
    return re.findall(r'<th scope="row"><a href="/projects/([^"?]+)', html[start:])


def test_partner_list_renders_with_figures_in_scope(client):
    response = client.get("/partners?lang=en")
    assert response.status_code == 200
    html = response.text
    assert len(re.findall(r'href="/partners/[0-9A-Z]{18}"', html)) == 12
    row = html[html.index(f'href="/partners/{YUNHE}"') :]
    row = row[: row.index("</tr>")]
    assert "enterprise" in row and "0571-88231456" in row and "¥200,000.00" in row


def test_partner_list_search_by_name_or_code(client):
    by_name = client.get("/partners", params={"q": "文化馆"}).text
    assert re.findall(r'href="/partners/([0-9A-Z]{18})"', by_name) == ["12330105470113827P"]
    by_code = client.get("/partners?q=ma2gl3").text
    assert re.findall(r'href="/partners/([0-9A-Z]{18})"', by_code) == [YUNHE]
    assert "No partner unit matches" in client.get("/partners?q=nothing&lang=en").text


def test_partner_detail_lists_contributions_across_projects(client):
    response = client.get(f"/partners/{YUNHE}?lang=en")
    assert response.status_code == 200
    html = response.text
    assert "杭州运河文体发展有限公司" in html and "陈志远" in html
    assert contribution_rows(html) == ["GS-2023-001", "GS-2023-001", "GS-2023-011", "GS-2023-030"]
    assert "¥200,000.00" in html and "in kind (valued)" in html and "cash" in html


def test_partner_detail_shows_only_contributions_within_scope(client):
    html = client.get(f"/partners/{YUNHE}?org=330105017").text
    assert contribution_rows(html) == ["GS-2023-001", "GS-2023-001"]
    assert "¥130,000.00" in html and "GS-2023-011" not in html


def test_partner_detail_accepts_lower_case_code(client):
    assert client.get(f"/partners/{YUNHE.lower()}").status_code == 200


def test_partner_unknown_is_404(client):
    assert client.get("/partners/91330105MA2GL3K725").status_code == 404


def test_partner_create_with_bad_credit_code_shows_the_error(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/partners/new")
    data = {
        "credit_code": "91330105MA2GL3K725",
        "name": "",
        "kind": "enterprise",
        "phone": "call me",
        "_csrf_token": token,
    }
    response = fresh_client.post("/partners/new?lang=en", data=data)
    assert response.status_code == 400
    html = response.text
    assert "check character" in field_error(html, "credit_code")
    assert field_error(html, "name") == "This field is required"
    assert "is not a phone number" in field_error(html, "phone")
    assert 'value="91330105MA2GL3K725"' in html and 'value="call me"' in html
    assert partner_in(fresh_url, "91330105MA2GL3K725") is None


def test_partner_create_with_a_taken_code_shows_the_error(fresh_client):
    token = csrf_token(fresh_client, "/partners/new")
    data = {"credit_code": YUNHE, "name": "又一家", "kind": "enterprise", "_csrf_token": token}
    response = fresh_client.post("/partners/new?lang=en", data=data)
    assert response.status_code == 400
    assert "belongs to 杭州运河文体发展有限公司 already" in field_error(
        response.text, "credit_code"
    )


def test_partner_create_redirects_and_the_partner_exists(fresh_client, fresh_url):
    token = csrf_token(fresh_client, "/partners/new")
    data = {
        "credit_code": NEW_CODE.lower(),
        "name": "杭州拱墅共建服务有限公司",
        "kind": "social_organization",
        "contact": "赵敏",
        "phone": "0571-88000000",
        "_csrf_token": token,
    }
    response = fresh_client.post("/partners/new", data=data, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/partners/{NEW_CODE}?done=created"
    partner = partner_in(fresh_url, NEW_CODE)
    assert partner.name == "杭州拱墅共建服务有限公司" and partner.kind == "social_organization"


def test_partner_edit_saves(fresh_client, fresh_url):
    html = fresh_client.get(f"/partners/{YUNHE}/edit").text
    assert 'value="陈志远"' in html
    token = re.search(r'name="_csrf_token" value="([^"]+)"', html)[1]
    data = {
        "credit_code": YUNHE,
        "name": "杭州运河文体发展有限公司",
        "kind": "enterprise",
        "contact": "陈志远",
        "phone": "0571-88231457",
        "_csrf_token": token,
    }
    response = fresh_client.post(f"/partners/{YUNHE}/edit", data=data, follow_redirects=False)
    assert response.status_code == 303
    assert partner_in(fresh_url, YUNHE).phone == "0571-88231457"


# --- CSRF and cross-site writes -------------------------------------------------------------

PARTNER = {"credit_code": YUNHE, "name": "杭州运河文体", "kind": "enterprise"}


def test_csrf_missing_token_is_403(fresh_client, fresh_url):
    fresh_client.get(f"/partners/{YUNHE}/edit")  # the cookie alone is not enough
    response = fresh_client.post(f"/partners/{YUNHE}/edit", data=PARTNER)
    assert response.status_code == 403
    assert 'class="error"' in response.text
    assert partner_in(fresh_url, YUNHE).name == "杭州运河文体发展有限公司"


def test_csrf_wrong_token_is_403(fresh_client):
    csrf_token(fresh_client, f"/partners/{YUNHE}/edit")
    data = {**PARTNER, "_csrf_token": "x" * 128}
    assert fresh_client.post(f"/partners/{YUNHE}/edit", data=data).status_code == 403


def test_cross_site_post_is_403_even_with_token(fresh_client, fresh_url):
    data = {**PARTNER, "_csrf_token": csrf_token(fresh_client, f"/partners/{YUNHE}/edit")}
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        response = fresh_client.post(f"/partners/{YUNHE}/edit", data=data, headers=headers)
        assert response.status_code == 403
    assert partner_in(fresh_url, YUNHE).name == "杭州运河文体发展有限公司"
    same = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver.local"}
    response = fresh_client.post(
        f"/partners/{YUNHE}/edit", data=data, headers=same, follow_redirects=False
    )
    assert response.status_code == 303
    assert partner_in(fresh_url, YUNHE).name == "杭州运河文体"


def test_stale_csrf_cookie_is_replaced_after_the_refused_form(fresh_client):
    fresh_client.cookies.set("csrftoken", "0" * 128, domain="testserver.local")  # another secret
    token = csrf_token(fresh_client, f"/partners/{YUNHE}/edit")
    data = {**PARTNER, "_csrf_token": token}
    refused = fresh_client.post(f"/partners/{YUNHE}/edit?lang=en", data=data)
    assert refused.status_code == 403 and "reload the page" in refused.text
    token = csrf_token(fresh_client, f"/partners/{YUNHE}/edit")
    assert fresh_client.cookies.get("csrftoken") == token
    data = {**PARTNER, "_csrf_token": token}
    response = fresh_client.post(f"/partners/{YUNHE}/edit", data=data, follow_redirects=False)
    assert response.status_code == 303


def test_pages_without_forms_set_no_cookie(fresh_client):
    fresh_client.cookies.delete("csrftoken")
    for path in ("/", "/projects", "/partners", f"/partners/{YUNHE}"):
        assert "set-cookie" not in fresh_client.get(path).headers
    assert "csrftoken=" in fresh_client.get("/partners/new").headers["set-cookie"]
