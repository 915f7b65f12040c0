"""The emulator delivers updates to a webhook as Telegram does: secret header, retries, order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import BadRequest, Conflict, NetworkError, TimedOut
from telegram.request import HTTPXRequest

from bot.sandbox.emulator import Emulator
from tests.e2e.cluster import free_port

SECRET = "emu-Secret_42"


@dataclass
class Receiver:
    """A stand-in for the bot's webhook: records what arrives, answers as told."""

    port: int = field(default_factory=free_port)
    received: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    # Statuses to answer with, in turn; 200 when empty.
    answers: list[int] = field(default_factory=list)
    delay: float = 0.0
    concurrent: int = 0
    max_concurrent: int = 0
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def handle(self, request: web.Request) -> web.Response:
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            body = json.loads(await request.text())
            self.received.append((body, request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
            if self.delay:
                await asyncio.sleep(self.delay)
            status = self.answers.pop(0) if self.answers else 200
            return web.Response(status=status)
        finally:
            self.concurrent -= 1

    def ids(self) -> list[int]:
        return [body["update_id"] for body, _ in self.received]


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator() as emulator:
        emulator.webhook_retry_base = 0.01
        emulator.webhook_timeout = 2.0
        yield emulator


@pytest.fixture
async def bot(emu: Emulator) -> AsyncIterator[Bot]:
    request = HTTPXRequest(read_timeout=0.5)
    async with Bot(emu.token, base_url=emu.base_url, request=request) as client:
        yield client


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    await hook.start()
    yield hook
    await hook.stop()


async def test_updates_are_posted_with_the_secret_and_confirmed(
    emu: Emulator, bot: Bot, receiver: Receiver
) -> None:
    user = emu.create_user("张三")
    chat = emu.private_chat(user)
    first = emu.send_message(chat.id, user, "你好")
    await bot.set_webhook(receiver.url, secret_token=SECRET)
    second = emu.send_message(chat.id, user, "/help")
    await emu.wait_delivered(second["update_id"])
    assert receiver.ids() == [first["update_id"], second["update_id"]]
    assert {secret for _, secret in receiver.received} == {SECRET}
    assert receiver.received[1][0]["message"]["text"] == "/help"
    assert emu.pending_updates() == 0
    info = await bot.get_webhook_info()
    assert info.url == receiver.url and info.pending_update_count == 0
    with pytest.raises(Conflict):
        await bot.get_updates()


async def test_no_secret_no_header(emu: Emulator, bot: Bot, receiver: Receiver) -> None:
    user = emu.create_user("张三")
    await bot.set_webhook(receiver.url)
    update = emu.send_message(emu.private_chat(user).id, user, "hi")
    await emu.wait_delivered(update["update_id"])
    assert receiver.received[0][1] is None


async def test_error_answers_refused_connections_and_timeouts_are_retried(
    emu: Emulator, bot: Bot
) -> None:
    receiver = Receiver()  # not listening yet: connections are refused
    user = emu.create_user("张三")
    chat = emu.private_chat(user)
    await bot.set_webhook(receiver.url, secret_token=SECRET)
    update = emu.send_message(chat.id, user, "one")
    await emu.wait_for(lambda: len(emu.webhook_attempts(update["update_id"])) >= 2)
    assert all(a.status is None and a.error for a in emu.webhook_attempts(update["update_id"]))
    receiver.answers = [500, 502, 429]
    await receiver.start()
    try:
        await emu.wait_delivered(update["update_id"])
        statuses = [a.status for a in emu.webhook_attempts(update["update_id"])]
        assert statuses[-4:] == [500, 502, 429, 200]
        # Too slow an answer is a failure too, and the update comes again.
        emu.webhook_timeout = 0.2
        receiver.delay = 0.5
        slow = emu.send_message(chat.id, user, "two")
        await emu.wait_for(lambda: len(emu.webhook_attempts(slow["update_id"])) >= 2)
        receiver.delay = 0.0
        await emu.wait_delivered(slow["update_id"])
        attempts = emu.webhook_attempts(slow["update_id"])
        assert attempts[0].error == "timeout" and attempts[-1].status == 200
        assert receiver.ids().count(slow["update_id"]) >= 2  # it did arrive; the answer was late
    finally:
        await receiver.stop()


async def test_retries_back_off_and_may_be_given_up(emu: Emulator, bot: Bot) -> None:
    emu.webhook_retry_base = 0.05
    emu.webhook_max_attempts = 4
    user = emu.create_user("张三")
    await bot.set_webhook(Receiver().url)
    update = emu.send_message(emu.private_chat(user).id, user, "lost")
    await emu.wait_delivered(update["update_id"], timeout=5)
    attempts = emu.webhook_attempts(update["update_id"])
    assert len(attempts) == 4 and emu.webhook_given_up[0]["update_id"] == update["update_id"]
    info = await bot.get_webhook_info()
    assert info.last_error_message and "Connection failed" in info.last_error_message


async def test_at_most_max_connections_at_once_and_one_chat_at_a_time(
    emu: Emulator, bot: Bot, receiver: Receiver
) -> None:
    receiver.delay = 0.1
    users = [emu.create_user(f"用户{i}") for i in range(12)]
    await bot.set_webhook(receiver.url, max_connections=5)
    group = emu.create_group("律所")
    for user in users:
        emu.set_member(group.id, user)
    emu.set_member(group.id, emu.bot_user, "administrator")
    # Twelve private chats at once, and three messages in one group.
    for user in users:
        emu.send_message(emu.private_chat(user).id, user, "hi")
    in_group = [emu.send_message(group.id, users[i], f"第{i}条") for i in range(3)]
    await emu.wait_delivered(emu.last_update_id, timeout=10)
    assert receiver.max_concurrent == 5
    group_order = [body["update_id"] for body, _ in receiver.received if "第" in str(body)]
    assert group_order == [u["update_id"] for u in in_group]


async def test_a_failing_chat_waits_but_the_others_go_on(
    emu: Emulator, bot: Bot, receiver: Receiver
) -> None:
    zhang, li = emu.create_user("张三"), emu.create_user("李四")
    await bot.set_webhook(receiver.url)
    receiver.answers = [503, 503, 503]
    first = emu.send_message(emu.private_chat(zhang).id, zhang, "1")
    await emu.wait_for(lambda: len(receiver.received) >= 1)
    second = emu.send_message(emu.private_chat(zhang).id, zhang, "2")
    other = emu.send_message(emu.private_chat(li).id, li, "3")
    await emu.wait_delivered(second["update_id"])
    ids = receiver.ids()
    assert ids.index(second["update_id"]) > max(
        i for i, u in enumerate(ids) if u == first["update_id"]
    )
    assert other["update_id"] in ids


async def test_delete_webhook_stops_delivery_and_polling_gets_the_rest(
    emu: Emulator, bot: Bot, receiver: Receiver
) -> None:
    user = emu.create_user("张三")
    chat = emu.private_chat(user)
    await bot.set_webhook(receiver.url, secret_token=SECRET)
    delivered = emu.send_message(chat.id, user, "by webhook")
    await emu.wait_delivered(delivered["update_id"])
    await bot.delete_webhook()
    kept = emu.send_message(chat.id, user, "by polling")
    await asyncio.sleep(0.1)
    assert kept["update_id"] not in receiver.ids()
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [kept["update_id"]]


async def test_set_webhook_checks_its_parameters(emu: Emulator, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)secret token contains unallowed"):
        await bot.set_webhook("https://firm.example/hook", secret_token="有中文")
    with pytest.raises(BadRequest, match="max_connections"):
        await bot.set_webhook("https://firm.example/hook", max_connections=101)


async def test_allowed_updates_filter_webhook_delivery(
    emu: Emulator, bot: Bot, receiver: Receiver
) -> None:
    user = emu.create_user("张三")
    await bot.set_webhook(receiver.url, allowed_updates=["callback_query"])
    message = emu.send_message(emu.private_chat(user).id, user, "not wanted")
    await emu.wait_for(
        lambda: message["update_id"] in [u["update_id"] for u in emu.dropped_updates]
    )
    assert receiver.received == []


# --- faults of the Bot API side the bot sees ---


async def test_a_held_call_whose_client_went_away_is_never_carried_out(
    emu: Emulator, bot: Bot
) -> None:
    group = emu.create_group("律所")
    emu.set_member(group.id, emu.bot_user, "administrator")
    emu.hold()
    with pytest.raises(TimedOut):  # the client gives up after 0.5 s
        await bot.send_message(group.id, "lost in transit")
    await emu.wait_for(lambda: emu.held == 1)
    await asyncio.sleep(0.2)  # the client's connection is closed by now
    emu.release()
    await emu.wait_for(lambda: emu.held == 0)
    await asyncio.sleep(0.05)
    assert emu.messages(group.id) == []
    assert emu.calls("sendMessage")[-1].status == 499

    emu.hold("sendMessage")
    pending = asyncio.create_task(bot.send_message(group.id, "arrives"))
    await emu.wait_for(lambda: emu.held == 1)
    emu.release()
    assert (await pending).text == "arrives"
    assert [m.text for m in emu.messages(group.id)] == ["arrives"]


async def test_a_stalled_call_times_out_and_is_not_carried_out(emu: Emulator, bot: Bot) -> None:
    group = emu.create_group("律所")
    emu.set_member(group.id, emu.bot_user, "administrator")
    emu.stall_next("sendMessage", seconds=0.1)
    with pytest.raises(NetworkError):  # 504 Gateway Timeout
        await bot.send_message(group.id, "never")
    emu.stall_next("sendMessage", seconds=1.0)
    with pytest.raises(TimedOut):
        await bot.send_message(group.id, "never either")
    assert emu.messages(group.id) == []
    assert (await bot.send_message(group.id, "now")).text == "now"


async def test_nothing_is_posted_off_this_machine(emu: Emulator, bot: Bot) -> None:
    user = emu.create_user("张三")
    await bot.set_webhook("https://firm.example/hook", secret_token=SECRET)
    emu.send_message(emu.private_chat(user).id, user, "stays here")
    await asyncio.sleep(0.2)
    assert emu.webhook_deliveries == [] and emu.pending_updates() == 1
