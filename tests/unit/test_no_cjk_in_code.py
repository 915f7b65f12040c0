"""No Chinese in Python code: texts live in content/locales, input words in content/grammar.

The same check as the before-stop hook: every tracked bot/*.py and handlers/*.py file
(bot/sandbox/ aside), every line that is not a ``#`` comment line, no CJK ideograph.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.content.errors import ContentError
from bot.content.grammar import default_grammar_path, grammar, load_grammar
from bot.ledger.service import FIELDS

ROOT = Path(__file__).resolve().parents[2]
IDEOGRAPH = re.compile("[\u4e00-\u9fff]")
COMMENT_LINE = re.compile(r"^\s*#")


def _python_files() -> list[str]:
    if shutil.which("git") and (ROOT / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "bot/*.py", "handlers/*.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    else:  # pragma: no cover - an unpacked sdist
        listed = [
            str(path.relative_to(ROOT))
            for folder in ("bot", "handlers")
            for path in sorted((ROOT / folder).rglob("*.py"))
        ]
    return [name for name in listed if not name.startswith("bot/sandbox/")]


def test_no_cjk_outside_comments() -> None:
    files = _python_files()
    assert "bot/dates.py" in files
    offending = [
        f"{name}:{number}: {line.strip()}"
        for name in files
        for number, line in enumerate(
            (ROOT / name).read_text(encoding="utf-8").split("\n"), start=1
        )
        if IDEOGRAPH.search(line) and not COMMENT_LINE.match(line)
    ]
    assert not offending, (
        "Chinese text in Python code (user texts go to content/locales/, input words "
        "to content/grammar/zh.yaml):\n" + "\n".join(offending)
    )


def test_grammar_loads_once_with_every_key() -> None:
    loaded = grammar()
    assert loaded is grammar()
    assert loaded == load_grammar(default_grammar_path())
    assert len(loaded.numerals.digits) == 10
    assert set(loaded.weekdays.values()) == set(range(1, 8))
    assert set(loaded.ledger.field_aliases) == set(FIELDS)


def test_broken_grammar_names_the_entry(tmp_path: Path) -> None:
    text = default_grammar_path().read_text(encoding="utf-8")
    broken = tmp_path / "zh.yaml"
    broken.write_text(text.replace("  spoken_two:", "  spoken_too:"), encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_grammar(broken)
    assert caught.value.entry is not None and "numerals" in caught.value.entry
    broken.write_text("- not a mapping\n", encoding="utf-8")
    with pytest.raises(ContentError):
        load_grammar(broken)
