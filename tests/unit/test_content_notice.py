"""The seed notice as the content tests see it, and helpers the other content tests share.

Every quote in the study and quiz content is checked against the repository copy of the
seed notice, read as UTF-8 with only line endings normalised.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from bot.content.curriculum import Prompt, load_curriculum
from bot.content.quizbank import Question, load_bank
from bot.content.requirements import ORDINALS, Requirement, load_requirements

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "content"
NOTICE = CONTENT / "notices" / "000_62420782f47914ad.txt"
REQUIREMENTS = CONTENT / "requirements.yaml"
CURRICULUM = CONTENT / "study" / "curriculum.yaml"
BANK = CONTENT / "quiz" / "bank.yaml"

# Typos and garbles of the seed. Quotes keep them when they must, but content avoids
# passages that contain them where a clean passage serves.
SEED_GARBLES = (
    "2023630日",
    "学习教育要通过学习教育",
    "制学习计划",
    "本所律师本所律师",
    "引导好,管理好",
    "做两拥护从业",
)
# Page furniture around the notice that is not part of it (navigation, an injected link).
PAGE_NOISE = ("您现在所处的位置", "新澳门", "游戏网站", "附件下载", "Baidu", "map")


@cache
def notice_text() -> str:
    raw = NOTICE.read_bytes().decode("utf-8")
    return raw.replace("\r\n", "\n").replace("\r", "\n")


@cache
def requirement_paragraphs() -> dict[int, str]:
    """Requirement number -> its paragraph (the line that starts with 一是 … 五是)."""
    found: dict[int, str] = {}
    for line in notice_text().split("\n"):
        stripped = line.strip()
        for number, ordinal in enumerate(ORDINALS, start=1):
            if stripped.startswith(ordinal):
                assert number not in found, f"two paragraphs start with {ordinal}"
                found[number] = stripped
    return found


def paragraph_of(quote: str) -> int | None:
    """The requirement whose paragraph contains ``quote``, or None if it is in none of them."""
    hits = [n for n, para in requirement_paragraphs().items() if quote in para]
    assert len(hits) <= 1, f"{quote!r} occurs in several requirement paragraphs"
    return hits[0] if hits else None


@cache
def requirements() -> tuple[Requirement, ...]:
    return load_requirements(REQUIREMENTS, notice_text=notice_text())


@cache
def prompts() -> tuple[Prompt, ...]:
    return load_curriculum([CURRICULUM], requirements(), notice_text=notice_text())


@cache
def questions() -> tuple[Question, ...]:
    return load_bank([BANK], requirements(), notice_text=notice_text())


def test_the_repo_copy_is_the_seed_notice() -> None:
    text = notice_text()
    assert "关于深入学习贯彻司法部党组“做党和人民满意的好律师”座谈会精神的通知" in text
    assert "发布时间:2023年7月24日" in text


def test_the_notice_has_five_requirement_paragraphs_in_order() -> None:
    paragraphs = requirement_paragraphs()
    assert sorted(paragraphs) == [1, 2, 3, 4, 5]
    text = notice_text()
    positions = [text.index(paragraphs[n]) for n in range(1, 6)]
    assert positions == sorted(positions)


def test_each_paragraph_opens_with_its_ordinal_and_headline() -> None:
    for req in requirements():
        assert requirement_paragraphs()[req.number].startswith(f"{req.ordinal}{req.headline}。")


def test_paragraph_of_finds_the_requirement_of_a_sentence() -> None:
    assert paragraph_of("政治方向是律师事业发展第一位的问题。") == 1
    assert paragraph_of("爱国也是近代以来中国律师的光荣传统。") == 2
    assert paragraph_of("推进全面依法治国,根本目的是依法保障人民权益。") == 3
    assert paragraph_of("新颁布和修订的法律都要跟进学习、熟练掌握。") == 4
    assert paragraph_of("自觉规范与司法人员接触交往行为") == 5
    assert paragraph_of("解决一个销号一个") is None
