"""build_application(config): the PTB application with every shared object wired in (TG)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from telegram import Update
from telegram.ext import ApplicationBuilder, BaseUpdateProcessor, ContextTypes

import handlers
from bot import chats
from bot.calendar import WorkCalendar
from bot.clock import Clock
from bot.config import Config, ConfigError
from bot.content.loader import Content, load_content
from bot.db import Database
from bot.outbox_worker import OutboxWorker
from bot.permissions import Permissions
from bot.scheduling import Scheduler
from bot.sender import Sender
from bot.services import SERVICES_KEY, Services
from bot.services import get as get_services
from handlers.common import FirmBotApp

logger = logging.getLogger(__name__)

TICK_JOB = "scheduler_tick"
WAKE_JOB = "scheduler_wake"


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; one chat's updates run in order.

    In order per chat keeps a reply after the message it answers and a check-in after
    the prompt it checks in to; concurrency across chats keeps a busy group from
    delaying the others.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        # chat id -> (its lock, how many updates hold or wait for it)
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    @staticmethod
    def _key(update: object) -> int:
        if isinstance(update, Update):
            if update.effective_chat is not None:
                return update.effective_chat.id
            if update.effective_user is not None:
                return update.effective_user.id
        return 0

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = self._key(update)
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""


def build_application(
    config: Config,
    *,
    clock: Clock | None = None,
    content: Content | None = None,
    scheduler_owner: str | None = None,
    retry_base_seconds: float = 0.5,
) -> FirmBotApp:
    """The application, not yet started. Raises ConfigError without a token."""
    token = config.telegram.token
    if not token:
        raise ConfigError("telegram.token: not set")
    clock = clock or Clock()
    content = content or load_content(config.content_path, config.extra_content)
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(config.telegram.base_url)
        .base_file_url(config.telegram.file_url())
        .concurrent_updates(PerChatUpdateProcessor(config.telegram.concurrent_updates))
        # Room for the sender's parallel sends plus handlers' own calls.
        .connection_pool_size(config.sender.concurrency + 16)
        .pool_timeout(30.0)
        .build()
    )
    db = Database(config.database)
    calendar = WorkCalendar(config.scheduling.extra_holidays, config.scheduling.extra_workdays)
    scheduler = Scheduler(db, clock, config.scheduling, calendar, owner=scheduler_owner)

    async def on_forbidden(chat_id: int, description: str) -> None:
        now = clock.now()
        async with db.session() as session:
            if chat_id > 0:
                from bot.db.models import User

                user = await session.get(User, chat_id)
                if user is not None:
                    user.private_chat_open = False
                return
            await chats.set_active(session, chat_id, False, now)
            await scheduler.set_enabled(session, chat_id, False)

    async def on_migrated(old: int, new: int) -> None:
        await chats.migrate_chat_retrying(db, old, new, clock.now())

    sender = Sender(
        app.bot,
        config.sender,
        on_forbidden=on_forbidden,
        on_migrated=on_migrated,
        retry_base_seconds=retry_base_seconds,
    )
    outbox = OutboxWorker(
        db,
        sender,
        clock,
        scheduler.owner,
        concurrency=config.sender.concurrency,
        lease_seconds=config.scheduling.lease_seconds,
    )
    services = Services(
        config=config,
        db=db,
        clock=clock,
        texts=content.texts,
        content=content,
        calendar=calendar,
        scheduler=scheduler,
        permissions=Permissions(config.admins),
        sender=sender,
        outbox=outbox,
    )
    app.bot_data[SERVICES_KEY] = services
    handlers.register(app)
    return app


async def job_scheduler_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Wake the scheduler; the database decides what is due."""
    s = get_services(context.bot_data)
    lock: asyncio.Lock = s.extras.setdefault("tick_lock", asyncio.Lock())
    if lock.locked():
        return  # a tick is running; it will see everything due
    async with lock:
        await s.scheduler.tick()


async def startup(app: FirmBotApp, *, jobs: bool = True) -> None:
    """After ``app.initialize()``: migrate, menus, background workers, the tick job."""
    s = get_services(app.bot_data)
    await s.db.upgrade()
    s.bot_username = app.bot.username or ""
    await handlers.core.set_command_menu(app, handlers.MENU)
    s.outbox.start()
    if jobs and app.job_queue is not None:
        interval = s.config.scheduling.tick_seconds
        app.job_queue.run_repeating(
            job_scheduler_tick,
            interval=interval,
            first=0.0,  # catch up on whatever fell due while we were down
            name=TICK_JOB,
            job_kwargs={
                # A late tick still runs (the DB knows what is due); never APScheduler's 1 s.
                "misfire_grace_time": None,
                "coalesce": True,
                "max_instances": 1,
            },
        )

        def wake_at(due: datetime) -> None:
            delay = (due - s.clock.now()).total_seconds()
            if app.job_queue is None or delay >= interval:
                return  # the repeating tick gets there first
            app.job_queue.run_once(
                job_scheduler_tick,
                when=max(delay, 0.0) + 0.05,
                name=WAKE_JOB,
                job_kwargs={"misfire_grace_time": None},
            )

        s.scheduler.on_change = wake_at


async def shutdown(app: FirmBotApp) -> None:
    s = get_services(app.bot_data)
    s.scheduler.on_change = None
    await s.outbox.stop()
    await s.db.dispose()


@asynccontextmanager
async def running(
    app: FirmBotApp, *, polling: bool = True, poll_timeout: int = 30, jobs: bool = True
) -> AsyncIterator[FirmBotApp]:
    """Start the application (long polling unless told otherwise) and stop it cleanly."""
    await app.initialize()
    try:
        await startup(app, jobs=jobs)
        await app.start()
        if polling:
            assert app.updater is not None
            await app.updater.start_polling(
                poll_interval=0.0,
                timeout=poll_timeout,
                allowed_updates=Update.ALL_TYPES,
                drop_pending_updates=False,
            )
        yield app
    finally:
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await shutdown(app)
        await app.shutdown()
