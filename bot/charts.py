"""The weekly report chart: a PNG drawn with matplotlib in the shipped CJK font.

The font (content/fonts/, a GB 2312 subset of WenQuanYi Micro Hei) ships with the package,
so Chinese labels render on a machine with no CJK font installed. Labels come from the
caller (localized); no Telegram types here.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

from matplotlib import font_manager
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

FONT_FILE = "fonts/wqy-microhei-gb2312.ttf"
# pyplot keeps global state; one chart at a time keeps it consistent.
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ChartData:
    """What the weekly chart shows. Rates are 0..1; None means no data."""

    days: Sequence[tuple[str, float | None]]  # (day label, check-in rate)
    reflections: Sequence[int]  # per day, same order
    quiz: Sequence[tuple[str, float | None]]  # (requirement short name, accuracy)
    ledger: tuple[int, int, int]  # open, overdue, closed


LABEL_KEYS = (
    "title",
    "checkins",
    "reflections",
    "quiz",
    "ledger",
    "open",
    "overdue",
    "closed",
    "no_data",
)


def font_path(content_dir: Path) -> Path:
    return content_dir / FONT_FILE


def missing_glyphs(text: str, content_dir: Path) -> set[str]:
    """Characters of ``text`` the shipped font cannot draw (for tests and checks)."""
    from matplotlib.ft2font import FT2Font

    font = FT2Font(str(font_path(content_dir)))
    charmap = font.get_charmap()
    return {ch for ch in text if not ch.isspace() and ord(ch) not in charmap}


def render_chart(data: ChartData, labels: Mapping[str, str], content_dir: Path) -> bytes:
    """The chart as PNG bytes."""
    prop = font_manager.FontProperties(fname=str(font_path(content_dir)))
    with _LOCK:
        fig: Figure = plt.figure(figsize=(9, 7.5), dpi=110)
        try:
            grid = fig.add_gridspec(2, 2, height_ratios=[1.1, 1], hspace=0.45, wspace=0.35)
            _checkins(fig.add_subplot(grid[0, :]), data, labels, prop)
            _quiz(fig.add_subplot(grid[1, 0]), data, labels, prop)
            _ledger(fig.add_subplot(grid[1, 1]), data, labels, prop)
            fig.suptitle(labels["title"], fontproperties=prop, fontsize=15)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", bbox_inches="tight")
        finally:
            plt.close(fig)
    return buffer.getvalue()


def _style(ax: Axes, prop: font_manager.FontProperties) -> None:
    for tick in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        tick.set_fontproperties(prop)
    ax.spines[["top", "right"]].set_visible(False)


def _checkins(
    ax: Axes, data: ChartData, labels: Mapping[str, str], prop: font_manager.FontProperties
) -> None:
    names = [d for d, _ in data.days]
    rates = [(r or 0.0) * 100 for _, r in data.days]
    bars = ax.bar(names, rates, color="#3b7dd8")
    ax.set_ylim(0, 110)
    ax.set_ylabel(labels["checkins"] + " %", fontproperties=prop)
    for bar, (_, rate) in zip(bars, data.days, strict=True):
        text = "—" if rate is None else f"{rate * 100:.0f}%"
        ax.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    twin = ax.twinx()
    twin.plot(names, list(data.reflections), color="#e07b39", marker="o")
    twin.set_ylabel(labels["reflections"], fontproperties=prop)
    twin.set_ylim(0, max([*data.reflections, 1]) * 1.3)
    twin.spines[["top"]].set_visible(False)
    _style(ax, prop)
    for tick in twin.get_yticklabels():
        tick.set_fontproperties(prop)


def _quiz(
    ax: Axes, data: ChartData, labels: Mapping[str, str], prop: font_manager.FontProperties
) -> None:
    names = [n for n, _ in data.quiz]
    values = [(a or 0.0) * 100 for _, a in data.quiz]
    ax.barh(names, values, color="#4caf7a")
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    ax.set_title(labels["quiz"], fontproperties=prop, fontsize=11)
    for index, (_, accuracy) in enumerate(data.quiz):
        text = labels["no_data"] if accuracy is None else f"{accuracy * 100:.0f}%"
        ax.text(
            min((accuracy or 0) * 100 + 2, 85),
            index,
            text,
            va="center",
            fontproperties=prop,
            fontsize=9,
        )
    _style(ax, prop)


def _ledger(
    ax: Axes, data: ChartData, labels: Mapping[str, str], prop: font_manager.FontProperties
) -> None:
    names = [labels["open"], labels["overdue"], labels["closed"]]
    values = list(data.ledger)
    bars = ax.bar(names, values, color=["#f0b429", "#d64545", "#4caf7a"])
    ax.set_title(labels["ledger"], fontproperties=prop, fontsize=11)
    ax.set_ylim(0, max([*values, 1]) * 1.3)
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(
            str(value),
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
        )
    _style(ax, prop)
