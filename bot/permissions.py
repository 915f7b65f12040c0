"""Who may run admin actions. Every admin action asks ``Permissions.is_admin``.

Admin in a chat = a Telegram administrator or creator of it (asked of Telegram,
cached a few minutes and refreshed by chat_member updates), an anonymous admin
posting as the group itself, or a user listed in the config's ``admins`` (bot-wide).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

ADMIN_STATUSES = frozenset({"creator", "administrator"})
# Telegram's helper account that anonymous group admins post through.
GROUP_ANONYMOUS_BOT_ID = 1087968824

StatusFetcher = Callable[[int, int], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something, as far as permissions care."""

    user_id: int | None
    chat_id: int
    # Set when the message was sent on behalf of a chat (anonymous admin, linked channel).
    sender_chat_id: int | None = None

    @property
    def is_anonymous_admin(self) -> bool:
        return self.sender_chat_id is not None and self.sender_chat_id == self.chat_id


class Permissions:
    """The single admin check, with a short-lived cache of Telegram's answers."""

    def __init__(self, bot_admins: Iterable[int], ttl_seconds: float = 300.0) -> None:
        self.bot_admins = frozenset(bot_admins)
        self.ttl = ttl_seconds
        self._cache: dict[tuple[int, int], tuple[str | None, float]] = {}

    def is_bot_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.bot_admins

    def note_status(self, chat_id: int, user_id: int, status: str | None) -> None:
        """Record what a chat_member update told us; fresher than any cache entry."""
        self._cache[(chat_id, user_id)] = (status, time.monotonic() + self.ttl)

    def forget_chat(self, chat_id: int) -> None:
        for key in [k for k in self._cache if k[0] == chat_id]:
            del self._cache[key]

    async def chat_status(self, chat_id: int, user_id: int, fetch: StatusFetcher) -> str | None:
        cached = self._cache.get((chat_id, user_id))
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        status = await fetch(chat_id, user_id)
        self._cache[(chat_id, user_id)] = (status, now + self.ttl)
        return status

    async def is_admin(self, actor: Actor, fetch: StatusFetcher) -> bool:
        """May this actor run admin actions in ``actor.chat_id``?"""
        if self.is_bot_admin(actor.user_id):
            return True
        if actor.is_anonymous_admin:
            return True
        if actor.user_id is None or actor.user_id == GROUP_ANONYMOUS_BOT_ID:
            return False
        if actor.chat_id == actor.user_id:
            # A private chat: only bot-wide admins administer from there.
            return False
        return await self.chat_status(actor.chat_id, actor.user_id, fetch) in ADMIN_STATUSES
