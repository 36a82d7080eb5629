"""A user makes a personal API token on their account page, uses it, and revokes it."""

from __future__ import annotations

import httpx

from tests.browser.conftest import playwright_expect, zh

expect = playwright_expect()


def test_make_use_and_revoke_an_api_token(new_page, server, shot):
    page = new_page(user="gongshu-finance")
    page.goto("/account")
    page.fill("#f-token_name", "月度对账脚本")
    page.get_by_role("button", name=zh("Make a token")).click()
    secret = page.locator("#new-token").inner_text()
    expect(page.get_by_role("status")).to_contain_text(zh("Your new token (copy it now: it is not shown again):"))
    shot(page, "account-token-made")
    rollup = httpx.get(
        f"{server.url}/api/v1/orgs/330105/rollup?year=2023&depth=1",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert rollup.status_code == 200 and rollup.json()["name"] == "拱墅区"
    page.goto("/account")
    expect(page.locator("#new-token")).to_have_count(0)
    row = page.get_by_role("row").filter(has_text="月度对账脚本")
    expect(row).to_contain_text(secret[:12])
    row.get_by_role("button", name=zh("Revoke")).click()
    expect(page.get_by_role("status")).to_contain_text(zh("The token is revoked: it no longer works."))
    expect(page.get_by_role("row").filter(has_text="月度对账脚本")).to_contain_text(zh("revoked"))
    shot(page, "account-token-revoked")
    again = httpx.get(f"{server.url}/api/v1/orgs/330105", headers={"Authorization": f"Bearer {secret}"})
    assert again.status_code == 401
