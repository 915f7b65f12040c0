"""``firmbot sandbox``: the real bot against the local emulator, typed at in a terminal.

A temporary SQLite database, a demo firm group with two members and the bot as admin.
Type lines as a member, ``张三: /help``; a line that equals a button's label (with or
without its emoji) presses that button on the latest message carrying it; ``李四: > text``
replies to the bot's latest message. ``:tick`` runs the scheduler now, ``:help`` lists
these, ``:quit`` (or Ctrl-D) leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from bot.clock import Clock
from bot.sandbox.driver import BotHarness, GroupChat, harness_config, make_group
from bot.sandbox.emulator import Emulator, EmuUser, SentMessage

DEMO_GROUP = "示范律师事务所"
DEMO_MEMBERS = ("张三", "李四")
HELP = """\
Type a line as a member, e.g.:
  张三: /help             a command (张三 is the group's creator, an admin)
  李四: 已学习            press the button with that label on the latest message
  李四: > 今天学到了…      reply to the bot's latest message in the group
  张三@private: /start    the same, in 张三's private chat with the bot
  :tick                   run the scheduler now
  :quit                   leave (Ctrl-D works too)
"""


def _strip_emoji(label: str) -> str:
    return "".join(ch for ch in label if ch.isalnum() or "\u4e00" <= ch <= "\u9fff").strip()


def render(message: SentMessage, event: str, chat_names: dict[int, str]) -> str:
    where = chat_names.get(message.chat_id, str(message.chat_id))
    tag = {"send": "", "edit": " (edited)", "delete": " (deleted)"}.get(event, "")
    head = f"[{where}] FirmBot #{message.message_id}{tag}:"
    if event == "delete":
        return head
    lines = [head]
    if message.kind == "poll" and message.poll:
        lines.append(f"  📊 {message.poll.get('question', '')}")
        for i, option in enumerate(message.poll.get("options", [])):
            lines.append(f"    {i + 1}. {option.get('text', '')}")
    else:
        if message.kind != "text":
            lines.append(f"  [{message.kind}: {message.filename or ''}]")
        lines.extend("  " + line for line in message.text.splitlines())
    for row in message.buttons:
        lines.append("  " + " ".join(f"[ {label} ]" for label in row))
    return "\n".join(lines)


class Sandbox:
    """The demo world and the line interpreter (also used by tests with a script)."""

    def __init__(self, harness: BotHarness, group: GroupChat, out: TextIO) -> None:
        self.harness = harness
        self.group = group
        self.emulator = harness.emulator
        self.out = out

    def member(self, name: str) -> EmuUser | None:
        return self.group.members.get(name)

    def _find_button(self, chat_id: int, label: str) -> tuple[SentMessage, str] | None:
        wanted = _strip_emoji(label)
        for message in reversed(self.emulator.messages(chat_id)):
            if message.deleted:
                continue
            for row in message.buttons:
                for text in row:
                    if text == label or (wanted and _strip_emoji(text) == wanted):
                        return message, text
        return None

    async def handle(self, line: str) -> bool:
        """Interpret one line; False when the user wants to leave."""
        line = line.strip()
        if not line:
            return True
        if line in (":quit", ":q", ":exit"):
            return False
        if line == ":help":
            self.out.write(HELP)
            return True
        if line == ":tick":
            result = await self.harness.tick()
            self.out.write(f"(scheduler: {len(result.ran)} ran, {len(result.missed)} missed)\n")
            return True
        name, sep, text = line.partition(":")
        if not sep:
            name, sep, text = line.partition("：")
        if not sep:
            self.out.write(
                "Start the line with a member's name, e.g. 张三: /help  (:help for more)\n"
            )
            return True
        name, text = name.strip(), text.strip()
        private = name.endswith("@private")
        name = name.removesuffix("@private")
        user = self.member(name)
        if user is None:
            self.out.write(f"No member named {name}; members: {', '.join(self.group.members)}\n")
            return True
        chat_id = self.emulator.private_chat(user).id if private else self.group.id
        update: dict[str, object]
        found = self._find_button(chat_id, text) if not text.startswith(("/", ">")) else None
        if found is not None:
            message, label = found
            update = self.emulator.press_button(chat_id, message.message_id, user, label=label)
        elif text.startswith(">"):
            bot_messages = [m for m in self.emulator.messages(chat_id) if not m.deleted]
            reply_to = bot_messages[-1].message_id if bot_messages else None
            update = self.emulator.send_message(chat_id, user, text[1:].strip(), reply_to=reply_to)
        else:
            update = self.emulator.send_message(chat_id, user, text)
        try:
            await self.harness.handled(update, timeout=30)
        except TimeoutError:
            self.out.write("(the bot did not finish within 30 s)\n")
        await asyncio.sleep(0.05)  # let debounced edits and background sends show up
        return True


async def run_sandbox(
    *, script: list[str] | None = None, echo: bool = False, out: TextIO | None = None
) -> int:
    """Run the sandbox; ``script`` lines replace the keyboard (tests, demos)."""
    out = out or sys.stdout
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="firmbot-sandbox-") as tmp:
        database = Path(tmp) / "sandbox.db"
        async with Emulator() as emulator:
            config = harness_config(
                emulator, f"sqlite+aiosqlite:///{database}", scheduling={"tick_seconds": 20}
            )
            harness = BotHarness(emulator, config, Clock(), jobs=True)
            await harness.start()
            chat_names: dict[int, str] = {}

            def show(message: SentMessage, event: str) -> None:
                out.write(render(message, event, chat_names) + "\n")
                out.flush()

            try:
                group = await make_group(harness, DEMO_GROUP, list(DEMO_MEMBERS))
                chat_names[group.id] = DEMO_GROUP
                for name, user in group.members.items():
                    chat_names[emulator.private_chat(user).id] = f"{name} 私聊"
                for message in emulator.messages(group.id):
                    show(message, "send")
                emulator.on_bot_message(show)
                sandbox = Sandbox(harness, group, out)
                out.write(
                    f"FirmBot sandbox: group 「{DEMO_GROUP}」 with {', '.join(DEMO_MEMBERS)} "
                    f"(offline, database in {database}). Type :help for help.\n"
                )
                await _loop(sandbox, script, echo, out)
            finally:
                await harness.stop()
    return 0


async def _loop(sandbox: Sandbox, script: list[str] | None, echo: bool, out: TextIO) -> None:
    if script is not None:
        for line in script:
            if echo:
                out.write(f"> {line}\n")
            if not await sandbox.handle(line):
                return
        return
    loop = asyncio.get_running_loop()
    while True:
        out.write("> ")
        out.flush()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            out.write("\n")
            return
        with contextlib.suppress(KeyboardInterrupt):
            if not await sandbox.handle(line):
                return
