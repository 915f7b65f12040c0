"""The shared objects of a running bot, created in ``build_application`` and reached via ``get``."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.calendar import WorkCalendar
from bot.clock import Clock
from bot.config import Config
from bot.content.loader import Content
from bot.db import Database
from bot.permissions import Permissions
from bot.scheduling import Scheduler
from bot.texts import DEFAULT_LOCALE, Html, Texts, locale_for

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.db.models import Chat
    from bot.outbox_worker import OutboxWorker
    from bot.sender import Sender

SERVICES_KEY = "firmbot.services"

# Run when a group is registered or comes back: features derive their schedules here.
ChatHook = Callable[["AsyncSession", "Chat"], Awaitable[None]]


class UpdateTracker:
    """Counts handled updates (metrics) and lets tests wait until one is handled."""

    def __init__(self) -> None:
        self.handled = 0
        self.last_update_id = -1
        self._done: collections.deque[int] = collections.deque(maxlen=10_000)
        self._cond = asyncio.Condition()

    async def mark(self, update_id: int) -> None:
        async with self._cond:
            self.handled += 1
            self.last_update_id = max(self.last_update_id, update_id)
            self._done.append(update_id)
            self._cond.notify_all()

    async def wait_through(self, update_id: int, timeout: float = 10.0) -> None:
        """Until every update up to ``update_id`` has been handled."""
        async with asyncio.timeout(timeout), self._cond:
            await self._cond.wait_for(lambda: self.last_update_id >= update_id)

    async def wait(self, update_id: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout), self._cond:
            await self._cond.wait_for(lambda: update_id in self._done)


@dataclass
class Services:
    config: Config
    db: Database
    clock: Clock
    texts: Texts
    content: Content
    calendar: WorkCalendar
    scheduler: Scheduler
    permissions: Permissions
    sender: Sender
    outbox: OutboxWorker
    tracker: UpdateTracker = field(default_factory=UpdateTracker)
    bot_username: str = ""
    chat_hooks: list[ChatHook] = field(default_factory=list)
    # Feature modules keep their long-lived helpers here (e.g. debouncers), by name.
    extras: dict[str, Any] = field(default_factory=dict)

    def t(self, key: str, locale: str = DEFAULT_LOCALE, /, **values: object) -> Html:
        return self.texts.t(key, locale, **values)

    def user_locale(
        self, language_code: str | None, chat_settings: Mapping[str, Any] | None = None
    ) -> str:
        """A user's reading language: English speakers get English, others the chat's."""
        default = str((chat_settings or {}).get("locale") or self.config.locale)
        return locale_for(language_code, default)


def get(bot_data: Mapping[str, Any]) -> Services:
    """The one typed accessor: ``services.get(context.bot_data)``."""
    value = bot_data[SERVICES_KEY]
    assert isinstance(value, Services)
    return value
