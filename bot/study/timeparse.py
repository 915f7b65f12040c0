"""When a collective study session starts, as admins type it: a few strict forms (pure).

Accepted (a topic may follow after a space):
    2023-08-05 14:00      2023/8/5 14:00      2023<Y>8<M>5<D> 14:00
    8<M>5<D> 14:30 (this year)      <tomorrow> 15:00 (also <today>, <day after tomorrow>)
where <Y>, <M>, <D> are the Chinese year, month and day characters (<D> may also be the
colloquial "hao"). Full-width digits, colon, slash and spaces are accepted. Nothing else is
guessed: a date without a year that has passed this year is refused as past, not moved to
next year, so a typo never lands a session a year away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

# The Chinese characters, escaped so that this module stays ASCII.
_Y, _M = "\u5e74", "\u6708"
_D = "[\u65e5\u53f7]"
RELATIVE_DAYS = {"\u4eca\u5929": 0, "\u660e\u5929": 1, "\u540e\u5929": 2}
MAX_AHEAD = timedelta(days=366)
MIN_YEAR, MAX_YEAR = 2000, 2100

# Full-width forms people type with a Chinese input method -> ASCII, one char for one.
_WIDTH = str.maketrans(
    {
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        "\uff1a": ":",
        "\uff0f": "/",
        "\uff0d": "-",
        "\u3000": " ",
    }
)
_TIME = r"(?P<hh>\d{1,2}):(?P<mm>\d{2})"
_REST = r"(?:\s+(?P<rest>.*))?$"
_REL = "|".join(RELATIVE_DAYS)
_FORMS = (
    re.compile(rf"^(?P<y>\d{{4}})-(?P<m>\d{{1,2}})-(?P<d>\d{{1,2}})\s+{_TIME}{_REST}", re.S),
    re.compile(rf"^(?P<y>\d{{4}})/(?P<m>\d{{1,2}})/(?P<d>\d{{1,2}})\s+{_TIME}{_REST}", re.S),
    re.compile(
        rf"^(?P<y>\d{{4}}){_Y}(?P<m>\d{{1,2}}){_M}(?P<d>\d{{1,2}}){_D}\s*{_TIME}{_REST}", re.S
    ),
    re.compile(rf"^(?P<m>\d{{1,2}}){_M}(?P<d>\d{{1,2}}){_D}\s*{_TIME}{_REST}", re.S),
    re.compile(rf"^(?P<rel>{_REL})\s*{_TIME}{_REST}", re.S),
)


class SessionTimeError(ValueError):
    """Why a start time was refused: kind is format | date | time | past | too_far."""

    def __init__(self, kind: str, text: str, when: datetime | None = None) -> None:
        super().__init__(f"{kind}: {text}")
        self.kind = kind
        self.text = text
        self.when = when


@dataclass(frozen=True, slots=True)
class ParsedStart:
    """The start in the chat's zone, and whatever followed it (the topic, maybe empty)."""

    starts_at: datetime
    rest: str


def parse_start(text: str, now: datetime, zone: ZoneInfo) -> ParsedStart:
    """Parse ``text`` (a date and time, then an optional topic) relative to ``now``."""
    original = text.strip()
    normalized = original.translate(_WIDTH)
    local_now = now.astimezone(zone)
    for form in _FORMS:
        match = form.match(normalized)
        if match is None:
            continue
        fields = match.groupdict()
        head = original[: match.start("rest")] if fields.get("rest") is not None else original
        head = head.strip()
        if fields.get("rel") is not None:
            day = local_now.date() + timedelta(days=RELATIVE_DAYS[fields["rel"]])
        else:
            year = int(fields["y"]) if fields.get("y") else local_now.year
            try:
                if not MIN_YEAR <= year <= MAX_YEAR:
                    raise ValueError("year out of range")
                day = date(year, int(fields["m"]), int(fields["d"]))
            except ValueError:
                raise SessionTimeError("date", head) from None
        hour, minute = int(fields["hh"]), int(fields["mm"])
        if hour > 23 or minute > 59:
            raise SessionTimeError("time", head)
        starts_at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if starts_at <= local_now:
            raise SessionTimeError("past", head, starts_at)
        if starts_at - local_now > MAX_AHEAD:
            raise SessionTimeError("too_far", head, starts_at)
        rest = original[match.start("rest") :] if fields.get("rest") is not None else ""
        return ParsedStart(starts_at, " ".join(rest.split()))
    raise SessionTimeError("format", original)
