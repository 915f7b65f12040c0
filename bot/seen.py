"""Who was seen where: users and members kept fresh without a write on every update.

Every update refreshes its user (names, username, last seen) and, in a registered
group, the member (status, last seen). Writing that on each update cost as much CPU
as PTB's whole handling of the update (bench/updates), so ``SeenRecorder`` splits it:

- written at once, before the update's handlers run: what they or the next update may
  read — a user or member the database does not have yet, a member who had left, a
  changed name or username, a private chat opened;
- written later, together: a later ``last_seen_at`` for a pair already recorded, at
  most once per pair per ``ttl``, every ``flush_seconds``. A crash loses at most those
  seconds of "last seen"; nothing else waits.

The members of a group (and their users) are read once per process, on the group's
first update, so a restart does not write every member again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import chats
from bot.chats import GROUP_TYPES, ChatInfo, UserInfo
from bot.db import Database
from bot.db.models import Member, User

logger = logging.getLogger(__name__)

# Core statements, run with many parameter sets: a row gone meanwhile (a group upgraded,
# a chat deleted) simply matches nothing, where the ORM's bulk update would fail the batch.
_users_table = cast(Table, User.__table__)
_members_table = cast(Table, Member.__table__)
_USER_SEEN = (
    update(_users_table)
    .where(_users_table.c.id == bindparam("uid"))
    .values(last_seen_at=bindparam("at"))
)
# A user first seen by this process without a chat (a poll answer): one statement, which
# matches only if the stored profile is the one the update carries (the usual case after
# a restart); otherwise the ORM path writes the new profile.
_USER_SEEN_IF_SAME = (
    update(_users_table)
    .where(
        _users_table.c.id == bindparam("uid"),
        _users_table.c.first_name == bindparam("first"),
        _users_table.c.username.is_not_distinct_from(bindparam("uname")),
        _users_table.c.last_name.is_not_distinct_from(bindparam("last")),
        _users_table.c.language_code.is_not_distinct_from(bindparam("language")),
    )
    .values(last_seen_at=bindparam("at"))
)
_MEMBER_SEEN = (
    update(_members_table)
    .where(
        _members_table.c.chat_id == bindparam("cid"), _members_table.c.user_id == bindparam("uid")
    )
    .values(last_seen_at=bindparam("at"))
)


class SeenRecorder:
    def __init__(
        self,
        db: Database,
        *,
        ttl: float = 300.0,
        flush_seconds: float = 2.0,
        size: int = 200_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.monotonic = monotonic
        self.ttl = ttl
        self.flush_seconds = flush_seconds
        self.size = size
        # (chat id or 0, user id) -> (the profile as stored, monotonic time of the last
        # last_seen_at written for it); chat 0 stands for updates without a chat.
        self._known: dict[tuple[int, int], tuple[UserInfo, float]] = {}
        # Users as stored, from the groups read (a poll answer has no chat).
        self._users: dict[int, UserInfo] = {}
        self._groups_read: set[int] = set()
        self._pending_users: dict[int, datetime] = {}
        self._pending_members: dict[tuple[int, int], datetime] = {}
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, user: UserInfo, chat: ChatInfo | None, now: datetime) -> bool:
        """Note that ``user`` acted in ``chat``; False for a group that is not registered."""
        group = chat is not None and chat.type in GROUP_TYPES
        if chat is not None and group and chat.id not in self._groups_read:
            await self._read_group(chat.id, now)
        key = (chat.id if chat is not None else 0, user.id)
        mono = self.monotonic()
        entry = self._known.get(key)
        if entry is None and chat is None and self._users.get(user.id) == user:
            entry = (user, mono - self.ttl)  # a member of a group read: the user is stored
        if entry is not None and entry[0] == user:
            if mono - entry[1] >= self.ttl:
                self._known[key] = (user, mono)
                self._later(user.id, chat.id if group and chat is not None else None, now)
            return True
        async with self.db.session() as session:
            if chat is None and await _touched(session, user, now):
                recorded = True
            else:
                recorded = await chats.seen(session, user, chat, now)
        if recorded:
            self._remember(key, user, mono)
        return recorded

    def forget(self, chat_id: int, user_id: int) -> None:
        """A membership changed elsewhere: the pair's next update is written at once."""
        self._known.pop((chat_id, user_id), None)

    async def flush(self) -> None:
        """Write the collected ``last_seen_at`` refreshes now."""
        users, members = self._pending_users, self._pending_members
        self._pending_users, self._pending_members = {}, {}
        if not users and not members:
            return
        try:
            async with self.db.session() as session:
                if users:
                    await session.execute(
                        _USER_SEEN, [{"uid": uid, "at": at} for uid, at in users.items()]
                    )
                if members:
                    await session.execute(
                        _MEMBER_SEEN,
                        [
                            {"cid": chat_id, "uid": uid, "at": at}
                            for (chat_id, uid), at in members.items()
                        ],
                    )
        except Exception:
            # Only "last seen" times are lost; the next refresh writes them again.
            logger.exception("could not write %d last-seen times", len(users) + len(members))

    async def close(self) -> None:
        """Stop the timer and write what is pending (at shutdown)."""
        task, self._flusher = self._flusher, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()

    # --- inside ---

    def _remember(self, key: tuple[int, int], user: UserInfo, mono: float) -> None:
        if len(self._known) >= self.size:
            self._known.clear()
            self._users.clear()
            self._groups_read.clear()
        self._known[key] = (user, mono)
        self._users[user.id] = user

    def _later(self, user_id: int, chat_id: int | None, now: datetime) -> None:
        self._pending_users[user_id] = now
        if chat_id is not None:
            self._pending_members[(chat_id, user_id)] = now
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon(), name="seen-flush")

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.flush_seconds)
        await self.flush()

    async def _read_group(self, chat_id: int, now: datetime) -> None:
        """The group's present members with their stored profiles, in one query."""
        async with self.db.read() as session:
            rows = await session.execute(
                select(
                    Member.user_id,
                    Member.status,
                    Member.last_seen_at,
                    User.first_name,
                    User.username,
                    User.last_name,
                    User.language_code,
                )
                .join(User, User.id == Member.user_id)
                .where(Member.chat_id == chat_id)
            )
            found = rows.all()
        mono = self.monotonic()
        for user_id, status, last_seen, first, username, last, language in found:
            info = UserInfo(user_id, first or "", username, last, language)
            self._users[user_id] = info
            if status in chats.ABSENT:
                continue  # speaking again makes them a member: written at once
            age = (now - last_seen).total_seconds() if last_seen is not None else self.ttl
            self._known[(chat_id, user_id)] = (info, mono - min(max(age, 0.0), self.ttl))
        self._groups_read.add(chat_id)


async def _touched(session: AsyncSession, user: UserInfo, now: datetime) -> bool:
    """``last_seen_at`` refreshed for a stored user whose profile is unchanged."""
    result = await session.execute(
        _USER_SEEN_IF_SAME,
        {
            "uid": user.id,
            "first": user.first_name or "",
            "uname": user.username,
            "last": user.last_name,
            "language": user.language_code,
            "at": now,
        },
    )
    return bool(getattr(result, "rowcount", 0))
