"""Secrets stay secret: the bot token and the webhook secret never appear in logs, in what
the bot says, in errors, or on /metrics and /healthz.

Two views of the logs, both at DEBUG:

- production: ``setup_logging`` exactly as ``firmbot run`` calls it (its handler carries the
  ``RedactingFilter``, chatty URL loggers are turned down); its output must be clean;
- raw: every record as it is emitted, before any filter (the filter rewrites records in
  place, so pytest's ``caplog`` would only see redacted ones). FirmBot's own loggers must
  never carry a secret at all; the library records that do are listed in ``URL_LOGGERS``
  and must be redacted by production logging.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import pytest

from bot import chats as chats_mod
from bot.cli import RedactingFilter, setup_logging
from bot.clock import FakeClock
from bot.content.loader import Content
from bot.sandbox.driver import BotHarness, GroupChat, harness_config, make_group
from bot.sandbox.emulator import Emulator
from tests.e2e.cluster import free_port

WEBHOOK_SECRET = "wh-Secret_0123456789abcdefXYZ"
TURNED_DOWN = ("httpx", "httpcore", "apscheduler", "telegram.ext.Updater", "aiohttp.access")
# PTB logs "Set Bot API URL: .../bot<token>" and "Calling Bot API endpoint `setWebhook` with
# parameters {... 'secret_token': ...}" at DEBUG. Production logging must redact them;
# FirmBot's own loggers never hold a secret in the first place.
URL_LOGGERS = frozenset({"telegram.ext.ExtBot"})
OWN_LOGGERS = ("bot", "handlers", "firmbot", "__main__")


def secrets_of(emulator: Emulator) -> list[str]:
    token = emulator.token
    return [token, token.split(":", 1)[1], WEBHOOK_SECRET]


class Raw(logging.Handler):
    """Every record's text as emitted: the message and any exception, formatted at once."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.records.append((record.name, record.levelno, text))

    def leaking(self, secrets: list[str]) -> list[tuple[str, str]]:
        return [(n, text[:200]) for n, _, text in self.records if any(s in text for s in secrets)]


@dataclass
class Logs:
    raw: Raw
    output: io.StringIO

    def text(self) -> str:
        return self.output.getvalue()


@contextlib.contextmanager
def production_logging(secrets: list[str]) -> Iterator[Logs]:
    """``setup_logging("DEBUG", secrets)`` into a buffer, plus the raw view; undone after."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_levels = {name: logging.getLogger(name).level for name in TURNED_DOWN}
    setup_logging("DEBUG", secrets)
    [production] = root.handlers
    assert isinstance(production, logging.StreamHandler)
    output = io.StringIO()
    production.setStream(output)  # type: ignore[arg-type]
    raw = Raw()
    # The raw view first: the production handler's filter rewrites records in place.
    root.handlers[:] = [raw, production, *saved_handlers]
    try:
        yield Logs(raw, output)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


@contextlib.asynccontextmanager
async def running_bot(
    emulator: Emulator,
    database_url: str,
    clock: FakeClock,
    content: Content,
    **overrides: Any,
) -> AsyncIterator[BotHarness]:
    config = harness_config(
        emulator, database_url, sender={"group_per_minute": 6000}, log_level="DEBUG", **overrides
    )
    bot = BotHarness(emulator, config, clock, content=content)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


def check_clean(emulator: Emulator, logs: Logs, *, expect_redacted: bool = False) -> None:
    secrets = secrets_of(emulator)
    own = [(n, t) for n, t in logs.raw.leaking(secrets) if n.split(".")[0] in OWN_LOGGERS]
    assert own == [], "FirmBot's own log records hold a secret"
    libraries = {name for name, _ in logs.raw.leaking(secrets)} - {n for n, _ in own}
    assert libraries <= URL_LOGGERS, f"unexpected library records with a secret: {libraries}"
    text = logs.text()
    assert "DEBUG" in text and "sendMessage" in text, "the production log captured nothing"
    for secret in secrets:
        assert secret not in text, "a secret in the production log"
    if expect_redacted:
        assert "***" in text
    # Nothing the bot said or answered holds one either.
    said = [m.html for chat in emulator.chats() for m in emulator.messages(chat.id)]
    said += [str(a.get("text")) for a in emulator.callback_answers]
    assert not [s for s in said if any(secret in s for secret in secrets)]
    # The chatty URL loggers stay quiet below WARNING in production.
    assert not [r for r in logs.raw.records if r[0].startswith(("httpx", "httpcore")) and r[1] < 30]


# --- the production configuration ---


def test_setup_logging_turns_down_url_loggers_and_redacts_token_and_secret() -> None:
    token = "123456:ABC-secret_token_part"
    with production_logging([token, WEBHOOK_SECRET]) as logs:
        root = logging.getLogger()
        assert root.level == logging.DEBUG
        for name in TURNED_DOWN:
            assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING, name
        production = root.handlers[1]
        [redacting] = [f for f in production.filters if isinstance(f, RedactingFilter)]
        assert set(redacting.secrets) == {token, WEBHOOK_SECRET}
        log = logging.getLogger("bot.test")
        log.debug("calling https://api.telegram.org/bot%s/getMe", token)
        log.info(f"header {WEBHOOK_SECRET} seen")
        try:
            raise RuntimeError(f"POST https://api.telegram.org/bot{token}/sendMessage: 502")
        except RuntimeError:
            log.exception("send failed")
        # A library logger at WARNING still goes through the same filter.
        logging.getLogger("httpx").warning("GET https://api.telegram.org/bot%s/x", token)
    text = logs.text()
    assert token not in text and "secret_token_part" not in text and WEBHOOK_SECRET not in text
    assert text.count("***") >= 4 and "Traceback" in text and "RuntimeError" in text


def test_firmbot_run_sets_up_logging_with_the_token_and_the_webhook_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """What `firmbot run` passes to setup_logging: both secrets, from the environment too."""
    from bot import cli

    token = "123456:ABC-env_token_part"
    calls: list[tuple[str, list[str]]] = []

    async def serve(config: Any) -> int:
        return 0

    monkeypatch.setattr(
        cli, "setup_logging", lambda level, secrets: calls.append((level, list(secrets)))
    )
    monkeypatch.setattr(cli, "_serve", serve)
    monkeypatch.setenv("FIRMBOT_TOKEN", token)
    monkeypatch.setenv("FIRMBOT_WEBHOOK_SECRET", WEBHOOK_SECRET)
    path = tmp_path / "config.yaml"
    path.write_text("log_level: DEBUG\n", encoding="utf-8")
    assert cli.main(["-c", str(path), "run"]) == 0
    assert calls == [("DEBUG", [token, WEBHOOK_SECRET])]


async def test_httpx_would_log_the_token_if_it_were_not_turned_down(emulator: Emulator) -> None:
    """Why setup_logging turns httpx down: its INFO line is the request URL."""
    with production_logging([emulator.token]) as logs:
        url = f"{emulator.base_url}{emulator.token}/getMe"
        async with httpx.AsyncClient() as client:
            await client.get(url)
        assert not [r for r in logs.raw.records if r[0] == "httpx"]
        logging.getLogger("httpx").setLevel(logging.INFO)  # what production must not do
        async with httpx.AsyncClient() as client:
            await client.get(url)
    assert any(name == "httpx" for name, _ in logs.raw.leaking([emulator.token]))
    assert emulator.token not in logs.text()  # even then, the filter catches it


# --- a session of the bot with failures, through production logging ---


async def session(bot: BotHarness, emulator: Emulator) -> GroupChat:
    """Commands, a send that fails and is retried, one that fails for good, bad input."""
    firm = await make_group(bot, "示范律师事务所", ["张三", "王律师", "李四"], admins=("王律师",))
    for who, text in [
        ("李四", "/help"),
        ("王律师", "/ledger_add 问题 | 1 | 措施 | 李四 | 2023-08-31"),
        ("王律师", "/settings"),
        ("王律师", "/set timezone America/Argentina"),
        ("李四", "/notice ²"),
        ("李四", "/nonsense@firmbot_test_bot"),
        ("王律师", "/report"),
    ]:
        await firm.say(who, text)
    emulator.fail_next("sendMessage", status=500, count=2)  # retried, then delivered
    await firm.say("李四", "/help")
    emulator.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    await firm.say("李四", "/help")  # refused for good: logged, not retried
    emulator.fail_next("sendPhoto", status=502, description="Bad Gateway", count=10)
    await firm.say("王律师", "/report")  # the chart never gets through
    return firm


async def test_a_session_with_failures_and_a_crash_leaks_nothing(
    emulator: Emulator,
    database_url: str,
    clock: FakeClock,
    content: Content,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with production_logging(secrets_of(emulator)) as logs:
        async with running_bot(emulator, database_url, clock, content) as bot:
            firm = await session(bot, emulator)

            async def broken(*args: Any, **kwargs: Any) -> Any:
                raise RuntimeError("the database said no")

            monkeypatch.setattr(chats_mod, "seen", broken)  # an exception inside a handler
            bot.services.seen.forget(firm.id, firm.members["李四"].id)  # the next update writes
            before = len(firm.messages())
            await firm.say("李四", "/help")
            apology = bot.services.texts.plain("errors.internal", "zh_CN")
            assert apology in [m.text for m in firm.new_since(before)]
    check_clean(emulator, logs)
    assert "error while handling an update" in logs.text() and "Traceback" in logs.text()
    assert "the database said no" in logs.text()


async def test_an_error_that_carries_the_token_is_redacted_in_logs_and_never_shown(
    emulator: Emulator,
    database_url: str,
    clock: FakeClock,
    content: Content,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A library error quoting the request URL (token inside) reaches the error handler."""
    with production_logging(secrets_of(emulator)) as logs:
        async with running_bot(emulator, database_url, clock, content) as bot:
            firm = await make_group(bot, "示范律师事务所", ["张三", "李四"])
            url = f"{emulator.base_url}{emulator.token}/getChatMember"

            async def leaky(*args: Any, **kwargs: Any) -> Any:
                raise httpx.ConnectError(f"cannot connect to {url}")

            monkeypatch.setattr(chats_mod, "seen", leaky)
            bot.services.seen.forget(firm.id, firm.members["李四"].id)  # the next update writes
            before = len(firm.messages())
            await firm.say("李四", "/help")
            apology = bot.services.texts.plain("errors.internal", "zh_CN")
            assert apology in [m.text for m in firm.new_since(before)]
    text = logs.text()
    assert "ConnectError" in text and "***/getChatMember" in text
    for secret in secrets_of(emulator):
        assert secret not in text
    said = [m.html for chat in emulator.chats() for m in emulator.messages(chat.id)]
    assert not [s for s in said if emulator.token.split(":")[1] in s]


# --- webhook mode: the secret, /metrics and /healthz ---


async def http_get(port: int, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, await response.text()


async def raw_post(port: int, path: str, headers: bytes, body: bytes) -> bytes:
    """An HTTP request written by hand (headers a polite client would refuse to send)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\n" + headers
        + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


async def test_webhook_secret_and_token_stay_off_metrics_health_and_logs(
    emulator: Emulator,
    database_url: str,
    clock: FakeClock,
    content: Content,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("bot.web")
    port = free_port()
    emulator.webhook_retry_base = 0.02
    webhook = {
        "url": f"http://127.0.0.1:{port}/telegram",
        "port": port,
        "secret_token": WEBHOOK_SECRET,
    }
    with production_logging(secrets_of(emulator)) as logs:
        async with running_bot(
            emulator, database_url, clock, content, telegram={"mode": "webhook"}, webhook=webhook
        ) as bot:
            assert emulator.webhook_secret_token == WEBHOOK_SECRET
            firm = await session(bot, emulator)
            body = json.dumps({"update_id": 999_999}).encode()
            wrong = [
                b"",
                b"X-Telegram-Bot-Api-Secret-Token: wrong\r\n",
                b"X-Telegram-Bot-Api-Secret-Token: " + WEBHOOK_SECRET[:-1].encode() + b"\r\n",
                b"X-Telegram-Bot-Api-Secret-Token: \xff\xfe" + WEBHOOK_SECRET.encode() + b"\r\n",
            ]
            for headers in wrong:
                answer = await raw_post(port, "/telegram", headers, body)
                assert answer.startswith(b"HTTP/1.1 403"), (headers, answer[:200])
                assert WEBHOOK_SECRET.encode() not in answer

            async def broken(*args: Any, **kwargs: Any) -> Any:
                raise RuntimeError("the database said no")

            monkeypatch.setattr(chats_mod, "seen", broken)
            await firm.say("李四", "/help")
            monkeypatch.undo()
            for path in ("/metrics", "/healthz"):
                status, text = await http_get(port, path)
                assert status == 200, (path, text[:300])
                for secret in secrets_of(emulator):
                    assert secret not in text, path
            status, metrics = await http_get(port, "/metrics")
            values = dict(
                line.rsplit(" ", 1) for line in metrics.splitlines() if not line.startswith("#")
            )
            assert float(values['firmbot_webhook_requests_total{result="refused"}']) == len(wrong)
    check_clean(emulator, logs)
