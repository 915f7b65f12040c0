"""Broadcast benchmark: one notice summary to N emulator groups at Telegram's limits.

Two contestants, one run, one emulator (50 ms latency per call, 30 messages/s overall
and 20 a minute per group enforced with 429 answers):

1. FirmBot: the real application (``BotHarness``, long polling, temp SQLite) delivers the
   notice through its outbox, as after ``firmbot notice import``.
2. Baseline: a naive loop of ``await bot.send_message(...)`` on a PTB bot with
   ``AIORateLimiter`` (its defaults), to N fresh groups.

For each: messages/s from the first to the last delivery, the ratio to 30/s, lost and
duplicated messages, 429 answers. See bench/README.md.

    .venv/bin/python bench/broadcast/run.py [--chats 2000] [--latency 0.05] [--skip-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import itertools
import json
import logging
import os
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, ExtBot

from bot.clock import Clock
from bot.content.loader import load_content
from bot.content.paths import default_content_dir
from bot.db import Database
from bot.db.models import Chat
from bot.notices import delivery, store
from bot.sandbox.driver import harness_config
from bot.sandbox.emulator import Emulator, SentMessage

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "content" / "notices" / "000_62420782f47914ad.txt"
LIMIT = 30.0  # Telegram's overall messages per second


@dataclass
class Result:
    name: str
    chats: int
    delivered: int
    lost: int
    duplicated: int
    seconds: float  # first to last delivery
    per_second: float
    ratio: float  # per_second / LIMIT
    refused_429: int
    errors: int
    cpu_seconds: float  # of the sending process during the phase (FirmBot: its own process)


class Deliveries:
    """Every message the bot sent, by chat, with the moment it arrived."""

    def __init__(self, emulator: Emulator, title: str) -> None:
        self.title = title
        self.times: list[float] = []
        self.per_chat: collections.Counter[int] = collections.Counter()
        emulator.on_bot_message(self._on)

    def _on(self, message: SentMessage, action: str) -> None:
        if action == "send" and message.text.startswith(self.title):
            self.times.append(time.monotonic())
            self.per_chat[message.chat_id] += 1

    def reset(self) -> None:
        self.times.clear()
        self.per_chat.clear()

    def result(self, name: str, chats: list[int], refused: int, errors: int, cpu: float) -> Result:
        delivered = sum(self.per_chat[c] for c in chats)
        lost = sum(1 for c in chats if self.per_chat[c] == 0)
        duplicated = sum(self.per_chat[c] - 1 for c in chats if self.per_chat[c] > 1)
        span = (self.times[-1] - self.times[0]) if len(self.times) > 1 else 0.0
        rate = (len(self.times) - 1) / span if span > 0 else 0.0
        return Result(
            name=name,
            chats=len(chats),
            delivered=delivered,
            lost=lost,
            duplicated=duplicated,
            seconds=round(span, 2),
            per_second=round(rate, 2),
            ratio=round(rate / LIMIT, 3),
            refused_429=refused,
            errors=errors,
            cpu_seconds=round(cpu, 2),
        )


def refused_sends(emulator: Emulator, since: int) -> int:
    return sum(1 for c in emulator.requests[since:] if c.status == 429)


def bunched_arrivals(emulator: Emulator, since: int, under: float = 0.010) -> int:
    """Sends that reached the emulator less than ``under`` s after the previous one: the
    sender's spacing is 34 ms, so these left together (after a stall of the event loop)."""
    times = [c.time for c in emulator.requests[since:] if c.method == "sendMessage"]
    return sum(1 for a, b in itertools.pairwise(times) if b - a < under)


async def _bot_process(config: Path, token: str, log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "-c",
        str(config),
        "run",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log.open("ab"),
        env={**os.environ, "FIRMBOT_TOKEN": token, "FIRMBOT_DATABASE_URL": ""},
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process (Linux /proc), 0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def firmbot_phase(
    emulator: Emulator, deliveries: Deliveries, count: int, database_url: str, workdir: Path
) -> Result:
    """FirmBot as in production: ``firmbot run`` in its own process, the outbox delivering."""
    content = load_content(default_content_dir())
    config = harness_config(emulator, database_url)
    db = Database(config.database)
    await db.upgrade()
    now = Clock().now()
    chats: list[int] = []
    async with db.session() as session:
        for n in range(count):
            chat = emulator.create_group(f"律所{n + 1:05d}")
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
            chats.append(chat.id)
    path = workdir / "bot.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "telegram": {"base_url": emulator.base_url, "poll_timeout": 1},
                "database": {"url": database_url},
                "log_level": "WARNING",
            }
        ),
        encoding="utf-8",
    )
    bot = await _bot_process(path, emulator.token, workdir / "bot.log")
    try:
        await emulator.wait_for(lambda: bool(emulator.calls("getUpdates")), timeout=60)
        since = len(emulator.requests)
        deliveries.reset()
        gc.collect()
        gc.freeze()  # the emulator's own set-up is no work for the collector during the run
        async with db.session() as session:
            _, plan = await delivery.import_and_queue(
                session,
                store.read_notice(SEED.read_bytes()),
                texts=content.texts,
                config=config,
                now=Clock().now(),
                source="bench",
                imported_by="bench",
            )
        assert plan is not None and len(plan.targets) == count
        cpu = _cpu_seconds(bot.pid)
        deadline = time.monotonic() + count / LIMIT * 2 + 60
        while time.monotonic() < deadline:
            async with db.session() as session:
                state = await delivery.broadcast_state(session, plan.notice_id)
            if state.finished:
                break
            await asyncio.sleep(0.2)
        cpu = _cpu_seconds(bot.pid) - cpu
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 30)
        await db.dispose()
    errors = state.failed + state.pending + state.sending
    print(
        f"FirmBot: {bunched_arrivals(emulator, since)} sends arrived < 10 ms after the previous",
        file=sys.stderr,
    )
    return deliveries.result("FirmBot outbox", chats, refused_sends(emulator, since), errors, cpu)


async def baseline_phase(
    emulator: Emulator, deliveries: Deliveries, count: int, payload: dict[str, Any]
) -> Result:
    chats = []
    for n in range(count):
        chat = emulator.create_group(f"对照{n + 1:05d}")
        emulator.set_member(chat.id, emulator.bot_user, "administrator")
        chats.append(chat.id)
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b["text"], callback_data=b["data"]) for b in row]
            for row in payload["buttons"]
        ]
    )
    bot: ExtBot[Any] = ExtBot(
        emulator.token, base_url=emulator.base_url, rate_limiter=AIORateLimiter()
    )
    await bot.initialize()
    since = len(emulator.requests)
    deliveries.reset()
    errors = 0
    cpu = time.process_time()
    try:
        for chat_id in chats:  # the naive loop
            try:
                await bot.send_message(
                    chat_id, payload["text"], parse_mode=ParseMode.HTML, reply_markup=markup
                )
            except TelegramError:
                errors += 1
    finally:
        await bot.shutdown()
    cpu = time.process_time() - cpu
    return deliveries.result(
        "naive loop + AIORateLimiter", chats, refused_sends(emulator, since), errors, cpu
    )


def table(results: list[Result]) -> str:
    head = (
        f"{'':30} {'msgs':>5} {'seconds':>8} {'msg/s':>7} {'of 30/s':>8} "
        f"{'lost':>5} {'dup':>4} {'429s':>5} {'errors':>6} {'CPU s':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.name:30} {r.delivered:>5} {r.seconds:>8.1f} {r.per_second:>7.2f} "
            f"{r.ratio:>8.3f} {r.lost:>5} {r.duplicated:>4} {r.refused_429:>5} "
            f"{r.errors:>6} {r.cpu_seconds:>6.1f}"
        )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> list[Result]:
    content = load_content(default_content_dir())
    read = store.read_notice(SEED.read_bytes())
    async with Emulator() as emulator:
        emulator.latency = args.latency
        emulator.enforce_rate_limits(
            global_per_second=LIMIT, per_group_per_minute=20, per_private_per_second=None
        )
        deliveries = Deliveries(emulator, read.parsed.title)
        results = []
        with tempfile.TemporaryDirectory() as tmp:
            url = args.db or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            results.append(await firmbot_phase(emulator, deliveries, args.chats, url, Path(tmp)))
            print(table(results), flush=True)
        if not args.skip_baseline:
            from bot.db.models.notices import Notice

            notice = Notice(id=1, title=read.parsed.title, parsed=read.parsed.to_json_dict())
            notice.text = read.text
            payload = delivery.summary_payload(notice, content.texts, "zh_CN")
            results.append(await baseline_phase(emulator, deliveries, args.chats, payload))
    print()
    print(
        f"{args.chats} groups, {args.latency * 1000:.0f} ms latency per call, emulator "
        f"enforcing {LIMIT:.0f} messages/s overall and 20/min per group"
    )
    print(table(results))
    return results


if __name__ == "__main__":
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--json", help="also write the results to this file")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for noisy in ("httpx", "httpcore", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    arguments = parser.parse_args()
    measured = asyncio.run(main(arguments))
    if arguments.json:
        Path(arguments.json).write_text(json.dumps([asdict(r) for r in measured], indent=2) + "\n")
