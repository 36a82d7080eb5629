"""Moments as people read them: stored in UTC, shown in China time (UTC+8, no daylight saving)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8))


def china_time(moment: datetime) -> str:
    """Show a stored UTC moment in China time, to the minute."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def china_date(moment: datetime | None) -> str:
    """Show the day of a stored UTC moment in China time ('' for none)."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(CHINA).strftime("%Y-%m-%d")


def parse_day(text: str) -> datetime:
    """Read a day (2023-03-01) as the start of that day in China time."""
    from cocon.errors import Invalid
    from cocon.i18n import _

    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d")
    except ValueError:
        raise Invalid(_("Write a date like 2023-03-01"), field="date") from None
    return day.replace(tzinfo=CHINA)
