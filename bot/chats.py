"""Chats, users and members: registration, activity, settings and group upgrades."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.config import Config
from bot.db import Database
from bot.db.models import Base, Chat, Member, User
from bot.db.models.core import display_name

logger = logging.getLogger(__name__)

GROUP_TYPES = frozenset({"group", "supergroup"})
# Member statuses of people no longer in the group.
ABSENT = ("left", "kicked")


@dataclass(frozen=True, slots=True)
class UserInfo:
    """The plain facts about a Telegram user a handler passes to services."""

    id: int
    first_name: str
    username: str | None = None
    last_name: str | None = None
    language_code: str | None = None
    is_bot: bool = False


@dataclass(frozen=True, slots=True)
class ChatInfo:
    id: int
    type: str
    title: str | None = None
    username: str | None = None

    @property
    def is_group(self) -> bool:
        return self.type in GROUP_TYPES


async def upsert_chat(session: AsyncSession, info: ChatInfo, now: datetime) -> tuple[Chat, bool]:
    """Create or refresh a chat row; returns (chat, created)."""
    chat = await session.get(Chat, info.id)
    created = chat is None
    if chat is None:
        chat = Chat(id=info.id, type=info.type, settings={}, active=True, created_at=now)
        session.add(chat)
    chat.type = info.type
    if info.title is not None:
        chat.title = info.title
    if info.username is not None:
        chat.username = info.username
    chat.updated_at = now
    await session.flush()
    return chat, created


async def set_active(
    session: AsyncSession, chat_id: int, active: bool, now: datetime
) -> Chat | None:
    chat = await session.get(Chat, chat_id)
    if chat is None:
        return None
    if chat.active != active:
        logger.info("chat %s is now %s", chat_id, "active" if active else "inactive")
    chat.active = active
    chat.deactivated_at = None if active else now
    chat.updated_at = now
    return chat


async def upsert_user(session: AsyncSession, info: UserInfo, now: datetime) -> User:
    user = await session.get(User, info.id)
    if user is None:
        user = User(id=info.id, created_at=now)
        session.add(user)
    user.first_name = info.first_name or ""
    user.last_name = info.last_name
    user.username = info.username
    if info.language_code:
        user.language_code = info.language_code
    user.last_seen_at = now
    await session.flush()
    return user


async def seen(
    session: AsyncSession,
    user: UserInfo,
    chat: ChatInfo | None,
    now: datetime,
    *,
    status: str | None = None,
) -> bool:
    """Record that a user spoke (or was seen) in a chat; keeps users and members fresh.

    False when nothing could be recorded for the chat (a group not registered yet).
    """
    row = await upsert_user(session, user, now)
    if chat is None:
        return True
    if chat.type == "private":
        row.private_chat_open = True
        return True
    if chat.is_group:
        if await session.get(Chat, chat.id) is None:
            # Only registered groups (the bot was added, or /start) keep members.
            return False
        member = await session.get(Member, (chat.id, user.id))
        if member is None:
            member = Member(
                chat_id=chat.id, user_id=user.id, joined_at=now, status=status or "member"
            )
            session.add(member)
        elif status is not None:
            member.status = status
        elif member.status in ("left", "kicked"):
            member.status = "member"
        member.last_seen_at = now
        await session.flush()
    return True


async def members_of(session: AsyncSession, chat_id: int) -> dict[int, str]:
    """The group's known members still in it: user id -> display name, earliest first."""
    rows = await session.execute(
        select(User.id, User.first_name, User.last_name, User.username)
        .join(Member, Member.user_id == User.id)
        .where(Member.chat_id == chat_id, Member.status.not_in(ABSENT))
        .order_by(Member.joined_at, User.id)
    )
    return {
        int(uid): display_name(first, last, username, int(uid))
        for uid, first, last, username in rows
    }


async def set_member_status(
    session: AsyncSession, chat_id: int, user: UserInfo, status: str, now: datetime
) -> None:
    await upsert_user(session, user, now)
    member = await session.get(Member, (chat_id, user.id))
    if member is None:
        if await session.get(Chat, chat_id) is None:
            return
        session.add(Member(chat_id=chat_id, user_id=user.id, status=status, joined_at=now))
    else:
        member.status = status
    await session.flush()


def chat_id_columns() -> list[tuple[str, str]]:
    """(table, column) for every column that holds a chat id, found from the models.

    Feature tables are covered as soon as they are imported into ``bot.db.models``:
    any column named ``chat_id`` counts.
    """
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if column.name == "chat_id":
                found.append((table.name, column.name))
    return found


async def migrate_chat(session: AsyncSession, old_id: int, new_id: int, now: datetime) -> bool:
    """Move a group that became a supergroup: every stored row follows the new id.

    Returns False if the old chat is unknown or the move was done already.
    """
    if old_id == new_id:
        return False
    old = await session.get(Chat, old_id)
    if old is None:
        return False
    existing_new = await session.get(Chat, new_id)
    if existing_new is None:
        session.add(
            Chat(
                id=new_id,
                type="supergroup",
                title=old.title,
                username=old.username,
                locale=old.locale,
                timezone=old.timezone,
                active=old.active,
                bot_is_admin=old.bot_is_admin,
                settings=dict(old.settings or {}),
                created_at=old.created_at,
                updated_at=now,
            )
        )
    else:
        # The new chat may have been registered first (its first update came first);
        # the old chat's settings are the ones admins configured.
        existing_new.settings = {**(old.settings or {}), **(existing_new.settings or {})}
        existing_new.locale = existing_new.locale or old.locale
        existing_new.timezone = existing_new.timezone or old.timezone
        existing_new.title = existing_new.title or old.title
    await session.flush()
    tables = Base.metadata.tables
    for table_name, column in chat_id_columns():
        table = tables[table_name]
        if table_name == "members" and existing_new is not None:
            # Members seen in both: keep the new chat's rows, move the rest.
            already = select(table.c.user_id).where(table.c.chat_id == new_id)
            await session.execute(
                table.delete().where(table.c.chat_id == old_id, table.c.user_id.in_(already))
            )
        await session.execute(
            update(table).where(table.c[column] == old_id).values({column: new_id})
        )
    await session.delete(old)
    await session.flush()
    logger.info("chat %s was upgraded to %s; its rows moved", old_id, new_id)
    return True


async def migrate_chat_retrying(db: Database, old_id: int, new_id: int, now: datetime) -> bool:
    """``migrate_chat`` in its own transaction, safe when two paths race to do it.

    Both the migrate_to message in the old chat and the migrate_from message in the new
    one (and a send that hit ChatMigrated) trigger a move; whoever loses the race to
    insert the new chat simply finds the move done on its next attempt.
    """
    for attempt in range(3):
        try:
            async with db.session() as session:
                return await migrate_chat(session, old_id, new_id, now)
        except IntegrityError:
            if attempt == 2:
                raise
    return False


def effective_settings(chat: Chat | None, config: Config) -> dict[str, Any]:
    """The chat's settings with the config's defaults filled in, keyed like "study.time"."""
    values: dict[str, Any] = {
        "locale": config.locale,
        "timezone": config.timezone,
        "notices.auto": config.notices_auto,
        "study.enabled": config.study.enabled,
        "study.time": config.study.time,
        "study.days": config.study.days,
        "study.session_minutes": config.study.session_minutes,
        "quiz.enabled": config.quiz.enabled,
        "quiz.time": config.quiz.time,
        "quiz.days": config.quiz.days,
        "quiz.questions": config.quiz.questions,
        "quiz.open_minutes": config.quiz.open_minutes,
        "ledger.reminder_offsets_days": list(config.ledger.reminder_offsets_days),
        "ledger.reminder_time": config.ledger.reminder_time,
        "ledger.escalate_after_days": config.ledger.escalate_after_days,
        "reports.weekly": config.reports.weekly,
        "reports.day": config.reports.day,
        "reports.time": config.reports.time,
        "reports.to": config.reports.to,
    }
    if chat is not None:
        values.update(chat.settings or {})
        if chat.locale:
            values["locale"] = chat.locale
        if chat.timezone:
            values["timezone"] = chat.timezone
    return values


async def active_groups(session: AsyncSession) -> list[Chat]:
    rows = await session.scalars(
        select(Chat).where(Chat.active.is_(True), Chat.type.in_(GROUP_TYPES)).order_by(Chat.id)
    )
    return list(rows.all())


async def find_user_by_username(session: AsyncSession, username: str) -> User | None:
    name = username.lstrip("@")
    rows = await session.scalars(
        select(User).where(func.lower(User.username) == name.lower()).limit(1)
    )
    return rows.first()


class SettingsCache:
    """Each chat's effective settings as handlers read them (language, time zone ...).

    Nearly every update needs its chat's settings; reading the chat row each time cost
    a database round trip per update (bench/updates). A commit in this process that
    wrote a chat drops that chat's entry at once (``watch``); ``ttl`` only bounds how
    long a change made by another process (several bots on one PostgreSQL) takes to
    show here.
    """

    def __init__(
        self,
        config: Config,
        db: Database,
        ttl: float = 10.0,
        size: int = 50_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.db = db
        self.monotonic = monotonic
        self.ttl = ttl
        self.size = size
        self._entries: dict[int, tuple[dict[str, Any], float]] = {}
        # Counts drops: a read that a drop overtook is used once but not kept.
        self._drops = 0
        self._watch()

    def _watch(self) -> None:
        """Drop a chat's entry whenever a session of the database commits a change to it."""
        key = "firmbot.chats_written"

        def after_flush(session: Session, _context: Any) -> None:
            for obj in (*session.new, *session.dirty, *session.deleted):
                if isinstance(obj, Chat):
                    session.info.setdefault(key, set()).add(obj.id)

        def after_commit(session: Session) -> None:
            for chat_id in session.info.pop(key, ()):
                self.drop(chat_id)

        def after_rollback(session: Session) -> None:
            session.info.pop(key, None)

        self.db.listen("after_flush", after_flush)
        self.db.listen("after_commit", after_commit)
        self.db.listen("after_soft_rollback", lambda session, _previous: after_rollback(session))

    async def get(self, chat_id: int) -> dict[str, Any]:
        """A copy of the chat's settings (the config's defaults for an unknown chat)."""
        now = self.monotonic()
        entry = self._entries.get(chat_id)
        if entry is None or now - entry[1] >= self.ttl:
            drops = self._drops
            async with self.db.read() as session:
                values = effective_settings(await session.get(Chat, chat_id), self.config)
            if drops != self._drops:
                return values
            if len(self._entries) >= self.size:
                self._entries.clear()
            entry = self._entries[chat_id] = (values, now)
        return dict(entry[0])

    def drop(self, chat_id: int) -> None:
        self._drops += 1
        self._entries.pop(chat_id, None)
