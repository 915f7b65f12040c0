"""Updates: CPU seconds per update, FirmBot against a bare PTB echo bot, same stream.

One emulator (in this process) and one update stream: members of G groups pressing the
study check-in button, answering quiz polls and sending /ledger, in equal parts and in a
fixed random order. Each bot runs in a child process of its own (``child.py``) and long-polls
the emulator; we read that process's CPU time (user + system, all threads, from
/proc via psutil) before the first update and after the bot has handled the last one
and everything it triggered has settled (no API call for ``--settle`` seconds: FirmBot
edits a prompt's check-in count a moment later). The child's idle CPU rate, measured
beforehand, is subtracted for that settling wait. This process's own CPU (the emulator,
the injection) is never counted.

Setup, not timed: FirmBot registers the groups (as when the bot is added), the members
and ``--items`` open ledger items per group are seeded, the 09:00 study prompt goes out and
an admin starts a quiz round in each group.

The two bots run at the same time, the echo bot on a second emulator that mirrors the
first (same groups, members and ids) and is fed the same stream: both see the same
machine, whose speed drifts on a shared virtual machine. ``--one-after-the-other`` runs
them in turn on one emulator instead (the method before session 7). ``--bot echo`` holds
the echo bot against itself, which shows what the method alone varies by.

    .venv/bin/python -m bench.updates.run [--updates 2000] [--rate 100] [--db sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import (
    ROOT,
    Snapshot,
    backends,
    cpu_seconds,
    local,
    machine,
    quiet_logging,
    table,
    throwaway_database,
)
from bot.clock import FakeClock
from bot.content.loader import load_content
from bot.content.paths import default_content_dir
from bot.db.models import Member, User
from bot.db.models.ledger import OPEN, LedgerCounter, LedgerItem
from bot.sandbox.driver import BotHarness, GroupChat, harness_config, make_group
from bot.sandbox.emulator import Emulator, EmuUser

DAY = date(2023, 7, 25)  # a Tuesday
KINDS = ("checkin", "poll", "ledger")
BOT_NAMES = {"firmbot": "FirmBot", "echo": "PTB echo", "echo-aiohttp": "echo (aiohttp)"}


@dataclass
class Group:
    chat_id: int
    members: list[EmuUser]
    prompt_id: int
    checkin_data: str
    polls: list[tuple[str, int]]  # (poll id, number of options)


@dataclass(frozen=True)
class Item:
    kind: str
    chat_id: int
    user: EmuUser
    poll: tuple[str, int] | None = None
    option: int = 0


@dataclass
class Run:
    bot: str
    stream: str
    updates: int
    seconds: float  # first update injected -> last one handled
    cpu: float  # the bot process, idle rate subtracted for the settling wait
    idle_ms_per_s: float
    calls: int  # Bot API calls other than getUpdates
    errors: int
    polls: int  # getUpdates calls
    extra: dict[str, int] = field(default_factory=dict)
    round: int = 1
    role: str = "bot"  # "bot": the one measured; "baseline": the echo bot it is held against

    @property
    def cpu_ms_per_update(self) -> float:
        return self.cpu / self.updates * 1000


async def setup_world(emulator: Emulator, url: str, args: argparse.Namespace) -> list[Group]:
    content = load_content(default_content_dir())
    clock = FakeClock(local(DAY, 8, 50))
    harness = BotHarness(
        emulator, harness_config(emulator, url, log_level="WARNING"), clock, content=content
    )
    await harness.start()
    s = harness.services
    try:
        chats: list[GroupChat] = []
        for g in range(args.groups):
            names = [f"律师{g + 1:03d}-{m + 1:02d}" for m in range(args.members)]
            chats.append(await make_group(harness, f"律所{g + 1:03d}", names, admins=(names[1],)))
        now = clock.now()
        rng = random.Random(args.seed)
        async with s.db.session() as session:
            for chat in chats:
                users = list(chat.members.values())
                for user in users[1:]:  # the creator is known from adding the bot
                    session.add(
                        User(
                            id=user.id,
                            first_name=user.first_name,
                            language_code=user.language_code,
                            created_at=now,
                            last_seen_at=now,
                        )
                    )
                    await session.flush()  # the user row before its membership
                    session.add(
                        Member(
                            chat_id=chat.id,
                            user_id=user.id,
                            status="administrator" if user is users[1] else "member",
                            joined_at=now,
                            last_seen_at=now,
                        )
                    )
                for seq in range(1, args.items + 1):
                    owner = users[rng.randrange(len(users))]
                    session.add(
                        LedgerItem(
                            chat_id=chat.id,
                            year=DAY.year,
                            seq=seq,
                            problem=f"问题{seq}：学习记录不全，未按要求整理",
                            requirement=1 + seq % 5,
                            measures="每周整理一次学习记录并存档",
                            owner_user_id=owner.id,
                            owner_name=owner.first_name,
                            deadline_date=DAY + timedelta(days=rng.randint(-10, 40)),
                            status=OPEN,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                session.add(LedgerCounter(chat_id=chat.id, year=DAY.year, last_seq=args.items))
        clock.set(local(DAY, 9, 0))
        await harness.tick()
        for chat in chats:
            await chat.say(list(chat.members)[1], "/quiz")
        await harness.settle()
        groups = []
        for chat in chats:
            prompt = next(
                m
                for m in chat.messages()
                if m.reply_markup
                and any(
                    b.get("callback_data", "").startswith("study:in:")
                    for row in m.reply_markup["inline_keyboard"]
                    for b in row
                )
            )
            data = next(
                b["callback_data"]
                for row in (prompt.reply_markup or {})["inline_keyboard"]
                for b in row
                if b.get("callback_data", "").startswith("study:in:")
            )
            polls = [(m.poll["id"], len(m.poll["options"])) for m in chat.messages() if m.poll]
            if not polls:
                raise SystemExit(f"no quiz polls in {chat.id}:\n{emulator.describe()}")
            groups.append(
                Group(chat.id, list(chat.members.values()), prompt.message_id, data, polls)
            )
    finally:
        await harness.stop()
    return groups


def make_stream(
    groups: list[Group],
    count: int,
    kinds: tuple[str, ...],
    seed: int,
    answered: set[tuple[str, int]] | None = None,
) -> list[Item]:
    """``count`` updates, kinds in equal parts, groups and members at random; a member
    answers each poll at most once (Telegram forbids a second vote), also across the
    streams that share ``answered``."""
    rng = random.Random(seed)
    answered = set() if answered is None else answered
    items = []
    for n in range(count):
        kind = kinds[n % len(kinds)]
        group = groups[rng.randrange(len(groups))]
        if kind == "poll":
            for _ in range(100):
                poll = group.polls[rng.randrange(len(group.polls))]
                user = group.members[rng.randrange(len(group.members))]
                if (poll[0], user.id) not in answered:
                    break
            else:
                raise SystemExit("not enough poll answers left: use more --groups or --members")
            answered.add((poll[0], user.id))
            items.append(Item(kind, group.chat_id, user, poll, rng.randrange(poll[1])))
        else:
            items.append(
                Item(kind, group.chat_id, group.members[rng.randrange(len(group.members))])
            )
    rng.shuffle(items)
    return items


def injector(emulator: Emulator, groups: list[Group]) -> Callable[[Item], dict[str, Any]]:
    """Queues an item's update in the emulator; returns the update."""
    by_id = {g.chat_id: g for g in groups}

    def inject(item: Item) -> dict[str, Any]:
        group = by_id[item.chat_id]
        if item.kind == "checkin":
            return emulator.press_button(
                group.chat_id, group.prompt_id, item.user, data=group.checkin_data
            )
        if item.kind == "ledger":
            return emulator.send_message(group.chat_id, item.user, "/ledger")
        assert item.poll is not None
        return emulator.inject_update(
            {
                "poll_answer": {
                    "poll_id": item.poll[0],
                    "user": item.user.to_dict(),
                    "option_ids": [item.option],
                    "option_persistent_ids": [str(item.option)],
                }
            }
        )

    return inject


async def drop_pending(emulator: Emulator) -> None:
    """Confirm every queued update, as a bot's next getUpdates would."""
    url = f"{emulator.base_url}{emulator.token}/getUpdates"
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, params={"offset": emulator.last_update_id + 1, "timeout": 0}) as answer,
    ):
        answer.raise_for_status()


class Child:
    def __init__(self, proc: asyncio.subprocess.Process, pid: int) -> None:
        self.proc = proc
        self.pid = pid

    @classmethod
    async def start(cls, bot: str, emulator: Emulator, url: str) -> Child:
        command = [
            sys.executable, "-m", "bench.updates.child", bot,
            "--base-url", emulator.base_url, "--token", emulator.token,
            "--db", url, "--now", local(DAY, 9, 1).isoformat(),
        ]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        event = await cls._read(proc)
        return cls(proc, int(event["pid"]))

    @staticmethod
    async def _read(proc: asyncio.subprocess.Process) -> dict[str, Any]:
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        if not line:
            raise SystemExit("the bot process ended early")
        return json.loads(line)  # type: ignore[no-any-return]

    async def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def expecting(self) -> dict[str, Any]:
        return await self._read(self.proc)

    async def handled(self) -> dict[str, Any]:
        return await self._read(self.proc)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            await self.tell("quit")
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def busy_calls(emulator: Emulator, since: int) -> list[Any]:
    return [c for c in emulator.requests[since:] if c.method != "getUpdates"]


class Measurement:
    """One bot's run over one stream, in two halves around the injection of the stream."""

    def __init__(
        self, bot: str, name: str, emulator: Emulator, url: str, args: argparse.Namespace
    ) -> None:
        self.bot, self.name, self.emulator, self.url, self.args = bot, name, emulator, url, args
        self.child: Child
        self.idle_rate = 0.0  # CPU seconds a second, before the stream
        self.since = 0  # the emulator's first request of this run
        self.count = 0
        self.cpu0 = 0.0

    async def start(self, count: int) -> None:
        """Start the bot, take its idle rate, tell it to expect ``count`` updates; the
        caller reads ``cpu0`` just before the stream begins."""
        await drop_pending(self.emulator)
        self.child = await Child.start(self.bot, self.emulator, self.url)
        try:
            await asyncio.sleep(1.0)  # start-up work (menus, the first tick) is not counted
            idle_start = cpu_seconds(self.child.pid)
            await asyncio.sleep(2.0)
            self.idle_rate = (cpu_seconds(self.child.pid) - idle_start) / 2.0
            self.since = len(self.emulator.requests)
            self.count = count
            await self.child.tell(f"expect {count}")
            await self.child.expecting()
        except BaseException:
            await self.child.stop()
            raise

    async def finish(self, started: float) -> Run:
        """Wait until the bot has handled the stream and its effects are over; stop it."""
        args, emulator = self.args, self.emulator
        try:
            await asyncio.wait_for(self.child.handled(), args.timeout)
            done = time.monotonic()
            # Settle: the effects of the last updates (debounced edits) are the bot's cost too.
            seen = len(busy_calls(emulator, self.since))
            quiet_since = time.monotonic()
            while time.monotonic() - quiet_since < args.settle:
                await asyncio.sleep(0.1)
                now_seen = len(busy_calls(emulator, self.since))
                if now_seen != seen:
                    seen, quiet_since = now_seen, time.monotonic()
            cpu = (
                cpu_seconds(self.child.pid)
                - self.cpu0
                - self.idle_rate * (time.monotonic() - quiet_since)
            )
        finally:
            await self.child.stop()
        calls = busy_calls(emulator, self.since)
        methods: dict[str, int] = {}
        for call in calls:
            methods[call.method] = methods.get(call.method, 0) + 1
        return Run(
            bot=self.bot,
            stream=self.name,
            updates=self.count,
            seconds=done - started,
            cpu=cpu,
            idle_ms_per_s=self.idle_rate * 1000,
            calls=len(calls),
            errors=sum(1 for c in calls if c.status != 200),
            polls=sum(1 for c in emulator.requests[self.since :] if c.method == "getUpdates"),
            extra=methods,
        )


async def feed(
    stream: list[Item],
    inject: Callable[[Item], dict[str, Any]],
    mirror: Callable[[Item, dict[str, Any]], object] | None,
    args: argparse.Namespace,
) -> float:
    """Inject the stream at ``--rate`` (each item into the mirror too); returns the start."""
    started = time.monotonic()
    for n, item in enumerate(stream):
        update = inject(item)
        if mirror is not None:
            mirror(item, update)
        if args.rate:
            delay = started + (n + 1) / args.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        elif n % 100 == 99:
            await asyncio.sleep(0)
    return started


async def measure(
    bots: list[tuple[str, Emulator]],
    name: str,
    url: str,
    stream: list[Item],
    inject: Callable[[Item], dict[str, Any]],
    mirror: Callable[[Item, dict[str, Any]], object] | None,
    args: argparse.Namespace,
) -> list[Run]:
    """Run ``bots``, each on its own emulator, over the stream at the same time (the first
    emulator gets the stream from ``inject``, a second one from ``mirror``)."""
    runs = [Measurement(bot, name, emulator, url, args) for bot, emulator in bots]
    started_ok: list[Measurement] = []
    try:
        for m in runs:  # one after the other: start-up is busy and not measured
            await m.start(len(stream))
            started_ok.append(m)
        for m in runs:
            m.cpu0 = cpu_seconds(m.child.pid)
        started = await feed(stream, inject, mirror, args)
    except BaseException:
        for m in started_ok:
            await m.child.stop()
        raise
    # Each finish stops its own bot, also when the other one fails.
    finished = await asyncio.gather(*(m.finish(started) for m in runs), return_exceptions=True)
    for outcome in finished:
        if isinstance(outcome, BaseException):
            raise outcome
    return [run for run in finished if isinstance(run, Run)]


async def mirror_world(groups: list[Group]) -> Emulator:
    """A second emulator, for the echo bot in side-by-side mode: the same groups, members
    and ids, the bot an admin in each group (see ``mirroring``)."""
    mirror = Emulator()
    await mirror.start()
    for group in groups:  # the groups and members exist before the bot starts: no updates
        mirror.create_group(f"mirror {group.chat_id}", chat_id=group.chat_id)
        for member in group.members:
            mirror.set_member(group.chat_id, member)
        mirror.set_member(group.chat_id, mirror.bot_user, "administrator")
    return mirror


def mirroring(mirror: Emulator) -> Callable[[Item, dict[str, Any]], object]:
    """Puts each item into the mirror as well. A check-in press and a poll answer go in as
    a copy of the update the first emulator made (the callback query carries the study
    prompt as it stood, so both bots parse the same text); ``/ledger`` is sent by the same
    member in the same chat (the mirror stores it, so a reply to it is valid)."""

    def inject(item: Item, update: dict[str, Any]) -> object:
        if item.kind == "ledger":
            return mirror.send_message(item.chat_id, item.user, "/ledger")
        return mirror.inject_update(update)

    return inject


async def run_backend(backend: str, args: argparse.Namespace, tmp: Path) -> list[Run]:
    runs: list[Run] = []
    async with throwaway_database(backend, tmp) as url, Emulator() as emulator:
        groups = await setup_world(emulator, url, args)
        # Every FirmBot run starts from the set-up database: its votes are all new, and
        # the rounds of a stream compare like with like.
        snapshot = Snapshot(url, tmp)
        await snapshot.take()
        emulator.latency = args.latency
        inject = injector(emulator, groups)
        streams = [("mix", KINDS)]
        if args.by_kind:
            streams += [(kind, (kind,)) for kind in KINDS]
        if args.stream:
            streams = [(n, k) for n, k in streams + [(k, (k,)) for k in KINDS] if n in args.stream]
            streams = list(dict(streams).items())
        mirror: Emulator | None = None
        try:
            if args.side_by_side:
                mirror = await mirror_world(groups)
                mirror.latency = args.latency
            for round_ in range(1, args.repeat + 1):
                for number, (name, kinds) in enumerate(streams):
                    stream = make_stream(groups, args.updates, kinds, args.seed + number)
                    # (role, bot): the measured bot, and the echo bot it is compared with.
                    pair = [("bot", args.bot), ("baseline", args.echo)]
                    done: list[tuple[str, Run]] = []
                    if mirror is not None:
                        # Both bots at once, each on its own emulator: both see the same
                        # machine, whatever its speed is doing at the time.
                        if args.bot == "firmbot":
                            await snapshot.restore()
                        both = await measure(
                            [(args.bot, emulator), (args.echo, mirror)],
                            name, url, stream, inject, mirroring(mirror), args,
                        )  # fmt: skip
                        done = [(role, run) for (role, _), run in zip(pair, both, strict=True)]
                    else:
                        # One bot after the other, on the same stream; who goes first
                        # alternates, so a drift in the machine's speed does not always
                        # favour the same one.
                        for role, bot in pair if round_ % 2 == 0 else pair[::-1]:
                            if bot == "firmbot":
                                await snapshot.restore()
                            (run,) = await measure(
                                [(bot, emulator)], name, url, stream, inject, None, args
                            )
                            done.append((role, run))
                    for role, run in done:
                        run.round, run.role = round_, role
                        runs.append(run)
                        print(
                            f"[{backend}] round {round_} {name:7} {role:8} {run.bot:8} "
                            f"{run.cpu_ms_per_update:6.2f} ms CPU/update "
                            f"({run.calls} calls, {run.errors} errors)",
                            file=sys.stderr,
                            flush=True,
                        )
        finally:
            await snapshot.drop()
            if mirror is not None:
                await mirror.stop()
    return runs


async def main(args: argparse.Namespace) -> None:
    results: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="firmbot-bench-") as tmp:
        for backend in backends(args.db):
            results[backend] = await run_backend(backend, args, Path(tmp))
    print()
    pace = f"{args.rate:g} updates/s" if args.rate else "all at once"
    print(
        f"Updates: {args.updates} per stream ({pace}) from {args.groups} groups x "
        f"{args.members} members; emulator latency {args.latency * 1000:.0f} ms"
    )
    print(f"machine: {machine()}")
    rows = []
    summary = []
    for backend, runs in results.items():
        base = {(r.stream, r.round): r for r in runs if r.role == "baseline"}
        ratios: dict[str, list[float]] = {}
        for r in runs:
            ratio = r.cpu_ms_per_update / base[r.stream, r.round].cpu_ms_per_update
            if r.role == "bot":
                ratios.setdefault(r.stream, []).append(ratio)
            rows.append(
                (
                    backend, r.stream, r.round, BOT_NAMES[r.bot], r.role, r.updates,
                    r.seconds, r.cpu, r.cpu_ms_per_update,
                    ratio if r.role == "bot" else 1.0, r.calls, r.errors, r.polls,
                    r.idle_ms_per_s,
                )
            )  # fmt: skip
        for stream, values in ratios.items():
            summary.append(
                (
                    backend, stream, len(values), statistics.median(values), min(values),
                    max(values),
                )
            )  # fmt: skip
    print(
        table(
            [
                "db", "stream", "round", "bot", "role", "updates", "seconds", "CPU s",
                "CPU ms/update",
                "x echo", "API calls", "errors", "getUpdates", "idle CPU ms/s",
            ],
            rows,
        )
    )  # fmt: skip
    print()
    how = "side by side" if args.side_by_side else "one after the other"
    print(
        f"{BOT_NAMES[args.bot]} against {BOT_NAMES[args.echo]}, {how}, per round "
        "(goal: median <= 1.5):"
    )
    print(table(["db", "stream", "rounds", "median x echo", "lowest", "highest"], summary))
    if args.verbose:
        for backend, runs in results.items():
            for r in runs:
                print(f"[{backend}] {r.stream} {r.round} {r.role} {r.bot}: {r.extra}")


def add_world_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``setup_world`` and ``make_stream`` read (also ``inproc.py``'s)."""
    parser.add_argument("--groups", type=int, default=50, help="groups (50)")
    parser.add_argument("--members", type=int, default=20, help="members per group (20)")
    parser.add_argument("--items", type=int, default=12, help="open ledger items per group (12)")
    parser.add_argument("--seed", type=int, default=8)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.updates.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--updates", type=int, default=2000, help="updates per stream (2000)")
    parser.add_argument(
        "--rate", type=float, default=100.0, help="updates per second, 0 = all at once (100)"
    )
    add_world_arguments(parser)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per API call (0)")
    parser.add_argument("--settle", type=float, default=5.0, help="quiet seconds at the end (5)")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds per stream, each bot once a round (3)"
    )
    parser.add_argument("--by-kind", action="store_true", help="also one stream per kind of update")
    parser.add_argument(
        "--echo",
        choices=("echo", "echo-aiohttp"),
        default="echo",
        help="the bot to compare with: bare PTB (echo), or the same on FirmBot's HTTP client",
    )
    parser.add_argument(
        "--bot",
        choices=("firmbot", "echo", "echo-aiohttp"),
        default="firmbot",
        help="the bot measured (firmbot); echo against echo shows the method's own spread",
    )
    parser.add_argument(
        "--one-after-the-other",
        dest="side_by_side",
        action="store_false",
        help="run the bots in turn on one emulator (before session 7), not both at once on two",
    )
    parser.add_argument("--db", default="sqlite", help="sqlite, postgresql or both (sqlite)")
    parser.add_argument(
        "--stream", action="append", choices=("mix", *KINDS), help="only these streams"
    )
    parser.add_argument("--verbose", action="store_true", help="API calls by method")
    parser.add_argument("--quick", action="store_true", help="300 updates, 10 groups, one round")
    args = parser.parse_args(argv)
    if args.quick:
        args.updates, args.groups, args.repeat = 300, 10, 1
    return args


if __name__ == "__main__":
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    quiet_logging()
    asyncio.run(main(parse_args()))
