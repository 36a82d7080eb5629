"""Text fields as users type them: one cleaner for every form, command and import."""

from __future__ import annotations

import re
import unicodedata

from cocon.errors import Invalid
from cocon.i18n import _

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
