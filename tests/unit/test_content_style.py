"""Our own Chinese text uses full-width punctuation; quotes keep the notice's characters.

The notice prints ASCII commas, colons, semicolons and parentheses. Where our text
quotes it, those stay; everywhere else our text must use "，：；（）". And a quote that
only differs from the notice by a full-width comma is a misquote.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tests.unit.test_content_notice import PAGE_NOISE, notice_text, prompts, questions

ASCII_PUNCT = ",;:()?!"
QUOTED = re.compile(r"“([^“”]+)”")


def _own_texts() -> Iterator[tuple[str, str]]:
    for p in prompts():
        yield f"{p.id}.title", p.title
        yield f"{p.id}.explanation", p.explanation
        yield f"{p.id}.question", p.question
    for q in questions():
        yield f"{q.id}.question", q.question
        yield f"{q.id}.explanation", q.explanation
        for i, option in enumerate(q.options):
            yield f"{q.id}.options[{i}]", option


OWN_TEXTS = list(_own_texts())


def _quoted_from_notice(text: str, index: int) -> bool:
    """Whether the ASCII punctuation at ``index`` sits inside a passage of the notice."""
    notice = notice_text()
    windows = (text[max(0, index - 2) : index + 1], text[index : index + 3])
    return any("_" not in w and len(w) == 3 and w in notice for w in windows)


def test_ascii_punctuation_only_inside_quotes_of_the_notice() -> None:
    problems = [
        f"{where}: ASCII {char!r} in our own text"
        for where, text in OWN_TEXTS
        for index, char in enumerate(text)
        if char in ASCII_PUNCT and not _quoted_from_notice(text, index)
    ]
    assert not problems, "\n".join(problems)


def test_no_misquotes_with_full_width_commas() -> None:
    notice = notice_text()
    problems = [
        f"{where}: misquoted {quoted!r}"
        for where, text in OWN_TEXTS
        for quoted in QUOTED.findall(text)
        if "，" in quoted and quoted.replace("，", ",") in notice
    ]
    assert not problems, "\n".join(problems)


def test_quotes_are_balanced_and_no_page_noise() -> None:
    problems: list[str] = []
    for where, text in OWN_TEXTS:
        if text.count("“") != text.count("”"):
            problems.append(f"{where}: unbalanced curly quotes")
        if '"' in text or "'" in text:
            problems.append(f"{where}: straight quotes")
        if text != text.strip():
            problems.append(f"{where}: leading or trailing whitespace")
        problems.extend(f"{where}: page noise {n!r}" for n in PAGE_NOISE if n in text)
    assert not problems, "\n".join(problems)


def test_our_text_states_the_date_of_the_symposium_correctly() -> None:
    """The notice prints "2023630日"; our own text writes the date in full."""
    for where, text in OWN_TEXTS:
        if "2023630日" in text:
            assert "2023年6月30日" in text, where
