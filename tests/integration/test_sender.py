"""The one outbound path against the emulator: every error path, splitting, escaping, limits."""

from __future__ import annotations

import time

from bot.db.models import Chat
from bot.sandbox.driver import BotHarness, GroupChat
from bot.ui import Button


async def test_long_messages_are_split_on_paragraphs_with_buttons_on_the_last(
    harness: BotHarness, firm: GroupChat
) -> None:
    paragraphs = [f"<b>第{i}段</b>" + "依法诚信规范执业。" * 40 for i in range(30)]
    before = len(firm.messages())
    sent = await harness.services.sender.send(
        firm.id, "\n\n".join(paragraphs), buttons=[[Button("✅ 已学习", data="x:y")]]
    )
    assert sent is not None and len(sent.message_ids) >= 3
    parts = firm.new_since(before)
    assert len(parts) == len(sent.message_ids)
    assert all(len(p.text) <= 4096 for p in parts)
    assert [p.buttons for p in parts[:-1]] == [[]] * (len(parts) - 1)
    assert parts[-1].buttons == [["✅ 已学习"]]
    joined = "\n\n".join(p.text for p in parts)
    assert all(f"第{i}段" in joined for i in range(30))
    assert joined.index("第29段") > joined.index("第0段")
    # Every part starts at a paragraph.
    assert all(p.text.startswith("第") for p in parts)


async def test_user_text_is_escaped_so_it_shows_literally(
    harness: BotHarness, firm: GroupChat
) -> None:
    texts = harness.services.texts
    html = texts.t("errors.unknown_command", "zh_CN", command="/x<b>&amp;</b>")
    await harness.services.sender.send(firm.id, html)
    assert firm.last().text == "我不认识命令 /x<b>&amp;</b>。发送 /help 查看可用命令。"


async def test_flood_limits_are_honoured_and_nothing_is_sent_twice(
    harness: BotHarness, firm: GroupChat
) -> None:
    harness.emulator.rate_limit_every(4, retry_after=1)
    before = len(firm.messages())
    for i in range(9):
        assert await harness.services.sender.send(firm.id, f"消息{i}") is not None
    assert [m.text for m in firm.new_since(before)] == [f"消息{i}" for i in range(9)]
    assert any(c.status == 429 for c in harness.emulator.calls("sendMessage"))


async def test_server_errors_are_retried_with_backoff(harness: BotHarness, firm: GroupChat) -> None:
    harness.emulator.fail_next("sendMessage", status=502, description="Bad Gateway", count=2)
    sent = await harness.services.sender.send(firm.id, "重试后送达")
    assert sent is not None
    assert [m.text for m in firm.messages()].count("重试后送达") == 1
    assert [c.status for c in harness.emulator.calls("sendMessage")][-3:] == [502, 502, 200]


async def test_giving_up_after_max_retries_returns_none(
    harness: BotHarness, firm: GroupChat
) -> None:
    harness.emulator.fail_next("sendMessage", status=500, count=50)
    assert await harness.services.sender.send(firm.id, "送不到") is None
    assert "送不到" not in firm.texts()
    assert harness.services.sender.stats.errors["gave_up"] == 1


async def test_a_chat_that_removed_the_bot_is_marked_inactive(
    harness: BotHarness, firm: GroupChat
) -> None:
    harness.emulator.chat(firm.id).bot_status = "kicked"  # removed while we were not looking
    assert await harness.services.sender.send(firm.id, "还在吗") is None
    async with harness.services.db.session() as session:
        chat = await session.get(Chat, firm.id)
    assert chat is not None and not chat.active


async def test_a_bad_request_is_not_retried(harness: BotHarness, firm: GroupChat) -> None:
    before = len(harness.emulator.calls("sendMessage"))
    assert await harness.services.sender.send(firm.id, "<b>未闭合") is None
    assert len(harness.emulator.calls("sendMessage")) == before + 1


async def test_editing_to_the_same_text_counts_as_success(
    harness: BotHarness, firm: GroupChat
) -> None:
    sent = await harness.services.sender.send(firm.id, "原文")
    assert sent is not None
    assert await harness.services.sender.edit(firm.id, sent.message_id, "原文")
    assert await harness.services.sender.edit(firm.id, sent.message_id, "改后")
    assert firm.last().text == "改后"


async def test_the_global_rate_is_kept_without_any_429(harness: BotHarness) -> None:
    emu = harness.emulator
    emu.enforce_rate_limits(global_per_second=30, per_group_per_minute=20, per_private_per_second=1)
    chats = [emu.create_group(f"律所{i}") for i in range(45)]
    for chat in chats:
        emu.chat(chat.id).bot_status = "member"
    started = time.monotonic()
    import asyncio

    results = await asyncio.gather(*(harness.services.sender.send(c.id, "通知") for c in chats))
    elapsed = time.monotonic() - started
    assert all(r is not None for r in results)
    assert not [c for c in emu.calls("sendMessage") if c.status == 429]
    assert elapsed >= 44 / 30 * 0.95
