"""The scheduling core on a real database: exactly once, catch-up, restarts, two processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import scheduling
from bot.calendar import WorkCalendar
from bot.clock import FakeClock
from bot.config import DatabaseConfig, SchedulingConfig
from bot.db import Database
from bot.db.models import Chat, SlotClaim
from bot.scheduling import Scheduler, SlotRun

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(DatabaseConfig(url=database_url))
    async with database.session() as session:
        session.add(Chat(id=-100, type="group", title="A", settings={}))
        session.add(Chat(id=-200, type="group", title="B", settings={}))
    yield database
    await database.dispose()


def make_scheduler(db: Database, clock: FakeClock, runs: list[SlotRun], owner: str) -> Scheduler:
    scheduler = Scheduler(
        db, clock, SchedulingConfig(grace_minutes=120), WorkCalendar(), owner=owner
    )

    async def action(run: SlotRun) -> None:
        runs.append(run)

    scheduler.register("study", action)
    return scheduler


async def add_daily(
    scheduler: Scheduler, chat_id: int = -100, at: str = "09:00", tz: str = "Asia/Shanghai"
) -> None:
    async with scheduler.db.session() as session:
        await scheduler.upsert(
            session, chat_id=chat_id, kind="study", days="daily", time_of_day=at, timezone=tz
        )


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


async def test_a_slot_runs_once_and_not_again_after_a_restart(db: Database) -> None:
    clock = FakeClock(sh(2023, 7, 24, 8, 0))
    runs: list[SlotRun] = []
    first = make_scheduler(db, clock, runs, "proc-1")
    await add_daily(first)
    assert (await first.tick()).ran == []
    clock.set(sh(2023, 7, 24, 9, 0, 5))
    assert len((await first.tick()).ran) == 1
    assert len((await first.tick()).ran) == 0

    # A restart: a new process with a fresh scheduler at the same moment.
    restarted = make_scheduler(db, clock, runs, "proc-2")
    assert (await restarted.tick()).ran == []
    assert [r.slot_at for r in runs] == [sh(2023, 7, 24, 9, 0)]
    claims = await restarted.claims(-100, "study")
    assert [(c.status, c.claimed_by) for c in claims] == [("done", "proc-1")]


async def test_two_processes_ticking_at_once_run_each_slot_once(db: Database) -> None:
    clock = FakeClock(sh(2023, 7, 24, 8, 0))
    runs: list[SlotRun] = []
    a = make_scheduler(db, clock, runs, "proc-a")
    b = make_scheduler(db, clock, runs, "proc-b")
    await add_daily(a, -100)
    await add_daily(a, -200)
    for day in range(5):
        clock.set(sh(2023, 7, 24 + day, 9, 0, 0))
        await asyncio.gather(a.tick(), b.tick(), a.tick(), b.tick())
    assert len(runs) == 10
    assert len({(r.chat_id, r.slot_at) for r in runs}) == 10


async def test_tick_exactly_at_the_boundary_does_not_fire_twice(db: Database) -> None:
    clock = FakeClock(sh(2023, 7, 24, 9, 0, 0))
    runs: list[SlotRun] = []
    scheduler = make_scheduler(db, clock, runs, "p")
    clock.set(sh(2023, 7, 24, 8, 59, 59))
    await add_daily(scheduler)
    clock.set(sh(2023, 7, 24, 9, 0, 0))
    await scheduler.tick()
    await scheduler.tick()
    clock.set(sh(2023, 7, 24, 9, 0, 0) + timedelta(microseconds=1))
    await scheduler.tick()
    assert len(runs) == 1 and not runs[0].late


async def test_catch_up_inside_the_grace_window_runs_once_late(db: Database) -> None:
    clock = FakeClock(sh(2023, 7, 24, 8, 0))
    runs: list[SlotRun] = []
    scheduler = make_scheduler(db, clock, runs, "p")
    await add_daily(scheduler)
    # Down from 08:00 to 10:30: the 09:00 slot is 90 minutes old, inside 2 h.
    clock.set(sh(2023, 7, 24, 10, 30))
    result = await make_scheduler(db, clock, runs, "p2").tick()
    assert [r.slot_at for r in result.ran] == [sh(2023, 7, 24, 9, 0)]
    assert result.ran[0].late


async def test_older_slots_are_recorded_as_missed_not_sent(db: Database) -> None:
    clock = FakeClock(sh(2023, 7, 24, 8, 0))
    runs: list[SlotRun] = []
    scheduler = make_scheduler(db, clock, runs, "p")
    await add_daily(scheduler)
    # Down for three days, back at 10:00 on the 27th.
    clock.set(sh(2023, 7, 27, 10, 0))
    result = await make_scheduler(db, clock, runs, "p2").tick()
    assert [r.slot_at for r in runs] == [sh(2023, 7, 27, 9, 0)]
    assert [m[3] for m in result.missed] == [
        sh(2023, 7, 24, 9, 0),
        sh(2023, 7, 25, 9, 0),
        sh(2023, 7, 26, 9, 0),
    ]
    claims = await scheduler.claims(-100)
    assert [c.status for c in claims] == ["missed", "missed", "missed", "done"]
    # Nothing more until tomorrow.
    clock.set(sh(2023, 7, 27, 23, 0))
    assert (await scheduler.tick()).ran == []


async def test_a_failing_action_is_recorded_and_the_schedule_goes_on(db: Database) -> None:
    clock = FakeClock(sh(2023, 7, 24, 8, 0))
    scheduler = Scheduler(db, clock, SchedulingConfig(), WorkCalendar(), owner="p")
    calls: list[datetime] = []

    async def flaky(run: SlotRun) -> None:
        calls.append(run.slot_at)
        if len(calls) == 1:
            raise RuntimeError("boom")

    scheduler.register("study", flaky)
    await add_daily(scheduler)
    clock.set(sh(2023, 7, 24, 9, 1))
    result = await scheduler.tick()
    assert result.failed and "boom" in result.failed[0][1]
    await scheduler.tick()
    clock.set(sh(2023, 7, 25, 9, 1))
    assert len((await scheduler.tick()).ran) == 1
    assert [c.status for c in await scheduler.claims(-100)] == ["failed", "done"]


async def test_a_claim_left_by_a_dead_process_is_taken_over_after_its_lease(db: Database) -> None:
    clock = FakeClock(sh(2023, 7, 24, 9, 0, 1))
    runs: list[SlotRun] = []
    survivor = make_scheduler(db, clock, runs, "survivor")
    await add_daily(survivor)
    # A process claimed the 09:00 slot and died before finishing.
    async with db.session() as session:
        session.add(
            SlotClaim(
                chat_id=-100,
                kind="study",
                ref="",
                slot_at=sh(2023, 7, 24, 9, 0),
                status="running",
                claimed_by="dead",
                claimed_at=clock.now(),
                lease_until=clock.now() + timedelta(seconds=300),
            )
        )
    clock.set(sh(2023, 7, 24, 9, 0, 2))
    await survivor.tick()
    assert runs == []  # the lease still holds
    clock.set(sh(2023, 7, 24, 9, 6))
    await survivor.tick()
    assert [r.slot_at for r in runs] == [sh(2023, 7, 24, 9, 0)]
    await survivor.tick()
    assert len(runs) == 1
    assert [(c.status, c.claimed_by) for c in await survivor.claims(-100)] == [("done", "survivor")]


async def test_shanghai_and_berlin_chats_across_berlin_dst_change(db: Database) -> None:
    clock = FakeClock(datetime(2024, 3, 29, 0, 0, tzinfo=UTC))
    runs: list[SlotRun] = []
    scheduler = make_scheduler(db, clock, runs, "p")
    await add_daily(scheduler, -100, "09:00", "Asia/Shanghai")
    await add_daily(scheduler, -200, "02:30", "Europe/Berlin")
    # Tick every 10 minutes for four days.
    while clock.now() < datetime(2024, 4, 2, 0, 0, tzinfo=UTC):
        clock.advance(timedelta(minutes=10))
        await scheduler.tick()
    shanghai = [r.slot_at.astimezone(SH) for r in runs if r.chat_id == -100]
    berlin = [r.slot_at for r in runs if r.chat_id == -200]
    assert [s.strftime("%m-%d %H:%M") for s in shanghai] == [
        "03-29 09:00",
        "03-30 09:00",
        "03-31 09:00",
        "04-01 09:00",
    ]
    assert len(berlin) == 4 == len(set(berlin))
    assert [b.astimezone(UTC).strftime("%d %H:%M") for b in berlin] == [
        "29 01:30",
        "30 01:30",
        "31 01:30",
        "01 00:30",
    ]


async def test_changing_a_schedule_moves_its_next_slot(db: Database) -> None:
    clock = FakeClock(sh(2023, 7, 24, 8, 0))
    runs: list[SlotRun] = []
    scheduler = make_scheduler(db, clock, runs, "p")
    await add_daily(scheduler, at="09:00")
    await add_daily(scheduler, at="08:30")
    assert await scheduler.next_due_at() == sh(2023, 7, 24, 8, 30)
    clock.set(sh(2023, 7, 24, 9, 5))
    await scheduler.tick()
    assert [r.slot_at for r in runs] == [sh(2023, 7, 24, 8, 30)]


async def test_one_off_runs_once_and_cancelled_ones_never(db: Database) -> None:
    clock = FakeClock(sh(2023, 7, 24, 8, 0))
    runs: list[SlotRun] = []
    scheduler = make_scheduler(db, clock, runs, "p")
    async with db.session() as session:
        await scheduler.schedule_once(
            session, chat_id=-100, kind="study", ref="r1", run_at=sh(2023, 7, 24, 8, 30)
        )
        await scheduler.schedule_once(
            session, chat_id=-100, kind="study", ref="r2", run_at=sh(2023, 7, 24, 8, 40)
        )
        await scheduler.cancel(session, -100, "study", "r2")
    clock.set(sh(2023, 7, 24, 9, 0))
    await scheduler.tick()
    await scheduler.tick()
    assert [(r.ref, r.slot_at) for r in runs] == [("r1", sh(2023, 7, 24, 8, 30))]
    assert await scheduler.next_due_at() is None


async def test_finished_claims_past_the_retention_are_deleted_in_batches(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claims of slots over 60 days old go, a batch a tick while there is a backlog and
    then once an hour; running claims and younger ones stay."""
    monkeypatch.setattr(scheduling, "PRUNE_BATCH", 2)
    clock = FakeClock(sh(2023, 9, 25, 9, 30))
    runs: list[SlotRun] = []
    scheduler = make_scheduler(db, clock, runs, "proc-1")
    old = [sh(2023, 7, day, 9, 0) for day in range(3, 8)]  # 80 to 84 days ago
    async with db.session() as session:
        for n, slot in enumerate(old):
            session.add(claim(slot, "missed" if n == 0 else "done"))
        # A claim still running (its lease holds) is the lease check's business, not ours.
        running = claim(sh(2023, 7, 2, 9, 0), "running")
        running.lease_until = clock.now() + timedelta(days=2)
        session.add(running)
        session.add(claim(sh(2023, 7, 28, 9, 0), "done"))  # 59 days ago: kept

    async def slots() -> list[datetime]:
        return sorted(c.slot_at for c in await scheduler.claims(-100))

    await scheduler.tick()
    assert await slots() == [sh(2023, 7, 2, 9, 0), *old[2:], sh(2023, 7, 28, 9, 0)]
    clock.set(sh(2023, 9, 25, 9, 30, 20))  # the next tick: still a backlog
    await scheduler.tick()
    assert await slots() == [sh(2023, 7, 2, 9, 0), old[4], sh(2023, 7, 28, 9, 0)]
    clock.set(sh(2023, 9, 25, 9, 30, 40))
    await scheduler.tick()
    assert await slots() == [sh(2023, 7, 2, 9, 0), sh(2023, 7, 28, 9, 0)]
    # Caught up: the next look is an hour later.
    async with db.session() as session:
        session.add(claim(sh(2023, 7, 1, 9, 0), "done"))
    clock.set(sh(2023, 9, 25, 10, 0))
    await scheduler.tick()
    assert await slots() == [sh(2023, 7, 1, 9, 0), sh(2023, 7, 2, 9, 0), sh(2023, 7, 28, 9, 0)]
    # The 07-28 claim turns 60 days old at 09:00 on 09-26.
    clock.set(sh(2023, 9, 26, 9, 0, 30))
    await scheduler.tick()
    assert await slots() == [sh(2023, 7, 2, 9, 0)]


def claim(slot: datetime, status: str) -> SlotClaim:
    return SlotClaim(
        chat_id=-100,
        kind="study",
        ref="",
        slot_at=slot,
        status=status,
        claimed_by="proc-0",
        claimed_at=slot,
        lease_until=slot + timedelta(seconds=300),
        finished_at=None if status == "running" else slot,
    )
