"""What each update no longer writes or reads, and what it still must (bot/seen.py, SettingsCache).

Members and users stay fresh without a write per update: new members, changed names and
members coming back are written before the update's handlers run; a later "last seen"
waits for the next batch. Chat settings are read once and dropped when this process
changes the chat; a change made by another process shows after the cache's ttl.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event

from bot.clock import FakeClock
from bot.db import Database
from bot.db.models import Chat, Member, User
from bot.sandbox.driver import BotHarness, GroupChat
from bot.sandbox.emulator import EmuUser


class Ticker:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticker(harness: BotHarness) -> Ticker:
    tick = Ticker()
    harness.services.seen.monotonic = tick
    harness.services.settings.monotonic = tick
    return tick


class Writes:
    """INSERT/UPDATE statements on users and members while it is open."""

    def __init__(self, db: Database) -> None:
        self.statements: list[str] = []
        self.engine = db.engine.sync_engine

    def __enter__(self) -> Writes:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: object, cursor: object, statement: str, *args: object) -> None:
        head = " ".join(statement.split()[:3]).lower()
        if head.startswith(("insert into users", "update users", "insert into members")) or (
            head.startswith("update members")
        ):
            self.statements.append(head)


async def last_seen(harness: BotHarness, chat_id: int, user_id: int) -> datetime | None:
    async with harness.services.db.session() as session:
        member = await session.get(Member, (chat_id, user_id))
        return member.last_seen_at if member else None


async def test_a_busy_member_is_written_once_then_in_batches(
    harness: BotHarness, firm: GroupChat, clock: FakeClock, ticker: Ticker
) -> None:
    seen = harness.services.seen
    lisi = firm.members["李四"]
    await firm.say("李四", "早上好")
    first = await last_seen(harness, firm.id, lisi.id)
    assert first is not None
    with Writes(harness.services.db) as writes:
        for n in range(5):
            clock.advance(timedelta(seconds=10))
            await firm.say("李四", f"第{n}条")
    assert writes.statements == []  # a known member, seen a moment ago: nothing written

    ticker.now += seen.ttl + 1
    clock.advance(timedelta(minutes=6))
    with Writes(harness.services.db) as writes:
        await firm.say("李四", "下午好")
        assert writes.statements == []  # due for a refresh, but it waits for the batch
        await seen.flush()
    assert sorted(writes.statements) == ["update members set", "update users set"]
    refreshed = await last_seen(harness, firm.id, lisi.id)
    assert refreshed is not None and refreshed > first


async def test_new_members_renamed_users_and_returning_members_are_written_at_once(
    harness: BotHarness, firm: GroupChat, ticker: Ticker
) -> None:
    emulator = harness.emulator
    await firm.say("李四", "在")
    newcomer = emulator.create_user("赵六")
    firm.members["赵六"] = newcomer
    with Writes(harness.services.db) as writes:
        await firm.say("赵六", "大家好，我是新来的")
    assert "insert into members" in writes.statements
    assert await last_seen(harness, firm.id, newcomer.id) is not None

    lisi = firm.members["李四"]
    renamed = dataclasses.replace(lisi, username="lisi_lawyer")
    firm.members["李四"] = renamed
    await firm.say("李四", "换了用户名")
    async with harness.services.db.session() as session:
        user = await session.get(User, lisi.id)
    assert user is not None and user.username == "lisi_lawyer"

    async with harness.services.db.session() as session:
        member = await session.get(Member, (firm.id, newcomer.id))
        assert member is not None
        member.status = "left"
    harness.services.seen.forget(firm.id, newcomer.id)
    await firm.say("赵六", "我又回来了")
    async with harness.services.db.session() as session:
        member = await session.get(Member, (firm.id, newcomer.id))
    assert member is not None and member.status == "member"


async def test_a_restart_reads_the_group_instead_of_writing_every_member(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    for name in ("张三", "李四", "王律师"):
        await firm.say(name, "在")
    await harness.restart()
    clock.advance(timedelta(minutes=1))
    with Writes(harness.services.db) as writes:
        for name in ("张三", "李四", "王律师"):
            await firm.say(name, "重启后")
    assert writes.statements == []


async def vote(harness: BotHarness, user: EmuUser) -> None:
    """A poll answer: an update without a chat (the poll need not exist for this)."""
    update = harness.emulator.inject_update(
        {
            "poll_answer": {
                "poll_id": "a-poll-of-yesterday",
                "user": user.to_dict(),
                "option_ids": [0],
                "option_persistent_ids": ["0"],
            }
        }
    )
    await harness.handled(update)


async def test_a_vote_after_a_restart_refreshes_the_stored_user_in_one_statement(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    await firm.say("李四", "在")
    await harness.restart()
    clock.advance(timedelta(minutes=1))
    lisi = firm.members["李四"]
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(" ".join(statement.split()[:2]).lower())

    engine = harness.services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        await vote(harness, lisi)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # One statement for the user, which is not read first (other statements: the poll,
    # unknown here, and whatever the restarted bot's background work reads).
    users = [s for s in statements if s.split()[1].startswith("users")]
    assert users == ["update users"], statements
    async with harness.services.db.session() as session:
        user = await session.get(User, lisi.id)
    assert user is not None and user.last_seen_at == clock.now()

    # A changed name is written at once, on the next vote too.
    renamed = dataclasses.replace(lisi, first_name="李四律师")
    await vote(harness, renamed)
    async with harness.services.db.session() as session:
        user = await session.get(User, lisi.id)
    assert user is not None and user.first_name == "李四律师"


async def test_pending_last_seen_times_are_written_at_shutdown(
    harness: BotHarness, firm: GroupChat, clock: FakeClock, ticker: Ticker
) -> None:
    seen = harness.services.seen
    lisi = firm.members["李四"]
    await firm.say("李四", "上午")
    before = await last_seen(harness, firm.id, lisi.id)
    ticker.now += seen.ttl + 1
    clock.advance(timedelta(minutes=6))
    await firm.say("李四", "傍晚")
    await harness.restart()  # stops the application: pending refreshes are written
    after = await last_seen(harness, firm.id, lisi.id)
    assert before is not None and after == before + timedelta(minutes=6)


async def test_settings_follow_a_change_here_at_once_and_another_process_after_the_ttl(
    harness: BotHarness, firm: GroupChat, database_url: str, ticker: Ticker
) -> None:
    await firm.say("王律师", "/set language en")
    await firm.say("李四", "/help")
    assert "可用命令" not in firm.last().text  # English now

    # Another process changes the chat back: this one keeps its copy for the ttl.
    other = Database(harness.services.config.database)
    try:
        async with other.session() as session:
            chat = await session.get(Chat, firm.id)
            assert chat is not None
            chat.locale = "zh_CN"
    finally:
        await other.dispose()
    await firm.say("李四", "/help")
    assert "可用命令" not in firm.last().text
    ticker.now += harness.services.settings.ttl + 1
    await firm.say("李四", "/help")
    assert "可用命令" in firm.last().text


async def test_a_member_gone_before_the_batch_does_not_cost_the_others_their_times(
    harness: BotHarness, firm: GroupChat, clock: FakeClock, ticker: Ticker
) -> None:
    seen = harness.services.seen
    lisi, wang = firm.members["李四"], firm.members["王律师"]
    await firm.say("李四", "上午")
    await firm.say("王律师", "上午")
    ticker.now += seen.ttl + 1
    clock.advance(timedelta(minutes=6))
    await firm.say("李四", "下午")
    await firm.say("王律师", "下午")
    async with harness.services.db.session() as session:  # removed meanwhile
        member = await session.get(Member, (firm.id, lisi.id))
        assert member is not None
        await session.delete(member)
    before = await last_seen(harness, firm.id, wang.id)
    await seen.flush()
    after = await last_seen(harness, firm.id, wang.id)
    assert before is not None and after == before + timedelta(minutes=6)
    assert await last_seen(harness, firm.id, lisi.id) is None
