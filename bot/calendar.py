"""China's official working-day calendar, with config overrides for years not yet published."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date

import chinese_calendar

logger = logging.getLogger(__name__)


class WorkCalendar:
    """``is_workday`` by the State Council's calendar, including adjusted working weekends."""

    def __init__(
        self, extra_holidays: Iterable[str] = (), extra_workdays: Iterable[str] = ()
    ) -> None:
        self.extra_holidays = frozenset(date.fromisoformat(d) for d in extra_holidays)
        self.extra_workdays = frozenset(date.fromisoformat(d) for d in extra_workdays)
        self._warned: set[int] = set()

    def is_workday(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            # The package ships each year's calendar once the State Council publishes it.
            if day.year not in self._warned:
                self._warned.add(day.year)
                logger.warning(
                    "no official calendar for %s yet: using Monday to Friday "
                    "(add scheduling.extra_holidays / extra_workdays to the config)",
                    day.year,
                )
            return day.weekday() < 5
