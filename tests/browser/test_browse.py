"""A new user looks around: the dashboard, drilling down the org tree and back, the language."""

from __future__ import annotations

import re

from tests.browser.conftest import PHONE, en, playwright_expect, zh

expect = playwright_expect()


def crumbs(page):
    return page.get_by_role("navigation", name=zh("Breadcrumb"))


def test_dashboard_shows_the_district_its_chart_and_streets(page, shot):
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("拱墅区")
    expect(page).to_have_title(re.compile("拱墅区"))
    money = page.get_by_role("region", name=zh("Money"))
    expect(money.locator("svg[role=img]").first).to_be_visible()
    expect(money.get_by_role("img", name=zh("Funding by source level"))).to_be_visible()
    streets = page.get_by_role("region", name=zh("Below %(name)s") % {"name": "拱墅区"})
    table = streets.get_by_role("table")
    expect(table.get_by_role("link", name="文晖街道")).to_be_visible()
    expect(table.get_by_role("row")).to_have_count(19)  # the header and 18 streets
    shot(page, "dashboard")


def test_dashboard_fits_a_phone(new_page, shot):
    page = new_page(viewport=PHONE)
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("拱墅区")
    expect(page.get_by_role("link", name=zh("Projects"), exact=True).first).to_be_visible()
    shot(page, "phone")
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= PHONE["width"], f"the page is {page_width}px wide on a 390px phone"


def test_drill_from_district_to_street_to_community_and_back(page, shot):
    page.goto("/")
    streets = page.get_by_role("region", name=zh("Below %(name)s") % {"name": "拱墅区"})
    streets.get_by_role("link", name="文晖街道").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("文晖街道")
    expect(crumbs(page)).to_have_text(re.compile(r"浙江省\s*杭州市\s*拱墅区\s*文晖街道"))
    shot(page, "street")
    communities = page.get_by_role("region", name=zh("Below %(name)s") % {"name": "文晖街道"})
    communities.get_by_role("link", name="胜利社区").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("胜利社区")
    expect(crumbs(page)).to_have_text(re.compile(r"浙江省\s*杭州市\s*拱墅区\s*文晖街道\s*胜利社区"))
    expect(page.get_by_role("region", name=zh("Community profile"))).to_be_visible()
    projects = page.get_by_role("region", name=re.compile(zh("Projects")))
    expect(projects.get_by_role("cell", name="胜利社区颐乐长者食堂")).to_be_visible()
    shot(page, "community")

    crumbs(page).get_by_role("link", name="文晖街道").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("文晖街道")
    crumbs(page).get_by_role("link", name="拱墅区").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("拱墅区")
    # the scope is the district: the province and the city above it are shown, not linked
    expect(crumbs(page).get_by_role("link", name="杭州市")).to_have_count(0)
    expect(crumbs(page)).to_contain_text("杭州市")
    shot(page, "back-to-district")


def test_switch_language_and_it_sticks(page, shot):
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", name=zh("Money"))).to_be_visible()
    languages = page.get_by_role("navigation", name=zh("Language"))
    languages.get_by_role("link", name="English").click()

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name=en("Money"), exact=True)).to_be_visible()
    main_nav = page.get_by_role("navigation", name=en("Main"))
    expect(main_nav.get_by_role("link", name="Projects", exact=True)).to_be_visible()
    shot(page, "english")

    main_nav.get_by_role("link", name="Projects", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Projects")
    expect(page.get_by_role("link", name="New project")).to_be_visible()
    assert "lang=" not in page.url  # remembered, not carried in the address
    shot(page, "english-sticks")

    page.get_by_role("navigation", name=en("Language")).get_by_role("link", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("link", name=zh("New project"))).to_be_visible()


NARROW_PHONE = {"width": 375, "height": 812}
# For every wide-table box of a page: does it scroll sideways, and is its hint shown?
TABLE_BOXES = """() => [...document.querySelectorAll('.table-wrap')].map(box => {
  const hint = box.querySelector('.scroll-hint');
  return [box.scrollWidth > box.clientWidth + 1, !!hint && hint.offsetParent !== null];
})"""
# The main menu's items that break onto a second line inside their words.
BROKEN_ITEMS = """() => [...document.querySelectorAll('header nav[aria-label] a')].filter(a => {
  const line = parseFloat(getComputedStyle(a).lineHeight) || parseFloat(getComputedStyle(a).fontSize) * 1.6;
  return a.getBoundingClientRect().height > line * 1.5;
}).map(a => a.textContent.trim())"""


def test_phone_menu_never_breaks_inside_a_word(new_page, shot):
    page = new_page(viewport=NARROW_PHONE)
    page.goto("/")
    expect(page.get_by_role("link", name=zh("Find an org"))).to_be_visible()
    shot(page, "menu")
    assert page.evaluate(BROKEN_ITEMS) == []


def test_phone_wide_table_says_it_scrolls(new_page, shot):
    page = new_page(viewport=NARROW_PHONE)
    page.goto("/projects")
    hint = page.locator(".scroll-hint", has_text=zh("← Swipe sideways to see every column →"))
    expect(hint.first).to_be_visible()
    shot(page, "projects")
    boxes = page.evaluate(TABLE_BOXES)
    assert boxes and any(scrolls for scrolls, _shown in boxes)
    assert all(scrolls == shown for scrolls, shown in boxes), boxes
    # Scrolled sideways, the hint stays in the box's view.
    scrolled = page.evaluate(
        """() => { const box = [...document.querySelectorAll('.table-wrap')]
          .find(box => box.scrollWidth > box.clientWidth + 1);
        box.scrollLeft = 400; const hint = box.querySelector('.scroll-hint');
        return [box.scrollLeft, hint.getBoundingClientRect().left - box.getBoundingClientRect().left]; }"""
    )
    assert scrolled[0] > 0 and abs(scrolled[1]) < 2, scrolled


def test_desktop_tables_that_fit_show_no_scroll_hint(page):
    for path in ("/", "/projects", "/allocations"):
        page.goto(path)
        boxes = page.evaluate(TABLE_BOXES)
        assert boxes, path
        assert all(scrolls == shown for scrolls, shown in boxes), (path, boxes)
        assert not all(shown for _scrolls, shown in boxes), path
