"""The one error type every content loader raises."""

from __future__ import annotations


class ContentError(Exception):
    """A content file is broken: names the file, the entry (if any) and the reason."""

    def __init__(self, file: str, entry: str | None, reason: str) -> None:
        self.file = file
        self.entry = entry
        self.reason = reason
        where = f"{file}: {entry}" if entry else file
        super().__init__(f"{where}: {reason}")
