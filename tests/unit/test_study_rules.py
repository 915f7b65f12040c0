"""Pure study rules: the next prompt, streaks and idle runs, the message, the debouncer."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date

import pytest

from bot.content.loader import Content
from bot.study.debounce import Debouncer
from bot.study.prompts import choose_next
from bot.study.render import prompt_buttons, prompt_html, share_text
from bot.study.stats import idle_run, streak, week_start
from bot.ui import parse_callback


def test_the_next_prompt_is_the_first_not_sent_in_this_pass(content: Content) -> None:
    curriculum = content.curriculum
    first = choose_next(curriculum, [])
    assert first is not None
    assert (first.prompt.id, first.day, first.total, first.cycle) == ("s01", 1, 41, 1)
    assert not first.restarted
    sent = [("s01", 1), ("s02", 1), ("s04", 1)]
    nxt = choose_next(curriculum, sent)
    assert nxt is not None and (nxt.prompt.id, nxt.day) == ("s03", 3)


def test_after_the_last_prompt_a_new_pass_starts(content: Content) -> None:
    curriculum = content.curriculum[:3]
    sent = [(p.id, 1) for p in curriculum]
    nxt = choose_next(curriculum, sent)
    assert nxt is not None and (nxt.prompt.id, nxt.day, nxt.cycle) == ("s01", 1, 2)
    assert nxt.restarted
    nxt = choose_next(curriculum, [*sent, ("s01", 2)])
    assert nxt is not None and (nxt.prompt.id, nxt.day, nxt.cycle, nxt.restarted) == (
        "s02",
        2,
        2,
        False,
    )
    assert choose_next((), []) is None


def test_a_prompt_removed_from_the_curriculum_does_not_block_the_rest(content: Content) -> None:
    nxt = choose_next(content.curriculum, [("gone", 1), ("s01", 1)])
    assert nxt is not None and nxt.prompt.id == "s02"


MON, TUE, WED, THU, FRI = (date(2023, 7, d) for d in (24, 25, 26, 27, 28))
POSTS = [(5, FRI), (4, THU), (3, WED), (2, TUE), (1, MON)]  # newest first


@pytest.mark.parametrize(
    ("checked", "today", "expected"),
    [
        ({1, 2, 3, 4, 5}, FRI, 5),
        ({1, 2, 3, 4}, FRI, 4),  # today's prompt still open: no break
        ({1, 2, 3, 4}, date(2023, 7, 31), 0),  # Friday was missed
        ({1, 2, 4, 5}, FRI, 2),
        (set(), FRI, 0),
    ],
)
def test_streaks_count_study_days(checked: set[int], today: date, expected: int) -> None:
    assert streak(POSTS, checked, today) == expected


def test_idle_runs_count_missed_study_days_and_the_last_check_in() -> None:
    assert idle_run(POSTS, {1}, FRI) == (3, MON)  # Tue, Wed, Thu; Friday is today
    assert idle_run(POSTS, {1}, date(2023, 7, 29)) == (4, MON)
    assert idle_run(POSTS, set(), FRI) == (4, None)
    assert idle_run(POSTS, {5}, FRI) == (0, FRI)
    assert idle_run([], set(), FRI) == (0, None)
    assert week_start(date(2023, 7, 30)) == MON


def test_the_prompt_message_has_every_part_and_escapes_nothing_twice(content: Content) -> None:
    prompt = next(p for p in content.curriculum if p.requirement == 1)
    requirement = content.requirement(1)
    html = prompt_html(
        content.texts,
        "zh_CN",
        prompt=prompt,
        requirement=requirement,
        day=8,
        total=41,
        cycle=1,
        slot_date=date(2023, 8, 2),
        count=3,
        group_title="A&B律师事务所",
    )
    assert html.startswith("「A&amp;B律师事务所」\n📖 <b>每日学习 · 第 8 天（共 41 天）</b>")
    assert "8月2日（星期三）" in html
    assert requirement is not None and f"对照要求：一是「{requirement.headline}」" in html
    assert f"<blockquote>{prompt.excerpt}</blockquote>" in html
    assert prompt.explanation in html and prompt.question in html
    assert html.endswith("✅ 已打卡 3 人")
    english = prompt_html(
        content.texts,
        "en",
        prompt=prompt,
        requirement=requirement,
        day=1,
        total=41,
        cycle=2,
        slot_date=date(2023, 8, 2),
        count=0,
    )
    assert "round 2 · day 1 of 41" in english and "today round 2 begins" in english
    assert "Wed 2023-08-02" in english and "checked in" not in english


def test_buttons_carry_ascii_callback_data(content: Content) -> None:
    [[checkin, reflect]] = prompt_buttons(content.texts, "zh_CN", 123456)
    assert (checkin.text, reflect.text) == ("✅ 已学习", "✍️ 写心得")
    assert parse_callback(checkin.data or "") == ("study", "in", ["123456"])
    assert parse_callback(reflect.data or "") == ("study", "how", ["123456"])


def test_shared_reflections_are_escaped_and_cut_when_very_long(content: Content) -> None:
    assert share_text(content.texts, "zh_CN", "<b>好</b>") == "&lt;b&gt;好&lt;/b&gt;"
    cut = share_text(content.texts, "zh_CN", "学" * 3500)
    assert cut.endswith("…（全文 3500 字）") and cut.count("学") == 3000


async def test_the_debouncer_coalesces_a_burst_and_runs_again_for_late_triggers() -> None:
    state = {"value": 0}
    seen: list[int] = []
    debouncer = Debouncer(0.05)

    async def show() -> None:
        seen.append(state["value"])

    for _ in range(50):
        state["value"] += 1
        debouncer.trigger("post", show)
    await debouncer.wait()
    assert seen == [50]
    # A trigger while the action runs gets one more run with the final value.
    gate = asyncio.Event()

    async def slow() -> None:
        seen.append(state["value"])
        await gate.wait()

    debouncer.trigger("post", slow)
    await asyncio.sleep(0.08)
    state["value"] = 51
    debouncer.trigger("post", slow)
    gate.set()
    await debouncer.wait()
    assert seen == [50, 50, 51]
    assert debouncer.pending == 0


async def test_a_failing_action_does_not_stop_later_runs(caplog: pytest.LogCaptureFixture) -> None:
    debouncer = Debouncer(0.01)
    ran: list[str] = []

    async def boom() -> None:
        raise RuntimeError("edit failed")

    async def fine() -> None:
        ran.append("ok")

    debouncer.trigger("a", boom)
    await debouncer.wait()
    debouncer.trigger("a", fine)
    await debouncer.wait()
    assert ran == ["ok"] and "edit failed" in caplog.text


async def test_a_steady_stream_runs_at_most_once_per_gap() -> None:
    loop = asyncio.get_running_loop()
    times: list[float] = []
    debouncer = Debouncer(0.01, min_gap=0.1)

    async def run() -> None:
        times.append(loop.time())

    start = loop.time()
    while loop.time() - start < 0.35:
        debouncer.trigger("post", run)
        await asyncio.sleep(0.005)
    await debouncer.wait()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] - start < 0.08  # the first run comes after the short delay
    assert 3 <= len(times) <= 5 and all(gap >= 0.095 for gap in gaps), gaps
