"""The sheets and columns of cocon's workbooks: one definition for the template, import and export."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from cocon.i18n import current_language
from cocon.labels import N_
from cocon.models import Category, ContributionKind, PartnerKind, Status, UnitType


class Kind(StrEnum):
    """How a column's cells are read."""

    TEXT = "text"
    CODE = "code"  # an identifier written as text (project, allocation, voucher, credit code)
    ORG = "org"  # an org by division code in any form, or by unique name
    AMOUNT = "amount"
    DATE = "date"
    COUNT = "count"
    YEAR = "year"
    CHOICE = "choice"
    VERSION = "version"  # the version of the record the row was read at (cocon.versions)


@dataclass(frozen=True)
class Column:
    """One column: its key, headers in both languages, how it is read, and an example."""

    key: str
    zh: str
    en: str
    kind: Kind
    required: bool = False
    example: object = None
    choices: type[StrEnum] | None = None
    width: int = 14
    aliases: tuple[str, ...] = ()

    def header(self, language: str | None = None) -> str:
        """Return the header in language (the current one by default)."""
        return self.zh if (language or current_language()) == "zh_CN" else self.en


@dataclass(frozen=True)
class Sheet:
    """One sheet of the workbook and its natural key."""

    key: str
    zh: str
    en: str
    columns: tuple[Column, ...]
    natural_key: tuple[str, ...]
    description: str = ""
    extra_titles: tuple[str, ...] = field(default=())
    by_key: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The columns by key, for reading rows cell by cell without a search.
        object.__setattr__(self, "by_key", {c.key: c for c in self.columns})

    def title(self, language: str | None = None) -> str:
        """Return the sheet name in language (the current one by default)."""
        return self.zh if (language or current_language()) == "zh_CN" else self.en

    def column(self, key: str) -> Column:
        """Return the column with key."""
        return self.by_key[key]


# The template's example rows name records no real one can be (see cocon.fields and
# cocon.orgs): codes beginning EXAMPLE-, a community code beginning 00 (no division's does) and a
# credit code whose check character is wrong. Edited by mistake, an example row is refused on
# import; it never overwrites a real record.
EXAMPLE_PROJECT = "EXAMPLE-2023-001"
EXAMPLE_ALLOCATION = "EXAMPLE-2023"
EXAMPLE_COMMUNITY = "000000000001"
EXAMPLE_CREDIT_CODE = "91330105EXAMPLE00X"  # the check character is J

# Columns that name a row of another sheet, the same wherever they appear.
PROJECT_REF = Column(
    "project", "项目编号", "Project code", Kind.CODE, True, EXAMPLE_PROJECT, width=16
)
ALLOCATION_REF = Column(
    "allocation", "资金编号", "Allocation code", Kind.CODE, True, EXAMPLE_ALLOCATION, width=16
)
# The version a row was exported at: blank in the template and in hand-made rows (no check).
VERSION = Column("version", "版本", "Version", Kind.VERSION, False, None, width=8)

PROFILES = Sheet(
    "profiles",
    "社区档案",
    "Community profiles",
    (
        Column("code", "社区编码", "Community code", Kind.ORG, True, EXAMPLE_COMMUNITY, width=16),
        Column("name", "社区名称", "Community name", Kind.TEXT, False, "示例社区", width=16),
        Column("households", "户数", "Households", Kind.COUNT, False, 3500),
        Column("permanent_residents", "常住人口", "Permanent residents", Kind.COUNT, False, 10200),
        Column(
            "floating_residents",
            "租住（流动）人口",
            "Renting/floating residents",
            Kind.COUNT,
            False,
            4100,
            width=18,
        ),
        Column(
            "unit_type",
            "单元类型",
            "Unit type",
            Kind.CHOICE,
            False,
            UnitType.TRADITIONAL_INTEGRATION,
            UnitType,
            width=18,
        ),
        VERSION,
    ),
    ("code",),
    N_("One row per community: households and residents, and its type of large community unit."),
)
PARTNERS = Sheet(
    "partners",
    "共建单位",
    "Partners",
    (
        Column(
            "credit_code",
            "统一社会信用代码",
            "Credit code",
            Kind.CODE,
            True,
            EXAMPLE_CREDIT_CODE,
            width=22,
        ),
        Column("name", "单位名称", "Name", Kind.TEXT, True, "杭州示例科技有限公司", width=28),
        Column("kind", "单位类型", "Kind", Kind.CHOICE, True, PartnerKind.ENTERPRISE, PartnerKind),
        Column("contact", "联系人", "Contact", Kind.TEXT, False, "王明"),
        Column("phone", "联系电话", "Phone", Kind.CODE, False, "0571-88880000", width=16),
        VERSION,
    ),
    ("credit_code",),
    N_("One row per partner unit, known by its unified social credit code."),
)
PROJECTS = Sheet(
    "projects",
    "共建项目",
    "Projects",
    (
        Column("code", "项目编号", "Project code", Kind.CODE, True, EXAMPLE_PROJECT, width=16),
        Column("name", "项目名称", "Name", Kind.TEXT, True, "示例篮球公园", width=28),
        Column("owner", "牵头单位", "Owner org", Kind.ORG, True, "330105017", width=16),
        Column("site", "实施社区", "Site community", Kind.ORG, True, "330105017003", width=16),
        Column(
            "category",
            "项目类别",
            "Category",
            Kind.CHOICE,
            True,
            Category.CULTURE_SPORTS,
            Category,
            width=16,
        ),
        Column("year", "年度", "Year", Kind.YEAR, True, 2023, width=8),
        Column("status", "状态", "Status", Kind.CHOICE, False, Status.COMPLETED, Status, width=10),
        Column("start_date", "开始日期", "Start date", Kind.DATE, False, "2023-03-01", width=12),
        Column("end_date", "结束日期", "End date", Kind.DATE, False, "2023-12-28", width=12),
        Column(
            "budget",
            "预算金额（元）",
            "Budget (yuan)",
            Kind.AMOUNT,
            True,
            500000,
            width=16,
            aliases=("预算金额", "预算"),
        ),
        Column(
            "area_m2", "面积（平方米）", "Area (m²)", Kind.COUNT, False, 20800, aliases=("面积",)
        ),
        Column("households_served", "受益户数", "Households served", Kind.COUNT, False, 10000),
        Column("description", "项目简介", "Description", Kind.TEXT, False, "", width=40),
        VERSION,
    ),
    ("code",),
    N_("One row per project; its status is reached step by step from draft."),
)
CONTRIBUTIONS = Sheet(
    "contributions",
    "共建单位出资",
    "Partner contributions",
    (
        PROJECT_REF,
        Column(
            "partner",
            "统一社会信用代码",
            "Partner credit code",
            Kind.CODE,
            True,
            EXAMPLE_CREDIT_CODE,
            width=22,
            aliases=("共建单位",),
        ),
        Column(
            "kind",
            "出资方式",
            "Kind",
            Kind.CHOICE,
            True,
            ContributionKind.CASH,
            ContributionKind,
            width=14,
        ),
        Column(
            "amount",
            "金额（元）",
            "Amount (yuan)",
            Kind.AMOUNT,
            True,
            100000,
            width=16,
            aliases=("金额", "出资金额"),
        ),
        Column("note", "备注", "Note", Kind.TEXT, False, "", width=24),
    ),
    ("project", "partner", "kind"),
    N_("What each partner unit puts into a project, in cash or valued in kind."),
)
ALLOCATIONS = Sheet(
    "allocations",
    "专项资金",
    "Allocations",
    (
        Column("code", "资金编号", "Allocation code", Kind.CODE, True, EXAMPLE_ALLOCATION, width=16),
        Column("org", "单位", "Org", Kind.ORG, True, "330105", width=16),
        Column("year", "年度", "Year", Kind.YEAR, True, 2023, width=8),
        Column(
            "amount",
            "金额（元）",
            "Amount (yuan)",
            Kind.AMOUNT,
            True,
            2000000,
            width=16,
            aliases=("金额",),
        ),
        Column("parent", "上级资金编号", "Parent allocation", Kind.CODE, False, "", width=16),
        Column("source_note", "资金来源", "Source", Kind.TEXT, False, "区级共建专项资金", width=24),
        VERSION,
    ),
    ("code",),
    N_(
        "Money an org puts up for a year; a row with a parent allocation is a sub-allocation (下拨)."
    ),
)
FUNDING = Sheet(
    "funding",
    "资金安排",
    "Funding lines",
    (
        PROJECT_REF,
        ALLOCATION_REF,
        Column(
            "amount",
            "金额（元）",
            "Amount (yuan)",
            Kind.AMOUNT,
            True,
            250000,
            width=16,
            aliases=("金额", "安排金额"),
        ),
        VERSION,
    ),
    ("project", "allocation"),
    N_("How much each project draws from an allocation of its owner org or an org above it."),
)
PAYMENTS = Sheet(
    "payments",
    "拨付",
    "Payments",
    (
        Column(
            "voucher_no", "凭证号", "Voucher number", Kind.CODE, True, "EXAMPLE-0001", width=16
        ),
        PROJECT_REF,
        ALLOCATION_REF,
        Column("paid_on", "拨付日期", "Date paid", Kind.DATE, True, "2023-06-30", width=12),
        Column(
            "amount",
            "金额（元）",
            "Amount (yuan)",
            Kind.AMOUNT,
            True,
            150000,
            width=16,
            aliases=("金额", "拨付金额"),
        ),
        Column("note", "备注", "Note", Kind.TEXT, False, "", width=24),
    ),
    ("voucher_no",),
    N_("Money actually paid out against a funding line, with its voucher number."),
)
# In dependency order: a later sheet may name what an earlier one creates.
SHEETS: tuple[Sheet, ...] = (
    PROFILES,
    PARTNERS,
    PROJECTS,
    CONTRIBUTIONS,
    ALLOCATIONS,
    FUNDING,
    PAYMENTS,
)
SHEETS_BY_KEY = {sheet.key: sheet for sheet in SHEETS}
# The template's tabs that hold no records: its instructions, named in either language, and the
# hidden sheet of long dropdown lists. An import passes over them without a word.
INSTRUCTIONS_TITLES = {"zh_CN": "说明", "en": "Instructions"}
LISTS_SHEET = "_lists"

_FOLD = str.maketrans({"（": "(", "）": ")", "：": ":", "\u3000": " ", "²": "2"})
_SPACE = re.compile(r"\s+")


def fold(text: object) -> str:
    """Fold a header or sheet name for matching: no spaces or line breaks, ASCII brackets, lower case."""
    return _SPACE.sub("", str(text or "")).translate(_FOLD).lower()


def _names(*names: str) -> set[str]:
    return {fold(name) for name in names if name}


def sheet_for_title(title: str) -> Sheet | None:
    """Find the sheet a workbook tab stands for, by its Chinese or English name or key."""
    wanted = fold(title)
    return next((s for s in SHEETS if wanted in _names(s.zh, s.en, s.key)), None)


def is_template_aid(title: str) -> bool:
    """Tell whether a workbook tab is one of the template's that hold no records."""
    return fold(title) in _names(*INSTRUCTIONS_TITLES.values(), LISTS_SHEET)


def column_for_header(sheet: Sheet, header: object) -> Column | None:
    """Find the column a header names, in Chinese or English, with or without its unit."""
    wanted = fold(header)
    if not wanted:
        return None
    for column in sheet.columns:
        names = _names(column.zh, column.en, column.key, *column.aliases)
        names |= {re.sub(r"\(.*\)$", "", name) for name in names}
        if wanted in names or re.sub(r"\(.*\)$", "", wanted) in names:
            return column
    return None
