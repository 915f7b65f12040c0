"""Plain descriptions of what to show (buttons), free of Telegram types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: ``data`` for a callback, or ``url`` for a link."""

    text: str
    data: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.url is None):
            raise ValueError("a button needs exactly one of data or url")
        if self.data is not None and len(self.data.encode()) > CALLBACK_DATA_LIMIT:
            raise ValueError(f"callback data over {CALLBACK_DATA_LIMIT} bytes: {self.data!r}")


Keyboard = Sequence[Sequence[Button]]


def callback(feature: str, action: str, *args: object) -> str:
    """Callback data in the one format ``feature:action:arg:...`` (ASCII, ≤ 64 bytes)."""
    data = ":".join([feature, action, *(str(a) for a in args)])
    if len(data.encode()) > CALLBACK_DATA_LIMIT:
        raise ValueError(f"callback data over {CALLBACK_DATA_LIMIT} bytes: {data!r}")
    return data


def parse_callback(data: str) -> tuple[str, str, list[str]]:
    """The inverse of ``callback``: (feature, action, args)."""
    parts = data.split(":")
    if len(parts) < 2:
        return parts[0], "", []
    return parts[0], parts[1], parts[2:]
