"""Broadcast reliability: flood limits, removed bots, upgraded groups (emulator, both DBs)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot import outbox
from bot.config import Config
from bot.db import Database
from bot.db.models import Chat, OutboxMessage
from bot.notices import delivery, store
from bot.sandbox.driver import BotHarness, GroupChat, make_group
from bot.sandbox.emulator import Emulator
from bot.texts import Texts

ROOT = Path(__file__).resolve().parents[2]
SEED = (ROOT / "content" / "notices" / "000_62420782f47914ad.txt").read_bytes()
TONGBAO = (ROOT / "tests" / "data" / "notices" / "tongbao.txt").read_bytes()
TITLE = "关于深入学习贯彻司法部党组“做党和人民满意的好律师”座谈会精神的通知"


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"sender": {"global_per_second": 300}}


async def many_groups(emulator: Emulator, db: Database, count: int, now: datetime) -> list[int]:
    """``count`` groups with the bot as admin, registered as if each had added the bot
    (the greetings of a few hundred groups would only slow the test down)."""
    ids: list[int] = []
    async with db.session() as session:
        for n in range(count):
            chat = emulator.create_group(f"第{n + 1}律师事务所")
            emulator.set_member(chat.id, emulator.bot_user, "administrator")
            session.add(
                Chat(
                    id=chat.id,
                    type="group",
                    title=chat.title,
                    active=True,
                    bot_is_admin=True,
                    settings={},
                    created_at=now,
                    updated_at=now,
                )
            )
            ids.append(chat.id)
    return ids


async def import_notice(
    db: Database, texts: Texts, config: Config, data: bytes, now: datetime, *, auto: bool = True
) -> int:
    """What `firmbot notice import` does; returns the notice's number."""
    async with db.session() as session:
        result, _ = await delivery.import_and_queue(
            session,
            store.read_notice(data),
            texts=texts,
            config=config,
            now=now,
            source="test",
            imported_by="test",
            auto=auto,
        )
        return result.notice.id


def notice_copies(emulator: Emulator, chat_id: int, title: str = TITLE) -> int:
    return sum(1 for m in emulator.messages(chat_id) if m.text.startswith(title))


async def outbox_rows(db: Database, notice_id: int) -> Sequence[OutboxMessage]:
    async with db.session() as session:
        return await outbox.rows_for(session, delivery.KIND, str(notice_id))


async def wait_delivered(db: Database, notice_id: int, timeout: float = 30.0) -> None:
    """Until no row of the broadcast is pending or in flight (the bot's worker delivers)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with db.session() as session:
            state = await delivery.broadcast_state(session, notice_id)
        if state.finished:
            return
        assert loop.time() < deadline, f"broadcast not finished: {state}"
        await asyncio.sleep(0.05)


async def test_with_a_429_every_50_sends_all_arrive_and_none_twice(
    harness: BotHarness, emulator: Emulator
) -> None:
    s = harness.services
    groups = await many_groups(emulator, s.db, 160, s.clock.now())
    emulator.rate_limit_every(50)

    number = await import_notice(s.db, s.texts, s.config, SEED, s.clock.now())
    s.outbox.wake()
    await wait_delivered(s.db, number)

    assert [notice_copies(emulator, g) for g in groups] == [1] * len(groups)
    refused = [c for c in emulator.calls("sendMessage") if c.status == 429]
    assert len(refused) >= 3  # every 50th of at least 163 sends
    assert {r.status for r in await outbox_rows(s.db, number)} == {outbox.SENT}


async def test_a_group_that_removed_the_bot_is_marked_inactive_and_skipped_later(
    harness: BotHarness, firm: GroupChat, emulator: Emulator
) -> None:
    s = harness.services
    gone = await make_group(harness, "乙律师事务所", ["赵六"])
    # The bot is removed while it is not looking (no update): the send finds out.
    emulator.set_member(gone.id, emulator.bot_user, "kicked")

    first = await import_notice(s.db, s.texts, s.config, SEED, s.clock.now())
    await harness.drain_outbox()
    await wait_delivered(s.db, first)

    assert notice_copies(emulator, firm.id) == 1
    assert notice_copies(emulator, gone.id) == 0
    async with s.db.session() as session:
        chat = await session.get(Chat, gone.id)
        assert chat is not None and not chat.active
        state = await delivery.broadcast_state(session, first)
    assert (state.sent, state.skipped, state.failed) == (1, 1, 0)
    attempts = len([c for c in emulator.calls("sendMessage") if c.params["chat_id"] == gone.id])

    # The next notice is not even tried there; naming the group explicitly skips it too.
    second = await import_notice(s.db, s.texts, s.config, TONGBAO, s.clock.now())
    await harness.drain_outbox()
    await wait_delivered(s.db, second)
    assert len(await outbox_rows(s.db, second)) == 1  # the firm's only
    async with s.db.session() as session:
        notice = await store.get_notice(session, second)
        assert notice is not None
        plan = await delivery.queue_broadcast(
            session, notice, texts=s.texts, config=s.config, now=s.clock.now(), chat_ids=[gone.id]
        )
    assert plan.inactive == [gone.id] and plan.targets == []
    await harness.drain_outbox()
    async with s.db.session() as session:
        state = await delivery.broadcast_state(session, second, plan.row_ids)
    assert (state.skipped, state.sent, state.failed) == (1, 0, 0)
    later = len([c for c in emulator.calls("sendMessage") if c.params["chat_id"] == gone.id])
    assert later == attempts


async def test_an_upgraded_group_receives_at_its_new_id(
    harness: BotHarness, firm: GroupChat, emulator: Emulator
) -> None:
    s = harness.services
    number = await import_notice(s.db, s.texts, s.config, SEED, s.clock.now())
    # Upgraded after the notice was queued: the send meets "migrated" (or the bot saw the
    # upgrade first); either way the row follows the group.
    new_id = emulator.upgrade_group(firm.id)
    await harness.drain_outbox()
    await wait_delivered(s.db, number)

    assert notice_copies(emulator, new_id) == 1
    assert notice_copies(emulator, firm.id) == 0
    (row,) = await outbox_rows(s.db, number)
    assert (row.chat_id, row.status) == (new_id, outbox.SENT)

    # And the next notice goes straight to the new id.
    second = await import_notice(s.db, s.texts, s.config, TONGBAO, s.clock.now())
    await harness.drain_outbox()
    await wait_delivered(s.db, second)
    async with s.db.session() as session:
        ids = (await session.scalars(select(OutboxMessage.chat_id))).all()
    assert set(ids) == {new_id}
    assert len(emulator.messages(firm.id)) == 1  # only the greeting, before the upgrade


async def test_a_broadcast_resumes_after_a_restart_without_duplicates(
    harness: BotHarness, emulator: Emulator
) -> None:
    s = harness.services
    groups = await many_groups(emulator, s.db, 60, s.clock.now())
    emulator.latency = 0.02
    number = await import_notice(s.db, s.texts, s.config, SEED, s.clock.now())
    s.outbox.wake()
    await emulator.wait_for(lambda: sum(notice_copies(emulator, g) for g in groups) >= 20)

    await harness.restart()  # a clean stop mid-broadcast: in-flight sends are cancelled
    await wait_delivered(harness.services.db, number)
    assert [notice_copies(emulator, g) for g in groups] == [1] * len(groups)
