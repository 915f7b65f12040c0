"""Webhook mode in-process: the secret, updates handled once, 503 for retries, health, metrics."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from bot import chats, coordination
from bot import outbox as outbox_mod
from bot import processed_updates as claims
from bot.clock import FakeClock
from bot.config import ConfigError, build_config, load_config
from bot.content.loader import Content
from bot.db import DatabaseUnavailable
from bot.db.models import ProcessedUpdate, Schedule
from bot.sandbox.driver import BotHarness, GroupChat, harness_config
from bot.sandbox.emulator import Emulator
from bot.web import SECRET_HEADER, infrastructure_error
from bot.web import get as get_web
from tests.e2e.cluster import free_port

SECRET = "wh-Secret_0123456789abcdefXYZ"


def webhook_overrides(port: int, **webhook: Any) -> dict[str, Any]:
    return {
        "telegram": {"mode": "webhook"},
        "webhook": {
            "url": f"http://127.0.0.1:{port}/telegram",
            "port": port,
            "secret_token": SECRET,
            **webhook,
        },
    }


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return webhook_overrides(free_port())


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator() as emu:
        emu.webhook_retry_base = 0.02  # Telegram waits longer; tests need not
        emu.webhook_timeout = 15.0
        yield emu


def web_port(harness: BotHarness) -> int:
    server = get_web(harness.services)
    assert server is not None
    return server.port


async def post(
    port: int, body: Any, *, secret: str | None = SECRET, path: str = "/telegram"
) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{port}{path}", data=json.dumps(body), headers=headers
        ) as response,
    ):
        return response.status, await response.text()


async def get(port: int, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, await response.text()


def message_update(update_id: int, chat_id: int, user: dict[str, Any], text: str) -> dict[str, Any]:
    """A raw update the test posts itself (the emulator's queue is not involved)."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": 9000 + update_id,
            "date": 1690156800,
            "chat": {"id": chat_id, "type": "group", "title": "示范律师事务所"},
            "from": user,
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
            if text.startswith("/")
            else [],
        },
    }


def zhang(firm: GroupChat) -> dict[str, Any]:
    return firm.members["张三"].to_dict()


# --- the webhook as users see it ---


async def test_the_group_talks_to_the_bot_over_the_webhook(
    harness: BotHarness, firm: GroupChat, emulator: Emulator
) -> None:
    assert emulator.webhook_url.endswith("/telegram")
    assert emulator.webhook_secret_token == SECRET
    await firm.say("李四", "/help")
    assert "可用命令" in firm.last().text
    assert emulator.calls("getUpdates") == []
    assert emulator.webhook_deliveries and all(a.status == 200 for a in emulator.webhook_deliveries)
    set_webhook = emulator.calls("setWebhook")[-1].params
    assert "chat_member" in set_webhook["allowed_updates"]  # Update.ALL_TYPES


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x", SECRET[:-1]])
async def test_an_update_without_the_right_secret_is_refused_unread(
    harness: BotHarness, firm: GroupChat, secret: str | None
) -> None:
    handled = harness.services.tracker.handled
    status, text = await post(
        web_port(harness), message_update(777, firm.id, zhang(firm), "/help"), secret=secret
    )
    assert status == 403 and SECRET not in text
    await asyncio.sleep(0.1)
    assert harness.services.tracker.handled == handled
    async with harness.services.db.session() as session:
        assert await claims.get(session, 777) is None
    assert not any(m.text.startswith("可用命令") for m in firm.messages()[1:])


async def test_an_unreadable_body_is_a_bad_request(harness: BotHarness) -> None:
    port = web_port(harness)
    assert (await post(port, ["not", "an", "update"]))[0] == 400
    assert (await post(port, {"update_id": "7"}))[0] == 400
    assert (await get(port, "/telegram"))[0] == 405


async def test_a_repeated_delivery_is_answered_without_handling_it_again(
    harness: BotHarness, firm: GroupChat
) -> None:
    port = web_port(harness)
    update = message_update(5001, firm.id, zhang(firm), "/help")
    before = len(firm.messages())
    assert (await post(port, update))[0] == 200
    assert (await post(port, update))[0] == 200
    # At the same moment, twice more: one may be told to come back, none is handled again.
    statuses = await asyncio.gather(post(port, update), post(port, update))
    assert {s for s, _ in statuses} <= {200, 409}
    assert len(firm.messages()) == before + 1
    server = get_web(harness.services)
    assert server is not None and server.results["handled"] >= 1
    assert server.results["duplicate"] >= 1
    async with harness.services.db.session() as session:
        row = await claims.get(session, 5001)
    assert row is not None and row.done_at is not None and row.attempts == 1


async def test_the_same_update_reaching_two_processes_is_handled_once(
    harness: BotHarness,
    firm: GroupChat,
    emulator: Emulator,
    database_url: str,
    clock: FakeClock,
    content: Content,
) -> None:
    other_port = free_port()
    other = BotHarness(
        emulator,
        harness_config(emulator, database_url, **webhook_overrides(other_port)),
        clock,
        content=content,
    )
    await other.start()
    try:
        before = len(firm.messages())
        for n in range(10):
            update = message_update(6000 + n, firm.id, zhang(firm), "/help")
            results = await asyncio.gather(
                post(web_port(harness), update), post(other_port, update)
            )
            assert 200 in {status for status, _ in results}
        # A busy answer (409) is followed by Telegram's repeat, which is then a duplicate.
        for n in range(10):
            update = message_update(6000 + n, firm.id, zhang(firm), "/help")
            assert (await post(other_port, update))[0] == 200
        assert len(firm.messages()) == before + 10
    finally:
        await other.stop()


# --- failures: which are retried ---


async def test_a_database_failure_is_answered_503_and_the_repeat_is_handled(
    harness: BotHarness, firm: GroupChat, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_seen = chats.seen
    failures = {"left": 1}

    async def flaky_seen(*args: Any, **kwargs: Any) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("SELECT 1", {}, ConnectionResetError("connection lost"))
        return await real_seen(*args, **kwargs)

    monkeypatch.setattr(chats, "seen", flaky_seen)
    before = len(firm.messages())
    update = await firm.say("李四", "/help")
    await emulator.wait_delivered(update["update_id"])
    attempts = emulator.webhook_attempts(update["update_id"])
    assert [a.status for a in attempts] == [503, 200]
    # The user saw one answer: no "internal error" for the failed attempt.
    replies = firm.new_since(before)
    assert len(replies) == 1 and "可用命令" in replies[0].text
    async with harness.services.db.session() as session:
        row = await claims.get(session, update["update_id"])
    assert row is not None and row.done_at is not None and row.attempts == 2


async def test_a_bug_is_not_retried(
    harness: BotHarness, firm: GroupChat, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_seen(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("a bug")

    monkeypatch.setattr(chats, "seen", broken_seen)
    update = emulator.send_message(firm.id, firm.members["李四"], "/help")
    await emulator.wait_delivered(update["update_id"])
    assert [a.status for a in emulator.webhook_attempts(update["update_id"])] == [200]


async def test_an_update_that_keeps_failing_is_given_up(
    harness: BotHarness, firm: GroupChat, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def always_down(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseUnavailable("database is unreachable")

    monkeypatch.setattr(chats, "seen", always_down)
    update = emulator.send_message(firm.id, firm.members["李四"], "/help")
    await emulator.wait_delivered(update["update_id"], timeout=10)
    statuses = [a.status for a in emulator.webhook_attempts(update["update_id"])]
    assert statuses == [503] * claims.MAX_ATTEMPTS + [200]
    async with harness.services.db.session() as session:
        row = await claims.get(session, update["update_id"])
    assert row is not None and row.error is not None and row.error.startswith("gave up")


async def test_a_claim_left_by_a_dead_process_is_taken_over_after_the_lease(
    harness: BotHarness, firm: GroupChat, clock: FakeClock
) -> None:
    async with harness.services.db.session() as session:
        session.add(
            ProcessedUpdate(
                update_id=7001, claimed_by="other-host:1:dead", claimed_at=clock.now(), attempts=1
            )
        )
    port = web_port(harness)
    update = message_update(7001, firm.id, zhang(firm), "/help")
    before = len(firm.messages())
    assert (await post(port, update))[0] == 409  # still someone else's
    clock.advance(timedelta(seconds=harness.config.webhook.claim_lease_seconds + 1))
    assert (await post(port, update))[0] == 200
    assert len(firm.messages()) == before + 1
    async with harness.services.db.session() as session:
        row = await claims.get(session, 7001)
    assert row is not None and row.attempts == 2 and row.done_at is not None


def test_which_errors_are_worth_a_retry() -> None:
    lost = OperationalError("SELECT 1", {}, ConnectionResetError())
    assert infrastructure_error(lost) == "OperationalError"
    assert infrastructure_error(DatabaseUnavailable("x")) == "DatabaseUnavailable"
    assert infrastructure_error(ConnectionRefusedError()) == "ConnectionRefusedError"
    sqlite_race = IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: users.id"))
    assert infrastructure_error(sqlite_race) == "IntegrityError"
    not_null = IntegrityError("INSERT", {}, Exception("NOT NULL constraint failed: users.x"))
    assert infrastructure_error(not_null) is None
    assert infrastructure_error(ValueError("bug")) is None
    try:
        try:
            raise lost
        except OperationalError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert infrastructure_error(wrapped) == "OperationalError"


async def test_a_real_duplicate_key_race_is_retried(harness: BotHarness) -> None:
    """A unique violation from the real driver (PostgreSQL or SQLite) counts as a race."""
    services = harness.services
    error: BaseException | None = None
    try:
        async with services.db.session() as session:
            session.add(ProcessedUpdate(update_id=1, claimed_at=services.clock.now(), attempts=0))
            session.add(ProcessedUpdate(update_id=2, claimed_at=services.clock.now(), attempts=0))
        async with services.db.session() as session:
            session.add(ProcessedUpdate(update_id=1, claimed_at=services.clock.now(), attempts=0))
    except IntegrityError as exc:
        error = exc
    assert error is not None and infrastructure_error(error) == "IntegrityError"


# --- health and metrics ---


async def test_healthz_says_ok_when_the_database_answers_and_the_scheduler_ticks(
    emulator: Emulator, database_url: str, clock: FakeClock, content: Content
) -> None:
    port = free_port()
    config = harness_config(
        emulator, database_url, scheduling={"tick_seconds": 0.2}, **webhook_overrides(port)
    )
    bot = BotHarness(emulator, config, clock, content=content, jobs=True)
    await bot.start()
    try:
        coord = coordination.get(bot.services.extras)
        await emulator.wait_for(lambda: coord.ticks.ticks >= 1)
        status, text = await get(port, "/healthz")
        body = json.loads(text)
        assert status == 200, body
        assert body["status"] == "ok" and body["database"] == "ok" and body["scheduler"] == "ok"
        assert body["leader"] is True and body["mode"] == "webhook"

        # The tick job stops running: unhealthy once three intervals have passed.
        assert bot.app is not None and bot.app.job_queue is not None
        bot.app.job_queue.scheduler.pause()
        await asyncio.sleep(0.8)
        status, text = await get(port, "/healthz")
        assert status == 503 and json.loads(text)["scheduler"].startswith("stalled")
        bot.app.job_queue.scheduler.resume()
        await emulator.wait_for(lambda: coord.ticks.age() is not None and coord.ticks.age() < 0.5)
        assert (await get(port, "/healthz"))[0] == 200
    finally:
        await bot.stop()


async def test_healthz_is_503_while_the_database_is_unreachable(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable() -> None:
        raise DatabaseUnavailable("database postgresql://u:***@h/db is unreachable: refused")

    monkeypatch.setattr(harness.services.db, "ping", unreachable)
    status, text = await get(web_port(harness), "/healthz")
    assert status == 503
    body = json.loads(text)
    assert body["status"] == "unhealthy" and body["database"] == "unreachable"
    status, text = await get(web_port(harness), "/metrics")
    assert status == 200 and "firmbot_database_up 0.0" in text
    assert "firmbot_outbox_depth" not in text


async def test_metrics_count_updates_sends_errors_outbox_and_lag_without_secrets(
    harness: BotHarness, firm: GroupChat, emulator: Emulator, clock: FakeClock
) -> None:
    services = harness.services
    await firm.say("李四", "/help")
    emulator.fail_next("sendMessage", status=429, retry_after=1)
    last = await firm.say("李四", "/help")
    # The webhook counts a request once it answers it, a moment after the handlers finish.
    await emulator.wait_delivered(last["update_id"])
    # Three rows queued while nobody drains them, one schedule overdue by 90 s.
    await services.outbox.stop()
    async with services.db.session() as session:
        await outbox_mod.enqueue(
            session,
            kind="test",
            ref="m1",
            chat_ids=[-1, -2, -3],
            payload={"text": "x"},
            now=clock.now(),
        )
        await services.scheduler.schedule_once(
            session, chat_id=firm.id, kind="nothing", ref="lag", run_at=clock.now()
        )
    clock.advance(timedelta(seconds=90))

    status, text = await get(web_port(harness), "/metrics")
    assert status == 200
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values["firmbot_updates_handled_total"] == services.tracker.handled >= 3
    assert values["firmbot_messages_sent_total"] == services.sender.stats.sent >= 3
    assert values['firmbot_send_errors_total{kind="retry_after"}'] == 1
    assert values["firmbot_outbox_depth"] == 3
    assert values["firmbot_scheduler_lag_seconds"] == pytest.approx(90, abs=1)
    assert values["firmbot_database_up"] == 1
    assert values["firmbot_leader"] == 1
    assert values['firmbot_webhook_requests_total{result="handled"}'] >= 3
    assert "process_cpu_seconds_total" in text
    for secret in (SECRET, emulator.token, emulator.token.split(":")[1]):
        assert secret not in text
    async with services.db.session() as session:
        assert (await session.scalars(select(Schedule).where(Schedule.kind == "nothing"))).all()


async def test_polling_mode_can_serve_health_and_metrics_too(
    emulator: Emulator, database_url: str, clock: FakeClock, content: Content
) -> None:
    port = free_port()
    config = harness_config(emulator, database_url, http={"port": port})
    bot = BotHarness(emulator, config, clock, content=content)
    await bot.start()
    try:
        status, text = await get(port, "/healthz")
        assert status == 200 and json.loads(text)["mode"] == "polling"
        assert json.loads(text)["scheduler"] == "off"  # this harness runs no tick job
        assert (await get(port, "/metrics"))[0] == 200
        assert (await post(port, {"update_id": 1}))[0] == 404  # no webhook here
        assert emulator.webhook_url == ""
    finally:
        await bot.stop()


# --- configuration ---


def test_webhook_config_names_the_key_and_never_echoes_the_secret() -> None:
    webhook_mode = {"telegram": {"mode": "webhook"}}
    with pytest.raises(ConfigError, match=r"^webhook\.url: required when telegram\.mode is"):
        build_config(webhook_mode, env={})
    with pytest.raises(ConfigError, match=r"^webhook\.secret_token: required when"):
        build_config({**webhook_mode, "webhook": {"url": "https://bot.example.org/t"}}, env={})
    for bad in ("has spaces", "中文secret", "x" * 257, "semi;colon"):
        with pytest.raises(ConfigError) as caught:
            build_config({"webhook": {"secret_token": bad}}, env={})
        assert str(caught.value).startswith("webhook.secret_token: must be 1-256 characters")
        assert bad not in str(caught.value)
    good = {"url": "https://bot.example.org/t", "secret_token": SECRET}
    with pytest.raises(ConfigError, match=r"^http\.port: not used in webhook mode"):
        build_config({**webhook_mode, "webhook": good, "http": {"port": 9000}}, env={})
    with pytest.raises(ConfigError, match=r"^webhook\.url: must be an http"):
        build_config({"webhook": {"url": "ftp://bot.example.org/t"}}, env={})
    with pytest.raises(ConfigError, match=r"^webhook\.path: must start with"):
        build_config({"webhook": {"path": "telegram"}}, env={})
    config = build_config(
        {**webhook_mode, "webhook": {"url": "https://bot.example.org/t", "secret_token": "old"}},
        env={"FIRMBOT_WEBHOOK_SECRET": SECRET, "FIRMBOT_WEBHOOK_PORT": "8082"},
    )
    assert config.webhook.secret_token == SECRET and config.webhook.port == 8082


def test_the_shipped_configs_are_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    example = load_config(root / "config.example.yaml", env={})
    assert example.telegram.mode == "polling" and example.http.port is None
    deployed = load_config(
        root / "deploy" / "config.postgresql.yaml",
        env={"FIRMBOT_WEBHOOK_SECRET": SECRET, "FIRMBOT_WEBHOOK_PORT": "8082"},
    )
    assert deployed.telegram.mode == "webhook" and not deployed.database.is_sqlite
    assert deployed.webhook.path == "/telegram" and deployed.webhook.listen == "127.0.0.1"
    locations = (root / "deploy" / "nginx" / "firmbot-locations.conf").read_text()
    assert f"location = {deployed.webhook.path} " in locations


async def test_a_port_in_use_is_a_config_error_naming_the_key(
    emulator: Emulator, database_url: str, clock: FakeClock, content: Content
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        config = harness_config(emulator, database_url, **webhook_overrides(port))
        bot = BotHarness(emulator, config, clock, content=content)
        with pytest.raises(
            ConfigError, match=rf"^webhook\.port: cannot listen on 127\.0\.0\.1:{port}"
        ):
            await bot.start()
    assert emulator.webhook_url == ""  # never told Telegram about a server that is not there
