"""The bot's HTTP server (TG): Telegram's webhook, ``/healthz`` and ``/metrics``.

Webhook mode: Telegram (through nginx) POSTs each update to ``webhook.path`` with the
secret in ``X-Telegram-Bot-Api-Secret-Token``. The answer comes only after the update
was handled, so its status tells Telegram the truth:

- 403: the secret is missing or wrong (compared in constant time); nothing is read;
- 200: handled, or handled before (a repeated delivery, see ``bot.processed_updates``);
- 503: not handled, deliver it again: the database (or another piece of infrastructure)
  was unavailable;
- 409: another process is handling the same update right now; deliver it again later
  (not 503: nginx would count that process as failing and try the next one).

Handler exceptions never reach us: PTB routes them to the error handlers. The first
error handler, ``on_infrastructure_error``, sees the request's ``UpdateOutcome`` through
a context variable set around ``process_update`` (the handlers run in the request's task);
for an infrastructure error it records the failure and stops the update's remaining
handlers, since the whole update will be handled again. Other errors (bugs, bad input)
go on to the usual error handler and the update counts as handled: a repeat would fail
the same way. Polling mode never sets the variable, so nothing changes there.

``/healthz``: 200 ``{"status": "ok", "database": "ok", "scheduler": "ok", ...}`` or 503.
``/metrics``: Prometheus text format; only counts and kinds, never a token or a secret.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from telegram import Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import coordination, outbox
from bot import processed_updates as claims
from bot.clock import Clock
from bot.config import ConfigError
from bot.db import Database, DatabaseUnavailable
from bot.db.models import Schedule
from bot.services import Services
from bot.services import get as get_services
from handlers.common import FirmBotApp

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEB_KEY = "firmbot.web"
# /healthz and /metrics give the database this long to answer.
PROBE_TIMEOUT = 2.0
# SQLSTATE classes worth a retry: connection exception, transaction rollback
# (serialization failure, deadlock), insufficient resources, operator intervention
# (admin shutdown, cannot connect now), system error.
_RETRY_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
# A concurrent writer inserted the same row first (two updates of one new user at once);
# the repeat finds the row and succeeds.
_UNIQUE_VIOLATION = "23505"


# --- which failures deserve another delivery ---


def _sqlstate(exc: BaseException) -> str | None:
    for candidate in (exc, exc.__cause__):
        if candidate is None:
            continue
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str) and len(code) == 5:
            return code
    return None


def _transient(exc: BaseException) -> bool:
    if isinstance(
        exc,
        DatabaseUnavailable
        | ConnectionError
        | TimeoutError
        | sa_exc.TimeoutError
        | sa_exc.DisconnectionError,
    ):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            return True  # lost connection; SQLite: "database is locked"
        code = _sqlstate(exc.orig) if exc.orig is not None else None
        if code is not None:
            return code[:2] in _RETRY_SQLSTATE_CLASSES or code == _UNIQUE_VIOLATION
        return isinstance(exc, sa_exc.IntegrityError) and "UNIQUE constraint failed" in str(
            exc.orig
        )
    code = _sqlstate(exc)  # a driver exception that escaped SQLAlchemy
    return code is not None and code[:2] in _RETRY_SQLSTATE_CLASSES


def infrastructure_error(exc: BaseException) -> str | None:
    """The exception's class name if handling it again later may succeed, else None."""
    current: BaseException | None = exc
    for _ in range(5):
        if current is None:
            return None
        if _transient(current):
            return type(current).__name__
        current = current.__cause__ or current.__context__
    return None


@dataclass
class UpdateOutcome:
    """What became of one webhook update while its handlers ran."""

    update_id: int
    error: str | None = None
    open: bool = True


_outcome: ContextVar[UpdateOutcome | None] = ContextVar("firmbot_update_outcome", default=None)


async def on_infrastructure_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The first error handler: a webhook update that failed for an infrastructure reason
    is abandoned whole (answered 503, so Telegram delivers it again)."""
    outcome = _outcome.get()
    if outcome is None or not outcome.open or context.error is None:
        return
    if not isinstance(update, Update) or update.update_id != outcome.update_id:
        return
    kind = infrastructure_error(context.error)
    if kind is None:
        return
    outcome.error = kind
    logger.warning(
        "update %s not handled (%s); Telegram will deliver it again", update.update_id, kind
    )
    raise ApplicationHandlerStop


# --- claims of this process ---


class ClaimKeeper:
    """This process's update claims: in flight, heartbeats, and writes to retry."""

    def __init__(self, db: Database, clock: Clock, owner: str, lease_seconds: int) -> None:
        self.db = db
        self.clock = clock
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self.in_flight: set[int] = set()
        # update_id -> the error to release it with, or None to mark it done; written
        # when the database is back.
        self.pending: dict[int, str | None] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_prune: datetime | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="update-claims")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.flush()

    async def claim(self, update_id: int) -> claims.Claim:
        if update_id in self.in_flight:
            return claims.Claim.BUSY
        if update_id in self.pending:
            # Our earlier attempt's outcome is not written yet: write it first.
            await self.flush()
        async with self.db.session() as session:
            return await claims.claim(
                session, update_id, self.owner, self.clock.now(), lease=self.lease
            )

    async def settle(self, update_id: int, error: str | None) -> None:
        """Release (error) or finish the claim; kept for later if the database is away."""
        self.pending[update_id] = error
        try:
            await self.flush()
        except Exception as exc:
            logger.warning(
                "update %s: outcome not recorded yet (%s); retrying", update_id, type(exc).__name__
            )

    async def flush(self) -> None:
        for update_id, error in list(self.pending.items()):
            async with self.db.session() as session:
                if error is None:
                    await claims.finish(session, update_id, self.clock.now())
                else:
                    await claims.release(session, update_id, self.owner, error)
            self.pending.pop(update_id, None)

    async def _run(self) -> None:
        interval = max(self.lease.total_seconds() / 3, 1.0)
        while True:
            await asyncio.sleep(interval)
            try:
                now = self.clock.now()
                async with self.db.session() as session:
                    await claims.heartbeat(session, self.in_flight, self.owner, now)
                await self.flush()
                if self._last_prune is None or now - self._last_prune > timedelta(hours=1):
                    async with self.db.session() as session:
                        pruned = await claims.prune(session, now)
                    self._last_prune = now
                    if pruned:
                        logger.info("forgot %d old webhook updates", pruned)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("update claims upkeep failed: %s", type(exc).__name__)


# --- health and metrics ---


@dataclass
class Probe:
    """What /healthz and /metrics report, gathered once per request."""

    database: str = "ok"
    outbox_depth: int | None = None
    scheduler_lag: float | None = None

    @property
    def database_ok(self) -> bool:
        return self.database == "ok"


async def probe(services: Services, *, queries: bool) -> Probe:
    """Ping the database (and with ``queries``, count the outbox and the scheduler's lag)."""
    result = Probe()
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await services.db.ping()
            if queries:
                now = services.clock.now()
                async with services.db.session() as session:
                    result.outbox_depth = await outbox.depth(session)
                    oldest = await session.scalar(
                        select(func.min(Schedule.next_due_at)).where(
                            Schedule.enabled.is_(True), Schedule.next_due_at <= now
                        )
                    )
                result.scheduler_lag = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
    except DatabaseUnavailable:
        result.database = "unreachable"
    except TimeoutError:
        result.database = "timeout"
    except Exception as exc:
        result.database = f"error: {type(exc).__name__}"
    return result


class _Snapshot(Collector):
    """Yields the values of one scrape (collected beforehand: the queries are async)."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> list[Metric]:
        return self.metrics


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def metric_families(services: Services, server: WebServer | None, result: Probe) -> list[Metric]:
    stats = services.sender.stats
    coord = coordination.get(services.extras)
    metrics: list[Metric] = [
        _counter(
            "firmbot_updates_handled", "Updates handled by this process", services.tracker.handled
        ),
        _counter("firmbot_messages_sent", "Messages sent by this process", stats.sent),
        _counter("firmbot_message_edits", "Messages edited by this process", stats.edits),
        _counter("firmbot_send_retries", "Bot API calls retried", stats.retries),
        _counter(
            "firmbot_outbox_delivered",
            "Outbox rows delivered by this process",
            services.outbox.delivered,
        ),
        _gauge("firmbot_database_up", "1 if the database answered", int(result.database_ok)),
        _gauge(
            "firmbot_leader",
            "1 if this process runs the scheduler and the outbox",
            int(coord.is_leader),
        ),
    ]
    errors = CounterMetricFamily("firmbot_send_errors", "Bot API errors by kind", labels=["kind"])
    for kind, count in sorted(stats.errors.items()):
        errors.add_metric([kind], count)
    metrics.append(errors)
    if result.outbox_depth is not None:
        metrics.append(
            _gauge("firmbot_outbox_depth", "Outbox rows pending or in flight", result.outbox_depth)
        )
    if result.scheduler_lag is not None:
        metrics.append(
            _gauge(
                "firmbot_scheduler_lag_seconds",
                "Seconds the oldest due scheduled slot has waited (0: none due)",
                result.scheduler_lag,
            )
        )
    age = coord.ticks.age()
    if age is not None:
        metrics.append(
            _gauge("firmbot_scheduler_tick_age_seconds", "Seconds since the tick job last ran", age)
        )
    if server is not None and server.webhook:
        requests = CounterMetricFamily(
            "firmbot_webhook_requests", "Webhook requests by result", labels=["result"]
        )
        for name, count in sorted(server.results.items()):
            requests.add_metric([name], count)
        metrics.append(requests)
    return metrics


def render_metrics(metrics: list[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(metrics))
    ProcessCollector(registry=registry)
    return generate_latest(registry)


# --- the server ---


class WebServer:
    """aiohttp on ``listen:port``: the webhook (webhook mode), /healthz and /metrics."""

    def __init__(self, app: FirmBotApp, *, listen: str, port: int, webhook: bool) -> None:
        self.app = app
        self.services = get_services(app.bot_data)
        config = self.services.config
        self.listen = listen
        self.requested_port = port
        self.webhook = webhook
        self.path = config.webhook.path
        self._secret = (config.webhook.secret_token or "").encode()
        if webhook and not self._secret:
            raise ValueError("webhook mode needs webhook.secret_token")
        self.keeper = ClaimKeeper(
            self.services.db,
            self.services.clock,
            self.services.scheduler.owner,
            config.webhook.claim_lease_seconds,
        )
        self.results: collections.Counter[str] = collections.Counter()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the web server is not running")
        return self._port

    async def start(self) -> None:
        server = web.Application()
        if self.webhook:
            server.router.add_post(self.path, self._handle_webhook)
        server.router.add_get("/healthz", self._handle_health)
        server.router.add_get("/metrics", self._handle_metrics)
        # access_log=None: nothing of a request line is worth a log line per update.
        runner = web.AppRunner(server, access_log=None, shutdown_timeout=15.0)
        await runner.setup()
        site = web.TCPSite(runner, self.listen, self.requested_port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            section = "webhook" if self.webhook else "http"
            raise ConfigError(
                f"{section}.port: cannot listen on {self.listen}:{self.requested_port} "
                f"({exc.strerror or exc})"
            ) from None
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        if self.webhook:
            self.keeper.start()
        logger.info("HTTP server on %s:%d", self.listen, self._port)

    async def stop(self) -> None:
        """Stop taking requests; requests being handled finish (up to 15 s)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        await self.keeper.stop()

    # --- webhook ---

    async def _handle_webhook(self, request: web.Request) -> web.Response:
        # surrogateescape: a header that is not UTF-8 is a wrong secret (403), not a 500.
        given = request.headers.get(SECRET_HEADER, "").encode(errors="surrogateescape")
        if not hmac.compare_digest(given, self._secret):
            self.results["refused"] += 1
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json()
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
            update = Update.de_json(data, self.app.bot)
        except Exception as exc:
            self.results["bad_request"] += 1
            logger.error("webhook: unreadable update (%s)", type(exc).__name__)
            return web.Response(status=400, text="bad update")
        status = await self.handle(update)
        return web.Response(status=status, text="ok" if status == 200 else "retry later")

    async def handle(self, update: Update) -> int:
        """Claim, handle and settle one update; the HTTP status to answer with."""
        update_id = update.update_id
        try:
            claim = await self.keeper.claim(update_id)
        except Exception as exc:
            self.results["unavailable"] += 1
            logger.warning("update %s: cannot claim it (%s)", update_id, type(exc).__name__)
            return 503
        if claim is claims.Claim.DONE:
            self.results["duplicate"] += 1
            logger.info("update %s was handled before; not again", update_id)
            return 200
        if claim is claims.Claim.BUSY:
            self.results["busy"] += 1
            return 409
        if claim is claims.Claim.GAVE_UP:
            self.results["gave_up"] += 1
            logger.error("update %s failed %d times; giving up", update_id, claims.MAX_ATTEMPTS)
            return 200
        outcome = UpdateOutcome(update_id)
        token = _outcome.set(outcome)
        self.keeper.in_flight.add(update_id)
        try:
            await self.app.update_processor.process_update(update, self.app.process_update(update))
        except Exception as exc:
            outcome.error = type(exc).__name__
            logger.exception("update %s: processing failed", update_id)
        finally:
            outcome.open = False
            _outcome.reset(token)
            self.keeper.in_flight.discard(update_id)
        await self.keeper.settle(update_id, outcome.error)
        if outcome.error is not None:
            self.results["failed"] += 1
            return 503
        self.results["handled"] += 1
        return 200

    # --- health and metrics ---

    async def health(self) -> tuple[bool, dict[str, Any]]:
        s = self.services
        result = await probe(s, queries=False)
        coord = coordination.get(s.extras)
        scheduler_ok, scheduler = coord.ticks.state(s.config.scheduling.tick_seconds)
        ok = result.database_ok and scheduler_ok
        body: dict[str, Any] = {
            "status": "ok" if ok else "unhealthy",
            "database": result.database,
            "scheduler": scheduler,
            "leader": coord.is_leader,
            "mode": "webhook" if self.webhook else "polling",
            "updates_handled": s.tracker.handled,
        }
        return ok, body

    async def _handle_health(self, request: web.Request) -> web.Response:
        ok, body = await self.health()
        return web.json_response(body, status=200 if ok else 503)

    async def _handle_metrics(self, request: web.Request) -> web.Response:
        result = await probe(self.services, queries=True)
        body = render_metrics(metric_families(self.services, self, result))
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def get(services: Services) -> WebServer | None:
    value = services.extras.get(WEB_KEY)
    return value if isinstance(value, WebServer) else None
