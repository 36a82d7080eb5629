"""The Jinja environment: templates folder, i18n, money and label filters, link helpers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

import cocon
from cocon.i18n import _
from cocon.labels import label, source_label
from cocon.models import Category, Level, Status, UnitType
from cocon.money import format_wan, format_yuan
from cocon.orgs import level_name
from cocon.rights import Right, may, role_name
from cocon.rollup import SOURCE_KEYS, Figures, RollupNode
from cocon.times import china_date, china_time
from cocon.users import Account
from cocon.web import i18n as web_i18n

ROOT = Path(cocon.__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
# Query parameters a link keeps so the reader stays in the same scope and year.
CARRIED = ("org", "year")
ENUMS = {"status": Status, "category": Category, "unit_type": UnitType}


def _query(params: dict) -> str:
    pairs = {key: value for key, value in params.items() if value not in (None, "")}
    return urlencode(pairs)


@pass_context
def href(context: Context, path: str, **params: object) -> str:
    """Link to path keeping the scope and year of this page (a None param drops one)."""
    request = context["request"]
    carried: dict[str, object] = {k: request.query_params.get(k) for k in CARRIED}
    carried.update(params)
    query = _query(carried)
    return f"{path}?{query}" if query else path


@pass_context
def lang_href(context: Context, language: str) -> str:
    """Link to this very page in another language."""
    request = context["request"]
    params: dict[str, object] = {k: v for k, v in request.query_params.items() if k != "lang"}
    params["lang"] = language
    return f"{request.url.path}?{_query(params)}"


def enum_label(value: str | None, kind: str) -> str:
    """Return the name of a status, category or unit type in the current language."""
    return label(ENUMS[kind], value)


def number(value: int | None) -> str:
    """Format a count with thousands separators (— when unknown)."""
    return "—" if value is None else f"{value:,}"


def bar_width(value: int, largest: int, width: float) -> float:
    """Scale an amount to a bar length in SVG units (drawing only; the numbers stay exact)."""
    if largest <= 0 or value <= 0:
        return 0.0
    return round(max(value / largest * width, 1.0), 1)


def money_rows(figures: Figures) -> list[tuple[str, int]]:
    """Return the allocation, drawn and paid amounts of figures as chart rows."""
    return [(_("Held"), figures.held), (_("Drawn"), figures.drawn), (_("Paid"), figures.paid)]


def source_rows(figures: Figures) -> list[tuple[str, int]]:
    """Return the funding of figures by source level (five levels, then partners) as chart rows."""
    rows = [(source_label(key), figures.funding_by_level[i]) for i, key in enumerate(SOURCE_KEYS)]
    return [*rows, (source_label("partners"), figures.partners)]


def largest_amount(nodes: list[RollupNode]) -> int:
    """Return the largest held, drawn or paid amount among nodes, the scale of their bars."""
    return max((max(n.total.held, n.total.drawn, n.total.paid) for n in nodes), default=0)


@pass_context
def signed_in(context: Context) -> Account | None:
    """Return the account the page is shown to (None on the public pages)."""
    request = context.get("request")
    user = request.scope.get("user") if request is not None else None
    return user if isinstance(user, Account) else None


@pass_context
def can(context: Context, right: str) -> bool:
    """Tell whether the user the page is shown to holds a right (to offer a link or button)."""
    account = signed_in(context)
    return account is not None and may(account.role, Right(right))


def static_url(name: str) -> str:
    """Link to a file of static/, with its modification time so browsers fetch a changed one."""
    try:
        version = int((STATIC / name).stat().st_mtime)
    except OSError:
        return f"/static/{name}"
    return f"/static/{name}?v={version}"


def per_request(function: Callable[..., str]) -> Callable[..., str]:
    """Wrap a filter whose output depends on the language so Jinja never folds it.

    Jinja computes a filter on a literal ("partners"|source) once, when it compiles the
    template, in whatever language that request had; a context filter is computed each time.
    """

    @pass_context
    def wrapper(_context: Context, *args: object) -> str:
        return function(*args)

    return wrapper


def scroll_hint() -> Markup:
    """Return the hint a wide table shows above itself while it scrolls sideways (see the CSS)."""
    text = escape(_("← Swipe sideways to see every column →"))
    return Markup(f'<p class="scroll-hint" aria-hidden="true">{text}</p>')


def make_environment(directory: Path = TEMPLATES) -> Environment:
    """Build the template environment shared by every request."""
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    web_i18n.install(env)
    env.filters.update(
        yuan=format_yuan,
        wan=format_wan,
        label=per_request(enum_label),
        level=per_request(level_name),
        number=number,
        source=per_request(source_label),
        china_time=china_time,
        china_date=china_date,
    )
    env.globals.update(
        href=href,
        static_url=static_url,
        lang_href=lang_href,
        bar_width=bar_width,
        money_rows=money_rows,
        source_rows=source_rows,
        largest_amount=largest_amount,
        source_keys=SOURCE_KEYS,
        COMMUNITY=int(Level.COMMUNITY),
        signed_in=signed_in,
        can=can,
        role_name=role_name,
        scroll_hint=per_request(scroll_hint),
    )
    return env
