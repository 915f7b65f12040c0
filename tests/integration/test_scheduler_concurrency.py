"""A tick runs different chats' slots side by side, one chat's in order, each slot once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.calendar import WorkCalendar
from bot.clock import FakeClock
from bot.config import DatabaseConfig, SchedulingConfig
from bot.db import Database
from bot.db.models import Chat, SlotClaim
from bot.sandbox.driver import BotHarness, make_group
from bot.scheduling import TICK_CONCURRENCY, Scheduler, SlotRun

SH = ZoneInfo("Asia/Shanghai")
CHATS = [-(1000 + n) for n in range(40)]


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(DatabaseConfig(url=database_url))
    async with database.session() as session:
        for chat_id in CHATS:
            session.add(Chat(id=chat_id, type="group", title=str(chat_id), settings={}))
    yield database
    await database.dispose()


class Recorder:
    """An action that takes a while and notes what ran at the same time."""

    def __init__(self, seconds: float = 0.05, fast: frozenset[int] = frozenset()) -> None:
        self.seconds = seconds
        self.fast = fast  # chats whose action takes no time
        self.runs: list[SlotRun] = []
        self.running: dict[int, int] = {}
        self.most_at_once = 0
        self.one_chat_overlapped = False

    async def __call__(self, run: SlotRun) -> None:
        if self.running.get(run.chat_id):
            self.one_chat_overlapped = True
        self.running[run.chat_id] = self.running.get(run.chat_id, 0) + 1
        self.most_at_once = max(self.most_at_once, sum(self.running.values()))
        try:
            await asyncio.sleep(0 if run.chat_id in self.fast else self.seconds)
            self.runs.append(run)
        finally:
            self.running[run.chat_id] -= 1


def scheduler(db: Database, clock: FakeClock, owner: str, **actions: Any) -> Scheduler:
    s = Scheduler(db, clock, SchedulingConfig(), WorkCalendar(), owner=owner)
    for kind, action in actions.items():
        s.register(kind, action)
    return s


async def daily(s: Scheduler, chat_id: int, kind: str, at: str = "09:00", ref: str = "") -> None:
    async with s.db.session() as session:
        await s.upsert(
            session,
            chat_id=chat_id,
            kind=kind,
            ref=ref,
            days="daily",
            time_of_day=at,
            timezone="Asia/Shanghai",
        )


async def test_due_chats_run_side_by_side_and_each_slot_once(db: Database) -> None:
    clock = FakeClock(sh(2023, 7, 24, 8, 0))
    # Each slot's claim is a database write before its action starts; on a loaded machine
    # (the suite runs on several workers) a claim on SQLite can take 10-20 ms, so 50 ms
    # actions saw as few as 5 at once. 200 ms ones overlap as they should, whatever the load.
    action = Recorder(0.2)
    s = scheduler(db, clock, "p", study=action)
    for chat_id in CHATS:
        await daily(s, chat_id, "study")
    clock.set(sh(2023, 7, 24, 9, 0, 1))
    started = time.monotonic()
    result = await s.tick()
    elapsed = time.monotonic() - started
    assert sorted(r.chat_id for r in result.ran) == sorted(CHATS)
    # One after another this takes over 40 x 200 ms; side by side a few rounds of up to 16.
    assert 8 <= action.most_at_once <= TICK_CONCURRENCY
    assert elapsed < len(CHATS) * 0.2
    assert (await s.tick()).ran == []
    async with db.session() as session:
        claims = (await session.scalars(select(SlotClaim))).all()
    assert len(claims) == len(CHATS) and {c.status for c in claims} == {"done"}


async def test_one_chats_slots_run_in_order_and_never_side_by_side(db: Database) -> None:
    clock = FakeClock(sh(2023, 7, 24, 8, 0))
    # Long enough that the other chat's one slot overlaps the busy chat's chain even when
    # each claim is slow (a loaded machine): with 20 ms it once ran entirely in a gap.
    action = Recorder(0.2)
    s = scheduler(db, clock, "p", study=action, quiz=action)
    busy, other = CHATS[0], CHATS[1]
    await daily(s, busy, "study", "08:40")
    await daily(s, busy, "quiz", "08:50")
    for n in range(3):
        await daily(s, busy, "study", "08:45", ref=f"extra{n}")
    await daily(s, other, "study", "08:40")
    clock.set(sh(2023, 7, 24, 9, 0))
    result = await s.tick()
    assert len(result.ran) == 6
    assert not action.one_chat_overlapped
    mine = [r for r in action.runs if r.chat_id == busy]
    assert [r.slot_at for r in mine] == sorted(r.slot_at for r in mine)
    assert [r.kind for r in mine][-1] == "quiz"
    assert action.most_at_once == 2  # the other chat ran alongside


async def test_two_processes_ticking_at_once_still_run_each_slot_once(db: Database) -> None:
    clock = FakeClock(sh(2023, 7, 24, 8, 0))
    action = Recorder(0.01)
    a = scheduler(db, clock, "proc-a", study=action)
    b = scheduler(db, clock, "proc-b", study=action)
    for chat_id in CHATS:
        await daily(a, chat_id, "study")
    for day in (24, 25):
        clock.set(sh(2023, 7, day, 9, 0, 0))
        await asyncio.gather(a.tick(), b.tick(), a.tick())
    assert len(action.runs) == 2 * len(CHATS)
    assert len({(r.chat_id, r.slot_at) for r in action.runs}) == 2 * len(CHATS)


async def test_a_broken_tick_lets_the_running_chats_finish_and_starts_no_more(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(sh(2023, 7, 24, 8, 0))
    # The failing chat is quick; the others are still busy when it fails.
    action = Recorder(0.3, fast=frozenset({CHATS[0]}))
    s = scheduler(db, clock, "p", study=action)
    for chat_id in CHATS:
        await daily(s, chat_id, "study")
    advance = s._advance

    async def failing(schedule: Any, now: datetime) -> None:
        if schedule.chat_id == CHATS[0]:
            raise ConnectionError("database went away")
        await advance(schedule, now)

    monkeypatch.setattr(s, "_advance", failing)
    clock.set(sh(2023, 7, 24, 9, 0, 1))
    with pytest.raises(ConnectionError):
        await s.tick()
    # The other chats that had started finished properly; nobody started after the error.
    async with db.session() as session:
        claims = (await session.scalars(select(SlotClaim))).all()
    assert {c.status for c in claims} == {"done"}
    assert len(claims) == len(action.runs) < len(CHATS)
    # The next tick picks up the rest, once each.
    monkeypatch.setattr(s, "_advance", advance)
    await s.tick()
    assert sorted({r.chat_id for r in action.runs}) == sorted(CHATS)
    assert len(action.runs) == len(CHATS)


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"quiz": {"enabled": False}, "reports": {"weekly": False}}


async def test_a_busy_morning_goes_out_at_telegrams_rate_without_429(
    harness: BotHarness, clock: FakeClock
) -> None:
    emu = harness.emulator
    groups = [await make_group(harness, f"律所{n}", [f"主任{n}", f"律师{n}"]) for n in range(30)]
    emu.latency = 0.2
    emu.enforce_rate_limits(global_per_second=30, per_group_per_minute=20, per_private_per_second=1)
    before = len(emu.requests)
    counts = [len(g.messages()) for g in groups]
    clock.set(sh(2023, 7, 24, 9, 0, 0))
    started = time.monotonic()
    result = await harness.tick()
    elapsed = time.monotonic() - started
    assert sorted(r.chat_id for r in result.ran) == sorted(g.id for g in groups)
    assert [len(g.messages()) for g in groups] == [n + 1 for n in counts]
    assert not [c for c in emu.requests[before:] if c.status == 429]
    # 30 prompts at 29 a second; one after another, over 200 ms each.
    assert elapsed < 30 * 0.2 / 2
