"""The shared objects of a running bot, created in ``build_application`` and reached via ``get``."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
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

    from bot.chats import SettingsCache
    from bot.db.models import Chat
    from bot.outbox_worker import OutboxWorker
    from bot.seen import SeenRecorder
    from bot.sender import Sender

logger = logging.getLogger(__name__)

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
    # Users and members kept fresh (handlers/core.py track_seen).
    seen: SeenRecorder
    # Chats' effective settings, read by nearly every update (handlers/common.py).
    settings: SettingsCache
    tracker: UpdateTracker = field(default_factory=UpdateTracker)
    bot_username: str = ""
    chat_hooks: list[ChatHook] = field(default_factory=list)
    # Feature modules keep their long-lived helpers here (e.g. debouncers), by name.
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def hooks_version(self) -> str:
        """Names the set of chat hooks; a chat synced with another set is synced again."""
        names = ",".join(f"{h.__module__}.{h.__qualname__}" for h in self.chat_hooks)
        return hashlib.sha1(names.encode(), usedforsecurity=False).hexdigest()[:16]

    async def run_chat_hooks(self, session: AsyncSession, chat: Chat) -> None:
        """Let every feature (re)derive the chat's schedules from its settings."""
        for hook in self.chat_hooks:
            await hook(session, chat)
        chat.hooks_version = self.hooks_version

    async def sync_chat_hooks(self, batch: int = 200) -> int:
        """Run the hooks for active groups synced with another set of hooks (or never).

        A group registered before a feature shipped thus gets that feature's schedules;
        after the first start with a new feature, this finds nothing to do.
        """
        from sqlalchemy import or_, select
        from sqlalchemy.exc import IntegrityError

        from bot.chats import GROUP_TYPES
        from bot.db.models import Chat

        version = self.hooks_version
        done = 0
        skipped: set[int] = set()
        while True:
            query = (
                select(Chat.id)
                .where(
                    Chat.active.is_(True),
                    Chat.type.in_(GROUP_TYPES),
                    or_(Chat.hooks_version.is_(None), Chat.hooks_version != version),
                )
                .order_by(Chat.id)
                .limit(batch)
            )
            if skipped:
                query = query.where(Chat.id.not_in(skipped))
            async with self.db.session() as session:
                ids = (await session.scalars(query)).all()
            if not ids:
                return done
            for chat_id in ids:
                try:
                    async with self.db.session() as session:
                        chat = await session.get(Chat, chat_id)
                        if chat is not None:
                            await self.run_chat_hooks(session, chat)
                            done += 1
                except IntegrityError:
                    # Another process synced this chat at the same moment.
                    skipped.add(chat_id)
                except Exception:
                    logger.exception("could not derive the schedules of chat %s", chat_id)
                    skipped.add(chat_id)

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
