"""A bot process of the updates benchmark: FirmBot, or a bare PTB echo bot.

Started by ``bench/updates/run.py``, which owns the emulator. Both bots long-poll it
the same way (no pause between polls, 10 s timeout). On stdout:

- ``{"event": "ready", "pid": ...}`` once polling;
- ``{"event": "expecting", "n": ...}`` when the driver's ``expect N`` (on stdin, before
  each stream) is read, and ``{"event": "handled", "n": ..., "t": ...}`` once the bot has
  handled N more updates.

``quit`` on stdin (or its end) stops the bot cleanly.

The echo bot is what a minimal PTB bot does with the same updates: a text message is
answered with its text, a button press is answered (``answerCallbackQuery``), a poll
answer is taken and dropped. ``echo-aiohttp`` is the same bot on FirmBot's HTTP client
(``bot/transport.py``) instead of PTB's default httpx.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from telegram import Update
from telegram.ext import Application, ContextTypes, TypeHandler

from bench.common import bench_config, quiet_logging

POLL_TIMEOUT = 10


def emit(**values: Any) -> None:
    print(json.dumps(values), flush=True)


async def serve(handled: Callable[[], int]) -> None:
    """Read ``expect N`` / ``quit`` from stdin; report when N more updates are handled."""
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if not line or line == "quit":
            return
        if line.startswith("expect "):
            target = handled() + int(line.split()[1])
            # The driver injects only after this: an update handled before the target was
            # set would count towards it and the stream's last one would never come.
            emit(event="expecting", n=handled())
            # Polling a counter every 5 ms costs next to nothing next to the updates.
            while handled() < target:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            emit(event="handled", n=handled(), t=time.time())


async def run_echo(args: argparse.Namespace) -> None:
    count = [0]
    builder = Application.builder().token(args.token).base_url(args.base_url)
    if args.bot == "echo-aiohttp":
        # The same echo bot on FirmBot's transport: what FirmBot costs beyond the HTTP client.
        from bot.transport import AiohttpRequest

        builder = builder.request(AiohttpRequest()).get_updates_request(AiohttpRequest())
    app = builder.build()

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            await update.callback_query.answer()
        elif update.effective_message is not None and update.effective_message.text:
            await update.effective_message.reply_text(update.effective_message.text)

    async def counted(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        count[0] += 1

    app.add_handler(TypeHandler(Update, echo))
    app.add_handler(TypeHandler(Update, counted), group=1)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(
            poll_interval=0.0, timeout=POLL_TIMEOUT, allowed_updates=Update.ALL_TYPES
        )
        emit(event="ready", pid=os.getpid())
        await serve(lambda: count[0])
        await app.updater.stop()
        await app.stop()


async def run_firmbot(args: argparse.Namespace) -> None:
    from bot.app import build_application, running
    from bot.clock import Clock
    from bot.services import get as get_services

    class Shifted(Clock):
        """Real time passing, started at ``--now`` (the moment the world was set up for)."""

        def __init__(self, start: datetime) -> None:
            self.offset = start - super().now()

        def now(self) -> datetime:
            return super().now() + self.offset

    config = bench_config(args.db, base_url=args.base_url, token=args.token)
    app = build_application(config, clock=Shifted(datetime.fromisoformat(args.now)))
    services = get_services(app.bot_data)
    tracker = services.tracker
    statements = count_statements(services.db) if os.environ.get("FIRMBOT_BENCH_SQL") else None
    async with running(app, poll_timeout=POLL_TIMEOUT, jobs=True):
        emit(event="ready", pid=os.getpid())
        await serve(lambda: tracker.handled)
    if statements is not None:
        lines = "\n".join(f"{n:6d} {sql}" for sql, n in statements.most_common())
        await asyncio.to_thread(Path(os.environ["FIRMBOT_BENCH_SQL"]).write_text, lines, "utf-8")


def count_statements(db: Any) -> collections.Counter[str]:
    """A developer's aid: SQL statements by their first line, counted (FIRMBOT_BENCH_SQL)."""
    from sqlalchemy import event

    counter: collections.Counter[str] = collections.Counter()

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        counter[" ".join(statement.split())[:150]] += 1

    def begin(conn: Any) -> None:
        counter["(begin)"] += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    event.listen(db.engine.sync_engine, "begin", begin)
    return counter


def main() -> None:
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bot", choices=["firmbot", "echo", "echo-aiohttp"])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--db", help="FirmBot's database URL")
    parser.add_argument("--now", help="FirmBot's fixed clock, ISO 8601")
    args = parser.parse_args()
    quiet_logging()
    profile_to = os.environ.get("FIRMBOT_BENCH_PROFILE")
    if not profile_to or args.bot != "firmbot":
        asyncio.run(run_firmbot(args) if args.bot == "firmbot" else run_echo(args))
        return
    # A developer's aid: cProfile of the FirmBot child (main thread only), to a file.
    import cProfile

    with cProfile.Profile() as profile:
        asyncio.run(run_firmbot(args))
    profile.dump_stats(profile_to)


if __name__ == "__main__":
    main()
