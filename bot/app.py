"""build_application(config): the PTB application with every shared object wired in (TG)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from telegram import Update
from telegram.ext import ApplicationBuilder, BaseUpdateProcessor, ContextTypes

import handlers
from bot import chats, coordination
from bot.calendar import WorkCalendar
from bot.clock import Clock
from bot.config import Config, ConfigError
from bot.content.loader import Content, load_content
from bot.db import Database
from bot.outbox_worker import OutboxWorker
from bot.permissions import Permissions
from bot.scheduling import Scheduler
from bot.seen import SeenRecorder
from bot.sender import Sender
from bot.services import SERVICES_KEY, Services
from bot.services import get as get_services
from bot.transport import AiohttpRequest, RawBot
from bot.web import WEB_KEY, WebServer, on_infrastructure_error
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
    # aiohttp, not PTB's default httpx: a quarter of the CPU per call (bot/transport.py).
    bot = RawBot(
        token,
        base_url=config.telegram.base_url,
        base_file_url=config.telegram.file_url(),
        # Room for the sender's parallel sends plus handlers' own calls.
        request=AiohttpRequest(
            connection_pool_size=config.sender.concurrency + 16, pool_timeout=30.0
        ),
        get_updates_request=AiohttpRequest(),
    )
    app = (
        ApplicationBuilder()
        .bot(bot)
        .concurrent_updates(PerChatUpdateProcessor(config.telegram.concurrent_updates))
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
        seen=SeenRecorder(db),
        settings=chats.SettingsCache(config, db),
    )
    services.extras[coordination.SERVICES_KEY] = coordination.Coordinator(db)
    app.bot_data[SERVICES_KEY] = services
    # Before handlers.register adds the usual error handler: a webhook update that failed
    # because the database was unavailable is answered 503 and delivered again (bot/web.py).
    app.add_error_handler(on_infrastructure_error)
    handlers.register(app)
    return app


async def job_scheduler_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Wake the scheduler; the database decides what is due."""
    s = get_services(context.bot_data)
    coord = coordination.get(s.extras)
    coord.ticks.job_ran()
    if not coord.is_leader:
        return  # another process runs the scheduler (bot/coordination.py)
    lock: asyncio.Lock = s.extras.setdefault("tick_lock", asyncio.Lock())
    if lock.locked():
        return  # a tick is running; it will see everything due
    async with lock:
        with coord.ticks.ticking():
            await s.scheduler.tick()
        # Schedules changed by another process wake this one at their time, too.
        if coord.shared and s.scheduler.on_change is not None:
            due = await s.scheduler.next_due_at()
            if due is not None:
                s.scheduler.on_change(due)


def _log_sync_result(task: asyncio.Task[int]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        logger.error("deriving schedules for older groups failed", exc_info=error)
    elif task.result():
        logger.info("derived the schedules of %d groups registered earlier", task.result())


async def startup(app: FirmBotApp, *, jobs: bool = True) -> None:
    """After ``app.initialize()``: migrate, menus, background workers, the tick job."""
    s = get_services(app.bot_data)
    # Processes starting together on PostgreSQL migrate one at a time.
    async with coordination.migration_lock(s.db):
        await s.db.upgrade()
    s.bot_username = app.bot.username or ""
    await handlers.core.set_command_menu(app, handlers.MENU)
    coord = coordination.get(s.extras)

    async def lead() -> None:
        s.outbox.start()
        # Groups registered before a feature shipped get its schedules (in the background:
        # after the first start with a new feature it finds nothing to do).
        if "hooks_sync" not in s.extras:
            task = asyncio.create_task(s.sync_chat_hooks(), name="hooks-sync")
            task.add_done_callback(_log_sync_result)
            s.extras["hooks_sync"] = task
        if jobs and app.job_queue is not None:
            app.job_queue.run_once(
                job_scheduler_tick, 0.0, name=WAKE_JOB, job_kwargs={"misfire_grace_time": None}
            )

    async def follow() -> None:
        await s.outbox.stop()

    # The outbox and the scheduler tick run in the leader only (one process at a time).
    coord.on_gain.append(lead)
    coord.on_loss.append(follow)
    coord.ticks.enabled = jobs and app.job_queue is not None
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
            when = max(delay, 0.0) + 0.05
            target = time.time() + when
            for job in app.job_queue.get_jobs_by_name(WAKE_JOB):
                if job.next_t is not None and abs(job.next_t.timestamp() - target) < 0.5:
                    return  # already woken up then
            app.job_queue.run_once(
                job_scheduler_tick,
                when=when,
                name=WAKE_JOB,
                job_kwargs={"misfire_grace_time": None},
            )

        s.scheduler.on_change = wake_at
    await coord.start()


def freeze_startup_objects() -> None:
    """Move everything alive now out of the garbage collector's view (``firmbot run``).

    Everything built at start-up lives as long as the process: frozen, the ~220,000
    objects leave full garbage collections, whose 0.1 s pauses drew 429s in a morning
    peak (bench/morning). Not for tests: frozen objects are never collected.
    """
    gc.collect()
    gc.freeze()


async def shutdown(app: FirmBotApp) -> None:
    s = get_services(app.bot_data)
    s.scheduler.on_change = None
    sync: asyncio.Task[int] | None = s.extras.pop("hooks_sync", None)
    if sync is not None and not sync.done():
        sync.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sync
    await coordination.get(s.extras).stop()
    await s.outbox.stop()
    await s.seen.close()
    await s.db.dispose()


@asynccontextmanager
async def running(
    app: FirmBotApp, *, polling: bool = True, poll_timeout: int = 30, jobs: bool = True
) -> AsyncIterator[FirmBotApp]:
    """Start the application and stop it cleanly.

    ``polling``: take updates, by long polling or, when ``telegram.mode`` is webhook, by
    serving the webhook (False: a process that shares the database but takes no updates).
    """
    s = get_services(app.bot_data)
    config = s.config
    server: WebServer | None = None
    await app.initialize()
    try:
        await startup(app, jobs=jobs)
        await app.start()
        if polling and config.telegram.mode == "webhook":
            server = await _serve_http(app, config.webhook.listen, config.webhook.port, True)
            # Every process sets the same webhook; none deletes it on the way out, since
            # the others still serve it (polling mode's start deletes it).
            await app.bot.set_webhook(
                url=str(config.webhook.url),
                secret_token=config.webhook.secret_token,
                allowed_updates=Update.ALL_TYPES,
                max_connections=config.webhook.max_connections,
                drop_pending_updates=False,
            )
        elif polling:
            assert app.updater is not None
            await app.updater.start_polling(
                poll_interval=0.0,
                timeout=poll_timeout,
                allowed_updates=Update.ALL_TYPES,
                drop_pending_updates=False,
            )
        if server is None and config.http.port is not None:
            server = await _serve_http(app, config.http.listen, config.http.port, False)
        yield app
    finally:
        if server is not None:
            await server.stop()
            s.extras.pop(WEB_KEY, None)
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await shutdown(app)
        await app.shutdown()


async def _serve_http(app: FirmBotApp, listen: str, port: int, webhook: bool) -> WebServer:
    server = WebServer(app, listen=listen, port=port, webhook=webhook)
    await server.start()
    get_services(app.bot_data).extras[WEB_KEY] = server
    return server
