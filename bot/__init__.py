"""FirmBot: a Telegram group-chat study assistant for Chinese law firms."""

from __future__ import annotations

__version__ = "0.1.0"
