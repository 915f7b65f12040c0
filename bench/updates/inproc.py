"""FirmBot's own CPU per update, in this process: no polling, no second process.

The same world as ``run.py`` (groups, members, ledger items, a study prompt and a quiz
round in each group). Then, per kind of update, a stream of updates is built in the
emulator and each is handed to the application's ``process_update`` one after another,
timed with ``time.process_time()``. Several passes over fresh streams of the same kind:
the first pass meets every member for the first time in this process (as after a
restart), the later ones do not.

What it counts: FirmBot's handlers, its database work and the sending of its replies,
and the emulator answering those replies (it runs in this process). What it leaves out:
``getUpdates`` and the parsing of its answer, which the echo bot of ``run.py`` pays as
much as FirmBot. A poll answer sends nothing, so its number is FirmBot's cost alone.

It varies by 10-20 % between runs on a quiet machine. ``run.py``'s ratio moved by a
quarter or more when it ran the bots in turn; side by side (its default since session 7)
its rounds spread over 0.15-0.2. This one needs no echo bot, so it stays the quicker
measure while working on FirmBot's own cost; ``run.py`` is the measure of the goal.

    .venv/bin/python -m bench.updates.inproc [--kind poll] [--updates 1000] [--passes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from telegram import Update

from bench.common import local, machine, quiet_logging, table, throwaway_database
from bench.updates.run import (
    DAY,
    KINDS,
    add_world_arguments,
    injector,
    make_stream,
    setup_world,
)
from bot.clock import FakeClock
from bot.sandbox.driver import BotHarness, harness_config
from bot.sandbox.emulator import Emulator


async def main(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="firmbot-bench-") as tmp:
        async with throwaway_database(args.db, Path(tmp)) as url, Emulator() as emulator:
            groups = await setup_world(emulator, url, args)
            harness = BotHarness(
                emulator,
                harness_config(emulator, url, log_level="WARNING"),
                FakeClock(local(DAY, 9, 1)),
                polling=False,
            )
            app = await harness.start()
            inject = injector(emulator, groups)
            seed = args.seed
            answered: set[tuple[str, int]] = set()  # votes already cast, over all passes
            try:
                for kind in args.kind or KINDS:
                    for n in range(1, args.passes + 1):
                        seed += 1
                        stream = make_stream(groups, args.updates, (kind,), seed, answered)
                        updates = [Update.de_json(inject(item), app.bot) for item in stream]
                        started, cpu0 = time.perf_counter(), time.process_time()
                        for update in updates:
                            await app.process_update(update)
                        ms = (time.process_time() - cpu0) / len(updates) * 1000
                        wall = time.perf_counter() - started
                        rows.append((kind, n, len(updates), ms, wall))
                        print(
                            f"[{args.db}] {kind:7} pass {n}: {ms:.3f} ms CPU/update",
                            file=sys.stderr,
                            flush=True,
                        )
                        await harness.services.seen.flush()
            finally:
                await harness.stop()
    print()
    print(f"FirmBot in-process, {args.db}, {datetime.now().isoformat(timespec='seconds')}")
    print(f"machine: {machine()}")
    print(table(["kind", "pass", "updates", "CPU ms/update", "seconds"], rows))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.updates.inproc", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--kind", action="append", choices=KINDS, help="only these kinds")
    parser.add_argument("--updates", type=int, default=1000, help="updates per pass (1000)")
    parser.add_argument("--passes", type=int, default=2, help="passes per kind (2)")
    add_world_arguments(parser)
    parser.add_argument("--db", default="sqlite", choices=("sqlite", "postgresql"))
    return parser.parse_args(argv)


if __name__ == "__main__":
    quiet_logging()
    asyncio.run(main(parse_args()))
