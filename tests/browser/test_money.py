"""A new user creates a project, funds it from two levels, and meets the over-commit check."""

from __future__ import annotations

import re

from cocon.i18n import use_language
from cocon.labels import choices, source_label
from cocon.models import Category
from tests.browser.conftest import choose, playwright_expect, zh

expect = playwright_expect()

NAME = "浏览器测试口袋公园"


def category_text(category: Category) -> str:
    with use_language("zh_CN"):
        return dict(choices(Category))[category.value]


def source(key: str) -> str:
    with use_language("zh_CN"):
        return source_label(key)


def nav(page):
    return page.get_by_role("navigation", name=zh("Main"))


def draw(page, allocation: str, amount: str) -> None:
    """On a project's money pages: open the draw form, pick the allocation, type, save."""
    page.get_by_role("link", name=zh("Draw funding")).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(zh("Draw funding"))
    choose(field(page, "Allocation"), allocation)
    field(page, "Amount (yuan)").fill(amount)
    page.get_by_role("button", name=zh("Save")).click()


def source_row(page, level_label: str):
    """The row of the project page's funding-by-level table for one source level."""
    funding = page.get_by_role("region", name=zh("Funding"), exact=True)
    return funding.get_by_role("row").filter(has=page.get_by_role("rowheader", name=level_label))


def field(page, message: str):
    """The form control labelled message (the label may go on with a * for required)."""
    return page.get_by_label(re.compile("^" + re.escape(zh(message)) + r"\s*\*?$"))


def new_allocation(page, org: str, code: str, amount: str) -> None:
    """Through the Allocations page: a new 2023 allocation held by org."""
    nav(page).get_by_role("link", name=zh("Allocations"), exact=True).click()
    page.get_by_role("link", name=zh("New allocation")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(zh("New allocation"))
    choose(field(page, "Org"), org)
    field(page, "Year").fill("2023")
    field(page, "Amount (yuan)").fill(amount)
    field(page, "Allocation code").fill(code)
    page.get_by_role("button", name=zh("Save")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(code)


def test_create_a_project_and_fund_it_from_two_levels(page, shot):
    page.goto("/")
    # the demo's 2023 money is all committed: the district and the street put up more first
    new_allocation(page, "拱墅区", "BT-GS-2023", "10万")
    new_allocation(page, "文晖街道", "BT-WH-2023", "50,000")
    shot(page, "allocation")

    nav(page).get_by_role("link", name=zh("Projects"), exact=True).click()
    page.get_by_role("link", name=zh("New project")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(zh("New project"))
    field(page, "Project name").fill(NAME)
    field(page, "Category").select_option(label=category_text(Category.CULTURE_SPORTS))
    field(page, "Year").fill("2023")
    choose(field(page, "Owner org"), "文晖街道")
    choose(field(page, "Site community"), "胜利社区")
    field(page, "Budget (yuan)").fill("30万")
    shot(page, "form")
    page.get_by_role("button", name=zh("Save")).click()

    expect(page.get_by_role("status")).to_have_text(zh("The project was created."))
    expect(page.get_by_role("heading", level=1)).to_contain_text(NAME)

    draw(page, "BT-GS-2023", "5万")
    expect(page.get_by_role("status")).to_contain_text(zh("The funding was saved."))
    draw(page, "BT-WH-2023", "30,000.00")
    expect(page.get_by_role("status")).to_contain_text(zh("The funding was saved."))
    lines = page.get_by_role("region", name=re.compile(zh("Funding lines")))
    expect(lines.get_by_role("row")).to_have_count(3)  # the header and two lines
    shot(page, "funding")

    page.get_by_role("link", name=zh("Back to the project")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(NAME)
    expect(source_row(page, source("district"))).to_contain_text("¥50,000.00")
    expect(source_row(page, source("street"))).to_contain_text("¥30,000.00")
    expect(source_row(page, source("city"))).to_contain_text("¥0.00")
    funding = page.get_by_role("region", name=zh("Funding"), exact=True)
    expect(funding.get_by_role("definition").nth(1)).to_have_text("¥80,000.00")  # funded
    shot(page, "project")


def _words(region) -> list[str]:
    """Return a region's text as words: where a line wraps depends on layout, not on data.

    The sideways-scroll hint is left out: it shows only while a table overflows its box.
    """
    hint = set(zh("← Swipe sideways to see every column →").split())
    return [word for word in region.inner_text().split() if word not in hint]


def test_over_commit_is_refused_and_nothing_is_saved(page, shot):
    page.goto("/")
    nav(page).get_by_role("link", name=zh("Projects"), exact=True).click()
    page.get_by_role("link", name="GS-2023-004").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("现代城社区共享客厅")
    funding = page.get_by_role("region", name=zh("Funding"), exact=True)
    lines = page.get_by_role("region", name=re.compile(zh("Funding lines")))
    before = _words(funding), _words(lines)
    expect(lines.get_by_role("rowheader", name="GS-2023", exact=True)).to_have_count(0)

    # the district's 2023 allocation is all committed in the demo: any more is too much
    draw(page, "GS-2023", "5万")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(zh("Please correct the marked fields"))
    expect(alert).to_contain_text("GS-2023")
    template = zh(
        "{title} {amount}: {committed} already committed ({projects} projects, {subs}"
        " sub-allocations); this {what} of {new} exceeds it by {excess}"
    )
    for words in re.split(r"\{\w+\}", template):
        expect(alert).to_contain_text(words.strip())
    expect(alert).to_contain_text("¥50,000.00")
    expect(field(page, "Amount (yuan)")).to_have_value("5万")
    expect(field(page, "Amount (yuan)")).to_have_attribute("aria-invalid", "true")
    shot(page, "refused")

    page.get_by_role("link", name="GS-2023-004").click()  # the breadcrumb back to the project
    expect(page.get_by_role("heading", level=1)).to_contain_text("现代城社区共享客厅")
    assert (_words(funding), _words(lines)) == before
    expect(lines.get_by_role("rowheader", name="GS-2023", exact=True)).to_have_count(0)
