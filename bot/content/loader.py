"""All content, loaded and validated once at start-up (and by ``firmbot check-config``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.content.curriculum import Prompt, load_curriculum
from bot.content.errors import ContentError
from bot.content.quizbank import Question, load_bank
from bot.content.requirements import Requirement, load_requirements
from bot.texts import Texts


@dataclass(frozen=True)
class Content:
    directory: Path
    texts: Texts
    requirements: tuple[Requirement, ...]
    curriculum: tuple[Prompt, ...]
    questions: tuple[Question, ...]

    def requirement(self, number: int) -> Requirement | None:
        return next((r for r in self.requirements if r.number == number), None)


def _extra(paths: tuple[str, ...], subdir: str) -> list[Path]:
    """Extra files a firm adds, sorted into curriculum or quiz by their folder name."""
    return [Path(p) for p in paths if Path(p).parent.name == subdir]


def load_content(directory: Path, extra: tuple[str, ...] = ()) -> Content:
    """Load and cross-check everything; raises ContentError naming file, entry and reason."""
    if not directory.is_dir():
        raise ContentError(str(directory), None, "content directory not found")
    texts = Texts.load(directory / "locales")
    # Quotes must be verbatim: every excerpt is checked against the shipped notices.
    notice_text = "\n".join(
        path.read_text(encoding="utf-8").replace("\r\n", "\n")
        for path in sorted((directory / "notices").glob("*.txt"))
    )
    requirements = load_requirements(directory / "requirements.yaml", notice_text=notice_text)
    curriculum_files = sorted((directory / "study").glob("*.yaml")) + _extra(extra, "study")
    quiz_files = sorted((directory / "quiz").glob("*.yaml")) + _extra(extra, "quiz")
    for path in _extra(extra, "study") + _extra(extra, "quiz"):
        if not path.is_file():
            raise ContentError(str(path), None, "file not found")
    curriculum = load_curriculum(curriculum_files, requirements, notice_text=notice_text)
    questions = load_bank(quiz_files, requirements, notice_text=notice_text)
    return Content(directory, texts, requirements, curriculum, questions)
