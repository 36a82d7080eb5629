"""Two people edit one project in two browsers: the second meets the conflict, nothing lost."""

from __future__ import annotations

from tests.browser.conftest import playwright_expect, zh

expect = playwright_expect()


def test_two_browsers_editing_one_project_meet_the_conflict(new_page, shot):
    office = new_page(user="gongshu-office")
    admin = new_page(user="gongshu-admin")
    for page in (office, admin):
        page.goto("/projects/GS-2023-024/edit")
    office.fill("#f-name", "办公室改的名称")
    office.click("form.edit button[type=submit]")
    expect(office.get_by_role("heading", level=1)).to_contain_text("办公室改的名称")

    admin.fill("#f-name", "管理员改的名称")
    admin.click("form.edit button[type=submit]")
    conflict = admin.get_by_role("alert")
    expect(conflict).to_contain_text(zh("Someone else saved this in the meantime"))
    expect(conflict).to_contain_text("办公室改的名称")  # theirs
    expect(conflict).to_contain_text("管理员改的名称")  # yours, kept
    expect(admin.locator("#f-name")).to_have_value("管理员改的名称")
    shot(admin, "conflict")

    admin.click("form.edit button[type=submit]")  # apply mine again, on top of theirs
    expect(admin.get_by_role("heading", level=1)).to_contain_text("管理员改的名称")
    shot(admin, "applied-again")
