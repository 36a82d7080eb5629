"""Fields as users type them: one parser for each kind (amounts, dates, years, counts, codes,
texts) and one collector of their errors, for every form, command and import.

Amounts never pass through float: text is read digit by digit and Decimal values are
converted through their exact digits, so no context precision or rounding is involved.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from cocon.errors import Invalid
from cocon.i18n import _
from cocon.money import FEN_PER_YUAN

# Line breaks and tabs are text in a long field (a description), never in a one-line field.
MULTILINE_ALLOWED = frozenset("\t\n\r")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")
# Words a code cannot be: each is a page of its own (/projects/new, /allocations/new).
RESERVED_CODES = frozenset(("new",))


def refuse_control_characters(text: str, field: str, *, multiline: bool = False) -> str:
    """Refuse text holding NUL or another control character (line breaks only where multiline)."""
    for char in text:
        if unicodedata.category(char) == "Cc" and not (multiline and char in MULTILINE_ALLOWED):
            raise Invalid(
                _("Control characters (such as NUL or a line break) are not allowed here"),
                field=field,
            )
    return text


def clean_text(
    raw: object, field: str, *, required: bool = False, limit: int = 200, multiline: bool = False
) -> str | None:
    """Strip a text field; refuse it when required and empty, too long, or holding control characters."""
    text = str(raw).strip() if raw is not None else ""
    if not text:
        if required:
            raise Invalid(_("This field is required"), field=field)
        return None
    if len(text) > limit:
        raise Invalid(_("At most {limit} characters").format(limit=limit), field=field)
    return refuse_control_characters(text, field, multiline=multiline)


# The import template's example rows use codes that begin so, and no real record may take one:
# an example row edited by mistake can then never overwrite a real project, allocation or payment.
EXAMPLE_CODE_PREFIX = "EXAMPLE-"


def is_example_code(text: object) -> bool:
    """Tell whether text is one of the codes kept for the template's examples."""
    return str(text or "").strip().upper().startswith(EXAMPLE_CODE_PREFIX)


def refuse_example_code(text: str, field: str) -> str:
    """Return text, or refuse it when it is a code kept for the template's examples."""
    if is_example_code(text):
        raise Invalid(
            _("Use another code: codes beginning with {prefix} are kept for the template's examples").format(
                prefix=EXAMPLE_CODE_PREFIX
            ),
            field=field,
        )
    return text


def clean_code(raw: object) -> str:
    """Accept a project or allocation code of letters, digits and - _ . (each names a web page)."""
    text = str(raw or "").strip()
    if not _CODE.match(text):
        raise Invalid(
            _(
                "'{value}' is not a code: use up to 40 letters, digits, - _ ., e.g. GS-2023-001"
            ).format(value=text),
            field="code",
        )
    if text.lower() in RESERVED_CODES:
        raise Invalid(
            _("Use another code: '{code}' cannot be part of a web address").format(code=text),
            field="code",
        )
    return refuse_example_code(text, "code")


class FieldErrors(Invalid):
    """Several fields of one form are wrong; each error names its field."""

    def __init__(self, errors: list[Invalid]) -> None:
        super().__init__("; ".join(e.message for e in errors), field=errors[0].field)
        self.errors = errors

    def by_field(self) -> dict[str, str]:
        """Return the first message for each field."""
        result: dict[str, str] = {}
        for error in self.errors:
            result.setdefault(error.field or "", error.message)
        return result


def collect(errors: list[Invalid], parse: Callable, *args, **kwargs):
    """Return parse(*args, **kwargs), or keep its errors in errors and return None, so a form or
    row shows every wrong field at once."""
    try:
        return parse(*args, **kwargs)
    except FieldErrors as error:
        errors.extend(error.errors)
    except Invalid as error:
        errors.append(error)
    return None


# --- Amounts ---------------------------------------------------------------------------------

# Longer text is no plausible amount; the cap also keeps int() well inside its digit limit.
MAX_AMOUNT_LENGTH = 100

_UNIT_EXPONENTS = {"": 0, "元": 0, "万": 4, "万元": 4, "亿": 8, "亿元": 8}

# Chinese input methods type full-width letters, digits, commas, points, spaces and ￥.
HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: " "}
_AMOUNT_HALF_WIDTH = HALF_WIDTH | {ord("￥"): "¥"}

_AMOUNT = re.compile(
    r"""
    (?P<sign>[-+]?) \s* ¥? \s* (?P<sign_after_symbol>[-+]?)
    (?P<integer>[0-9][0-9,]*) (?:\.(?P<fraction>[0-9]+))?
    \s* (?P<unit>万元|亿元|元|万|亿)?
    """,
    re.VERBOSE,
)
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})*")


def parse_amount(
    text: str | int | Decimal, *, allow_negative: bool = False, allow_zero: bool = True
) -> int:
    """Return the amount in fen that text names, refusing anything ambiguous or inexact."""
    if isinstance(text, bool):
        raise _not_an_amount(text)
    if isinstance(text, int):
        fen = text * FEN_PER_YUAN
    elif isinstance(text, float):
        # openpyxl hands numbers over as float; str() gives the shortest exact reading of it.
        fen = _decimal_to_fen(Decimal(str(text)), text)
    elif isinstance(text, Decimal):
        fen = _decimal_to_fen(text, text)
    elif isinstance(text, str):
        fen = _text_to_fen(text)
    else:
        raise _not_an_amount(text)
    if fen < 0 and not allow_negative:
        raise Invalid(
            _("'{value}' is negative; write an amount of 0 or more, e.g. 125000").format(
                value=_shown(text)
            )
        )
    if fen == 0 and not allow_zero:
        raise Invalid(
            _("'{value}' is zero; write an amount above 0, e.g. 125000").format(value=_shown(text))
        )
    return fen


def _text_to_fen(text: str) -> int:
    cleaned = text.translate(_AMOUNT_HALF_WIDTH).strip()
    if not cleaned:
        raise Invalid(_("the amount is empty; write e.g. 125000 or 12.5万"))
    if len(cleaned) > MAX_AMOUNT_LENGTH:
        raise Invalid(
            _("'{value}…' is too long to be an amount; write e.g. 125000 or 12.5万").format(
                value=cleaned[:20]
            )
        )
    match = _AMOUNT.fullmatch(cleaned)
    if match is None or (match["sign"] and match["sign_after_symbol"]):
        raise _not_an_amount(text)
    integer = match["integer"]
    if "," in integer and not _GROUPED.fullmatch(integer):
        raise Invalid(
            _("'{value}' has misplaced commas; group digits by three, e.g. 1,234,567.89").format(
                value=_shown(text)
            )
        )
    fraction = match["fraction"] or ""
    digits = int(integer.replace(",", "") + fraction)
    fen = _scale(digits, 2 + _UNIT_EXPONENTS[match["unit"] or ""] - len(fraction), text)
    return -fen if "-" in (match["sign"], match["sign_after_symbol"]) else fen


def _decimal_to_fen(value: Decimal, shown: object) -> int:
    if not value.is_finite():
        raise _not_an_amount(shown)
    sign, digit_tuple, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, so not 'n', 'N' or 'F'
    if len(digit_tuple) + max(exponent, 0) > MAX_AMOUNT_LENGTH:
        raise Invalid(
            _("'{value}' is too large to be an amount; write e.g. 125000 or 12.5万").format(
                value=_shown(shown)
            )
        )
    digits = int("".join(map(str, digit_tuple)))
    fen = _scale(digits, exponent + 2, shown)
    return -fen if sign else fen


def _scale(digits: int, exponent: int, shown: object) -> int:
    """Return digits × 10**exponent, refusing a result with fractions of a fen."""
    if exponent >= 0:
        return digits * 10**exponent
    if digits == 0:
        return 0
    # digits has at most MAX_AMOUNT_LENGTH digits, so a deeper exponent always leaves a
    # remainder; deciding that without computing 10**-exponent keeps 1E-999999999 cheap.
    if -exponent > MAX_AMOUNT_LENGTH:
        whole, rest = 0, digits
    else:
        whole, rest = divmod(digits, 10**-exponent)
    if rest:
        raise Invalid(
            _(
                "'{value}' has fractions of a fen; write at most 2 decimals of yuan, "
                "e.g. 1234.56 or 12.3456万"
            ).format(value=_shown(shown))
        )
    return whole


def _not_an_amount(value: object) -> Invalid:
    return Invalid(
        _("'{value}' is not an amount; write e.g. 125000 or 12.5万").format(value=_shown(value))
    )


def _shown(value: object) -> str:
    return value.strip() if isinstance(value, str) else str(value)


# --- Dates, years and counts -----------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日")


def parse_date(raw: object, field: str) -> date | None:
    """Accept a date as a date, or as text like 2023-03-01, 2023/3/1 or 2023年3月1日."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw).strip()
    if not text:
        return None
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise Invalid(
        _("'{value}' is not a date; write e.g. 2023-03-01, 2023/3/1 or 2023年3月1日").format(
            value=text
        ),
        field=field,
    )


def parse_year(raw: object, field: str = "year") -> int:
    """Accept a year between 2000 and 2100."""
    text = str(raw if raw is not None else "").strip().removesuffix("年")
    if not text.isdigit() or not 2000 <= int(text) <= 2100:
        raise Invalid(
            _("'{value}' is not a year between 2000 and 2100").format(value=raw), field=field
        )
    return int(text)


def parse_count(raw: object, field: str) -> int | None:
    """Accept a whole non-negative number of people or households (empty means unknown)."""
    if raw is None or str(raw).strip() == "":
        return None
    text = str(raw).strip().replace(",", "")
    try:
        value = Decimal(text)
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite() or value != value.to_integral_value() or value < 0:
        raise Invalid(
            _("'{value}' is not a whole number of 0 or more, e.g. 3200").format(value=raw),
            field=field,
        )
    return int(value)
