"""The ONE outbound path to Telegram (TG).

Every message the bot sends goes through ``Sender``: rate limits (30/s overall,
20/min per group, 1/s per private chat), ``RetryAfter`` honoured, network errors
retried with backoff, ``Forbidden`` marks the chat inactive, ``ChatMigrated`` moves
the chat's rows to the new id and retries, texts over 4096 characters are split on
paragraph boundaries. Callers pass HTML built by ``bot.texts`` (variables escaped).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from telegram import (
    InputFile,
    Message,
    ReactionTypeEmoji,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.config import SenderConfig
from bot.htmltext import TELEGRAM_TEXT_LIMIT, split_html
from bot.transport import RawBot
from bot.ui import Keyboard

logger = logging.getLogger(__name__)
T = TypeVar("T")

HEADROOM = 0.97
# How many "retry after" answers one message may get before the sender gives up on it.
FLOOD_WAITS_MAX = 20
GROUP_WINDOW = 61.0  # seconds; Telegram's is a minute, plus jitter
GLOBAL_WINDOW = 1.0  # seconds: "30 messages per second" counted over any second
OnForbidden = Callable[[int, str], Awaitable[None]]
OnMigrated = Callable[[int, int], Awaitable[None]]
NO_PREVIEW = {"is_disabled": True}


def _retry_seconds(exc: RetryAfter) -> float:
    # PTB 22 returns an int with a deprecation warning, later a timedelta; take either.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    return float(value.total_seconds() if hasattr(value, "total_seconds") else value)


class Limiter:
    """Spacing-based rate limits: one global, one per chat (group or private)."""

    def __init__(self, config: SenderConfig) -> None:
        # A little under the limit: requests reach Telegram with jitter, and a burst of
        # 31 in one second costs a whole second of RetryAfter.
        self.global_interval = 1.0 / (config.global_per_second * HEADROOM)
        self.private_interval = 1.0 / (config.private_per_second * HEADROOM)
        self.group_per_minute = config.group_per_minute
        # At most this many messages leave in any second, counted when they really leave.
        self.global_per_window = max(1, math.floor(config.global_per_second * HEADROOM))
        self._left: collections.deque[float] = collections.deque()
        self._next_global = 0.0
        self._next_private: dict[int, float] = {}
        self._group_sends: dict[int, collections.deque[float]] = {}
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        """Telegram said "retry after": nobody sends until then."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def _chat_ready_at(self, chat_id: int, now: float) -> float:
        """The earliest time this chat's own limit allows another message."""
        if chat_id > 0:
            return self._next_private.get(chat_id, 0.0)
        if chat_id < 0:
            window = self._group_sends.get(chat_id)
            if window is None:
                return 0.0
            while window and window[0] <= now - GROUP_WINDOW:
                window.popleft()
            if len(window) >= self.group_per_minute:
                return window[-self.group_per_minute] + GROUP_WINDOW
        return 0.0

    def _reserve(self, chat_id: int) -> tuple[float, bool]:
        """(time, True): send at that time, the slot is booked. (time, False): the chat
        itself is at its limit; ask again then. A held chat books nothing, so it never
        delays other chats' messages."""
        now = time.monotonic()
        ready = self._chat_ready_at(chat_id, now)
        if ready > max(now, self._next_global):
            return ready, False
        at = max(now, self._paused_until, self._next_global)
        self._next_global = at + self.global_interval
        if chat_id > 0:
            self._next_private[chat_id] = at + self.private_interval
            if len(self._next_private) > 10_000:
                self._next_private = {k: v for k, v in self._next_private.items() if v > now}
        elif chat_id < 0:
            self._group_sends.setdefault(chat_id, collections.deque()).append(at)
            if len(self._group_sends) > 10_000:
                self._group_sends = {
                    k: v for k, v in self._group_sends.items() if v and v[-1] > now - GROUP_WINDOW
                }
        return at, True

    async def acquire(self, chat_id: int) -> None:
        while True:
            async with self._lock:
                at, booked = self._reserve(chat_id)
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if booked and await self._leave():
                return

    async def _leave(self) -> bool:
        """Count a message out within the last second's budget; False: a pause began
        while it waited (Telegram said "retry after"), so book again after it.

        Spacing alone lets bursts through: when the event loop stalls (a full garbage
        collection takes 0.1 s with FirmBot loaded), every slot booked inside the stall
        leaves at its end, and Telegram counts those with the next second's messages.
        One 429 then stops every send for a second, and each booked send that ignored
        the pause drew another.
        """
        while True:
            now = time.monotonic()
            if now < self._paused_until:
                return False
            left = self._left
            while left and left[0] <= now - GLOBAL_WINDOW:
                left.popleft()
            if len(left) < self.global_per_window:
                left.append(now)
                return True
            await asyncio.sleep(left[0] + GLOBAL_WINDOW - now)


@dataclass(frozen=True, slots=True)
class Sent:
    """Where a message landed (after a possible group upgrade) and its message ids."""

    chat_id: int
    message_ids: tuple[int, ...]

    @property
    def message_id(self) -> int:
        return self.message_ids[0]


@dataclass(frozen=True, slots=True)
class SentPoll:
    chat_id: int
    message_id: int
    poll_id: str


@dataclass
class SenderStats:
    sent: int = 0
    edits: int = 0
    retries: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)


def markup_json(buttons: Keyboard | None) -> dict[str, Any] | None:
    """Our keyboard as the Bot API's ``InlineKeyboardMarkup`` JSON."""
    if buttons is None:
        return None
    return {
        "inline_keyboard": [
            [
                {"text": b.text, "callback_data": b.data}
                if b.data is not None
                else {"text": b.text, "url": b.url}
                for b in row
            ]
            for row in buttons
        ]
    }


class Sender:
    """Rate-limited, retrying, error-classifying access to the Bot API."""

    def __init__(
        self,
        bot: RawBot,
        config: SenderConfig,
        *,
        on_forbidden: OnForbidden | None = None,
        on_migrated: OnMigrated | None = None,
        retry_base_seconds: float = 0.5,
    ) -> None:
        self.bot = bot
        self.config = config
        self.limiter = Limiter(config)
        self.on_forbidden = on_forbidden
        self.on_migrated = on_migrated
        self.retry_base = retry_base_seconds
        self.stats = SenderStats()

    async def _call(
        self,
        chat_id: int,
        make: Callable[[int], Awaitable[T]],
        *,
        what: str,
        limited: bool = True,
    ) -> tuple[int, T] | None:
        """Run one API call for a chat with limits and retries; None if it cannot succeed."""
        attempt = 0
        # Flood waits are Telegram's instructions, not failures: counted on their own.
        flood_waits = 0
        migrated = False
        while True:
            if limited:
                await self.limiter.acquire(chat_id)
            try:
                return chat_id, await make(chat_id)
            except RetryAfter as exc:
                delay = float(
                    exc.retry_after
                    if isinstance(exc.retry_after, (int, float))
                    else exc.retry_after.total_seconds()
                )
                self.stats.errors["retry_after"] += 1
                logger.warning("%s to %s: flood limit, retrying after %.1f s", what, chat_id, delay)
                self.limiter.pause(delay)
                flood_waits += 1
                if flood_waits > FLOOD_WAITS_MAX:
                    self.stats.errors["gave_up"] += 1
                    return None
                self.stats.retries += 1
                continue
            except ChatMigrated as exc:
                new_id = int(exc.new_chat_id)
                self.stats.errors["migrated"] += 1
                if migrated or new_id == chat_id:
                    return None
                migrated = True
                logger.info("chat %s was upgraded to %s", chat_id, new_id)
                if self.on_migrated is not None:
                    await self.on_migrated(chat_id, new_id)
                chat_id = new_id
                continue
            except Forbidden as exc:
                self.stats.errors["forbidden"] += 1
                logger.info("%s to %s refused: %s", what, chat_id, exc.message)
                if self.on_forbidden is not None:
                    await self.on_forbidden(chat_id, exc.message)
                return None
            except BadRequest as exc:
                if "message is not modified" in exc.message.lower():
                    return chat_id, None  # type: ignore[return-value]
                self.stats.errors["bad_request"] += 1
                logger.error("%s to %s rejected: %s", what, chat_id, exc.message)
                return None
            except (TimedOut, NetworkError) as exc:
                kind = "timed_out" if isinstance(exc, TimedOut) else "network"
                self.stats.errors[kind] += 1
                attempt += 1
                if attempt > self.config.max_retries:
                    logger.error(
                        "%s to %s failed after %d attempts: %s", what, chat_id, attempt, exc
                    )
                    self.stats.errors["gave_up"] += 1
                    return None
                delay = min(self.retry_base * 2 ** (attempt - 1), 30.0)
                logger.warning(
                    "%s to %s: %s; retry %d in %.2f s", what, chat_id, exc, attempt, delay
                )
                self.stats.retries += 1
                await asyncio.sleep(delay)
            except TelegramError as exc:
                self.stats.errors["other"] += 1
                logger.error("%s to %s failed: %s", what, chat_id, exc)
                return None

    async def send(
        self,
        chat_id: int,
        html: str,
        *,
        buttons: Keyboard | None = None,
        reply_to: int | None = None,
        silent: bool = False,
    ) -> Sent | None:
        """Send an HTML message (split if long); buttons go on the last part."""
        parts = split_html(html, TELEGRAM_TEXT_LIMIT)
        ids: list[int] = []
        target = chat_id
        for index, part in enumerate(parts):
            last = index == len(parts) - 1

            reply_id = reply_to if index == 0 else None

            async def call(
                cid: int, text: str = part, last: bool = last, reply_id: int | None = reply_id
            ) -> Any:
                # The answer as JSON: only its message id is used (see RawBot).
                return await self.bot.post_raw(
                    "sendMessage",
                    {
                        "chat_id": cid,
                        "text": text,
                        "parse_mode": ParseMode.HTML.value,
                        "reply_markup": markup_json(buttons) if last else None,
                        "reply_parameters": (
                            {"message_id": reply_id, "allow_sending_without_reply": True}
                            if reply_id is not None
                            else None
                        ),
                        "disable_notification": silent or None,
                        "link_preview_options": NO_PREVIEW,
                    },
                )

            result = await self._call(target, call, what="sendMessage")
            if result is None:
                return Sent(target, tuple(ids)) if ids else None
            target, message = result
            ids.append(int(message["message_id"]))
            self.stats.sent += 1
        return Sent(target, tuple(ids))

    async def edit(
        self, chat_id: int, message_id: int, html: str, *, buttons: Keyboard | None = None
    ) -> bool:
        async def call(cid: int) -> Any:
            return await self.bot.post_raw(
                "editMessageText",
                {
                    "chat_id": cid,
                    "message_id": message_id,
                    "text": html,
                    "parse_mode": ParseMode.HTML.value,
                    "reply_markup": markup_json(buttons),
                    "link_preview_options": NO_PREVIEW,
                },
            )

        ok = await self._call(chat_id, call, what="editMessageText") is not None
        if ok:
            self.stats.edits += 1
        return ok

    async def edit_buttons(self, chat_id: int, message_id: int, buttons: Keyboard | None) -> bool:
        async def call(cid: int) -> Any:
            return await self.bot.post_raw(
                "editMessageReplyMarkup",
                {"chat_id": cid, "message_id": message_id, "reply_markup": markup_json(buttons)},
            )

        return await self._call(chat_id, call, what="editMessageReplyMarkup") is not None

    async def delete(self, chat_id: int, message_id: int) -> bool:
        async def call(cid: int) -> bool:
            return await self.bot.delete_message(cid, message_id)

        return await self._call(chat_id, call, what="deleteMessage", limited=False) is not None

    async def send_poll(
        self,
        chat_id: int,
        question: str,
        options: Sequence[str],
        *,
        correct_option_id: int,
        explanation: str | None = None,
        open_period: int | None = None,
    ) -> SentPoll | None:
        """A non-anonymous quiz poll (answers can be scored)."""

        async def call(cid: int) -> Message:
            return await self.bot.send_poll(
                cid,
                question,
                list(options),
                is_anonymous=False,
                type="quiz",
                correct_option_ids=[correct_option_id],  # type: ignore[list-item]
                explanation=explanation,
                open_period=open_period,
            )

        result = await self._call(chat_id, call, what="sendPoll")
        if result is None:
            return None
        target, message = result
        self.stats.sent += 1
        assert message.poll is not None
        return SentPoll(target, message.message_id, message.poll.id)

    async def stop_poll(self, chat_id: int, message_id: int) -> bool:
        async def call(cid: int) -> Any:
            return await self.bot.stop_poll(cid, message_id)

        return await self._call(chat_id, call, what="stopPoll") is not None

    async def send_document(
        self, chat_id: int, data: bytes, filename: str, *, caption: str | None = None
    ) -> Sent | None:
        async def call(cid: int) -> Message:
            return await self.bot.send_document(
                cid, InputFile(data, filename=filename), caption=caption, parse_mode=ParseMode.HTML
            )

        result = await self._call(chat_id, call, what="sendDocument")
        if result is None:
            return None
        self.stats.sent += 1
        return Sent(result[0], (result[1].message_id,))

    async def send_photo(
        self, chat_id: int, data: bytes, *, caption: str | None = None
    ) -> Sent | None:
        async def call(cid: int) -> Message:
            return await self.bot.send_photo(
                cid,
                InputFile(data, filename="chart.png"),
                caption=caption,
                parse_mode=ParseMode.HTML,
            )

        result = await self._call(chat_id, call, what="sendPhoto")
        if result is None:
            return None
        self.stats.sent += 1
        return Sent(result[0], (result[1].message_id,))

    async def react(self, chat_id: int, message_id: int, emoji: str) -> bool:
        async def call(cid: int) -> bool:
            return await self.bot.set_message_reaction(cid, message_id, ReactionTypeEmoji(emoji))

        return await self._call(chat_id, call, what="setMessageReaction", limited=False) is not None

    async def answer_callback(
        self, query_id: str, text: str | None = None, *, alert: bool = False
    ) -> bool:
        """Answer a button press; not rate-limited (Telegram does not count these)."""
        try:
            return await self.bot.answer_callback_query(query_id, text=text, show_alert=alert)
        except TelegramError as exc:
            # A query older than ~15 minutes cannot be answered; nothing to do about it.
            logger.info("answerCallbackQuery failed: %s", exc)
            return False
