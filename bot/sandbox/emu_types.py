"""Plain data the emulator keeps: users, chats, what the bot sent, every API call."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.emu_html import entity_text

JSON = dict[str, Any]

_TG_USER_LINK = re.compile(r"^tg://user\?id=(\d+)$")


@dataclass
class EmuUser:
    """A Telegram user (or bot) living in the emulator."""

    id: int
    first_name: str
    username: str | None = None
    last_name: str | None = None
    language_code: str | None = "zh-hans"
    is_bot: bool = False

    def to_dict(self) -> JSON:
        """Telegram ``User`` JSON."""
        data: JSON = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code and not self.is_bot:
            data["language_code"] = self.language_code
        return data

    @property
    def full_name(self) -> str:
        """First and last name, as a client shows it."""
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name


@dataclass
class EmuChat:
    """A chat: a group, a supergroup or a user's private chat with the bot."""

    id: int
    type: str  # 'group' | 'supergroup' | 'private'
    title: str | None = None
    members: dict[int, str] = field(default_factory=dict)  # user id -> status
    bot_status: str = "left"  # 'member' | 'administrator' | 'left' | 'kicked'
    migrated_to: int | None = None
    migrated_from: int | None = None
    # private chats only: the user has written to the bot (so the bot may answer)...
    opened: bool = False
    # ...and has not blocked it since.
    blocked: bool = False
    last_message_id: int = 0
    pinned: list[int] = field(default_factory=list)

    @property
    def bot_present(self) -> bool:
        """The bot receives this chat's updates and may post in it."""
        if self.type == "private":
            return not self.blocked
        return self.bot_status in ("member", "administrator") and self.migrated_to is None


@dataclass
class SentMessage:
    """A message the bot sent, as the emulator recorded it (live: edits update it)."""

    chat_id: int
    message_id: int
    kind: str  # 'text' | 'photo' | 'document' | 'poll'
    text: str  # plain text after entity parsing; the caption for media
    html: str  # the raw text (or caption) as the bot sent it
    parse_mode: str | None
    entities: list[JSON]
    reply_markup: JSON | None
    reply_to_message_id: int | None
    date: int
    edits: list[str] = field(default_factory=list)  # previous texts, oldest first
    deleted: bool = False
    poll: JSON | None = None
    file: bytes | None = None
    filename: str | None = None
    mime_type: str | None = None
    file_id: str | None = None
    disable_notification: bool = False
    message_thread_id: int | None = None
    edit_date: int | None = None

    @property
    def buttons(self) -> list[list[str]]:
        """Labels of the keyboard (inline or reply) as rows."""
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        return [[b["text"] if isinstance(b, dict) else str(b) for b in row] for row in rows]

    def button(self, label: str) -> JSON:
        """The inline button with this label; ValueError listing the labels if none."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        for row in rows:
            for btn in row:
                if btn.get("text") == label:
                    return dict(btn)
        raise ValueError(
            f"no inline button {label!r} on message {self.message_id}; buttons: {self.buttons}"
        )

    def button_data(self, label: str) -> str:
        """callback_data of the inline button with this label."""
        btn = self.button(label)
        if "callback_data" not in btn:
            raise ValueError(f"button {label!r} has no callback_data: {btn}")
        return str(btn["callback_data"])

    @property
    def mentions(self) -> list[int]:
        """User ids mentioned by text_mention entities or tg://user?id= links."""
        ids: list[int] = []
        for ent in self.entities:
            if ent["type"] == "text_mention":
                ids.append(int(ent["user"]["id"]))
            elif ent["type"] == "text_link":
                match = _TG_USER_LINK.match(ent.get("url", ""))
                if match:
                    ids.append(int(match.group(1)))
        return ids

    def entity_texts(self, entity_type: str) -> list[str]:
        """The text each entity of this type covers, e.g. ``entity_texts("bold")``."""
        return [entity_text(self.text, e) for e in self.entities if e["type"] == entity_type]

    def to_json(self) -> JSON:
        """A JSON-safe view for the HTTP control API (file bytes as base64)."""
        data: JSON = {k: v for k, v in self.__dict__.items() if k != "file"}
        data["file_b64"] = base64.b64encode(self.file).decode() if self.file else None
        data["buttons"] = self.buttons
        return data

    def __str__(self) -> str:
        flags = []
        if self.deleted:
            flags.append("deleted")
        if self.edits:
            flags.append(f"edited {len(self.edits)}x")
        head = f"#{self.message_id} {self.kind} -> {self.chat_id}"
        if flags:
            head += f" [{', '.join(flags)}]"
        if self.reply_to_message_id:
            head += f" (reply to #{self.reply_to_message_id})"
        lines = [head]
        if self.kind in ("photo", "document"):
            size = len(self.file) if self.file is not None else 0
            lines.append(f"  file: {self.filename or '?'} ({size} bytes)")
        if self.poll is not None:
            poll = self.poll
            state = "closed" if poll.get("is_closed") else "open"
            lines.append(f"  poll ({poll.get('type')}, {state}): {poll.get('question')}")
            for i, opt in enumerate(poll.get("options", [])):
                mark = "*" if i in (poll.get("correct_option_ids") or []) else " "
                lines.append(f"   {mark}{i}. {opt['text']} [{opt['voter_count']}]")
        if self.text:
            lines.extend("  | " + line for line in self.text.splitlines())
        for row in self.buttons:
            lines.append("  " + " ".join(f"[{label}]" for label in row))
        return "\n".join(lines)


@dataclass
class ApiCall:
    """One Bot API request the bot made and how the emulator answered it."""

    method: str
    params: JSON
    time: float
    status: int = 0
    description: str | None = None
    result: Any = None

    @property
    def ok(self) -> bool:
        """The call succeeded (HTTP 200)."""
        return self.status == 200

    def __str__(self) -> str:
        outcome = "ok" if self.ok else f"{self.status} {self.description}"
        shown = {k: v for k, v in self.params.items() if k not in ("reply_markup",)}
        return f"{self.method}({shown}) -> {outcome}"
