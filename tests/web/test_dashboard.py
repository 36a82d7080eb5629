"""The dashboard: the scope org and year at a glance, in Chinese by default and in English."""

from __future__ import annotations

import re

BUDGET_2023 = "¥5,505,000.00"


def section(html: str, heading_id: str) -> str:
    """Return the <section> that holds the heading with heading_id."""
    start = html.index(f'aria-labelledby="{heading_id}"')
    return html[start : html.index("</section>", start)]


def test_dashboard_renders_chinese_by_default(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    assert '<html lang="zh-CN">' in html
    assert "拱墅区" in html
    assert "校验" in html and "专项资金" in html
    assert BUDGET_2023 in html


def test_dashboard_chart_has_text_equivalent(client):
    money = section(client.get("/").text, "money-title")
    assert money.count("<svg") >= 2
    assert 'role="img" aria-labelledby="money-caption"' in money
    assert '<figcaption id="money-caption">' in money
    data = money[money.index('<table class="chart-data">') :]
    assert "¥2,240,000.00" in data and "¥2,180,000.00" in data and "¥2,800,000.00" in data


def test_dashboard_renders_english_with_query(client):
    response = client.get("/?lang=en")
    assert response.status_code == 200
    assert '<html lang="en">' in response.text
    assert "Failing checks" in response.text
    assert "lang=en" in response.headers["set-cookie"]


def test_dashboard_renders_english_with_accept_language(client):
    response = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in response.text
    assert "Allocations, drawn and paid" in response.text
    assert "set-cookie" not in response.headers


def test_dashboard_accept_language_prefers_chinese_by_quality(client):
    response = client.get("/", headers={"Accept-Language": "en;q=0.5, zh-CN;q=0.9"})
    assert '<html lang="zh-CN">' in response.text


def test_language_cookie_persists(client):
    client.get("/?lang=en")
    assert '<html lang="en">' in client.get("/orgs").text
    assert '<html lang="en">' in client.get("/", headers={"Accept-Language": "zh-CN"}).text
    client.get("/?lang=zh_CN")
    assert '<html lang="zh-CN">' in client.get("/").text


def test_language_switch_keeps_the_query(client):
    html = client.get("/orgs?q=文晖").text
    assert 'href="/orgs?q=%E6%96%87%E6%99%96&amp;lang=en"' in html


def test_dashboard_year_defaults_to_latest_with_data(client):
    html = client.get("/").text
    assert '<option value="2023" selected>' in html


def test_dashboard_other_year_shows_zeros(client):
    html = client.get("/?year=2022&lang=en").text
    assert '<option value="2022" selected>' in html
    assert "No projects in 2022." in html


def test_dashboard_invalid_year_is_400(client):
    response = client.get("/?year=abc")
    assert response.status_code == 400
    assert 'class="error"' in response.text


def test_dashboard_failing_checks_come_first(client):
    html = client.get("/?lang=en").text
    findings = html.index('id="findings-title"')
    assert findings < html.index('id="money-title"') < html.index('id="children-title"')
    assert "GS-2023-010" in section(html, "findings-title")


def test_dashboard_children_have_figures_and_bars(client):
    children = section(client.get("/").text, "children-title")
    streets = set(re.findall(r'href="/orgs/(330105\d{3})"', children))
    assert len(streets) == 18
    assert children.count('<svg class="mini"') == 18
    assert "文晖街道" in children and "100.00" in children  # its budget in 万元


def test_dashboard_recent_projects_link_to_projects(client):
    recent = section(client.get("/").text, "recent-title")
    assert re.search(r'href="/projects/GS-2023-\d{3}"', recent)


def test_dashboard_recent_projects_put_the_one_just_entered_first_with_its_date(
    fresh_client,
):
    # Entered now, it started long before the demo's projects: it still comes first.
    from datetime import UTC, datetime

    from cocon.times import CHINA
    from tests.web.forms import csrf_token

    token = csrf_token(fresh_client, "/projects/new")
    response = fresh_client.post(
        "/projects/new",
        data={
            "_csrf_token": token, "name": "刚录入的项目", "code": "T-JUST-ENTERED",
            "owner": "330105017", "site": "330105017003", "category": "child_care",
            "year": "2023", "start_date": "2023-01-02", "budget": "1万",
        },
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303, response.text
    recent = section(fresh_client.get("/?lang=en").text, "recent-title")
    codes = re.findall(r'href="/projects/([^"?]+)"', recent)
    assert codes[0] == "T-JUST-ENTERED"
    assert "Entered on" in recent
    today = datetime.now(UTC).astimezone(CHINA).strftime("%Y-%m-%d")
    first_row = recent[recent.index("T-JUST-ENTERED") :].split("</tr>")[0]
    assert f'<td class="date">{today}</td>' in first_row


def test_dashboard_lists_large_community_units_with_types(client):
    units = section(client.get("/").text, "units-title")
    assert len(set(re.findall(r'href="/orgs/(\d{12})"', units))) == 12
    assert "胜利社区" in units
    for unit_type in ("拆迁安置流动型", "商住融合型", "传统融合型", "整村改造型"):
        assert unit_type in units


def test_dashboard_floating_share_rounds_half_up(client):
    # 胜利社区: 3,470 renting of 9,860 permanent residents is 35.19…%: 35.2%, not 35.1%.
    units = section(client.get("/").text, "units-title")
    row = units[units.index("胜利社区") :].split("</tr>")[0]
    assert "35.2%" in row and "35.1%" not in row


def test_dashboard_names_unit_types_in_english_words(client):
    units = section(client.get("/?lang=en").text, "units-title")
    assert "whole-village redevelopment" in units and "traditional integration" in units
    for slug in ("whole-village-reform", "traditional-integration", "whole_village_reform"):
        assert slug not in units


def test_dashboard_scope_picked_by_org(client):
    html = client.get("/?org=330105017&lang=en").text
    assert "<h1>文晖街道" in html
    assert "米市巷街道" not in html
    assert 'href="/orgs/330105017003?org=330105017"' in html


def test_dashboard_scope_by_unique_name(client):
    assert "<h1>文晖街道" in client.get("/?org=文晖街道").text


def test_dashboard_unknown_scope_is_404(client):
    assert client.get("/?org=330105999").status_code == 404


def test_dashboard_sends_security_headers(client):
    headers = client.get("/").headers
    assert headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_stylesheet_is_served(client):
    response = client.get("/static/cocon.css")
    assert response.status_code == 200
    assert "table" in response.text


def test_favicon_is_served_without_signing_in(anonymous_client, client):
    # Browsers ask for /favicon.ico on their first visit, before anyone has signed in.
    response = anonymous_client.get("/favicon.ico", follow_redirects=False)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.content.startswith(b"<svg")
    assert 'rel="icon"' in client.get("/").text


def test_dashboard_says_what_each_money_figure_counts(client):
    html = client.get("/?lang=en").text
    assert "money passed down inside it counted once" in html
    assert "whichever level's money they draw" in html


def test_dashboard_words_the_first_failing_checks_and_counts_all(fresh_url, backend, monkeypatch):
    from cocon import db
    from cocon.web import queries
    from tests.test_findings import _approved_without_money
    from tests.web.conftest import signed_client

    engine = db.make_engine(fresh_url)
    _approved_without_money(engine, 5)
    engine.dispose()
    monkeypatch.setattr(queries, "FINDINGS_SHOWN", 3)
    with signed_client(fresh_url, backend) as client:
        html = section(client.get("/?lang=en&org=330105").text, "findings-title")
    assert '<span class="count">8</span>' in html  # the demo's warning, 5 gaps, 2 dated 2022
    assert html.count('class="finding ') == 3
    assert "The first 3 of 8 are shown" in html
    assert 'href="/export?org=330105' in html


def _row(html: str, css_class: str) -> str:
    start = html.index(f'<tr class="{css_class}">')
    return html[start : html.index("</tr>", start)]


def test_dashboard_counts_district_money_by_origin_and_shows_the_holder_view(client):
    money = section(client.get("/").text, "money-title")
    by_origin, by_holder = _row(money, "by-origin"), _row(money, "by-holder")
    # Gongshu's ¥2,000,000: ¥650,000 drawn directly and ¥1,290,000 on what its streets got.
    assert "资金来源（按层级）" in by_origin and "¥1,940,000.00" in by_origin
    assert "使用/安排单位" in by_holder and "¥650,000.00" in by_holder
    assert "¥1,940,000.00" not in by_holder
    chart = money[money.index('id="sources-caption"') :]
    assert "¥1,940,000.00" in chart[: chart.index("</table>")]
