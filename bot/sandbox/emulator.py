"""A local Telegram Bot API server for tests, benchmarks and ``firmbot sandbox``.

The bot talks to it over real HTTP (``ApplicationBuilder().base_url(emu.base_url)``);
tests drive the other side with Python calls (``emu.send_message(...)``) and read what the
bot did (``emu.last(chat_id)``). Everything runs in one asyncio event loop: call the
synchronous world-building methods from that loop's thread only.

Where Telegram's behaviour matters to the bot it is copied: length limits, HTML entity
parsing, inline keyboard checks, 403 for removed bots and unstarted private chats, 400 with
``migrate_to_chat_id`` after a group upgrade, 409 for getUpdates while a webhook is set, and
``allowed_updates`` (by default Telegram does not deliver ``chat_member`` updates).

After ``setWebhook`` it delivers updates as Telegram does: it POSTs each one as JSON to the
URL with the ``X-Telegram-Bot-Api-Secret-Token`` header, up to ``max_connections`` at once
(one chat's updates one after the other), and delivers again, with a growing delay, every
update not answered with a 2xx status (an error status, a refused connection, a timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import json
import logging
import math
import mimetypes
import random
import re
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from telegram.constants import ChatAction, ReactionEmoji

from bot.sandbox.emu_html import (
    HtmlParseError,
    detect_entities,
    parse_html,
    sort_entities,
    strip_text,
    utf16_len,
)
from bot.sandbox.emu_types import JSON, ApiCall, EmuChat, EmuUser, SentMessage

__all__ = [
    "ApiCall",
    "ApiError",
    "EmuChat",
    "EmuUser",
    "Emulator",
    "SentMessage",
    "StoredFile",
    "WebhookAttempt",
]

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456789:TEST-TOKEN-firmbot-emulator-000000"
GROUP_ANONYMOUS_BOT = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "left", "kicked"})
# Telegram's default when allowed_updates is empty or never given.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Methods that produce or change a visible message: the ones Telegram rate-limits.
RATE_LIMITED_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendPoll",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
    }
)
# fail_next(None) and error_rate_5xx leave polling alone so faults stay deterministic.
_UNFAULTED_BY_DEFAULT = frozenset({"getUpdates"})

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_UPLOAD = 50 * 1024 * 1024
MAX_DOWNLOAD = 20 * 1024 * 1024
MAX_CALLBACK_ANSWER = 200

_INT_PARAMS = frozenset(
    {
        "message_id",
        "offset",
        "limit",
        "user_id",
        "reply_to_message_id",
        "message_thread_id",
        "open_period",
        "close_date",
        "correct_option_id",
        "cache_time",
        "max_connections",
        "from_chat_id",
    }
)
_FLOAT_PARAMS = frozenset({"timeout"})
_BOOL_PARAMS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "is_anonymous",
        "allows_multiple_answers",
        "allows_revoting",
        "is_closed",
        "show_alert",
        "is_big",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "has_spoiler",
        "show_caption_above_media",
        "disable_content_type_detection",
        "allow_paid_broadcast",
    }
)
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "options",
        "reply_parameters",
        "allowed_updates",
        "commands",
        "scope",
        "reaction",
        "link_preview_options",
        "correct_option_ids",
        "explanation_entities",
        "question_entities",
        "menu_button",
    }
)
_INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_LANG_RE = re.compile(r"^[a-z]{2}$")
_SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
_REACTION_EMOJI = frozenset(e.value for e in ReactionEmoji)
_CHAT_ACTIONS = frozenset(a.value for a in ChatAction)


class ApiError(Exception):
    """A Bot API error answer: HTTP status, Telegram's description, optional parameters."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def to_json(self) -> JSON:
        """The response body Telegram sends for this error."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class _Upload:
    filename: str | None
    data: bytes
    content_type: str | None


@dataclass
class StoredFile:
    """A file known to the emulator: uploaded by a user or by the bot."""

    file_id: str
    file_unique_id: str
    data: bytes
    filename: str | None
    mime_type: str | None
    file_path: str
    width: int = 0
    height: int = 0

    def photo_size(self) -> JSON:
        """Telegram ``PhotoSize`` JSON."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "width": self.width,
            "height": self.height,
            "file_size": len(self.data),
        }

    def document(self) -> JSON:
        """Telegram ``Document`` JSON."""
        doc: JSON = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
        }
        if self.filename:
            doc["file_name"] = self.filename
        if self.mime_type:
            doc["mime_type"] = self.mime_type
        return doc


@dataclass
class _Poll:
    id: str
    chat_id: int
    message_id: int
    question: str
    options: list[str]
    type: str
    is_anonymous: bool
    allows_multiple_answers: bool
    allows_revoting: bool
    correct_option_ids: list[int]
    explanation: str | None
    explanation_entities: list[JSON]
    open_period: int | None
    close_date: int | None
    is_closed: bool = False
    votes: dict[int, list[int]] = field(default_factory=dict)


@dataclass
class _Fault:
    method: str | None
    status: int
    description: str
    retry_after: int | None
    remaining: int


@dataclass
class _Stall:
    method: str | None
    seconds: float
    remaining: int


@dataclass
class _Hold:
    methods: frozenset[str] | None  # lower-case names; None: the sending methods
    event: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: int = 0

    def matches(self, method: str) -> bool:
        if self.methods is None:
            return method in RATE_LIMITED_METHODS
        return method.lower() in self.methods


class _ClientGone(Exception):
    """The bot closed the connection while its call was held: the call never arrived."""


@dataclass
class WebhookAttempt:
    """One POST of an update to the bot's webhook."""

    update_id: int
    attempt: int
    status: int | None  # None: no HTTP answer (refused, reset, timed out)
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class _RateLimits:
    global_per_second: float | None
    per_group_per_minute: int | None
    per_private_per_second: float | None
    retry_after: int


class _Params:
    """Request parameters after type normalisation, plus uploaded files."""

    def __init__(self, values: JSON, uploads: dict[str, _Upload]) -> None:
        self.values = values
        self.uploads = uploads

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def opt_int(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(f"invalid {name} specified")
        return value

    def req_int(self, name: str, missing: str) -> int:
        value = self.opt_int(name)
        if value is None:
            raise _bad(missing)
        return value

    def opt_str(self, name: str) -> str | None:
        value = self.values.get(name)
        return None if value is None else str(value)

    def flag(self, name: str) -> bool:
        return bool(self.values.get(name, False))


def _to_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise _bad(f"invalid {name} specified")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise _bad(f"invalid {name} specified")


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _normalize(raw: JSON) -> JSON:
    """Give each parameter its Bot API type (form posts carry only strings)."""
    out: JSON = {}
    for name, value in raw.items():
        if name in _JSON_PARAMS and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                what = "reply keyboard markup" if name == "reply_markup" else name
                raise _bad(f"can't parse {what} JSON object") from None
        elif name in _INT_PARAMS:
            value = _to_int(name, value)
        elif name in _FLOAT_PARAMS:
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise _bad(f"invalid {name} specified") from None
        elif name in _BOOL_PARAMS:
            value = _to_bool(value)
        elif name == "chat_id" and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            value = int(value)
        out[name] = value
    return out


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG or JPEG; a plausible default for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            seg_len = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            i += 2 + seg_len
    return 800, 600


class Emulator:
    """A Telegram Bot API server on 127.0.0.1 with a Python control API (see module doc)."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "firmbot_test_bot",
        bot_name: str = "FirmBot",
    ) -> None:
        head, sep, _ = token.partition(":")
        if not sep or not head.isdigit():
            raise ValueError("token must look like '<bot id>:<secret>'")
        self.token = token
        self.bot_id = int(head)
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.bot_user = EmuUser(
            self.bot_id, bot_name, username=bot_username, language_code=None, is_bot=True
        )

        # Knobs tests may set directly.
        self.latency = 0.0
        self.error_rate_5xx = 0.0
        self.privacy_mode = False  # True: in groups, non-admin bot sees only what Telegram shows
        self.strict_html_ampersand = True
        self.poll_max_options = 10
        self.poll_max_open_period = 600
        self.clock: Callable[[], float] = time.time

        # What the bot did.
        self.requests: list[ApiCall] = []
        self.callback_answers: list[JSON] = []
        self.reactions: list[JSON] = []
        self.my_commands: dict[tuple[str, str], list[JSON]] = {}
        self.bot_profile: dict[tuple[str, str], str] = {}
        self.menu_buttons: dict[int | None, JSON] = {}
        self.chat_actions: list[JSON] = []
        self.dropped_updates: list[JSON] = []
        self.webhook_url = ""
        self.webhook_secret_token: str | None = None
        # Webhook delivery knobs: how long an answer may take, the delay before the first
        # retry (doubling up to webhook_retry_max), attempts before an update is given up
        # (None: never), and whether one chat's updates wait for each other.
        self.webhook_timeout = 60.0
        self.webhook_retry_base = 1.0
        self.webhook_retry_max = 30.0
        self.webhook_max_attempts: int | None = None
        self.webhook_ordered = True
        self.webhook_deliveries: list[WebhookAttempt] = []
        self.webhook_given_up: list[JSON] = []
        self._webhook_max_connections = 40
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_kick: asyncio.Event | None = None
        self._stalls: list[_Stall] = []
        self._hold: _Hold | None = None

        self._seed: int | None = 0
        self._random = random.Random(0)
        self._users: dict[int, EmuUser] = {}
        self._chats: dict[int, EmuChat] = {}
        self._messages: dict[tuple[int, int], JSON] = {}  # users' messages, as sent to the bot
        self._deleted: set[tuple[int, int]] = set()
        self._sent: dict[int, list[SentMessage]] = {}
        self._bot_msgs: dict[tuple[int, int], SentMessage] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._polls: dict[str, _Poll] = {}
        self._poll_by_msg: dict[tuple[int, int], _Poll] = {}
        self._open_callbacks: set[str] = set()
        self._listeners: list[Callable[[SentMessage, str], None]] = []

        self._updates: deque[JSON] = deque()
        self._update_kinds: dict[int, str] = {}
        self._dropped_ids: dict[int, str] = {}
        self._next_update_id = 1
        self._confirmed = 0  # every update_id below this was confirmed by an offset
        self._allowed_updates: frozenset[str] | None = None  # None = Telegram's default
        self._update_event = asyncio.Event()
        self._poll_generation = 0

        self._faults: list[_Fault] = []
        self._rate: _RateLimits | None = None
        self._every_n: int | None = None
        self._every_retry = 1
        self._send_count = 0
        self._global_sends: deque[float] = deque()
        self._chat_sends: dict[int, deque[float]] = {}

        self._next_user_id = 100_000_001
        self._next_group = 1
        self._next_supergroup = 1
        self._next_file = 1
        self._next_poll = 1
        self._next_callback = 1

        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None
        self._closing = False
        self._api = self._build_method_table()

    # ------------------------------------------------------------------ server lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on host:port (0 = a free port)."""
        if self._runner is not None:
            raise RuntimeError("emulator already started")
        from bot.sandbox.emu_control import add_control_routes

        self._closing = False
        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        add_control_routes(app, self)
        # access_log=None: request lines contain the bot token.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._host = host
        logger.info("Bot API emulator listening on %s:%d", host, self._port)

    async def stop(self) -> None:
        """End pending long polls, then close the server. Safe to call twice."""
        self._closing = True
        self._wake()
        self.release()
        await self._stop_webhook_delivery()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The TCP port served on."""
        if self._port is None:
            raise RuntimeError("emulator not started")
        return self._port

    @property
    def root_url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url``; PTB appends the token."""
        return f"{self.root_url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url``."""
        return f"{self.root_url}/file/bot"

    # ------------------------------------------------------------------ world building

    def create_user(
        self,
        first_name: str,
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "zh-hans",
        user_id: int | None = None,
        is_bot: bool = False,
    ) -> EmuUser:
        """A new user (no update)."""
        if user_id is None:
            while self._next_user_id in self._users or self._next_user_id == self.bot_id:
                self._next_user_id += 1
            user_id = self._next_user_id
            self._next_user_id += 1
        if user_id <= 0 or user_id in self._users or user_id == self.bot_id:
            raise ValueError(f"user id {user_id} is taken or invalid")
        user = EmuUser(user_id, first_name, username, last_name, language_code, is_bot)
        self._users[user_id] = user
        return user

    def create_group(
        self, title: str, *, supergroup: bool = False, chat_id: int | None = None
    ) -> EmuChat:
        """A new group without the bot in it (no update); see add_bot."""
        if chat_id is None:
            if supergroup:
                chat_id = -(1_001_000_000_000 + self._next_supergroup)
                self._next_supergroup += 1
            else:
                chat_id = -(1000 + self._next_group)
                self._next_group += 1
            while chat_id in self._chats:
                chat_id -= 1
        if chat_id >= 0 or chat_id in self._chats:
            raise ValueError(f"chat id {chat_id} is taken or not negative")
        chat = EmuChat(chat_id, "supergroup" if supergroup else "group", title)
        self._chats[chat_id] = chat
        return chat

    def set_member(self, chat_id: int, user: EmuUser, status: str = "member") -> None:
        """Set a member's status silently; ``user`` may be ``emu.bot_user``."""
        if status not in MEMBER_STATUSES:
            raise ValueError(f"status must be one of {sorted(MEMBER_STATUSES)}")
        chat = self._group(chat_id)
        if user.id == self.bot_id:
            if status == "creator":
                raise ValueError("the bot cannot be the creator of a group")
            chat.bot_status = status
            return
        self._users.setdefault(user.id, user)
        chat.members[user.id] = status

    def private_chat(self, user: EmuUser) -> EmuChat:
        """The user's private chat with the bot (created on first use, not yet started)."""
        if user.id == self.bot_id:
            raise ValueError("the bot has no private chat with itself")
        self._users.setdefault(user.id, user)
        chat = self._chats.get(user.id)
        if chat is None:
            chat = EmuChat(user.id, "private", None, bot_status="member")
            self._chats[user.id] = chat
        return chat

    def user(self, user_id: int) -> EmuUser:
        """A known user by id."""
        try:
            return self._users[user_id]
        except KeyError:
            raise ValueError(f"unknown user {user_id}") from None

    def users(self) -> list[EmuUser]:
        """Every user created so far."""
        return list(self._users.values())

    def chats(self) -> list[EmuChat]:
        """Every chat: groups, supergroups (old ids of upgraded groups too), private chats."""
        return list(self._chats.values())

    def chat(self, chat_id: int) -> EmuChat:
        """A known chat by id."""
        try:
            return self._chats[chat_id]
        except KeyError:
            raise ValueError(f"unknown chat {chat_id}") from None

    # ------------------------------------------------------------------ things users do

    def add_bot(
        self,
        chat_id: int,
        by: EmuUser,
        *,
        as_admin: bool = False,
        with_service_message: bool = False,
    ) -> JSON:
        """``by`` adds the bot: a my_chat_member update (left/kicked -> member/administrator).

        ``with_service_message`` also enqueues the new_chat_members message Telegram sends.
        """
        chat = self._group(chat_id)
        if chat.bot_present:
            raise ValueError(f"the bot is already in chat {chat_id}")
        self._ensure_member(chat, by)
        old = chat.bot_status
        new = "administrator" if as_admin else "member"
        chat.bot_status = new
        update = self._enqueue(
            "my_chat_member", self._member_update(chat, by, self.bot_user, old, new)
        )
        if with_service_message:
            self._enqueue(
                "message",
                self._new_message(
                    chat, by.to_dict(), {"new_chat_members": [self.bot_user.to_dict()]}
                ),
            )
        return update

    def remove_bot(self, chat_id: int, by: EmuUser) -> JSON:
        """``by`` removes the bot: my_chat_member -> kicked; later calls on the chat get 403."""
        chat = self._group(chat_id)
        if not chat.bot_present:
            raise ValueError(f"the bot is not in chat {chat_id}")
        self._ensure_member(chat, by)
        update = self._enqueue(
            "my_chat_member",
            self._member_update(chat, by, self.bot_user, chat.bot_status, "kicked"),
        )
        chat.bot_status = "kicked"
        return update

    def promote_bot(self, chat_id: int, by: EmuUser, admin: bool = True) -> JSON:
        """my_chat_member member <-> administrator."""
        chat = self._group(chat_id)
        if not chat.bot_present:
            raise ValueError(f"the bot is not in chat {chat_id}")
        new = "administrator" if admin else "member"
        if chat.bot_status == new:
            raise ValueError(f"the bot already is {new} in chat {chat_id}")
        self._ensure_member(chat, by)
        old, chat.bot_status = chat.bot_status, new
        return self._enqueue(
            "my_chat_member", self._member_update(chat, by, self.bot_user, old, new)
        )

    def set_admin(
        self, chat_id: int, user: EmuUser, admin: bool = True, *, by: EmuUser | None = None
    ) -> JSON:
        """chat_member update member <-> administrator.

        Telegram delivers it only when the bot is an administrator there (and only if the
        bot asked for ``chat_member`` in allowed_updates); otherwise the returned update has
        no ``update_id``.
        """
        chat = self._group(chat_id)
        status = chat.members.get(user.id)
        if status == "creator":
            raise ValueError("the creator's status cannot change")
        if status not in ("member", "administrator", None):
            raise ValueError(f"{user.first_name} is {status} in chat {chat_id}")
        new = "administrator" if admin else "member"
        old = status or "member"
        if old == new:
            raise ValueError(f"{user.first_name} already is {new} in chat {chat_id}")
        actor = by or self._creator(chat) or user
        chat.members[user.id] = new
        self._users.setdefault(user.id, user)
        payload = self._member_update(chat, actor, user, old, new)
        if chat.bot_status == "administrator":
            return self._enqueue("chat_member", payload)
        return {"chat_member": copy.deepcopy(payload)}

    def join(self, chat_id: int, user: EmuUser, *, by: EmuUser | None = None) -> JSON:
        """``user`` joins (or ``by`` adds them): a message with new_chat_members."""
        chat = self._group(chat_id)
        if not chat.bot_present:
            raise ValueError(self._absent_message(chat))
        self._users.setdefault(user.id, user)
        chat.members[user.id] = "member"
        msg = self._new_message(
            chat, (by or user).to_dict(), {"new_chat_members": [user.to_dict()]}
        )
        return self._enqueue("message", msg)

    def leave(self, chat_id: int, user: EmuUser) -> JSON:
        """``user`` leaves: a message with left_chat_member."""
        chat = self._group(chat_id)
        if not chat.bot_present:
            raise ValueError(self._absent_message(chat))
        chat.members[user.id] = "left"
        msg = self._new_message(chat, user.to_dict(), {"left_chat_member": user.to_dict()})
        return self._enqueue("message", msg)

    def block_bot(self, user: EmuUser) -> JSON:
        """The user blocks the bot: my_chat_member -> kicked; sends to them get 403."""
        chat = self.private_chat(user)
        if chat.blocked:
            raise ValueError(f"{user.first_name} already blocked the bot")
        update = self._enqueue(
            "my_chat_member", self._member_update(chat, user, self.bot_user, "member", "kicked")
        )
        chat.blocked = True
        return update

    def unblock_bot(self, user: EmuUser) -> JSON:
        """The user unblocks (restarts) the bot: my_chat_member kicked -> member."""
        chat = self.private_chat(user)
        if not chat.blocked:
            raise ValueError(f"{user.first_name} has not blocked the bot")
        chat.blocked = False
        chat.opened = True
        return self._enqueue(
            "my_chat_member", self._member_update(chat, user, self.bot_user, "kicked", "member")
        )

    def send_message(
        self,
        chat_id: int,
        user: EmuUser | None,
        text: str,
        *,
        reply_to: int | None = None,
        sender_chat_id: int | None = None,
    ) -> JSON:
        """A user's text message (user=None + sender_chat_id=chat_id: an anonymous admin)."""
        if not text:
            raise ValueError("text must not be empty")
        chat = self._user_chat(chat_id, user, sender_chat_id)
        fields: JSON = {"text": text}
        entities = sort_entities(detect_entities(text))
        if entities:
            fields["entities"] = entities
        return self._user_post(chat, user, sender_chat_id, fields, reply_to)

    def edit_message(self, chat_id: int, message_id: int, user: EmuUser, new_text: str) -> JSON:
        """The user edits their text message: an edited_message update."""
        msg = self._messages.get((chat_id, message_id))
        if msg is None or (chat_id, message_id) in self._deleted:
            raise ValueError(f"no user message {message_id} in chat {chat_id}")
        if msg.get("from", {}).get("id") != user.id:
            raise ValueError(f"message {message_id} was not sent by {user.first_name}")
        if "text" not in msg:
            raise ValueError(f"message {message_id} has no text")
        msg["text"] = new_text
        entities = sort_entities(detect_entities(new_text))
        if entities:
            msg["entities"] = entities
        else:
            msg.pop("entities", None)
        msg["edit_date"] = self._now()
        chat = self._chats[chat_id]
        if not chat.bot_present:
            raise ValueError(self._absent_message(chat))
        return self._enqueue("edited_message", msg)

    def send_photo(
        self,
        chat_id: int,
        user: EmuUser,
        data: bytes,
        *,
        caption: str | None = None,
        reply_to: int | None = None,
    ) -> JSON:
        """A user's photo; the bytes can be fetched back through getFile."""
        chat = self._user_chat(chat_id, user, None)
        stored = self._store_file(data, None, "image/jpeg", "photos", ".jpg", photo=True)
        fields: JSON = {"photo": [stored.photo_size()]}
        self._add_caption(fields, caption)
        return self._user_post(chat, user, None, fields, reply_to)

    def send_document(
        self,
        chat_id: int,
        user: EmuUser,
        data: bytes,
        filename: str,
        *,
        caption: str | None = None,
        reply_to: int | None = None,
        mime_type: str | None = None,
    ) -> JSON:
        """A user's document; the bytes can be fetched back through getFile."""
        chat = self._user_chat(chat_id, user, None)
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        suffix = "." + filename.rsplit(".", 1)[1] if "." in filename else ""
        stored = self._store_file(data, filename, mime, "documents", suffix)
        fields: JSON = {"document": stored.document()}
        self._add_caption(fields, caption)
        return self._user_post(chat, user, None, fields, reply_to)

    def press_button(
        self,
        chat_id: int,
        message_id: int,
        user: EmuUser,
        *,
        label: str | None = None,
        data: str | None = None,
    ) -> JSON:
        """The user presses an inline button (by label or callback_data): a callback_query."""
        if (label is None) == (data is None):
            raise ValueError("give exactly one of label= or data=")
        sm = self._bot_msgs.get((chat_id, message_id))
        if sm is None or sm.deleted:
            raise ValueError(f"no bot message {message_id} in chat {chat_id}")
        chat = self._user_chat(chat_id, user, None)
        rows = (sm.reply_markup or {}).get("inline_keyboard") or []
        for row in rows:
            for btn in row:
                if (label is not None and btn.get("text") == label) or (
                    data is not None and btn.get("callback_data") == data
                ):
                    if "callback_data" not in btn:
                        raise ValueError(f"button {btn.get('text')!r} sends no callback: {btn}")
                    query_id = str(4_000_000_000_000_000_000 + self._next_callback)
                    self._next_callback += 1
                    self._open_callbacks.add(query_id)
                    query = {
                        "id": query_id,
                        "from": user.to_dict(),
                        "message": self._bot_message_json(sm),
                        "chat_instance": str(abs(chat.id) * 7919 + 17),
                        "data": btn["callback_data"],
                    }
                    return self._enqueue("callback_query", query)
        wanted = f"label {label!r}" if label is not None else f"data {data!r}"
        raise ValueError(
            f"no inline button with {wanted} on message {message_id} in chat {chat_id}; "
            f"current buttons: {sm.buttons}"
        )

    def answer_poll(self, poll_id: str, user: EmuUser, option_ids: list[int]) -> JSON:
        """The user votes ([] retracts): a poll_answer update. Non-anonymous polls only."""
        poll = self._polls.get(poll_id)
        if poll is None:
            raise ValueError(f"unknown poll {poll_id}")
        self._refresh_poll(poll)
        if poll.is_anonymous:
            raise ValueError("Telegram sends no poll_answer for anonymous polls")
        if poll.is_closed:
            raise ValueError(f"poll {poll_id} is closed")
        chat = self._chats[poll.chat_id]
        if not chat.bot_present:
            raise ValueError(self._absent_message(chat))
        if chat.type != "private":
            self._ensure_member(chat, user)
        previous = poll.votes.get(user.id)
        ids = list(option_ids)
        if any(not 0 <= i < len(poll.options) for i in ids) or len(set(ids)) != len(ids):
            raise ValueError(f"option ids must be distinct and in 0..{len(poll.options) - 1}")
        if len(ids) > 1 and not poll.allows_multiple_answers:
            raise ValueError("this poll allows one answer only")
        if previous is not None and not poll.allows_revoting:
            raise ValueError(f"{user.first_name} already voted and the poll forbids revoting")
        if not ids and previous is None:
            raise ValueError(f"{user.first_name} has no vote to retract")
        if ids:
            poll.votes[user.id] = sorted(ids)
        else:
            poll.votes.pop(user.id, None)
        self._sync_poll(poll)
        answer = {
            "poll_id": poll.id,
            "user": user.to_dict(),
            "option_ids": sorted(ids),
            "option_persistent_ids": [str(i) for i in sorted(ids)],
        }
        return self._enqueue("poll_answer", answer)

    def poll_update(self, poll_id: str) -> JSON:
        """Enqueue a ``poll`` update with the poll's current state.

        Telegram sends these for the bot's own polls whenever their state changes; the
        emulator sends them only when asked, so tests stay explicit.
        """
        poll = self._polls.get(poll_id)
        if poll is None:
            raise ValueError(f"unknown poll {poll_id}")
        return self._enqueue("poll", self._poll_json(poll))

    def upgrade_group(self, chat_id: int, *, by: EmuUser | None = None) -> int:
        """Group -> supergroup with a new id; returns it. The old id answers 400 afterwards."""
        old = self._group(chat_id)
        if old.type != "group":
            raise ValueError(f"chat {chat_id} is a {old.type}, only groups can be upgraded")
        new_id = -(1_001_000_000_000 + self._next_supergroup)
        self._next_supergroup += 1
        while new_id in self._chats:
            new_id -= 1
        new = EmuChat(
            new_id,
            "supergroup",
            old.title,
            members=dict(old.members),
            bot_status=old.bot_status,
            migrated_from=old.id,
        )
        self._chats[new_id] = new
        actor = by or self._creator(old)
        sender = actor.to_dict() if actor else dict(GROUP_ANONYMOUS_BOT)
        visible = old.bot_present
        msg_old = self._new_message(old, sender, {"migrate_to_chat_id": new_id})
        old.migrated_to = new_id
        msg_new = self._new_message(new, sender, {"migrate_from_chat_id": old.id})
        if visible:
            self._enqueue("message", msg_old)
            self._enqueue("message", msg_new)
        return new_id

    def inject_update(self, update: JSON) -> JSON:
        """Enqueue a raw update (its update_id is replaced).

        A raw ``callback_query`` can be answered, as the one Telegram sends.
        """
        body = {k: v for k, v in update.items() if k != "update_id"}
        if len(body) != 1:
            raise ValueError("an update has exactly one field besides update_id")
        ((kind, payload),) = body.items()
        if kind == "callback_query" and isinstance(payload, dict) and "id" in payload:
            self._open_callbacks.add(str(payload["id"]))
        return self._enqueue(kind, payload)

    # ------------------------------------------------------------------ what the bot did

    def messages(self, chat_id: int) -> list[SentMessage]:
        """Messages the bot sent to the chat, in order (deleted ones included, flagged)."""
        return list(self._sent.get(chat_id, []))

    def last(self, chat_id: int) -> SentMessage:
        """The bot's latest message in the chat; AssertionError with context if none."""
        sent = self._sent.get(chat_id)
        if not sent:
            raise AssertionError(f"the bot sent nothing to chat {chat_id}.\n{self.describe()}")
        return sent[-1]

    def message(self, chat_id: int, message_id: int) -> SentMessage:
        """One bot message by id; AssertionError with context if none."""
        sm = self._bot_msgs.get((chat_id, message_id))
        if sm is None:
            raise AssertionError(
                f"no bot message {message_id} in chat {chat_id}.\n{self.describe()}"
            )
        return sm

    def calls(self, method: str) -> list[ApiCall]:
        """Recorded calls of one Bot API method (case-insensitive name)."""
        name = method.lower()
        return [c for c in self.requests if c.method.lower() == name]

    def describe(self, limit: int = 10) -> str:
        """A readable summary for failure messages: bot messages per chat, failed calls."""
        lines = []
        for chat_id, sent in self._sent.items():
            lines.append(f"chat {chat_id}: {len(sent)} bot message(s)")
            lines.extend("  " + str(sm).replace("\n", "\n  ") for sm in sent[-3:])
        failed = [c for c in self.requests if not c.ok and c.status]
        if failed:
            lines.append("failed API calls (latest last):")
            lines.extend(f"  {c}" for c in failed[-limit:])
        lines.append(f"pending updates: {self.pending_updates()}")
        return "\n".join(lines)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll ``predicate`` every 10 ms; AssertionError after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() >= deadline:
                raise AssertionError(f"condition not met within {timeout} s.\n{self.describe()}")
            await asyncio.sleep(0.01)

    async def wait_for_message(
        self, chat_id: int, *, count: int = 1, timeout: float = 5.0
    ) -> SentMessage:
        """Wait until the bot sent ``count`` more messages to the chat; return the last."""
        target = len(self._sent.get(chat_id, [])) + count
        try:
            await self.wait_for(lambda: len(self._sent.get(chat_id, [])) >= target, timeout)
        except AssertionError:
            raise AssertionError(
                f"chat {chat_id} did not receive {count} more bot message(s) within {timeout} s."
                f"\n{self.describe()}"
            ) from None
        return self._sent[chat_id][-1]

    @property
    def last_update_id(self) -> int:
        """The id of the newest update queued so far (0 if none)."""
        return self._next_update_id - 1

    def pending_updates(self) -> int:
        """Updates not yet confirmed by a getUpdates offset."""
        return len(self._updates)

    async def wait_delivered(self, update_id: int, timeout: float = 5.0) -> None:
        """Wait until the bot confirmed the update (getUpdates with offset > update_id)."""

        def done() -> bool:
            if update_id in self._dropped_ids:
                raise AssertionError(
                    f"update {update_id} ({self._dropped_ids[update_id]}) was dropped: the "
                    f"bot's allowed_updates exclude it"
                )
            return self._confirmed > update_id

        await self.wait_for(done, timeout)

    def on_bot_message(self, callback: Callable[[SentMessage, str], None]) -> None:
        """Call ``callback(message, "send"|"edit"|"delete")`` whenever the bot does that."""
        self._listeners.append(callback)

    def file(self, file_id: str) -> StoredFile:
        """A stored file by file_id."""
        try:
            return self._files[file_id]
        except KeyError:
            raise ValueError(f"unknown file_id {file_id}") from None

    # ------------------------------------------------------------------ faults and limits

    def fail_next(
        self,
        method: str | None,
        *,
        status: int = 500,
        description: str = "Internal Server Error",
        count: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` (any method but getUpdates if None) fail."""
        if status == 429 and description == "Internal Server Error":
            description = f"Too Many Requests: retry after {retry_after or 1}"
            retry_after = retry_after or 1
        self._faults.append(_Fault(method, status, description, retry_after, count))

    @property
    def seed(self) -> int | None:
        """Seed of the random source behind error_rate_5xx (write to reseed)."""
        return self._seed

    @seed.setter
    def seed(self, value: int | None) -> None:
        self._seed = value
        self._random = random.Random(value)

    def enforce_rate_limits(
        self,
        *,
        global_per_second: float | None = 30,
        per_group_per_minute: int | None = 20,
        per_private_per_second: float | None = 1,
        retry_after: int = 1,
    ) -> None:
        """Answer 429 (and deliver nothing) when sends exceed Telegram's sliding windows."""
        self._rate = _RateLimits(
            global_per_second, per_group_per_minute, per_private_per_second, retry_after
        )
        self._global_sends.clear()
        self._chat_sends.clear()

    def disable_rate_limits(self) -> None:
        """Turn off enforce_rate_limits and rate_limit_every."""
        self._rate = None
        self._every_n = None

    def rate_limit_every(self, n: int, retry_after: int = 1) -> None:
        """Every n-th send answers 429 (deterministic)."""
        if n < 1:
            raise ValueError("n must be >= 1")
        self._every_n = n
        self._every_retry = retry_after
        self._send_count = 0

    def stall_next(self, method: str | None = None, *, seconds: float, count: int = 1) -> None:
        """The next ``count`` calls of ``method`` (any but getUpdates if None) hang for
        ``seconds`` and then answer 504 without being carried out: a request that timed out
        before it reached Telegram (the bot's own read timeout may end it sooner)."""
        self._stalls.append(_Stall(method, seconds, count))

    def hold(self, *methods: str) -> None:
        """Hold every call of ``methods`` (default: the sending ones) until ``release()``.

        A held call whose client went away meanwhile (it timed out, or its process was
        killed) is dropped, never carried out: it did not reach Telegram. Tests use this
        to stop a bot process at a moment when its sends are in flight but not delivered.
        """
        self.release()
        self._hold = _Hold(frozenset(m.lower() for m in methods) if methods else None)

    def release(self) -> None:
        """Let held calls go on (see ``hold``)."""
        hold, self._hold = self._hold, None
        if hold is not None:
            hold.event.set()

    @property
    def held(self) -> int:
        """Calls waiting in ``hold`` now."""
        return self._hold.waiting if self._hold is not None else 0

    def webhook_attempts(self, update_id: int) -> list[WebhookAttempt]:
        """Every POST of one update to the webhook so far."""
        return [a for a in self.webhook_deliveries if a.update_id == update_id]

    # ------------------------------------------------------------------ internals: updates

    def _wake(self) -> None:
        # Swap the event so waiters of the old one wake and new waiters block again.
        event, self._update_event = self._update_event, asyncio.Event()
        event.set()
        if self._webhook_kick is not None:
            self._webhook_kick.set()

    def _enqueue(self, kind: str, payload: JSON) -> JSON:
        update_id = self._next_update_id
        self._next_update_id += 1
        update = {"update_id": update_id, kind: copy.deepcopy(payload)}
        self._updates.append(update)
        self._update_kinds[update_id] = kind
        self._wake()
        return copy.deepcopy(update)

    def _allowed(self, kind: str) -> bool:
        if self._allowed_updates is None:
            return kind not in DEFAULT_EXCLUDED_UPDATES
        return kind in self._allowed_updates

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            keep = -offset
            while len(self._updates) > keep:
                done = self._updates.popleft()
                self._confirmed = max(self._confirmed, done["update_id"] + 1)
            return
        self._confirmed = max(self._confirmed, offset)
        while self._updates and self._updates[0]["update_id"] < offset:
            self._updates.popleft()

    def _take(self, limit: int) -> list[JSON]:
        batch: list[JSON] = []
        for update in list(self._updates):
            kind = self._update_kinds[update["update_id"]]
            if not self._allowed(kind):
                # Telegram never stores updates the bot did not ask for.
                self._updates.remove(update)
                self._dropped_ids[update["update_id"]] = kind
                self.dropped_updates.append(update)
                logger.debug("dropping %s update %s (allowed_updates)", kind, update["update_id"])
                continue
            batch.append(copy.deepcopy(update))
            if len(batch) >= limit:
                break
        return batch

    # ------------------------------------------------------------------ internals: webhook

    def _start_webhook_delivery(self) -> None:
        if self._webhook_kick is None:
            self._webhook_kick = asyncio.Event()
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(
                self._webhook_loop(), name="emulator-webhook"
            )
        self._webhook_kick.set()

    async def _stop_webhook_delivery(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @staticmethod
    def _update_chat_key(update: JSON) -> int | None:
        """The chat (or user) an update belongs to, for in-order delivery per chat."""
        for key, payload in update.items():
            if key == "update_id" or not isinstance(payload, dict):
                continue
            for path in (("chat",), ("message", "chat"), ("from",), ("user",)):
                node: Any = payload
                for part in path:
                    node = node.get(part) if isinstance(node, dict) else None
                if isinstance(node, dict) and isinstance(node.get("id"), int):
                    return int(node["id"])
        return None

    async def _webhook_loop(self) -> None:
        """Deliver queued updates to the webhook while one is set."""
        kick = self._webhook_kick
        assert kick is not None
        in_flight: dict[int, asyncio.Task[None]] = {}
        busy: set[int] = set()

        def done(update_id: int, key: int | None) -> None:
            in_flight.pop(update_id, None)
            if key is not None:
                busy.discard(key)
            kick.set()

        async with aiohttp.ClientSession() as session:
            try:
                while self.webhook_url and not self._closing:
                    kick.clear()
                    if not _on_this_machine(self.webhook_url):
                        # The emulator never sends anything off this machine: updates wait,
                        # as for a webhook that cannot be reached.
                        await kick.wait()
                        continue
                    for update in list(self._updates):
                        if len(in_flight) >= self._webhook_max_connections:
                            break
                        update_id = update["update_id"]
                        if update_id in in_flight:
                            continue
                        kind = self._update_kinds[update_id]
                        if not self._allowed(kind):
                            self._updates.remove(update)
                            self._dropped_ids[update_id] = kind
                            self.dropped_updates.append(update)
                            continue
                        key = self._update_chat_key(update) if self.webhook_ordered else None
                        if key is not None:
                            if key in busy:
                                continue
                            busy.add(key)
                        task = asyncio.create_task(
                            self._webhook_deliver(session, copy.deepcopy(update))
                        )
                        in_flight[update_id] = task
                        task.add_done_callback(
                            lambda _t, uid=update_id, k=key: done(uid, k)  # type: ignore[misc]
                        )
                    await kick.wait()
            finally:
                tasks = list(in_flight.values())
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _webhook_deliver(self, session: aiohttp.ClientSession, update: JSON) -> None:
        """POST one update until the bot answers 2xx (or it is given up)."""
        update_id = update["update_id"]
        body = _dumps(update).encode()
        attempt = 0
        while self.webhook_url and not self._closing:
            attempt += 1
            headers = {"Content-Type": "application/json"}
            if self.webhook_secret_token:
                headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret_token
            started = time.monotonic()
            status: int | None = None
            error: str | None = None
            try:
                async with session.post(
                    self.webhook_url,
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
                ) as response:
                    await response.read()
                    status = response.status
            except TimeoutError:
                error = "timeout"
            except aiohttp.ClientError as exc:
                error = type(exc).__name__
            result = WebhookAttempt(update_id, attempt, status, error, time.monotonic() - started)
            self.webhook_deliveries.append(result)
            if result.ok:
                self._webhook_confirm(update_id)
                return
            logger.debug("webhook delivery of update %s failed: %s", update_id, status or error)
            if self.webhook_max_attempts is not None and attempt >= self.webhook_max_attempts:
                logger.warning("giving up update %s after %d attempts", update_id, attempt)
                self.webhook_given_up.append(update)
                self._webhook_confirm(update_id)
                return
            delay = min(self.webhook_retry_base * 2 ** (attempt - 1), self.webhook_retry_max)
            await asyncio.sleep(delay)

    def _webhook_confirm(self, update_id: int) -> None:
        for update in self._updates:
            if update["update_id"] == update_id:
                self._updates.remove(update)
                break
        first = self._updates[0]["update_id"] if self._updates else self._next_update_id
        self._confirmed = max(self._confirmed, first)

    # ------------------------------------------------------------------ internals: faults

    async def _maybe_hold(self, method: str, request: web.Request) -> None:
        hold = self._hold
        if hold is None or not hold.matches(method):
            return
        hold.waiting += 1
        try:
            await hold.event.wait()
        finally:
            hold.waiting -= 1
        if request.transport is None or request.transport.is_closing():
            raise _ClientGone

    async def _maybe_stall(self, method: str) -> None:
        for stall in self._stalls:
            if stall.method is None:
                if method in _UNFAULTED_BY_DEFAULT:
                    continue
            elif stall.method.lower() != method.lower():
                continue
            stall.remaining -= 1
            if stall.remaining <= 0:
                self._stalls.remove(stall)
            await asyncio.sleep(stall.seconds)
            raise ApiError(504, "Gateway Timeout")

    # ------------------------------------------------------------------ internals: world

    def _now(self) -> int:
        return int(self.clock())

    def _group(self, chat_id: int) -> EmuChat:
        chat = self._chats.get(chat_id)
        if chat is None or chat.type == "private":
            raise ValueError(f"no group {chat_id}")
        if chat.migrated_to is not None:
            raise ValueError(f"group {chat_id} was upgraded to {chat.migrated_to}")
        return chat

    def _creator(self, chat: EmuChat) -> EmuUser | None:
        for uid, status in chat.members.items():
            if status == "creator":
                return self._users.get(uid)
        return None

    def _absent_message(self, chat: EmuChat) -> str:
        return (
            f"the bot is not in chat {chat.id} (bot_status={chat.bot_status!r}), so Telegram "
            f"would not deliver this; call add_bot() or set_member(chat_id, emu.bot_user)"
        )

    def _ensure_member(self, chat: EmuChat, user: EmuUser) -> None:
        self._users.setdefault(user.id, user)
        status = chat.members.get(user.id)
        if status is None:
            chat.members[user.id] = "member"  # lenient: tests need not enrol every speaker
        elif status in ("left", "kicked"):
            raise ValueError(f"{user.first_name} is {status} in chat {chat.id}")

    def _user_chat(self, chat_id: int, user: EmuUser | None, sender_chat_id: int | None) -> EmuChat:
        """The chat a user action happens in, after checking it could happen."""
        chat = self._chats.get(chat_id)
        if chat is None and user is not None and chat_id == user.id:
            chat = self.private_chat(user)
        if chat is None:
            raise ValueError(f"unknown chat {chat_id}")
        if chat.migrated_to is not None:
            raise ValueError(f"group {chat_id} was upgraded to {chat.migrated_to}")
        if user is None:
            if sender_chat_id is None or chat.type == "private":
                raise ValueError("user=None needs sender_chat_id (anonymous group admin)")
            if sender_chat_id not in self._chats:
                raise ValueError(f"unknown sender chat {sender_chat_id}")
        if chat.type == "private":
            if user is None or user.id != chat.id:
                raise ValueError(f"only user {chat.id} writes in private chat {chat.id}")
            if chat.blocked:
                raise ValueError(f"{user.first_name} blocked the bot; call unblock_bot() first")
            chat.opened = True
            return chat
        if not chat.bot_present:
            raise ValueError(self._absent_message(chat))
        if user is not None:
            self._ensure_member(chat, user)
        return chat

    def _chat_json(self, chat: EmuChat) -> JSON:
        if chat.type == "private":
            user = self._users[chat.id]
            data: JSON = {"id": chat.id, "type": "private", "first_name": user.first_name}
            if user.last_name:
                data["last_name"] = user.last_name
            if user.username:
                data["username"] = user.username
            return data
        return {"id": chat.id, "type": chat.type, "title": chat.title or ""}

    def _new_message(self, chat: EmuChat, sender: JSON | None, fields: JSON) -> JSON:
        chat.last_message_id += 1
        msg: JSON = {
            "message_id": chat.last_message_id,
            "date": self._now(),
            "chat": self._chat_json(chat),
        }
        if sender is not None:
            msg["from"] = sender
        msg.update(fields)
        self._messages[(chat.id, chat.last_message_id)] = msg
        return msg

    def _add_caption(self, fields: JSON, caption: str | None) -> None:
        if caption:
            fields["caption"] = caption
            entities = sort_entities(detect_entities(caption))
            if entities:
                fields["caption_entities"] = entities

    def _user_post(
        self,
        chat: EmuChat,
        user: EmuUser | None,
        sender_chat_id: int | None,
        fields: JSON,
        reply_to: int | None,
    ) -> JSON:
        if reply_to is not None:
            target = self._message_json(chat.id, reply_to)
            if target is None:
                raise ValueError(f"no message {reply_to} in chat {chat.id} to reply to")
            target.pop("reply_to_message", None)  # Telegram nests one level only
            fields["reply_to_message"] = target
        if user is None:
            sender = dict(GROUP_ANONYMOUS_BOT)
            fields["sender_chat"] = self._chat_json(self._chats[sender_chat_id or chat.id])
        else:
            self._users.setdefault(user.id, user)
            sender = user.to_dict()
        msg = self._new_message(chat, sender, fields)
        if not self._bot_would_see(chat, msg):
            return {"message": copy.deepcopy(msg)}
        return self._enqueue("message", msg)

    def _bot_would_see(self, chat: EmuChat, msg: JSON) -> bool:
        """Privacy mode: a non-admin bot in a group sees commands, replies to it, mentions."""
        if chat.type == "private" or not self.privacy_mode or chat.bot_status == "administrator":
            return True
        text = msg.get("text") or msg.get("caption") or ""
        if text.startswith("/") or f"@{self.bot_username}" in text:
            return True
        reply = msg.get("reply_to_message") or {}
        return bool(reply.get("from", {}).get("id") == self.bot_id)

    def _message_json(self, chat_id: int, message_id: int) -> JSON | None:
        if (chat_id, message_id) in self._deleted:
            return None
        sm = self._bot_msgs.get((chat_id, message_id))
        if sm is not None:
            return None if sm.deleted else self._bot_message_json(sm)
        msg = self._messages.get((chat_id, message_id))
        return copy.deepcopy(msg) if msg is not None else None

    def _member_json(self, user: EmuUser, status: str) -> JSON:
        data: JSON = {"status": status, "user": user.to_dict()}
        if status == "creator":
            data["is_anonymous"] = False
        elif status == "administrator":
            data.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=False,
                can_edit_stories=False,
                can_delete_stories=False,
                can_pin_messages=True,
                can_manage_topics=False,
            )
        elif status == "kicked":
            data["until_date"] = 0
        return data

    def _member_update(
        self, chat: EmuChat, actor: EmuUser, subject: EmuUser, old: str, new: str
    ) -> JSON:
        return {
            "chat": self._chat_json(chat),
            "from": actor.to_dict(),
            "date": self._now(),
            "old_chat_member": self._member_json(subject, old),
            "new_chat_member": self._member_json(subject, new),
        }

    def _store_file(
        self,
        data: bytes,
        filename: str | None,
        mime_type: str | None,
        folder: str,
        suffix: str,
        *,
        photo: bool = False,
    ) -> StoredFile:
        n = self._next_file
        self._next_file += 1
        prefix = "AgACAgIAAxkB" if photo else "BQACAgIAAxkB"
        stored = StoredFile(
            file_id=f"{prefix}emu{n:06d}",
            file_unique_id=f"AQADemu{n:06d}",
            data=data,
            filename=filename,
            mime_type=mime_type,
            file_path=f"{folder}/file_{n}{suffix}",
        )
        if photo:
            stored.width, stored.height = _image_size(data)
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    # ------------------------------------------------------------------ internals: polls

    def _refresh_poll(self, poll: _Poll) -> None:
        """Close a poll whose open_period or close_date has passed."""
        if not poll.is_closed and poll.close_date is not None and self.clock() >= poll.close_date:
            poll.is_closed = True
            self._sync_poll(poll)

    def _poll_json(self, poll: _Poll) -> JSON:
        self._refresh_poll(poll)
        return self._poll_payload(poll)

    def _poll_payload(self, poll: _Poll) -> JSON:
        """Telegram ``Poll`` JSON as the bot sees it (with the correct options of its quiz)."""
        counts = [0] * len(poll.options)
        for ids in poll.votes.values():
            for i in ids:
                counts[i] += 1
        data: JSON = {
            "id": poll.id,
            "question": poll.question,
            "options": [
                {"text": text, "voter_count": counts[i], "persistent_id": str(i)}
                for i, text in enumerate(poll.options)
            ],
            "total_voter_count": len(poll.votes),
            "is_closed": poll.is_closed,
            "is_anonymous": poll.is_anonymous,
            "type": poll.type,
            "allows_multiple_answers": poll.allows_multiple_answers,
            "allows_revoting": poll.allows_revoting,
            "members_only": False,
        }
        if poll.type == "quiz":
            # Bot API 9.6 replaced correct_option_id; sending it makes PTB warn.
            data["correct_option_ids"] = list(poll.correct_option_ids)
        if poll.explanation:
            data["explanation"] = poll.explanation
            if poll.explanation_entities:
                data["explanation_entities"] = poll.explanation_entities
        if poll.open_period is not None:
            data["open_period"] = poll.open_period
        if poll.close_date is not None:
            data["close_date"] = poll.close_date
        return data

    def _sync_poll(self, poll: _Poll) -> None:
        """Refresh the SentMessage.poll summary tests read."""
        sm = self._bot_msgs.get((poll.chat_id, poll.message_id))
        if sm is None:
            return
        summary = self._poll_payload(poll)
        summary["correct_option_id"] = (
            poll.correct_option_ids[0] if poll.correct_option_ids else None
        )
        summary["correct_option_ids"] = list(poll.correct_option_ids)
        summary["votes"] = {uid: list(ids) for uid, ids in poll.votes.items()}
        summary.setdefault("explanation", None)
        summary.setdefault("open_period", None)
        sm.poll = summary

    # ------------------------------------------------------------------ HTTP: Bot API

    async def _read_params(self, request: web.Request) -> tuple[JSON, dict[str, _Upload]]:
        raw: JSON = dict(request.query)
        uploads: dict[str, _Upload] = {}
        if request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise _bad("can't parse JSON encoded request body") from None
                if not isinstance(body, dict):
                    raise _bad("request body must be a JSON object")
                raw.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for name, value in form.items():
                    if isinstance(value, web.FileField):
                        uploads[name] = _Upload(
                            value.filename, value.file.read(), value.content_type
                        )
                    else:
                        raw[name] = value
        return raw, uploads

    async def _handle_api(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        entry = self._api.get(name.lower())
        call = ApiCall(method=entry[0] if entry else name, params={}, time=self.clock())
        self.requests.append(call)
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if entry is None:
                raise ApiError(404, "Not Found")
            raw, uploads = await self._read_params(request)
            call.params = {
                **raw,
                **{k: {"upload": u.filename, "size": len(u.data)} for k, u in uploads.items()},
            }
            params = _Params(_normalize(raw), uploads)
            call.params.update(params.values)
            if self.latency:
                await asyncio.sleep(self.latency)
            await self._maybe_hold(entry[0], request)
            await self._maybe_stall(entry[0])
            self._maybe_fail(entry[0])
            result = await entry[1](params)
            status, body = 200, {"ok": True, "result": result}
        except ApiError as err:
            status, body = err.status, err.to_json()
            call.description = err.description
        except _ClientGone:
            call.status = 499
            call.description = "the client went away while the call was held; not processed"
            return web.Response(status=499)
        except Exception as err:
            # An emulator bug must not look like a flaky network to the bot's retry logic.
            logger.exception("emulator failed handling %s", call.method)
            status = 500
            body = ApiError(500, f"Internal Server Error: emulator bug: {err!r}").to_json()
            call.description = body["description"]
        call.status = status
        call.result = body.get("result")
        return web.json_response(body, status=status, dumps=_dumps)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").to_json(), status=401)
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return web.json_response(ApiError(404, "Not Found").to_json(), status=404)
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    def _maybe_fail(self, method: str) -> None:
        for fault in self._faults:
            if fault.method is None:
                if method in _UNFAULTED_BY_DEFAULT:
                    continue
            elif fault.method.lower() != method.lower():
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            params = {"retry_after": fault.retry_after} if fault.retry_after else None
            raise ApiError(fault.status, fault.description, params)
        if (
            self.error_rate_5xx
            and method not in _UNFAULTED_BY_DEFAULT
            and self._random.random() < self.error_rate_5xx
        ):
            raise ApiError(500, "Internal Server Error")

    def _check_rate(self, chat: EmuChat) -> None:
        """Count one send to ``chat``; 429 (not delivered) if over a limit."""
        if self._every_n is not None:
            self._send_count += 1
            if self._send_count % self._every_n == 0:
                raise _too_many(self._every_retry)
        rate = self._rate
        if rate is None:
            return
        now = time.monotonic()
        chat_sends = self._chat_sends.setdefault(chat.id, deque())
        checks: list[tuple[deque[float], float, float]] = []
        if rate.global_per_second:
            checks.append((self._global_sends, *_window(rate.global_per_second, 1.0)))
        if chat.type == "private" and rate.per_private_per_second:
            checks.append((chat_sends, *_window(rate.per_private_per_second, 1.0)))
        elif chat.type != "private" and rate.per_group_per_minute:
            checks.append((chat_sends, *_window(rate.per_group_per_minute, 60.0)))
        for sends, allowed, period in checks:
            while sends and now - sends[0] >= period:
                sends.popleft()
            if len(sends) >= allowed:
                raise _too_many(rate.retry_after)
        self._global_sends.append(now)
        chat_sends.append(now)

    def _bot_chat(self, p: _Params) -> EmuChat:
        """The chat a bot method targets, answering as Telegram does when it may not."""
        raw = p.get("chat_id")
        if raw is None or raw == "":
            raise _bad("chat_id is empty")
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise _bad("chat not found")
        chat = self._chats.get(raw)
        if chat is None:
            user = self._users.get(raw)
            if user is not None and not user.is_bot:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise _bad("chat not found")
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        if chat.type == "private":
            user = self._users[chat.id]
            if user.is_bot:
                raise ApiError(403, "Forbidden: bot can't send messages to bots")
            if chat.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if not chat.opened:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            return chat
        if chat.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        if chat.bot_status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        return chat

    def _format(
        self, text: str, parse_mode: str | None, entities: Any, *, detect: bool = True
    ) -> tuple[str, list[JSON]]:
        """Apply parse_mode or explicit entities, trim, and add auto-detected entities."""
        ents: list[JSON] = []
        if parse_mode:
            mode = parse_mode.lower()
            if mode == "html":
                try:
                    text, ents = parse_html(
                        text,
                        strict_ampersand=self.strict_html_ampersand,
                        resolve_user=self._resolve_user,
                    )
                except HtmlParseError as err:
                    raise _bad(f"can't parse entities: {err}") from None
            elif mode not in ("markdown", "markdownv2"):
                raise _bad("unsupported parse_mode")
            # Markdown is passed through unparsed: FirmBot sends HTML only.
        elif entities is not None:
            if not isinstance(entities, list) or not all(
                isinstance(e, dict) and {"type", "offset", "length"} <= e.keys() for e in entities
            ):
                raise _bad("can't parse entities JSON object")
            total = utf16_len(text)
            for ent in entities:
                if ent["offset"] < 0 or ent["length"] < 0 or ent["offset"] + ent["length"] > total:
                    raise _bad("entity beyond the end of text")
            ents = [dict(e) for e in entities]
        text, ents = strip_text(text, ents)
        if detect:
            ents = ents + detect_entities(text, ents)
        return text, sort_entities(ents)

    def _resolve_user(self, user_id: int) -> JSON | None:
        user = self._users.get(user_id)
        return user.to_dict() if user else None

    def _check_markup(self, markup: Any) -> JSON | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad(
                    'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array '
                    "of Arrays"
                )
            count = 0
            for row in rows:
                for btn in row:
                    count += 1
                    self._check_inline_button(btn)
            if count > 100:
                raise _bad("reply markup is too long")
            return markup
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad(
                    'field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays'
                )
            for row in rows:
                for btn in row:
                    text = btn.get("text") if isinstance(btn, dict) else btn
                    if not isinstance(text, str) or not text:
                        raise _bad("keyboard button text is empty")
            return markup
        if markup.get("remove_keyboard") or markup.get("force_reply"):
            return markup
        raise _bad("can't parse reply keyboard markup JSON object")

    def _check_inline_button(self, btn: Any) -> None:
        if not isinstance(btn, dict):
            raise _bad(
                "can't parse inline keyboard button: InlineKeyboardButton should be an Object"
            )
        text = btn.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad("BUTTON_TEXT_INVALID")
        actions = [a for a in _INLINE_BUTTON_ACTIONS if a in btn]
        if len(actions) != 1:
            raise _bad(
                "can't parse inline keyboard button: Text buttons are unallowed in the inline "
                "keyboard"
            )
        if "callback_data" in btn:
            data = btn["callback_data"]
            if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA:
                raise _bad("BUTTON_DATA_INVALID")
        if "url" in btn:
            url = btn["url"]
            if not isinstance(url, str) or not re.match(r"^(https?|tg)://\S+$", url, re.I):
                raise _bad(
                    f"inline keyboard button URL '{url}' is invalid: Unsupported URL protocol"
                )

    def _reply_target(self, chat: EmuChat, p: _Params) -> int | None:
        params = p.get("reply_parameters")
        allow = p.flag("allow_sending_without_reply")
        message_id: int | None = None
        if isinstance(params, dict):
            if params.get("chat_id") not in (None, chat.id):
                raise _bad("replies to other chats are not supported by the emulator")
            message_id = _to_int("message_id", params.get("message_id"))
            allow = bool(params.get("allow_sending_without_reply", allow))
        elif params is not None:
            raise _bad("can't parse reply parameters JSON object")
        else:
            message_id = p.opt_int("reply_to_message_id")
        if message_id is None:
            return None
        if self._message_json(chat.id, message_id) is not None:
            return message_id
        if allow:
            return None
        raise _bad("message to be replied not found")

    def _record_sent(
        self,
        chat: EmuChat,
        kind: str,
        p: _Params,
        *,
        text: str,
        html: str,
        entities: list[JSON],
        markup: JSON | None,
        reply_to: int | None,
        parse_mode: str | None,
        stored: StoredFile | None = None,
    ) -> SentMessage:
        chat.last_message_id += 1
        sm = SentMessage(
            chat_id=chat.id,
            message_id=chat.last_message_id,
            kind=kind,
            text=text,
            html=html,
            parse_mode=parse_mode,
            entities=entities,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            date=self._now(),
            disable_notification=p.flag("disable_notification"),
            message_thread_id=p.opt_int("message_thread_id"),
        )
        if stored is not None:
            sm.file = stored.data
            sm.filename = stored.filename
            sm.mime_type = stored.mime_type
            sm.file_id = stored.file_id
        self._sent.setdefault(chat.id, []).append(sm)
        self._bot_msgs[(chat.id, sm.message_id)] = sm
        return sm

    def _notify(self, sm: SentMessage, action: str) -> None:
        for callback in list(self._listeners):
            try:
                callback(sm, action)
            except Exception:
                logger.exception("on_bot_message listener failed")

    def _bot_message_json(self, sm: SentMessage) -> JSON:
        chat = self._chats[sm.chat_id]
        msg: JSON = {
            "message_id": sm.message_id,
            "from": self.bot_user.to_dict(),
            "chat": self._chat_json(chat),
            "date": sm.date,
        }
        if sm.message_thread_id is not None:
            msg["message_thread_id"] = sm.message_thread_id
        if sm.reply_to_message_id is not None:
            target = self._message_json(sm.chat_id, sm.reply_to_message_id)
            if target is not None:
                target.pop("reply_to_message", None)
                msg["reply_to_message"] = target
        if sm.edit_date is not None:
            msg["edit_date"] = sm.edit_date
        text_key, ents_key = "caption", "caption_entities"
        if sm.kind == "text":
            text_key, ents_key = "text", "entities"
        elif sm.kind == "photo" and sm.file_id:
            msg["photo"] = [self._files[sm.file_id].photo_size()]
        elif sm.kind == "document" and sm.file_id:
            msg["document"] = self._files[sm.file_id].document()
        elif sm.kind == "poll":
            poll = self._poll_by_msg[(sm.chat_id, sm.message_id)]
            msg["poll"] = self._poll_json(poll)
        if sm.text:
            msg[text_key] = sm.text
            if sm.entities:
                msg[ents_key] = copy.deepcopy(sm.entities)
        if sm.reply_markup and "inline_keyboard" in sm.reply_markup:
            msg["reply_markup"] = copy.deepcopy(sm.reply_markup)
        return msg

    def _build_method_table(self) -> dict[str, tuple[str, Callable[[_Params], Awaitable[Any]]]]:
        methods: dict[str, Callable[[_Params], Awaitable[Any]]] = {
            "getMe": self._m_get_me,
            "getUpdates": self._m_get_updates,
            "logOut": self._m_true,
            "close": self._m_true,
            "setWebhook": self._m_set_webhook,
            "deleteWebhook": self._m_delete_webhook,
            "getWebhookInfo": self._m_get_webhook_info,
            "sendMessage": self._m_send_message,
            "editMessageText": self._m_edit_message_text,
            "editMessageCaption": self._m_edit_message_caption,
            "editMessageReplyMarkup": self._m_edit_message_reply_markup,
            "deleteMessage": self._m_delete_message,
            "answerCallbackQuery": self._m_answer_callback_query,
            "sendPoll": self._m_send_poll,
            "stopPoll": self._m_stop_poll,
            "sendPhoto": self._m_send_photo,
            "sendDocument": self._m_send_document,
            "getFile": self._m_get_file,
            "getChat": self._m_get_chat,
            "getChatMember": self._m_get_chat_member,
            "getChatAdministrators": self._m_get_chat_administrators,
            "getChatMemberCount": self._m_get_chat_member_count,
            "setMyCommands": self._m_set_my_commands,
            "getMyCommands": self._m_get_my_commands,
            "deleteMyCommands": self._m_delete_my_commands,
            "setMessageReaction": self._m_set_message_reaction,
            "setChatMenuButton": self._m_set_chat_menu_button,
            "getChatMenuButton": self._m_get_chat_menu_button,
            "sendChatAction": self._m_send_chat_action,
            "pinChatMessage": self._m_pin_chat_message,
            "unpinChatMessage": self._m_unpin_chat_message,
            "leaveChat": self._m_leave_chat,
            "setMyDescription": functools.partial(self._m_set_profile, "description"),
            "setMyShortDescription": functools.partial(self._m_set_profile, "short_description"),
            "setMyName": functools.partial(self._m_set_profile, "name"),
        }
        return {name.lower(): (name, handler) for name, handler in methods.items()}

    # ------------------------------------------------------------------ Bot API methods

    async def _m_true(self, p: _Params) -> Any:
        return True

    async def _m_get_me(self, p: _Params) -> Any:
        return {
            **self.bot_user.to_dict(),
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_get_updates(self, p: _Params) -> Any:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = p.opt_int("offset")
        limit = p.opt_int("limit") or 100
        limit = min(max(limit, 1), 100)
        raw_timeout = p.get("timeout")
        timeout = max(float(raw_timeout), 0.0) if raw_timeout is not None else 0.0
        allowed = p.get("allowed_updates")
        if allowed is not None:
            if not isinstance(allowed, list):
                raise _bad("can't parse allowed_updates JSON object")
            self._allowed_updates = frozenset(str(a) for a in allowed) or None
        # A newer getUpdates ends an older one with 409, as Telegram does.
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake()
        if offset:
            self._confirm(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._closing:
                return []
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
            batch = self._take(limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0:
                return batch
            event = self._update_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def _m_set_webhook(self, p: _Params) -> Any:
        url = p.opt_str("url") or ""
        # Telegram wants HTTPS; plain HTTP to this machine is allowed for local delivery tests.
        if url and not re.match(r"^(https://|http://(127\.0\.0\.1|localhost)[:/])", url, re.I):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.opt_str("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise _bad("secret token contains unallowed characters")
        max_connections = p.opt_int("max_connections")
        if max_connections is not None and not 1 <= max_connections <= 100:
            raise _bad("invalid max_connections specified")
        self.webhook_url = url
        self.webhook_secret_token = secret
        self._webhook_max_connections = max_connections or 40
        if p.get("allowed_updates") is not None:
            self._allowed_updates = frozenset(p.get("allowed_updates")) or None
        if p.flag("drop_pending_updates"):
            self._drop_pending()
        if url:
            self._start_webhook_delivery()
        else:
            self._wake()
        return True

    async def _m_delete_webhook(self, p: _Params) -> Any:
        self.webhook_url = ""
        self.webhook_secret_token = None
        self._wake()  # the delivery task sees no URL and ends
        if p.flag("drop_pending_updates"):
            self._drop_pending()
        return True

    def _drop_pending(self) -> None:
        if self._updates:
            self._confirm(self._updates[-1]["update_id"] + 1)

    async def _m_get_webhook_info(self, p: _Params) -> Any:
        info: JSON = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": self.pending_updates(),
        }
        if self.webhook_url:
            info["max_connections"] = self._webhook_max_connections
            failed = [a for a in self.webhook_deliveries if not a.ok]
            if failed:
                info["last_error_date"] = self._now()
                last = failed[-1]
                info["last_error_message"] = (
                    f"Wrong response from the webhook: {last.status}"
                    if last.status is not None
                    else f"Connection failed: {last.error}"
                )
        if self._allowed_updates is not None:
            info["allowed_updates"] = sorted(self._allowed_updates)
        return info

    async def _m_send_message(self, p: _Params) -> Any:
        chat = self._bot_chat(p)
        raw = p.opt_str("text")
        if raw is None:
            raise _bad("message text is empty")
        text, entities = self._format(raw, p.opt_str("parse_mode"), p.get("entities"))
        if not text:
            raise _bad("message text is empty")
        if len(text) > MAX_TEXT:
            raise _bad("message is too long")
        markup = self._check_markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        self._check_rate(chat)
        sm = self._record_sent(
            chat,
            "text",
            p,
            text=text,
            html=raw,
            entities=entities,
            markup=markup,
            reply_to=reply_to,
            parse_mode=p.opt_str("parse_mode"),
        )
        self._notify(sm, "send")
        return self._bot_message_json(sm)

    def _editable(self, p: _Params) -> tuple[EmuChat, SentMessage]:
        if p.get("inline_message_id") is not None:
            raise _bad("inline messages are not supported by the emulator")
        chat = self._bot_chat(p)
        message_id = p.req_int("message_id", "message identifier is not specified")
        sm = self._bot_msgs.get((chat.id, message_id))
        if sm is None or sm.deleted:
            if self._message_json(chat.id, message_id) is not None:
                raise _bad("message can't be edited")
            raise _bad("message to edit not found")
        return chat, sm

    def _not_modified(self) -> ApiError:
        return _bad(
            "message is not modified: specified new message content and reply markup are "
            "exactly the same as a current content and reply markup of the message"
        )

    async def _m_edit_message_text(self, p: _Params) -> Any:
        chat, sm = self._editable(p)
        if sm.kind != "text":
            raise _bad("there is no text in the message to edit")
        raw = p.opt_str("text")
        if raw is None:
            raise _bad("text must be non-empty")
        text, entities = self._format(raw, p.opt_str("parse_mode"), p.get("entities"))
        if not text:
            raise _bad("text must be non-empty")
        if len(text) > MAX_TEXT:
            raise _bad("MESSAGE_TOO_LONG")
        # Telegram drops the inline keyboard when an edit does not repeat it.
        markup = self._check_markup(p.get("reply_markup"))
        if text == sm.text and entities == sm.entities and markup == sm.reply_markup:
            raise self._not_modified()
        self._check_rate(chat)
        if text != sm.text:
            sm.edits.append(sm.text)
        sm.text, sm.html, sm.entities = text, raw, entities
        sm.parse_mode = p.opt_str("parse_mode")
        sm.reply_markup = markup
        sm.edit_date = self._now()
        self._notify(sm, "edit")
        return self._bot_message_json(sm)

    async def _m_edit_message_caption(self, p: _Params) -> Any:
        chat, sm = self._editable(p)
        if sm.kind not in ("photo", "document"):
            raise _bad("there is no caption in the message to edit")
        raw = p.opt_str("caption") or ""
        caption, entities = self._format(raw, p.opt_str("parse_mode"), p.get("caption_entities"))
        if len(caption) > MAX_CAPTION:
            raise _bad("message caption is too long")
        markup = self._check_markup(p.get("reply_markup"))
        if caption == sm.text and entities == sm.entities and markup == sm.reply_markup:
            raise self._not_modified()
        self._check_rate(chat)
        if caption != sm.text:
            sm.edits.append(sm.text)
        sm.text, sm.html, sm.entities = caption, raw, entities
        sm.parse_mode = p.opt_str("parse_mode")
        sm.reply_markup = markup
        sm.edit_date = self._now()
        self._notify(sm, "edit")
        return self._bot_message_json(sm)

    async def _m_edit_message_reply_markup(self, p: _Params) -> Any:
        chat, sm = self._editable(p)
        markup = self._check_markup(p.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad("inline keyboard expected")
        if markup == sm.reply_markup or (not markup and not sm.reply_markup):
            raise self._not_modified()
        self._check_rate(chat)
        sm.reply_markup = markup
        sm.edit_date = self._now()
        self._notify(sm, "edit")
        return self._bot_message_json(sm)

    async def _m_delete_message(self, p: _Params) -> Any:
        chat = self._bot_chat(p)
        message_id = p.req_int("message_id", "message identifier is not specified")
        sm = self._bot_msgs.get((chat.id, message_id))
        if sm is not None:
            if sm.deleted:
                raise _bad("message to delete not found")
            sm.deleted = True
            self._notify(sm, "delete")
            return True
        if (chat.id, message_id) in self._messages and (chat.id, message_id) not in self._deleted:
            if chat.type != "private" and chat.bot_status != "administrator":
                raise _bad("message can't be deleted")
            self._deleted.add((chat.id, message_id))
            return True
        raise _bad("message to delete not found")

    async def _m_answer_callback_query(self, p: _Params) -> Any:
        query_id = p.opt_str("callback_query_id")
        if not query_id or query_id not in self._open_callbacks:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = p.opt_str("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER:
            raise _bad("MESSAGE_TOO_LONG")
        self._open_callbacks.discard(query_id)
        self.callback_answers.append(
            {
                "callback_query_id": query_id,
                "text": text,
                "show_alert": p.flag("show_alert"),
                "url": p.opt_str("url"),
                "cache_time": p.opt_int("cache_time"),
            }
        )
        return True

    async def _m_send_poll(self, p: _Params) -> Any:
        chat = self._bot_chat(p)
        question_raw = p.opt_str("question") or ""
        question, _ = self._format(
            question_raw, p.opt_str("question_parse_mode"), p.get("question_entities"), detect=False
        )
        if not question:
            raise _bad("poll question must be non-empty")
        if len(question) > 300:
            raise _bad("poll question length must not exceed 300")
        raw_options = p.get("options")
        if not isinstance(raw_options, list):
            raise _bad("can't parse options JSON object")
        options: list[str] = []
        for opt in raw_options:
            text = opt.get("text") if isinstance(opt, dict) else opt
            if not isinstance(text, str):
                raise _bad("can't parse options JSON object")
            options.append(text.strip())
        if len(options) < 2:
            raise _bad("poll must have at least 2 option")
        if len(options) > self.poll_max_options:
            raise _bad(f"poll can't have more than {self.poll_max_options} options")
        if any(not o for o in options):
            raise _bad("poll options must be non-empty")
        if any(len(o) > 100 for o in options):
            raise _bad("poll options length must not exceed 100")
        poll_type = p.opt_str("type") or "regular"
        if poll_type not in ("regular", "quiz"):
            raise _bad("wrong poll type specified")
        multiple = p.flag("allows_multiple_answers")
        correct = self._correct_option_ids(p, poll_type, len(options), multiple)
        explanation_raw = p.opt_str("explanation")
        explanation: str | None = None
        explanation_entities: list[JSON] = []
        if explanation_raw:
            explanation, explanation_entities = self._format(
                explanation_raw, p.opt_str("explanation_parse_mode"), p.get("explanation_entities")
            )
            if len(explanation) > 200:
                raise _bad("explanation length must not exceed 200")
            if explanation.count("\n") > 2:
                raise _bad("explanation must have at most 2 line feeds")
        open_period = p.opt_int("open_period")
        close_date = p.opt_int("close_date")
        if open_period is not None and close_date is not None:
            raise _bad("can't use open_period and close_date together")
        if open_period is not None and not 5 <= open_period <= self.poll_max_open_period:
            raise _bad(f"open_period must be between 5 and {self.poll_max_open_period}")
        now = self._now()
        if close_date is not None and not 5 <= close_date - now <= self.poll_max_open_period:
            raise _bad(f"close_date must be 5..{self.poll_max_open_period} seconds in the future")
        if open_period is not None:
            close_date = now + open_period
        markup = self._check_markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        self._check_rate(chat)
        allows_revoting = p.get("allows_revoting")
        sm = self._record_sent(
            chat,
            "poll",
            p,
            text=question,
            html=question_raw,
            entities=[],
            markup=markup,
            reply_to=reply_to,
            parse_mode=p.opt_str("question_parse_mode"),
        )
        poll = _Poll(
            id=str(5_000_000_000_000_000_000 + self._next_poll),
            chat_id=chat.id,
            message_id=sm.message_id,
            question=question,
            options=options,
            type=poll_type,
            is_anonymous=bool(p.get("is_anonymous")) if "is_anonymous" in p.values else True,
            allows_multiple_answers=multiple,
            allows_revoting=(
                bool(allows_revoting) if allows_revoting is not None else poll_type != "quiz"
            ),
            correct_option_ids=correct,
            explanation=explanation,
            explanation_entities=explanation_entities,
            open_period=open_period,
            close_date=close_date,
            is_closed=p.flag("is_closed"),
        )
        self._next_poll += 1
        self._polls[poll.id] = poll
        self._poll_by_msg[(chat.id, sm.message_id)] = poll
        self._sync_poll(poll)
        self._notify(sm, "send")
        return self._bot_message_json(sm)

    def _correct_option_ids(
        self, p: _Params, poll_type: str, n_options: int, multiple: bool
    ) -> list[int]:
        ids_raw = p.get("correct_option_ids")
        single = p.opt_int("correct_option_id")
        ids: list[int] = []
        if ids_raw is not None:
            if not isinstance(ids_raw, list):
                raise _bad("can't parse correct_option_ids JSON object")
            ids = [_to_int("correct_option_ids", i) for i in ids_raw]
        elif single is not None:
            ids = [single]
        if poll_type != "quiz":
            return []
        if not ids:
            raise _bad("quiz poll must have a correct answer option")
        if any(not 0 <= i < n_options for i in ids) or ids != sorted(set(ids)):
            raise _bad("wrong correct option id specified")
        if len(ids) > 1 and not multiple:
            raise _bad("quiz poll must have exactly one correct option")
        return ids

    async def _m_stop_poll(self, p: _Params) -> Any:
        chat = self._bot_chat(p)
        message_id = p.req_int("message_id", "message identifier is not specified")
        poll = self._poll_by_msg.get((chat.id, message_id))
        sm = self._bot_msgs.get((chat.id, message_id))
        if poll is None or sm is None or sm.deleted:
            raise _bad("message with poll to stop not found")
        self._refresh_poll(poll)
        if poll.is_closed:
            raise _bad("poll has already been closed")
        markup = self._check_markup(p.get("reply_markup"))
        poll.is_closed = True
        if markup is not None:
            sm.reply_markup = markup
        self._sync_poll(poll)
        self._notify(sm, "edit")
        return self._poll_json(poll)

    def _file_param(self, p: _Params, name: str, *, photo: bool) -> StoredFile:
        upload = p.uploads.get(name)
        value = p.get(name)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = p.uploads.get(value[len("attach://") :])
        if upload is not None:
            if len(upload.data) > MAX_UPLOAD:
                raise ApiError(413, "Request Entity Too Large")
            if not upload.data:
                raise _bad("file must be non-empty")
            filename = upload.filename
            if photo:
                return self._store_file(
                    upload.data, filename, "image/jpeg", "photos", ".jpg", photo=True
                )
            mime = (
                upload.content_type
                if upload.content_type and upload.content_type != "application/octet-stream"
                else None
            ) or (mimetypes.guess_type(filename)[0] if filename else None)
            suffix = "." + filename.rsplit(".", 1)[1] if filename and "." in filename else ""
            return self._store_file(upload.data, filename, mime, "documents", suffix)
        if isinstance(value, str) and value in self._files:
            return self._files[value]
        if value is None:
            raise _bad(f"there is no {name} in the request")
        raise _bad("wrong file identifier/HTTP URL specified")

    async def _send_media(self, p: _Params, kind: str) -> Any:
        chat = self._bot_chat(p)
        stored = self._file_param(p, kind, photo=kind == "photo")
        raw = p.opt_str("caption") or ""
        caption, entities = self._format(raw, p.opt_str("parse_mode"), p.get("caption_entities"))
        if len(caption) > MAX_CAPTION:
            raise _bad("message caption is too long")
        markup = self._check_markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        self._check_rate(chat)
        sm = self._record_sent(
            chat,
            kind,
            p,
            text=caption,
            html=raw,
            entities=entities,
            markup=markup,
            reply_to=reply_to,
            parse_mode=p.opt_str("parse_mode"),
            stored=stored,
        )
        self._notify(sm, "send")
        return self._bot_message_json(sm)

    async def _m_send_photo(self, p: _Params) -> Any:
        return await self._send_media(p, "photo")

    async def _m_send_document(self, p: _Params) -> Any:
        return await self._send_media(p, "document")

    async def _m_get_file(self, p: _Params) -> Any:
        file_id = p.opt_str("file_id")
        stored = self._files.get(file_id or "")
        if stored is None:
            raise _bad("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD:
            raise _bad("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    async def _m_get_chat(self, p: _Params) -> Any:
        chat = self._bot_chat(p)
        info = self._chat_json(chat)
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        if chat.type != "private":
            info["permissions"] = {
                "can_send_messages": True,
                "can_send_polls": True,
                "can_send_other_messages": True,
                "can_add_web_page_previews": True,
            }
        if chat.pinned:
            pinned = self._message_json(chat.id, chat.pinned[-1])
            if pinned is not None:
                info["pinned_message"] = pinned
        return info

    def _member_status(self, chat: EmuChat, user_id: int) -> tuple[EmuUser, str]:
        if user_id == self.bot_id:
            return self.bot_user, chat.bot_status
        user = self._users.get(user_id)
        if user is None:
            raise _bad("user not found")
        if chat.type == "private":
            return user, "member" if user_id == chat.id else "left"
        return user, chat.members.get(user_id, "left")

    async def _m_get_chat_member(self, p: _Params) -> Any:
        chat = self._bot_chat(p)
        user_id = p.req_int("user_id", "user_id is empty")
        user, status = self._member_status(chat, user_id)
        return self._member_json(user, status)

    async def _m_get_chat_administrators(self, p: _Params) -> Any:
        chat = self._bot_chat(p)
        if chat.type == "private":
            raise _bad("there are no administrators in the private chat")
        ranked = sorted(
            (uid for uid, s in chat.members.items() if s in ("creator", "administrator")),
            key=lambda uid: chat.members[uid] != "creator",
        )
        admins = [self._member_json(self._users[uid], chat.members[uid]) for uid in ranked]
        if chat.bot_status == "administrator":
            admins.append(self._member_json(self.bot_user, "administrator"))
        return admins

    async def _m_get_chat_member_count(self, p: _Params) -> Any:
        chat = self._bot_chat(p)
        if chat.type == "private":
            return 2
        present = ("creator", "administrator", "member")
        count = sum(1 for s in chat.members.values() if s in present)
        return count + (1 if chat.bot_present else 0)

    def _scope_key(self, p: _Params) -> tuple[str, str]:
        scope = p.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in _SCOPES:
            raise _bad("can't parse BotCommandScope JSON object")
        kind = str(scope["type"])
        if kind in ("chat", "chat_administrators", "chat_member"):
            chat_id = scope.get("chat_id")
            if not isinstance(chat_id, int) or chat_id not in self._chats:
                raise _bad("chat not found")
            kind = f"{kind}:{chat_id}"
            if scope["type"] == "chat_member":
                user_id = scope.get("user_id")
                if not isinstance(user_id, int) or user_id not in self._users:
                    raise _bad("user not found")
                kind = f"{kind}:{user_id}"
        language = p.opt_str("language_code") or ""
        if language and not _LANG_RE.match(language):
            raise _bad("LANG_CODE_INVALID")
        return kind, language

    async def _m_set_my_commands(self, p: _Params) -> Any:
        key = self._scope_key(p)
        commands = p.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("too many commands")
        cleaned: list[JSON] = []
        for cmd in commands:
            if not isinstance(cmd, dict):
                raise _bad("can't parse BotCommand JSON object")
            name = cmd.get("command")
            description = cmd.get("description")
            if not isinstance(name, str) or not _COMMAND_RE.match(name):
                raise _bad("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        if cleaned:
            self.my_commands[key] = cleaned
        else:
            self.my_commands.pop(key, None)
        return True

    async def _m_get_my_commands(self, p: _Params) -> Any:
        return copy.deepcopy(self.my_commands.get(self._scope_key(p), []))

    async def _m_delete_my_commands(self, p: _Params) -> Any:
        self.my_commands.pop(self._scope_key(p), None)
        return True

    async def _m_set_message_reaction(self, p: _Params) -> Any:
        chat = self._bot_chat(p)
        message_id = p.req_int("message_id", "message identifier is not specified")
        if self._message_json(chat.id, message_id) is None:
            raise _bad("message to react not found")
        reaction = p.get("reaction") or []
        if not isinstance(reaction, list):
            raise _bad("can't parse reaction JSON object")
        if len(reaction) > 1:
            raise _bad("REACTIONS_TOO_MANY")
        for item in reaction:
            if not isinstance(item, dict) or item.get("type") not in ("emoji", "custom_emoji"):
                raise _bad("REACTION_INVALID")
            if item["type"] == "emoji" and item.get("emoji") not in _REACTION_EMOJI:
                raise _bad("REACTION_INVALID")
        self.reactions.append(
            {
                "chat_id": chat.id,
                "message_id": message_id,
                "reaction": reaction,
                "is_big": p.flag("is_big"),
            }
        )
        return True

    async def _m_set_chat_menu_button(self, p: _Params) -> Any:
        chat_id = p.get("chat_id")
        if chat_id is not None:
            chat_id = self._bot_chat(p).id
        button = p.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise _bad("can't parse MenuButton JSON object")
        self.menu_buttons[chat_id] = button
        return True

    async def _m_get_chat_menu_button(self, p: _Params) -> Any:
        chat_id = p.get("chat_id")
        if chat_id is not None:
            chat_id = self._bot_chat(p).id
        return self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "default"}

    async def _m_send_chat_action(self, p: _Params) -> Any:
        chat = self._bot_chat(p)
        action = p.opt_str("action")
        if action not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self.chat_actions.append({"chat_id": chat.id, "action": action})
        return True

    def _require_pin_rights(self, chat: EmuChat) -> None:
        if chat.type != "private" and chat.bot_status != "administrator":
            raise _bad("not enough rights to manage pinned messages in the chat")

    async def _m_pin_chat_message(self, p: _Params) -> Any:
        chat = self._bot_chat(p)
        message_id = p.req_int("message_id", "message identifier is not specified")
        self._require_pin_rights(chat)
        if self._message_json(chat.id, message_id) is None:
            raise _bad("message to pin not found")
        if message_id in chat.pinned:
            chat.pinned.remove(message_id)
        chat.pinned.append(message_id)
        return True

    async def _m_unpin_chat_message(self, p: _Params) -> Any:
        chat = self._bot_chat(p)
        self._require_pin_rights(chat)
        message_id = p.opt_int("message_id")
        if message_id is None:
            if chat.pinned:
                chat.pinned.pop()
        elif message_id in chat.pinned:
            chat.pinned.remove(message_id)
        else:
            raise _bad("message to unpin not found")
        return True

    async def _m_leave_chat(self, p: _Params) -> Any:
        chat = self._bot_chat(p)
        if chat.type == "private":
            raise _bad("chat member status can't be changed in private chats")
        actor = self._creator(chat) or self.bot_user
        self._enqueue(
            "my_chat_member",
            self._member_update(chat, actor, self.bot_user, chat.bot_status, "left"),
        )
        chat.bot_status = "left"
        return True

    async def _m_set_profile(self, field_name: str, p: _Params) -> Any:
        value = p.opt_str(field_name) or ""
        limits = {"name": 64, "description": 512, "short_description": 120}
        if len(value) > limits[field_name]:
            raise _bad(f"bot {field_name.replace('_', ' ')} is too long")
        self.bot_profile[(field_name, p.opt_str("language_code") or "")] = value
        return True


def _on_this_machine(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _too_many(retry_after: int) -> ApiError:
    return ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


def _window(rate: float, period: float) -> tuple[float, float]:
    """(allowed count, window seconds) for ``rate`` sends per ``period``."""
    if rate >= 1:
        return float(math.floor(rate)), period
    return 1.0, period / rate
