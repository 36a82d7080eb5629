"""Org pages: breadcrumb up, children down, the subtree's money, the profile, and search."""

from __future__ import annotations

import re

SHENGLI = "330105017003"
FIVE_NAMES = ["浙江省", "杭州市", "拱墅区", "文晖街道", "胜利社区"]


def crumbs(html: str) -> str:
    start = html.index('<nav class="crumbs"')
    return html[start : html.index("</nav>", start)]


def test_org_page_breadcrumb_shows_the_five_names(client):
    response = client.get(f"/orgs/{SHENGLI}")
    assert response.status_code == 200
    trail = crumbs(response.text)
    positions = [trail.index(name) for name in FIVE_NAMES]
    assert positions == sorted(positions)


def test_org_page_breadcrumb_links_up_within_scope(client):
    trail = crumbs(client.get(f"/orgs/{SHENGLI}").text)
    assert 'href="/orgs/330105"' in trail and 'href="/orgs/330105017"' in trail
    # Zhejiang and Hangzhou lie above the scope (Gongshu): named, not linked.
    assert 'href="/orgs/33"' not in trail and 'href="/orgs/3301"' not in trail


def test_org_page_drill_down_links(client):
    html = client.get("/orgs/330105017").text
    communities = set(re.findall(r'href="/orgs/(330105017\d{3})"', html))
    assert SHENGLI in communities
    assert len(communities) > 3


def test_org_page_accepts_the_padded_code(client):
    html = client.get("/orgs/330105000000").text
    assert "<h1>拱墅区" in html


def test_org_page_community_profile_qualifies_with_reasons(client):
    html = client.get(f"/orgs/{SHENGLI}?lang=en").text
    profile = html[html.index('id="profile-title"') :]
    assert "qualifies" in profile
    assert "households ≥ 3,000" in profile and "floating share" in profile


def test_org_page_lists_subtree_projects_and_allocations(client):
    html = client.get("/orgs/330105017?lang=en").text
    projects = html[html.index('id="projects-title"') : html.index('id="allocations-title"')]
    assert '<span class="count">6</span>' in projects
    assert len(re.findall(r'href="/projects/[^"]+"', projects)) == 6
    allocations = html[html.index('id="allocations-title"') :]
    assert "¥" in allocations and "文晖街道" in allocations


def test_org_page_keeps_scope_in_links(client):
    html = client.get("/orgs/330105017?org=330105017").text
    assert f'href="/orgs/{SHENGLI}?org=330105017"' in html


def test_org_search_finds_wenhui(client):
    response = client.get("/orgs", params={"q": "文晖"})
    assert response.status_code == 200
    assert 'href="/orgs/330105017"' in response.text
    assert "文晖街道" in response.text


def test_org_search_by_code_prefix(client):
    html = client.get("/orgs?q=330105017003").text
    assert f'href="/orgs/{SHENGLI}"' in html


def test_org_search_stays_within_scope(client):
    html = client.get("/orgs", params={"q": "街道", "org": "330105017"}).text
    assert "米市巷街道" not in html
    assert 'href="/orgs/330105017?org=330105017"' in html


def test_org_search_without_query_shows_the_form(client):
    html = client.get("/orgs").text
    assert 'name="q"' in html and 'class="found"' not in html


def test_org_outside_scope_is_404_in_site_style(client):
    response = client.get("/orgs/330105001?org=330105017")
    assert response.status_code == 404
    html = response.text
    assert 'class="error"' in html and "/static/cocon.css" in html
    assert "Traceback" not in html and "NotFound" not in html


def test_org_unknown_is_404(client):
    response = client.get("/orgs/330105999")
    assert response.status_code == 404
    assert "330105999" in response.text


def test_org_bad_code_is_400(client):
    response = client.get("/orgs/abc?lang=en")
    assert response.status_code == 400
    assert "is not a division code" in response.text
