"""Morning peak: N groups whose study prompt is due at 09:00, at Telegram's 30 messages/s.

The real application (long polling, a throwaway database) with N registered groups,
seeded in bulk with exactly the schedules a registered group has (study at 09:00 on
workdays, quiz at 20:00, the weekly report). The emulator runs in a process of its own
(``emulator_proc.py``), answers every call after ``--latency`` seconds and enforces
Telegram's limits with 429 answers (30 messages/s overall, 20 a minute per group, 1 a
second per private chat). At 09:00 (a Tuesday) one scheduler tick runs every due slot
through the real sender; the emulator records when each group received its prompt.

Reported: messages/s from the first to the last prompt and its ratio to 30 (goal
>= 0.95), the spread between the first and the last group served, 429 answers, lost and
duplicated prompts, the tick's duration and the bot process's CPU time. 10,000 groups
take at least 334 s.

    .venv/bin/python -m bench.morning.run [--chats 2000] [--latency 0.035] [--db sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import (
    ROOT,
    backends,
    bench_config,
    local,
    machine,
    quiet_logging,
    seed_world,
    table,
    throwaway_database,
)
from bot.app import build_application, freeze_startup_objects, running
from bot.clock import FakeClock
from bot.content.loader import load_content
from bot.content.paths import default_content_dir
from bot.services import get as get_services

LIMIT = 30.0
# A Tuesday and workday: only the study prompts are due at 09:00 (Monday adds digests).
DAY = date(2023, 7, 25)


@dataclass
class Result:
    db: str
    chats: int
    delivered: int
    lost: int
    duplicated: int
    first_s: float  # from the tick's start to the first prompt
    spread_s: float  # first to last prompt
    per_second: float
    ratio: float
    refused_429: int
    failed: int
    tick_s: float
    cpu_s: float  # the bot's process during the tick (the emulator runs elsewhere)


class EmulatorProcess:
    """``emulator_proc.py`` as a child process, talked to over its stdin and stdout."""

    def __init__(self, proc: asyncio.subprocess.Process, hello: dict[str, Any]) -> None:
        self.proc = proc
        self.base_url: str = hello["base_url"]
        self.token: str = hello["token"]
        self.chats: list[int] = hello["chats"]

    @classmethod
    async def start(cls, groups: int, latency: float) -> EmulatorProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.morning.emulator_proc",
            "--groups", str(groups), "--latency", str(latency), "--per-second", str(LIMIT),
            cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            limit=2**30,
        )  # fmt: skip
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        if not line:
            raise SystemExit("the emulator process did not start")
        return cls(proc, json.loads(line))

    async def report(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"report\n")
        await self.proc.stdin.drain()
        return json.loads(await self.proc.stdout.readline())  # type: ignore[no-any-return]

    async def stop(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(b"quit\n")
            await self.proc.stdin.drain()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def progress(started: float) -> None:
    while True:
        await asyncio.sleep(30)
        print(f"  ... {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)


async def run_one(backend: str, args: argparse.Namespace, tmp: Path) -> Result:
    content = load_content(default_content_dir())
    emulator = await EmulatorProcess.start(args.chats, args.latency)
    try:
        async with throwaway_database(backend, tmp) as url:
            seeded = await seed_world(
                url,
                emulator.chats,
                now=local(DAY, 8, 0),
                members_per_chat=args.members,
                items_per_chat=0,
            )
            print(
                f"[{backend}] seeded {len(emulator.chats)} groups, {seeded.schedules} "
                f"schedules in {seeded.seconds:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            clock = FakeClock(local(DAY, 8, 59, 30))
            config = bench_config(
                url,
                base_url=emulator.base_url,
                token=emulator.token,
                scheduling={"tick_seconds": 3600},
            )
            app = build_application(config, clock=clock, content=content)
            s = get_services(app.bot_data)
            async with running(app, poll_timeout=10, jobs=False):
                if not args.no_gc_freeze:
                    freeze_startup_objects()  # as `firmbot run` does once started
                clock.set(local(DAY, 9, 0, 0))
                wall = time.time()
                cpu = time.process_time()
                started = time.monotonic()
                ticker = asyncio.create_task(progress(started))
                try:
                    result = await s.scheduler.tick()
                finally:
                    ticker.cancel()
                tick_s = time.monotonic() - started
                cpu = time.process_time() - cpu
            report = await emulator.report()
    finally:
        await emulator.stop()
    per_chat: collections.Counter[int] = collections.Counter()
    times = []
    for chat_id, at in report["sends"]:
        per_chat[chat_id] += 1
        times.append(at)
    times.sort()
    spread = times[-1] - times[0] if len(times) > 1 else 0.0
    rate = (len(times) - 1) / spread if spread > 0 else 0.0
    chats = emulator.chats
    return Result(
        db=backend,
        chats=len(chats),
        delivered=sum(1 for c in chats if per_chat[c] > 0),
        lost=sum(1 for c in chats if per_chat[c] == 0),
        duplicated=sum(per_chat[c] - 1 for c in chats if per_chat[c] > 1),
        first_s=(times[0] - wall) if times else float("nan"),
        spread_s=spread,
        per_second=rate,
        ratio=rate / LIMIT,
        refused_429=int(report["refused"]),
        failed=len(result.failed),
        tick_s=tick_s,
        cpu_s=cpu,
    )


async def main(args: argparse.Namespace) -> None:
    results = []
    with tempfile.TemporaryDirectory(prefix="firmbot-bench-") as tmp:
        for backend in backends(args.db):
            results.append(await run_one(backend, args, Path(tmp)))
    print()
    print(
        f"Morning peak: {args.chats} groups due at 09:00"
        f"{' (without gc.freeze())' if args.no_gc_freeze else ''}, emulator latency "
        f"{args.latency * 1000:.0f} ms, enforcing 30 msg/s, 20/min per group, 1/s per private"
    )
    print(f"machine: {machine()}")
    print(
        table(
            [
                "db",
                "groups",
                "served",
                "lost",
                "dup",
                "first s",
                "spread s",
                "msg/s",
                "of 30/s",
                "429s",
                "failed",
                "tick s",
                "CPU s",
            ],
            [
                (
                    r.db,
                    r.chats,
                    r.delivered,
                    r.lost,
                    r.duplicated,
                    r.first_s,
                    r.spread_s,
                    r.per_second,
                    r.ratio,
                    r.refused_429,
                    r.failed,
                    r.tick_s,
                    r.cpu_s,
                )
                for r in results
            ],
        )
    )
    if results and args.chats < 10_000:
        rate = results[0].per_second or LIMIT
        print(f"10,000 groups at {rate:.1f} msg/s would take about {10_000 / rate:.0f} s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.morning.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--chats", type=int, default=2000, help="groups due at 09:00 (2000)")
    parser.add_argument(
        "--latency", type=float, default=0.035, help="seconds per Bot API call (0.035)"
    )
    parser.add_argument("--members", type=int, default=3, help="members per group (3)")
    parser.add_argument(
        "--db", default="sqlite", help="sqlite, postgresql or both (default sqlite)"
    )
    parser.add_argument("--quick", action="store_true", help="300 groups (about 10 s of sending)")
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="skip the gc.freeze() that `firmbot run` does once started",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.chats = 300
    return args


if __name__ == "__main__":
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    quiet_logging()
    asyncio.run(main(parse_args()))
