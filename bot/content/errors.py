"""The one error type every content loader raises, and the YAML reading they share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class ContentError(Exception):
    """A content file is broken: names the file, the entry (if any) and the reason."""

    def __init__(self, file: str, entry: str | None, reason: str) -> None:
        self.file = file
        self.entry = entry
        self.reason = reason
        where = f"{file}: {entry}" if entry else file
        super().__init__(f"{where}: {reason}")


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; every failure becomes a ContentError naming the file."""
    file = str(path)
    try:
        raw_text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContentError(file, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise ContentError(file, None, f"not valid UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise ContentError(file, None, f"cannot read the file: {exc.strerror}") from None
    try:
        return yaml.safe_load(raw_text)
    except yaml.MarkedYAMLError as exc:
        where = ""
        if exc.problem_mark is not None:
            mark = exc.problem_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = exc.problem or exc.context or "invalid YAML"
        raise ContentError(file, None, f"YAML syntax error{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ContentError(file, None, f"YAML syntax error: {exc}") from None


def read_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level must be a mapping (ContentError otherwise)."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ContentError(str(path), None, "the file must be a mapping")
    return raw
