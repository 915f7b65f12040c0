"""Where the shipped content lives, in a source checkout and in an installed wheel."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def default_content_dir() -> Path:
    """The directory holding locales/, requirements.yaml, study/, quiz/ and notices/."""
    # An installed wheel carries content/ as the package data ``bot._content``
    # (see pyproject.toml); a source checkout has it next to bot/.
    try:
        shipped = Path(str(resources.files("bot._content")))
        if (shipped / "locales").is_dir():
            return shipped
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent.parent / "content"
