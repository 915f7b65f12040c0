"""What the benchmarks share: throwaway databases, bulk seeding, process metrics, tables.

Nothing here writes into the repository: SQLite files live in a temporary directory,
PostgreSQL databases are created on the server given by ``FIRMBOT_BENCH_PG`` (else
``FIRMBOT_TEST_PG``) and dropped afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
SHANGHAI = ZoneInfo("Asia/Shanghai")
PG_ENVS = ("FIRMBOT_BENCH_PG", "FIRMBOT_TEST_PG")
DUMMY_TOKEN = "123456789:BENCH-TOKEN-not-a-real-one-0000000"


# --- the machine and the process ---


def machine() -> str:
    """One line for the tables: CPUs, Python, SQLite."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cpus = os.cpu_count() or 0
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"{cpus} CPU{'s' if cpus != 1 else ''}{f' ({model})' if model else ''}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; "
        f"load average now {load} (other processes share the machine)"
    )


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (default: this one), MiB."""
    try:
        import psutil

        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except ImportError:
        with open(f"/proc/{pid or 'self'}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line") from None


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process so far (all its threads)."""
    try:
        import psutil

        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)
    except ImportError:
        ticks = os.sysconf("SC_CLK_TCK")
        with open(f"/proc/{pid or 'self'}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks


def quiet_logging(level: int = logging.WARNING) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "httpcore", "apscheduler", "aiohttp.access", "telegram.ext"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    body = [[_cell(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in body)
    return "\n".join(out)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@dataclass
class Samples:
    """Repeated measurements of one thing (seconds)."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def worst(self) -> float:
        return max(self.values) if self.values else float("nan")

    @property
    def p90(self) -> float:
        if not self.values:
            return float("nan")
        ordered = sorted(self.values)
        return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


# --- databases ---


def pg_admin_url() -> str | None:
    """An asyncpg URL of a server where databases may be created (None: not configured)."""
    for name in PG_ENVS:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


async def _pg_exec(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def migrate(url: str) -> None:
    from bot.config import DatabaseConfig
    from bot.db import Database

    db = Database(DatabaseConfig(url=url))
    try:
        await db.upgrade()
    finally:
        await db.dispose()


@asynccontextmanager
async def throwaway_database(backend: str, directory: Path) -> AsyncIterator[str]:
    """A migrated, empty database ("sqlite" or "postgresql"), removed afterwards."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        await migrate(url)
        yield url
        return
    admin = pg_admin_url()
    if admin is None:
        raise SystemExit(f"PostgreSQL: set {PG_ENVS[0]} (or {PG_ENVS[1]}) to an asyncpg URL")
    name = f"firmbot_bench_{uuid.uuid4().hex[:10]}"
    await _pg_exec(admin, f'CREATE DATABASE "{name}"')
    try:
        url = _with_database(admin, name)
        await migrate(url)
        yield url
    finally:
        await _pg_exec(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Snapshot:
    """A database's state kept aside, to put back before each run that should start from it.

    SQLite: a copy of the file (no process may have it open when taken or restored).
    PostgreSQL: a template database; restoring drops the database and makes it anew from
    the template, so the URL stays the same.
    """

    def __init__(self, url: str, directory: Path) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self._path = Path(url.split(":///", 1)[1])
            self._copy = directory / f"{self._path.name}.snapshot"
        else:
            self._name = url.rpartition("/")[2]
            self._template = f"{self._name}_snapshot"
        self._taken = False

    @staticmethod
    def _admin() -> str:
        admin = pg_admin_url()
        assert admin is not None, "a PostgreSQL database was made without an admin URL"
        return admin

    async def take(self) -> None:
        if self.url.startswith("sqlite"):
            with contextlib.closing(sqlite3.connect(self._path)) as db:  # all of the WAL in
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copyfile(self._path, self._copy)
        else:
            await _pg_exec(
                self._admin(), f'CREATE DATABASE "{self._template}" TEMPLATE "{self._name}"'
            )
        self._taken = True

    async def restore(self) -> None:
        if self.url.startswith("sqlite"):
            for leftover in (Path(f"{self._path}-wal"), Path(f"{self._path}-shm")):
                leftover.unlink(missing_ok=True)
            shutil.copyfile(self._copy, self._path)
            return
        await _pg_exec(
            self._admin(),
            f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)',
            f'CREATE DATABASE "{self._name}" TEMPLATE "{self._template}"',
        )

    async def drop(self) -> None:
        if self._taken and not self.url.startswith("sqlite"):
            await _pg_exec(
                self._admin(), f'DROP DATABASE IF EXISTS "{self._template}" WITH (FORCE)'
            )


def backends(arg: str) -> list[str]:
    """--db sqlite,postgresql (or "both"/"all"): the list, PostgreSQL only if configured."""
    wanted = ["sqlite", "postgresql"] if arg in ("both", "all") else arg.split(",")
    for name in wanted:
        if name not in ("sqlite", "postgresql"):
            raise SystemExit(f"--db: unknown backend {name!r} (sqlite, postgresql, both)")
    if "postgresql" in wanted and pg_admin_url() is None:
        print(f"PostgreSQL skipped: {PG_ENVS[0]} / {PG_ENVS[1]} not set", file=sys.stderr)
        wanted = [w for w in wanted if w != "postgresql"]
    return wanted


# --- seeding ---


def bench_config(
    url: str, base_url: str = "http://127.0.0.1:9/bot", token: str = DUMMY_TOKEN, **overrides: Any
) -> Any:
    """A FirmBot config for a benchmark process (defaults everywhere else)."""
    from bot.config import build_config

    data: dict[str, Any] = {
        "telegram": {"token": token, "base_url": base_url},
        "database": {"url": url},
        "log_level": "WARNING",
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return build_config(data, env={})


async def insert_rows(
    conn: Any, table_: Any, rows: list[dict[str, Any]], chunk: int = 5000
) -> None:
    for start in range(0, len(rows), chunk):
        await conn.execute(table_.insert(), rows[start : start + chunk])


@dataclass
class World:
    """What was seeded: group ids, their members, open item ids, and the seeding moment."""

    now: datetime
    chats: list[int]
    members: dict[int, list[int]]
    items: dict[int, list[int]]  # chat id -> ledger item ids
    hooks_version: str
    schedules: int = 0
    claims: int = 0
    seconds: float = 0.0


async def seed_world(
    url: str,
    chat_ids: Sequence[int],
    *,
    now: datetime,
    members_per_chat: int = 10,
    items_per_chat: int = 10,
    deadline_days: tuple[int, int] = (-14, 60),
    first_user_id: int = 500_000_001,
    history_days: int = 0,
    seed: int = 8,
) -> World:
    """Groups as registered by FirmBot, their members, open ledger items and every schedule.

    Each chat's own schedules (study, quiz, weekly report, ledger digest) are copied from
    what the real chat hooks derive for a template chat, so they are exactly what a
    registered group has; each open item gets its reminder ladder as
    ``bot.ledger.reminders.sync_item`` would arm it. ``history_days`` adds that many days of
    finished slot claims (what a running bot accumulates). Bulk inserts; not timed by callers.
    """
    import time

    from sqlalchemy import delete, select, text

    from bot.app import build_application
    from bot.calendar import WorkCalendar
    from bot.chats import effective_settings
    from bot.clock import FakeClock
    from bot.db.models import Chat, Member, Schedule, SlotClaim, User
    from bot.db.models.ledger import OPEN, LedgerCounter, LedgerItem
    from bot.ledger.reminders import (
        KIND_DIGEST,
        KIND_REMINDER,
        LadderSettings,
        ladder_ref,
        next_ladder_slot,
    )
    from bot.scheduling import day_matches
    from bot.services import get as get_services

    started = time.perf_counter()
    rng = random.Random(seed)
    config = bench_config(url)
    app = build_application(config, clock=FakeClock(now))
    s = get_services(app.bot_data)
    version = s.hooks_version
    template_id = -999_999_999_999
    # The template: the real hooks derive its schedules (one open item, so the digest too).
    async with s.db.session() as session:
        template = Chat(
            id=template_id,
            type="group",
            title="template",
            active=True,
            bot_is_admin=True,
            settings={},
            created_at=now,
            updated_at=now,
        )
        session.add(template)
        await session.flush()
        session.add(
            LedgerItem(
                chat_id=template_id,
                year=now.year,
                seq=1,
                problem="p",
                requirement=1,
                measures="m",
                owner_name="o",
                deadline_date=now.date() + timedelta(days=30),
                status=OPEN,
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        await s.run_chat_hooks(session, template)
    async with s.db.session() as session:
        shapes = [
            {
                "kind": row.kind,
                "ref": row.ref,
                "days": row.days,
                "time_of_day": row.time_of_day,
                "run_at": row.run_at,
                "timezone": row.timezone,
                "enabled": row.enabled,
                "next_due_at": row.next_due_at,
                "payload": row.payload,
            }
            for row in (
                await session.scalars(select(Schedule).where(Schedule.chat_id == template_id))
            ).all()
            if row.kind != KIND_REMINDER and (items_per_chat or row.kind != KIND_DIGEST)
        ]
        await session.execute(delete(Schedule).where(Schedule.chat_id == template_id))
        await session.execute(delete(LedgerItem).where(LedgerItem.chat_id == template_id))
        await session.execute(delete(LedgerCounter).where(LedgerCounter.chat_id == template_id))
        await session.execute(delete(Chat).where(Chat.id == template_id))
        ladder = LadderSettings.from_settings(effective_settings(template, config))
    zone = ladder.zone
    today = now.astimezone(zone).date()
    calendar = WorkCalendar()

    chats_rows: list[dict[str, Any]] = []
    users_rows: list[dict[str, Any]] = []
    member_rows: list[dict[str, Any]] = []
    schedule_rows: list[dict[str, Any]] = []
    item_rows: list[dict[str, Any]] = []
    counter_rows: list[dict[str, Any]] = []
    claim_rows: list[dict[str, Any]] = []
    members: dict[int, list[int]] = {}
    items: dict[int, list[int]] = {}
    user_id = first_user_id
    item_id = 0
    lo, hi = deadline_days
    for n, chat_id in enumerate(chat_ids):
        chats_rows.append(
            {
                "id": chat_id,
                "type": "group",
                "title": f"律所{n + 1:05d}",
                "active": True,
                "bot_is_admin": True,
                "settings": {},
                "created_at": now,
                "updated_at": now,
                "hooks_version": version,
            }
        )
        ids = []
        for m in range(members_per_chat):
            users_rows.append(
                {
                    "id": user_id,
                    "first_name": f"律师{user_id % 100_000:05d}",
                    "username": f"lawyer{user_id}",
                    "language_code": "zh-hans",
                    "private_chat_open": False,
                    "created_at": now,
                    "last_seen_at": now,
                }
            )
            member_rows.append(
                {
                    "chat_id": chat_id,
                    "user_id": user_id,
                    "status": "creator" if m == 0 else "member",
                    "joined_at": now,
                    "last_seen_at": now,
                }
            )
            ids.append(user_id)
            user_id += 1
        members[chat_id] = ids
        for shape in shapes:
            schedule_rows.append(
                {**shape, "chat_id": chat_id, "created_at": now, "updated_at": now}
            )
        items[chat_id] = []
        for seq in range(1, items_per_chat + 1):
            item_id += 1
            owner = ids[rng.randrange(len(ids))] if ids else None
            deadline = today + timedelta(days=rng.randint(lo, hi))
            item_rows.append(
                {
                    "id": item_id,
                    "chat_id": chat_id,
                    "year": today.year,
                    "seq": seq,
                    "problem": f"问题{seq}：学习记录不全，未按要求整理",
                    "requirement": 1 + seq % 5,
                    "goal": "",
                    "measures": "每周整理一次学习记录并存档",
                    "note": "",
                    "owner_user_id": owner,
                    "owner_name": f"律师{(owner or 0) % 100_000:05d}",
                    "deadline_date": deadline,
                    "status": OPEN,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            schedule_rows.append(
                {
                    "chat_id": chat_id,
                    "kind": KIND_REMINDER,
                    "ref": ladder_ref(item_id),
                    "days": "daily",
                    "time_of_day": ladder.time_of_day,
                    "run_at": None,
                    "timezone": zone.key,
                    "enabled": True,
                    "next_due_at": next_ladder_slot(deadline, now, ladder),
                    "payload": {},
                    "created_at": now,
                    "updated_at": now,
                }
            )
            items[chat_id].append(item_id)
        if items_per_chat:
            counter_rows.append(
                {"chat_id": chat_id, "year": today.year, "last_seq": items_per_chat}
            )
        for back in range(1, history_days + 1):
            day = today - timedelta(days=back)
            for shape in shapes:
                if shape["time_of_day"] is None or not day_matches(shape["days"], day, calendar):
                    continue
                hh, mm = (int(x) for x in shape["time_of_day"].split(":"))
                slot = datetime(day.year, day.month, day.day, hh, mm, tzinfo=zone).astimezone(UTC)
                claim_rows.append(_claim(chat_id, shape["kind"], shape["ref"], slot))
            # About one reminder a day per chat (a ladder rung of one of its items).
            if items[chat_id]:
                ref = ladder_ref(items[chat_id][back % len(items[chat_id])])
                slot = datetime(day.year, day.month, day.day, 9, 0, tzinfo=zone).astimezone(UTC)
                claim_rows.append(_claim(chat_id, KIND_REMINDER, ref, slot))

    async with s.db.engine.begin() as conn:
        await insert_rows(conn, Chat.__table__, chats_rows)
        await insert_rows(conn, User.__table__, users_rows)
        await insert_rows(conn, Member.__table__, member_rows)
        await insert_rows(conn, LedgerItem.__table__, item_rows)
        await insert_rows(conn, LedgerCounter.__table__, counter_rows)
        await insert_rows(conn, Schedule.__table__, schedule_rows)
        await insert_rows(conn, SlotClaim.__table__, claim_rows)
        if s.db.dialect == "postgresql":
            await conn.execute(
                text("SELECT setval(pg_get_serial_sequence('ledger_items', 'id'), :n)"),
                {"n": max(item_id, 1)},
            )
    if s.db.dialect == "postgresql":
        # Autovacuum would do this soon after such a load; SQLite is left as a bot leaves
        # it (FirmBot never runs ANALYZE there).
        async with s.db.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    await s.db.dispose()
    return World(
        now=now,
        chats=list(chat_ids),
        members=members,
        items=items,
        hooks_version=version,
        schedules=len(schedule_rows),
        claims=len(claim_rows),
        seconds=time.perf_counter() - started,
    )


def _claim(chat_id: int, kind: str, ref: str, slot: datetime) -> dict[str, Any]:
    return {
        "chat_id": chat_id,
        "kind": kind,
        "ref": ref,
        "slot_at": slot,
        "status": "done",
        "claimed_by": "bench:1:history",
        "claimed_at": slot,
        "lease_until": None,
        "finished_at": slot + timedelta(seconds=2),
        "error": None,
    }


def local(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    """A moment in Shanghai."""
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=SHANGHAI)
