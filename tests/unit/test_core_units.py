"""Pure pieces of the core: HTML splitting, the rate limiter, permissions, callback data."""

from __future__ import annotations

import itertools

import pytest

from bot import sender as sender_mod
from bot.config import SenderConfig
from bot.htmltext import split_html, visible_length, visible_text
from bot.permissions import GROUP_ANONYMOUS_BOT_ID, Actor, Permissions
from bot.ui import Button, callback, parse_callback


def test_split_keeps_short_messages_whole() -> None:
    assert split_html("<b>标题</b>\n\n正文") == ["<b>标题</b>\n\n正文"]


def test_split_on_paragraphs_then_lines_then_hard() -> None:
    paragraph = "<b>要点</b> " + "依法诚信规范执业" * 50  # 400+ visible chars
    chunks = split_html("\n\n".join([paragraph] * 30), limit=1000)
    assert all(visible_length(c) <= 1000 for c in chunks)
    assert all(c.startswith("<b>要点</b>") for c in chunks)
    assert sum(c.count("要点") for c in chunks) == 30
    lines = "\n".join(["一行文字" * 10] * 100)
    chunks = split_html(lines, limit=500)
    assert all(visible_length(c) <= 500 for c in chunks)
    assert "\n".join(chunks).count("一行文字") == 1000
    huge = "&lt;" + "字" * 5000
    chunks = split_html(huge, limit=4096)
    assert "".join(visible_text(c) for c in chunks) == "<" + "字" * 5000


def test_split_counts_entities_as_one_character() -> None:
    text = "&amp;" * 4096
    assert split_html(text) == [text]


def test_limiter_spaces_global_sends_and_holds_a_group_to_its_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(sender_mod.time, "monotonic", lambda: now[0])
    limiter = sender_mod.Limiter(SenderConfig(global_per_second=30, group_per_minute=20))
    times = [limiter._reserve(-1) for _ in range(20)]
    assert all(booked for _, booked in times)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(times)]
    assert all(abs(g - 1 / (30 * sender_mod.HEADROOM)) < 1e-9 for g in gaps)
    # The 21st message to one group must wait a minute, and books nothing meanwhile...
    at, booked = limiter._reserve(-1)
    assert not booked and at >= times[0][0] + 60
    # ...so another chat is not held up by that group.
    other, booked = limiter._reserve(-2)
    assert booked and other < times[0][0] + 1


def test_limiter_private_chats_one_per_second_and_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(sender_mod.time, "monotonic", lambda: now[0])
    limiter = sender_mod.Limiter(SenderConfig())
    first, _ = limiter._reserve(42)
    second, booked = limiter._reserve(42)
    assert not booked and second - first >= 1.0
    limiter.pause(5)
    assert limiter._reserve(7) >= (5, True)


async def test_permissions_matrix() -> None:
    perms = Permissions(bot_admins=[999])
    statuses = {(-1, 1): "creator", (-1, 2): "administrator", (-1, 3): "member", (-1, 4): "left"}
    asked: list[tuple[int, int]] = []

    async def fetch(chat_id: int, user_id: int) -> str | None:
        asked.append((chat_id, user_id))
        return statuses.get((chat_id, user_id))

    assert await perms.is_admin(Actor(1, -1), fetch)
    assert await perms.is_admin(Actor(2, -1), fetch)
    assert not await perms.is_admin(Actor(3, -1), fetch)
    assert not await perms.is_admin(Actor(4, -1), fetch)
    assert await perms.is_admin(Actor(999, -1), fetch)  # bot-wide
    assert await perms.is_admin(Actor(GROUP_ANONYMOUS_BOT_ID, -1, sender_chat_id=-1), fetch)
    assert not await perms.is_admin(Actor(GROUP_ANONYMOUS_BOT_ID, -1, sender_chat_id=-5), fetch)
    assert not await perms.is_admin(Actor(3, 3), fetch)  # private chat, not a bot admin
    assert await perms.is_admin(Actor(999, 999), fetch)
    before = len(asked)
    assert not await perms.is_admin(Actor(3, -1), fetch)
    assert len(asked) == before  # cached
    perms.note_status(-1, 3, "administrator")
    assert await perms.is_admin(Actor(3, -1), fetch)


def test_callback_data_format_and_limit() -> None:
    data = callback("study", "checkin", 12345)
    assert data == "study:checkin:12345"
    assert parse_callback(data) == ("study", "checkin", ["12345"])
    with pytest.raises(ValueError):
        callback("x", "y", "字" * 30)
    with pytest.raises(ValueError):
        Button("a")
