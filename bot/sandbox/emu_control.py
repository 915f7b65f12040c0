"""The emulator's control API over HTTP, for tests that run the bot as another process.

A thin layer over the Python methods of :class:`~bot.sandbox.emulator.Emulator`:

- ``POST /control/<action>`` with a JSON object of keyword arguments. Users are referred to
  by id (``"user": 100000001``, ``"by": ...``); file bytes travel as ``"data_b64"``.
  Actions: the world-building, user and fault methods (``create_user``, ``send_message``,
  ``press_button``, ``fail_next``...), ``configure`` (set ``latency``, ``error_rate_5xx``,
  ``seed``, ``privacy_mode``...), and the waits ``wait_for_message`` / ``wait_delivered``.
- ``GET /control/<query>?...``: ``messages``, ``last``, ``message`` (``chat_id``,
  ``message_id``), ``calls`` (``method``), ``requests``, ``callback_answers``, ``reactions``,
  ``my_commands``, ``pending_updates``, ``users``, ``chats``, ``describe``.

Answers are ``{"ok": true, "result": ...}`` or ``{"ok": false, "description": ...}`` (400).
"""

from __future__ import annotations

import base64
import dataclasses
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sandbox.emu_types import ApiCall, EmuChat, EmuUser, SentMessage

if TYPE_CHECKING:
    from bot.sandbox.emulator import Emulator

JSON = dict[str, Any]

_ACTIONS = frozenset(
    {
        "create_user",
        "create_group",
        "set_member",
        "private_chat",
        "add_bot",
        "remove_bot",
        "promote_bot",
        "set_admin",
        "join",
        "leave",
        "block_bot",
        "unblock_bot",
        "send_message",
        "edit_message",
        "send_photo",
        "send_document",
        "press_button",
        "answer_poll",
        "poll_update",
        "upgrade_group",
        "inject_update",
        "fail_next",
        "stall_next",
        "release",
        "enforce_rate_limits",
        "disable_rate_limits",
        "rate_limit_every",
        "wait_for_message",
        "wait_delivered",
    }
)
_SETTINGS = frozenset(
    {
        "latency",
        "error_rate_5xx",
        "seed",
        "privacy_mode",
        "strict_html_ampersand",
        "poll_max_options",
        "poll_max_open_period",
        "webhook_timeout",
        "webhook_retry_base",
        "webhook_retry_max",
        "webhook_max_attempts",
        "webhook_ordered",
    }
)
_USER_ARGS = ("user", "by")


def add_control_routes(app: web.Application, emu: Emulator) -> None:
    """Mount ``/control/...`` on the emulator's aiohttp application."""
    app.router.add_post("/control/{name}", _bind(_post, emu))
    app.router.add_get("/control/{name}", _bind(_get, emu))


def _bind(
    handler: Callable[[Emulator, web.Request], Awaitable[web.Response]], emu: Emulator
) -> Callable[[web.Request], Awaitable[web.Response]]:

    async def bound(request: web.Request) -> web.Response:
        return await handler(emu, request)

    return bound


def to_jsonable(value: Any) -> Any:
    """Emulator results as JSON-friendly values."""
    if isinstance(value, SentMessage):
        return value.to_json()
    if isinstance(value, ApiCall):
        return {
            "method": value.method,
            "params": value.params,
            "time": value.time,
            "status": value.status,
            "description": value.description,
            "result": value.result,
        }
    if isinstance(value, EmuUser | EmuChat):
        return dataclasses.asdict(value)
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _ok(result: Any) -> web.Response:
    body = {"ok": True, "result": to_jsonable(result)}
    return web.json_response(body, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _fail(description: str, status: int = 400) -> web.Response:
    return web.json_response({"ok": False, "description": description}, status=status)


async def _post(emu: Emulator, request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        return _fail("body must be JSON")
    if not isinstance(body, dict):
        return _fail("body must be a JSON object")
    try:
        if name == "configure":
            unknown = set(body) - _SETTINGS
            if unknown:
                return _fail(f"unknown settings: {sorted(unknown)}")
            for key, value in body.items():
                setattr(emu, key, value)
            return _ok(True)
        if name not in _ACTIONS:
            return _fail(f"unknown control action {name!r}", 404)
        kwargs = dict(body)
        for key in _USER_ARGS:
            if kwargs.get(key) is not None:
                kwargs[key] = emu.user(int(kwargs[key]))
        if "data_b64" in kwargs:
            kwargs["data"] = base64.b64decode(kwargs.pop("data_b64"))
        result = getattr(emu, name)(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return _ok(result)
    except (ValueError, TypeError, KeyError, AssertionError) as err:
        return _fail(f"{type(err).__name__}: {err}")


async def _get(emu: Emulator, request: web.Request) -> web.Response:
    name = request.match_info["name"]
    query = request.query
    try:
        if name in ("messages", "last"):
            return _ok(getattr(emu, name)(int(query["chat_id"])))
        if name == "message":
            return _ok(emu.message(int(query["chat_id"]), int(query["message_id"])))
        if name == "calls":
            return _ok(emu.calls(query["method"]))
        if name in ("requests", "callback_answers", "reactions"):
            return _ok(getattr(emu, name))
        if name == "my_commands":
            return _ok(
                [
                    {"scope": scope, "language_code": lang, "commands": commands}
                    for (scope, lang), commands in emu.my_commands.items()
                ]
            )
        if name == "pending_updates":
            return _ok(emu.pending_updates())
        if name == "users":
            return _ok(emu.users())
        if name == "chats":
            return _ok(emu.chats())
        if name == "describe":
            return _ok(emu.describe())
    except (ValueError, KeyError, AssertionError) as err:
        return _fail(f"{type(err).__name__}: {err}")
    return _fail(f"unknown control query {name!r}", 404)
