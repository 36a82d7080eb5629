"""Each demo role signs in and sees only what it should; a refused action reads as such."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import playwright_expect, sign_in, zh

expect = playwright_expect()


def menu(page):
    return page.get_by_role("navigation", name=zh("Main"))


def test_sign_in_lands_where_the_user_was_going(new_page, shot):
    page = new_page(user=None)
    page.goto("/projects?year=2023")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_role("heading", level=1)).to_have_text(zh("Sign in"))
    page.fill("#f-username", "gongshu-office")
    page.fill("#f-password", "not the password")
    page.click("form.edit button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text(zh("The username or the password is wrong"))
    shot(page, "refused")
    sign_in(page, "gongshu-office")
    page.goto("/login?next=/projects%3Fyear%3D2023")
    page.fill("#f-username", "gongshu-office")
    page.fill("#f-password", "cocon-demo-2023")
    page.click("form.edit button[type=submit]")
    expect(page).to_have_url(re.compile(r"/projects\?year=2023$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(zh("Projects"))


@pytest.mark.parametrize(
    ("username", "org", "imports", "users"),
    [
        ("gongshu-admin", "拱墅区", True, True),
        ("wenhui-office", "文晖街道", True, False),
        ("gongshu-finance", "拱墅区", False, False),
        ("shengli-viewer", "胜利社区", False, False),
    ],
)
def test_each_role_sees_its_org_and_its_menu(new_page, shot, username, org, imports, users):
    page = new_page(user=username)
    expect(page.get_by_role("heading", level=1)).to_contain_text(org)
    expect(page.get_by_role("navigation", name=zh("Your account"))).to_contain_text(username)
    expect(menu(page).get_by_role("link", name=zh("Import"))).to_have_count(1 if imports else 0)
    expect(menu(page).get_by_role("link", name=zh("Users"))).to_have_count(1 if users else 0)
    shot(page, "dashboard")


def test_a_community_viewer_sees_nothing_above_and_may_not_edit(new_page, shot):
    page = new_page(user="shengli-viewer")
    crumbs = page.get_by_role("navigation", name=zh("Breadcrumb"))
    expect(crumbs).to_contain_text("拱墅区")
    expect(crumbs.get_by_role("link")).to_have_count(0)  # ancestors are names, not links
    page.goto("/orgs/330105")
    expect(page.get_by_role("heading", level=1)).to_have_text(zh("Page not found"))
    page.goto("/projects")
    expect(page.get_by_role("link", name=zh("New project"))).to_have_count(0)
    rows = page.locator("table.list tbody tr")
    expect(rows).to_have_count(1)  # the one project owned in Shengli Community
    page.goto("/projects/new")
    expect(page.get_by_role("heading", level=1)).to_have_text(zh("Not allowed"))
    expect(page.locator("main")).to_contain_text("只读")
    shot(page, "refused")


def test_an_office_may_not_record_a_payment_and_finance_may(new_page, shot):
    office = new_page(user="gongshu-office")
    office.goto("/projects/GS-2023-001/funding")
    expect(office.get_by_role("link", name=zh("Record payment"))).to_have_count(0)
    office.goto("/projects/GS-2023-001/pay")
    expect(office.get_by_role("heading", level=1)).to_have_text(zh("Not allowed"))
    shot(office, "office-refused")
    finance = new_page(user="gongshu-finance")
    finance.goto("/projects/GS-2023-001/funding")
    finance.get_by_role("link", name=zh("Record payment")).first.click()
    expect(finance.get_by_role("heading", level=1)).to_contain_text(zh("Record payment"))
    shot(finance, "finance-pay-form")


def test_sign_out_ends_the_session(new_page, shot):
    page = new_page(user="wenhui-finance")
    page.get_by_role("navigation", name=zh("Your account")).get_by_role(
        "link", name=zh("Sign out")
    ).click()
    page.get_by_role("button", name=zh("Sign out")).click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    shot(page, "signed-out")
