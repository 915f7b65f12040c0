"""The bot process of the scale benchmark: start FirmBot on a seeded database and measure.

Started by ``bench/scale/run.py`` (which seeded the database and serves the emulator).
It starts FirmBot as ``firmbot run`` does (long polling, the JobQueue, whose first tick
runs at once), then prints JSON lines on stdout:

- ``{"event": "ready", "t": <unix time>, ...}`` when the application has started and the
  first scheduler tick is done, with the resident memory then and the times of the steps;
- ``{"event": "result", ...}``: the cost of ticks with nothing due and with ``--due``
  ledger reminders due (their sends go to the emulator), and the memory afterwards.

The scheduler's clock is fixed at ``--now`` (a FakeClock) so that the seeded schedules
are due exactly when the benchmark says; everything else runs in real time.
"""

from __future__ import annotations

import time

STARTED = time.time()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import Samples, bench_config, quiet_logging, rss_mb  # noqa: E402
from bot import coordination  # noqa: E402
from bot.app import build_application, running  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from bot.services import get as get_services  # noqa: E402

IMPORTED = time.time()


def emit(**values: Any) -> None:
    print(json.dumps(values), flush=True)


def peak_rss_mb() -> float:
    """The high-water mark of this process's resident memory (VmHWM, MiB).

    Not ``getrusage().ru_maxrss``: Linux carries that over from the parent across fork
    and exec, so it would report the benchmark driver's size.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def timed(coro: Any) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = await coro
    return time.perf_counter() - wall, time.process_time() - cpu, result


async def make_due(s: Any, now: datetime, count: int, taken: set[int]) -> int:
    """Ledger ladders whose item is due today: due at today's reminder slot (not timed)."""
    from sqlalchemy import select, update

    from bot.db.models import Schedule
    from bot.db.models.ledger import LedgerItem
    from bot.ledger.reminders import KIND_REMINDER, ladder_ref

    zone = s.config.zone
    today = now.astimezone(zone).date()
    slot = datetime.combine(today, datetime.min.time(), zone) + timedelta(hours=9)
    async with s.db.session() as session:
        rows = (
            await session.execute(
                select(LedgerItem.id, LedgerItem.chat_id)
                .where(LedgerItem.deadline_date == today, LedgerItem.reminded_on.is_(None))
                .order_by(LedgerItem.id)
                .limit(count * 20 + len(taken))
            )
        ).all()
        chosen: list[int] = []
        chats: set[int] = set()
        for item_id, chat_id in rows:
            if item_id in taken or chat_id in chats:
                continue
            chosen.append(item_id)
            chats.add(chat_id)
            if len(chosen) == count:
                break
        taken.update(chosen)
        await session.execute(
            update(Schedule)
            .where(
                Schedule.kind == KIND_REMINDER, Schedule.ref.in_([ladder_ref(i) for i in chosen])
            )
            .values(next_due_at=slot)
        )
    return len(chosen)


async def main(args: argparse.Namespace) -> None:
    now = datetime.fromisoformat(args.now)
    config = bench_config(
        args.db, base_url=args.base_url, token=args.token, scheduling={"tick_seconds": 3600}
    )
    clock = FakeClock(now)
    app = build_application(config, clock=clock)
    built = time.time()
    peak_built = peak_rss_mb()
    s = get_services(app.bot_data)
    coord = coordination.get(s.extras)
    async with running(app, poll_timeout=10, jobs=True):
        started = time.time()
        peak_started = peak_rss_mb()
        # The JobQueue's first tick (first=0) is the last step of start-up; it has no event.
        while coord.ticks.ticks < 1:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
        ready = time.time()
        emit(
            event="ready",
            t=ready,
            process_started=STARTED,
            imported=IMPORTED,
            built=built,
            app_started=started,
            rss_mb=rss_mb(),
            peak_rss_mb=peak_rss_mb(),
            peak_built=peak_built,
            peak_started=peak_started,
        )

        idle, idle_cpu = Samples(), Samples()
        for _ in range(args.ticks):
            wall, cpu, result = await timed(s.scheduler.tick())
            assert not result.ran and not result.missed, "nothing should be due"
            idle.add(wall)
            idle_cpu.add(cpu)
        rss = {"idle ticks": (rss_mb(), peak_rss_mb())}
        wall, cpu, _ = await timed(s.scheduler.next_due_at())
        next_due = (wall, cpu)
        wall, cpu, synced = await timed(s.sync_chat_hooks())
        sync = (wall, cpu, synced)
        rss["sync_chat_hooks"] = (rss_mb(), peak_rss_mb())

        due, due_cpu = Samples(), Samples()
        ran = 0
        taken: set[int] = set()
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="disabled")
        for _ in range(args.rounds if args.due else 0):
            await make_due(s, now, args.due, taken)
            rss.setdefault("make_due", (rss_mb(), peak_rss_mb()))
            if profiler is not None:
                profiler.start()
            wall, cpu, result = await timed(s.scheduler.tick())
            if profiler is not None:
                profiler.stop()
            rss.setdefault("busy tick", (rss_mb(), peak_rss_mb()))
            ran += len(result.ran)
            due.add(wall)
            due_cpu.add(cpu)
        if profiler is not None:
            print(profiler.output_text(unicode=True, show_all=False), file=sys.stderr)
        sent = s.sender.stats.sent
        emit(
            event="result",
            idle_wall=idle.values,
            idle_cpu=idle_cpu.values,
            next_due=next_due,
            sync=sync,
            due_wall=due.values,
            due_cpu=due_cpu.values,
            due_ran=ran,
            sent=sent,
            rss_mb=rss_mb(),
            peak_rss_mb=peak_rss_mb(),
            rss_steps=rss,
        )


if __name__ == "__main__":
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--now", required=True, help="the scheduler's fixed time, ISO 8601")
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--due", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="pyinstrument the busy ticks")
    quiet_logging()
    asyncio.run(main(parser.parse_args()))
