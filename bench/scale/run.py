"""Scale: 10,000 registered groups and 100,000 open ledger items with their reminders.

For each database (SQLite, and PostgreSQL when configured) this seeds a throwaway
database in bulk (not timed): N groups registered as FirmBot registers them (members,
the schedules the real chat hooks derive: study, quiz, weekly report, ledger digest), and
``--items`` open ledger items per group, each with its reminder ladder armed. The
emulator (in this process) knows every group. Then FirmBot starts in a fresh child
process (``child.py``) exactly as ``firmbot run`` starts it, and we measure:

- start-up: from spawning the process to "ready" (application started, long polling on,
  the first scheduler tick done); goal <= 5 s;
- resident memory after start-up (and the peak at the end); goal <= 300 MB;
- one scheduler tick with nothing due (goal <= 50 ms), and with ``--due`` ledger
  reminders due at once (each sends a message through the real sender); wall and CPU
  time of the bot process.

    .venv/bin/python -m bench.scale.run [--chats 10000] [--items 10] [--db both]
"""

from __future__ import annotations

import argparse
import asyncio
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
    Samples,
    backends,
    local,
    machine,
    quiet_logging,
    seed_world,
    table,
    throwaway_database,
)
from bot.sandbox.emulator import Emulator

# A Tuesday, just after the 09:00 reminders and study prompts went out: nothing is due.
DAY = date(2023, 7, 25)
NOW = local(DAY, 9, 0, 30)


@dataclass
class Result:
    db: str
    chats: int
    items: int
    schedules: int
    history: int
    seed_s: float
    startup_s: float
    import_s: float
    rss_mb: float
    peak_rss_mb: float
    idle: Samples
    idle_cpu: Samples
    due: Samples
    due_cpu: Samples
    due_each: int
    due_ran: int
    next_due_ms: float
    sync_ms: float
    rss_steps: dict[str, Any]


async def run_one(backend: str, args: argparse.Namespace, tmp: Path) -> Result:
    async with throwaway_database(backend, tmp) as url, Emulator() as emulator:
        chat_ids = []
        for n in range(args.chats):
            chat = emulator.create_group(f"律所{n + 1:05d}")
            emulator.set_member(chat.id, emulator.bot_user, "administrator")
            chat_ids.append(chat.id)
        seeded = await seed_world(
            url,
            chat_ids,
            now=NOW,
            members_per_chat=args.members,
            items_per_chat=args.items,
            history_days=args.history_days,
        )
        print(
            f"[{backend}] seeded {len(chat_ids)} groups, {len(chat_ids) * args.members} "
            f"members, {len(chat_ids) * args.items} items, {seeded.schedules} schedules, "
            f"{seeded.claims} slot claims in {seeded.seconds:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        command = [
            sys.executable, "-m", "bench.scale.child",
            "--db", url, "--base-url", emulator.base_url, "--token", emulator.token,
            "--now", NOW.isoformat(), "--ticks", str(args.ticks), "--due", str(args.due),
            "--rounds", str(args.rounds), *(["--profile"] if args.profile else []),
        ]  # fmt: skip
        spawned = time.time()
        child = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, stdout=asyncio.subprocess.PIPE, limit=2**24
        )
        assert child.stdout is not None
        events: dict[str, Any] = {}
        try:
            async with asyncio.timeout(args.timeout):
                while "result" not in events:
                    line = await child.stdout.readline()
                    if not line:
                        raise SystemExit(f"[{backend}] the bot process ended early")
                    event = json.loads(line)
                    events[event["event"]] = event
                await child.wait()
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
    ready, result = events["ready"], events["result"]
    return Result(
        db=backend,
        chats=len(chat_ids),
        items=len(chat_ids) * args.items,
        schedules=seeded.schedules,
        history=seeded.claims,
        seed_s=seeded.seconds,
        startup_s=ready["t"] - spawned,
        import_s=ready["imported"] - spawned,
        rss_mb=ready["rss_mb"],
        peak_rss_mb=result["peak_rss_mb"],
        idle=Samples(result["idle_wall"]),
        idle_cpu=Samples(result["idle_cpu"]),
        due=Samples(result["due_wall"]),
        due_cpu=Samples(result["due_cpu"]),
        due_each=args.due,
        due_ran=result["due_ran"],
        next_due_ms=result["next_due"][0] * 1000,
        sync_ms=result["sync"][0] * 1000,
        rss_steps={
            "built": (None, ready["peak_built"]),
            "started": (None, ready["peak_started"]),
            "ready": (ready["rss_mb"], ready["peak_rss_mb"]),
            **result["rss_steps"],
        },
    )


def ms(value: float) -> float:
    return value * 1000


async def main(args: argparse.Namespace) -> None:
    results = []
    with tempfile.TemporaryDirectory(prefix="firmbot-bench-") as tmp:
        for backend in backends(args.db):
            results.append(await run_one(backend, args, Path(tmp)))
    print()
    print(
        f"Scale: {args.chats:,} groups x {args.members} members, {args.items} open ledger items "
        f"each with reminders, {args.history_days} days of slot-claim history"
    )
    print(f"machine: {machine()}")
    print(
        table(
            ["db", "schedules", "claims", "start-up s", "(imports s)", "RSS MB", "peak RSS MB"],
            [
                (
                    r.db, r.schedules, r.history, r.startup_s, r.import_s, r.rss_mb,
                    r.peak_rss_mb,
                )
                for r in results
            ],
        )
    )  # fmt: skip
    print()
    print(
        table(
            [
                "db", "idle tick ms (median)", "p90", "worst", "CPU ms",
                f"tick with {args.due} due ms", "worst", "CPU ms", "CPU ms/slot",
            ],
            [
                (
                    r.db, ms(r.idle.median), ms(r.idle.p90), ms(r.idle.worst),
                    ms(r.idle_cpu.median), ms(r.due.median), ms(r.due.worst),
                    ms(r.due_cpu.median),
                    ms(r.due_cpu.median) / r.due_each if r.due_each else float("nan"),
                )
                for r in results
            ],
        )
    )  # fmt: skip
    for r in results:
        if args.verbose:
            print(f"[{r.db}] RSS (now, peak) MB after: {r.rss_steps}")
        print(
            f"[{r.db}] due slots run: {r.due_ran} of {r.due_each * args.rounds}; "
            f"next_due_at query {r.next_due_ms:.1f} ms; sync_chat_hooks with every group "
            f"synced {r.sync_ms:.1f} ms; seeding took {r.seed_s:.0f} s (not counted)"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--chats", type=int, default=10_000, help="groups (10000)")
    parser.add_argument("--members", type=int, default=10, help="members per group (10)")
    parser.add_argument("--items", type=int, default=10, help="open ledger items per group (10)")
    parser.add_argument(
        "--history-days",
        type=int,
        default=0,
        help="days of finished slot claims to seed, as a bot running that long has (0)",
    )
    parser.add_argument("--ticks", type=int, default=20, help="idle ticks to time (20)")
    parser.add_argument("--due", type=int, default=20, help="reminders due in a busy tick (20)")
    parser.add_argument("--rounds", type=int, default=5, help="busy ticks to time (5)")
    parser.add_argument("--db", default="both", help="sqlite, postgresql or both (default both)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per database")
    parser.add_argument(
        "--quick", action="store_true", help="1,000 groups, 10 ticks, 2 busy rounds"
    )
    parser.add_argument("--verbose", action="store_true", help="memory after each step")
    parser.add_argument(
        "--profile", action="store_true", help="pyinstrument the busy ticks (to stderr)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.chats, args.ticks, args.rounds = 1000, 10, 2
    return args


if __name__ == "__main__":
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    quiet_logging()
    asyncio.run(main(parse_args()))
