"""Drive the real Application against the emulator: tests, benchmarks and the sandbox (TG).

``BotHarness`` starts FirmBot exactly as ``firmbot run`` does (long polling over HTTP
against the emulator), on a given database and clock, and can restart it. ``GroupChat``
lets a test read like a chat: ``await firm.say("张三", "/help")`` then ``firm.last()``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.app import build_application, running
from bot.clock import Clock
from bot.config import Config, build_config
from bot.content.loader import Content
from bot.sandbox.emulator import EmuChat, Emulator, EmuUser, SentMessage
from bot.scheduling import TickResult
from bot.services import Services
from bot.services import get as get_services
from handlers.common import FirmBotApp

logger = logging.getLogger(__name__)


def harness_config(emulator: Emulator, database_url: str, **overrides: Any) -> Config:
    """A config pointing at the emulator; ``overrides`` are top-level sections or keys."""
    data: dict[str, Any] = {
        "telegram": {"token": emulator.token, "base_url": emulator.base_url, "poll_timeout": 1},
        "database": {"url": database_url},
        # The repeating tick stays out of the way; tests tick explicitly.
        "scheduling": {"tick_seconds": 3600},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return build_config(data, env={})


@dataclass
class BotHarness:
    """One FirmBot process, in-process: start, restart, stop."""

    emulator: Emulator
    config: Config
    clock: Clock
    content: Content | None = None
    jobs: bool = False
    owner: str | None = None
    # False: a second process that shares the database but takes no updates.
    polling: bool = True
    app: FirmBotApp | None = None
    _stack: contextlib.AsyncExitStack | None = field(default=None, repr=False)

    async def start(self) -> FirmBotApp:
        app = build_application(
            self.config,
            clock=self.clock,
            content=self.content,
            scheduler_owner=self.owner,
            retry_base_seconds=0.01,
        )
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(
            running(app, polling=self.polling, poll_timeout=1, jobs=self.jobs)
        )
        self.app, self._stack = app, stack
        if self.content is None:
            self.content = get_services(app.bot_data).content
        return app

    async def stop(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = None
        self.app = None

    async def restart(self) -> FirmBotApp:
        await self.stop()
        return await self.start()

    @property
    def services(self) -> Services:
        assert self.app is not None, "the bot is not running"
        return get_services(self.app.bot_data)

    async def handled(self, update: dict[str, Any], timeout: float = 10.0) -> None:
        """Wait until the bot has processed this update (all handler groups)."""
        await self.services.tracker.wait(int(update["update_id"]), timeout)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every update the emulator has queued so far has been handled."""
        last = self.emulator.last_update_id
        if last > 0:
            await self.services.tracker.wait_through(last, timeout)

    async def tick(self) -> TickResult:
        """Run the scheduler once at the clock's current time."""
        return await self.services.scheduler.tick()

    async def drain_outbox(self) -> int:
        """Deliver everything queued in the outbox now."""
        total = 0
        while True:
            n = await self.services.outbox.drain_once()
            if n == 0:
                return total
            total += n


class GroupChat:
    """A group in the emulator with named members; methods wait for the bot to finish."""

    def __init__(self, harness: BotHarness, chat: EmuChat, members: dict[str, EmuUser]) -> None:
        self.harness = harness
        self.emulator = harness.emulator
        self.chat = chat
        self.members = members

    @property
    def id(self) -> int:
        return self.chat.id

    def user(self, who: str | EmuUser) -> EmuUser:
        return who if isinstance(who, EmuUser) else self.members[who]

    async def _do(self, update: dict[str, Any]) -> dict[str, Any]:
        await self.harness.handled(update)
        return update

    async def say(
        self, who: str | EmuUser, text: str, *, reply_to: int | None = None
    ) -> dict[str, Any]:
        return await self._do(
            self.emulator.send_message(self.id, self.user(who), text, reply_to=reply_to)
        )

    async def say_anonymously(self, text: str) -> dict[str, Any]:
        """An anonymous admin posting as the group."""
        return await self._do(
            self.emulator.send_message(self.id, None, text, sender_chat_id=self.id)
        )

    async def press(
        self, who: str | EmuUser, label: str, message: SentMessage | None = None
    ) -> dict[str, Any]:
        """Press a button (by its label) on a message, by default the latest with buttons."""
        target = message or self.last_with_buttons()
        return await self._do(
            self.emulator.press_button(self.id, target.message_id, self.user(who), label=label)
        )

    def messages(self) -> list[SentMessage]:
        return self.emulator.messages(self.id)

    def last(self) -> SentMessage:
        return self.emulator.last(self.id)

    def message(self, message_id: int) -> SentMessage:
        """A message the bot sent here, as it looks now (after edits)."""
        return self.emulator.message(self.id, message_id)

    def last_with_buttons(self) -> SentMessage:
        for message in reversed(self.messages()):
            if message.reply_markup and not message.deleted:
                return message
        raise AssertionError(f"no message with buttons in chat {self.id}")

    def texts(self) -> list[str]:
        return [m.text for m in self.messages() if not m.deleted]

    def new_since(self, count: int) -> list[SentMessage]:
        return self.messages()[count:]


async def make_group(
    harness: BotHarness,
    title: str,
    members: list[str],
    *,
    admins: tuple[str, ...] = (),
    bot_admin: bool = True,
    supergroup: bool = False,
    language_code: str | None = "zh-hans",
    on_user: Callable[[EmuUser], None] | None = None,
) -> GroupChat:
    """Create a group, its members (the first is the creator), and add the bot to it."""
    emu = harness.emulator
    chat = emu.create_group(title, supergroup=supergroup)
    users: dict[str, EmuUser] = {}
    for index, name in enumerate(members):
        user = emu.create_user(name, username=None, language_code=language_code)
        status = "creator" if index == 0 else ("administrator" if name in admins else "member")
        emu.set_member(chat.id, user, status)
        users[name] = user
        if on_user is not None:
            on_user(user)
    group = GroupChat(harness, chat, users)
    creator = users[members[0]]
    await harness.handled(emu.add_bot(chat.id, creator, as_admin=bot_admin))
    return group
