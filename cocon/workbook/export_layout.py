"""The layout of finance's review workbook: sheets and columns beyond the import schema, labels.

cocon.workbook.exporter re-exports the public names; the sheet writers read them from here.
"""

from __future__ import annotations

from collections.abc import Iterable

from cocon.checks import BLOCK, Rule
from cocon.i18n import current_language
from cocon.workbook.schema import Column, Kind, Sheet

MONEY_FORMAT = "¥#,##0.00"
# Below a district the Summary shows every level; above it, this many levels below the root.
SUMMARY_DEPTH_CAP = 2
TOTAL_LABELS = {"zh_CN": "合计", "en": "Total"}
MAX_CELL_TEXT = 32_767  # Excel's limit per cell, in UTF-16 code units
MAX_ROWS = 1_048_576  # rows in an Excel sheet, the header and the totals row included
PIXELS_PER_CM = 96 / 2.54  # xlsxwriter sizes charts in pixels at 96 dpi

# -- sheets and columns that the import schema does not have -------------------------------

SUMMARY = Sheet(
    "summary",
    "汇总",
    "Summary",
    (
        Column("code", "单位编码", "Org code", Kind.CODE, width=14),
        Column("name", "单位名称", "Org", Kind.TEXT, width=26),
        Column("level", "层级", "Level", Kind.TEXT, width=9),
        Column("projects", "项目数", "Projects", Kind.COUNT, width=9),
        Column("budget", "预算金额（元）", "Budget (yuan)", Kind.AMOUNT, width=16),
        Column("province", "省级资金（元）", "Province funds (yuan)", Kind.AMOUNT, width=16),
        Column("city", "市级资金（元）", "City funds (yuan)", Kind.AMOUNT, width=16),
        Column("district", "区级资金（元）", "District funds (yuan)", Kind.AMOUNT, width=16),
        Column("street", "街道资金（元）", "Street funds (yuan)", Kind.AMOUNT, width=16),
        Column("community", "社区资金（元）", "Community funds (yuan)", Kind.AMOUNT, width=16),
        Column(
            "partners", "共建单位出资（元）", "Partner contributions (yuan)", Kind.AMOUNT, width=18
        ),
        Column("funded", "资金合计（元）", "Funded (yuan)", Kind.AMOUNT, width=16),
        Column("paid", "已拨付（元）", "Paid (yuan)", Kind.AMOUNT, width=16),
        Column("held", "专项资金（元）", "Allocations held (yuan)", Kind.AMOUNT, width=16),
        Column("drawn", "已安排（元）", "Drawn (yuan)", Kind.AMOUNT, width=16),
        Column("remaining", "剩余额度（元）", "Remaining (yuan)", Kind.AMOUNT, width=16),
        Column("failing", "未通过校验", "Failing checks", Kind.COUNT, width=11),
        # The level funds above are by source level (who put the money up); these by holder.
        Column(
            "holder_province",
            "省级资金（使用/安排单位，元）",
            "Province funds by holder (yuan)",
            Kind.AMOUNT,
            width=18,
        ),
        Column(
            "holder_city",
            "市级资金（使用/安排单位，元）",
            "City funds by holder (yuan)",
            Kind.AMOUNT,
            width=18,
        ),
        Column(
            "holder_district",
            "区级资金（使用/安排单位，元）",
            "District funds by holder (yuan)",
            Kind.AMOUNT,
            width=18,
        ),
        Column(
            "holder_street",
            "街道资金（使用/安排单位，元）",
            "Street funds by holder (yuan)",
            Kind.AMOUNT,
            width=18,
        ),
        Column(
            "holder_community",
            "社区资金（使用/安排单位，元）",
            "Community funds by holder (yuan)",
            Kind.AMOUNT,
            width=18,
        ),
    ),
    (),
)
CHECKS = Sheet(
    "checks",
    "校验",
    "Checks",
    (
        Column("rule", "规则", "Rule", Kind.TEXT, width=20),
        Column("severity", "级别", "Severity", Kind.TEXT, width=8),
        Column("subject", "对象", "Subject", Kind.CODE, width=16),
        Column("org", "单位", "Org", Kind.TEXT, width=16),
        Column("message", "说明", "Message", Kind.TEXT, width=80),
        Column("excess", "超出金额（元）", "Excess (yuan)", Kind.AMOUNT, width=16),
    ),
    (),
)
# Read-only columns after the schema's; no schema column answers to these headers.
PROJECT_EXTRAS = (
    Column("owner_name", "牵头单位名称", "Owner name", Kind.TEXT, width=20),
    Column("site_name", "实施社区名称", "Site name", Kind.TEXT, width=18),
    Column("funded", "资金合计（元）", "Funded (yuan)", Kind.AMOUNT, width=16),
    Column("gap", "资金缺口（元）", "Gap (yuan)", Kind.AMOUNT, width=16),
    Column("paid", "已拨付（元）", "Paid (yuan)", Kind.AMOUNT, width=16),
    Column("approved_by", "批准人", "Approved by", Kind.TEXT, width=16),
    Column("approved_on", "批准日期", "Approved on", Kind.DATE, width=12),
)
FUNDING_EXTRAS = (
    Column("allocation_org", "资金所属单位", "Allocation org", Kind.TEXT, width=18),
    Column("allocation_level", "资金层级", "Allocation level", Kind.TEXT, width=10),
    Column("origin_org", "资金来源单位", "Origin org", Kind.TEXT, width=18),
    Column("origin_level", "资金来源层级", "Source level", Kind.TEXT, width=12),
)
CONTRIBUTION_EXTRAS = (Column("partner_name", "共建单位名称", "Partner name", Kind.TEXT, width=28),)
ALLOCATION_EXTRAS = (
    Column("org_name", "单位名称", "Org name", Kind.TEXT, width=18),
    Column("drawn", "已安排（元）", "Drawn (yuan)", Kind.AMOUNT, width=16),
    Column("passed_down", "已下拨（元）", "Passed down (yuan)", Kind.AMOUNT, width=16),
    Column("remaining", "剩余额度（元）", "Remaining (yuan)", Kind.AMOUNT, width=16),
    # As finance checks it: over its whole tree of sub-allocations (cocon.allocation_report).
    Column("origin", "出资专项资金编号", "Origin allocation", Kind.CODE, width=16),
    Column("drawn_downstream", "下级已安排（元）", "Drawn downstream (yuan)", Kind.AMOUNT, width=16),
    Column("unspent", "未使用（含下拨，元）", "Unspent in its tree (yuan)", Kind.AMOUNT, width=18),
    Column("paid_out", "已拨付（含下拨，元）", "Paid out of it (yuan)", Kind.AMOUNT, width=18),
)
SHEET_KEYS = (
    "summary",
    "partners",
    "projects",
    "funding",
    "contributions",
    "allocations",
    "payments",
    "checks",
)
RULE_NAMES = {
    Rule.ALLOCATION_OVERCOMMITTED: ("超额安排", "allocation over-committed"),
    Rule.SUBALLOCATIONS_OVER_PARENT: ("下拨超过上级资金", "sub-allocations over parent"),
    Rule.PAYMENT_OVER_DRAWN: ("拨付超过已安排", "paid over drawn"),
    Rule.FUNDING_VS_BUDGET: ("资金与预算不符", "funding vs budget"),
    Rule.DATES_OUTSIDE_YEAR: ("日期超出项目年度", "dates outside the year"),
}
SEVERITY_NAMES = {BLOCK: ("阻止", "block")}
WARN_NAMES = ("提醒", "warn")
CHART_TITLES = ("各下级单位：专项资金、已安排、已拨付", "Held, drawn and paid by org")
CHART_DATA = ("图表数据", "Chart data")


def pick(pair: tuple[str, str]) -> str:
    """Return the Chinese or the English of pair, by the current language."""
    return pair[0] if current_language() == "zh_CN" else pair[1]


def is_totals_row(values: Iterable[object]) -> bool:
    """Tell whether a row read back from an export is its totals row (first cell 合计 / Total)."""
    first = next(iter(values), None)
    return isinstance(first, str) and first.strip() in TOTAL_LABELS.values()
