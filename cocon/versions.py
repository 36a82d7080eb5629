"""Lost-update protection: a save names the version it read, and a newer one refuses it.

The records people edit carry a version counter (cocon.models.version_column) that SQLAlchemy
advances on every save and checks in the UPDATE itself, so two saves racing in the same
instant cannot both pass. A form or an import row carries the version it was read at; saving
it over a newer version raises StaleVersion, which the web shows as a conflict page, the API as
409 with the current version, an import as a problem on the row's version cell.
"""

from __future__ import annotations

from cocon.errors import Invalid, Refused
from cocon.i18n import _


class StaleVersion(Refused):
    """The record was saved by someone else since it was read; nothing was saved."""

    def __init__(self, current: int, read: int) -> None:
        super().__init__(
            _(
                "Someone saved this since you opened it (your version {read}, now {current}):"
                " nothing was saved"
            ).format(read=read, current=current)
        )
        self.current = current
        self.read = read
        self.field = "version"


class SavedMeanwhile(Refused):
    """Records an import was writing were saved by someone else in that instant; nothing was saved."""

    def __init__(self) -> None:
        super().__init__(
            _(
                "Someone saved some of these records while the import ran: nothing was written;"
                " import the workbook again"
            )
        )


def parse_version(raw: object) -> int | None:
    """Read the version a form or a row carries (None when it carries none)."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        return None
    if isinstance(raw, float) and raw.is_integer():
        text = str(int(raw))
    if not text.isdigit() or int(text) < 1:
        raise Invalid(_("'{value}' is not a version number").format(value=text), field="version")
    return int(text)


def check_version(record: object, raw: object) -> None:
    """Refuse to save over a record that changed since the version named was read."""
    read = parse_version(raw)
    current = getattr(record, "version", None)
    if read is not None and current is not None and read != current:
        raise StaleVersion(current, read)


def check_row_version(current: int | None, raw: object) -> None:
    """Refuse an import row exported at another version than the record's now.

    A blank version checks nothing (a hand-made row), nor does a row whose record does not
    exist yet (current None): that row creates it.
    """
    read = parse_version(raw)
    if read is None or current is None or read == current:
        return
    if read < current:
        message = _(
            "This row was changed by someone else after it was read (version {read}, now"
            " {current}): export again and make your changes there"
        )
    else:
        message = _(
            "This record never had version {read} (it is at version {current}): take the"
            " version from an export of this database, or leave it blank"
        )
    raise Invalid(message.format(read=read, current=current), field="version")
