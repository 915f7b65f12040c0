"""Quizzes (TG): the daily round of quiz polls, /quiz, /rank, /review, practice buttons.

Callback data (ASCII, at most 64 bytes), parsed in ``cb_quiz``:
- ``quiz:a:<set id>:<position>:<option>``  answer a practice question
- ``quiz:n:<requirement or 0>``             start another practice set
- ``quiz:v``                               start a review session
- ``quiz:r:<w|m|a>``                       switch the leaderboard's period
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update

from bot import quiz
from bot.chats import GROUP_TYPES, effective_settings
from bot.content.quizbank import Question
from bot.db.models import Chat, User
from bot.db.models.quiz import QuizRound
from bot.scheduling import SlotRun
from bot.sender import Sent
from bot.services import Services
from bot.texts import Html, escape
from bot.ui import Button, Keyboard, callback, parse_callback
from handlers.common import (
    Context,
    FirmBotApp,
    chat_locale,
    command_args,
    hint_unregistered,
    is_admin,
    locale_of,
    reply,
    svc,
)

logger = logging.getLogger(__name__)

LETTERS = "ABCDEFGHIJ"
PERIOD_CODES = {"w": "week", "m": "month", "a": "all"}
# Chinese numerals one to five, as members may type them ("/quiz 3" or its numeral).
CHINESE_NUMBERS = {"\u4e00": 1, "\u4e8c": 2, "\u4e09": 3, "\u56db": 4, "\u4e94": 5}


def setup(app: FirmBotApp) -> None:
    """Scheduled actions and the chat hook (called from handlers.register)."""
    s = svc(app)

    async def round_action(run: SlotRun) -> None:
        await job_quiz_round(s, run)

    async def close_action(run: SlotRun) -> None:
        await job_quiz_close(s, run)

    async def hook(session: AsyncSession, chat: Chat) -> None:
        await quiz.sync_schedule(session, s.scheduler, chat, s.config)

    s.scheduler.register(quiz.ROUND_KIND, round_action)
    s.scheduler.register(quiz.CLOSE_KIND, close_action)
    s.chat_hooks.append(hook)


# --- small helpers ---


def bank_index(s: Services) -> dict[str, Question]:
    index: dict[str, Question] | None = s.extras.get("quiz.bank")
    if index is None:
        index = {q.id: q for q in s.content.questions}
        s.extras["quiz.bank"] = index
    return index


def zone(s: Services) -> ZoneInfo:
    return ZoneInfo(s.config.timezone)


def topic_label(s: Services, locale: str, topic: quiz.Topic) -> str:
    if topic == "general":
        return s.texts.plain("quiz.topic.general", locale)
    requirement = s.content.requirement(int(topic))
    name = requirement.short_name if requirement is not None else str(topic)
    return s.texts.plain("quiz.topic.requirement", locale, number=topic, name=name)


def percent(s: Services, locale: str, correct: int, answered: int) -> str:
    return s.texts.plain("quiz.percent", locale, value=round(100 * correct / answered))


def local_date(s: Services, locale: str, moment: datetime) -> str:
    day = moment.astimezone(zone(s)).date()
    return s.texts.plain(
        "quiz.date",
        locale,
        year=day.year,
        month=day.month,
        day=day.day,
        mm=f"{day.month:02d}",
        dd=f"{day.day:02d}",
    )


def deep_link(s: Services, payload: str = "quiz") -> str | None:
    return f"https://t.me/{s.bot_username}?start={payload}" if s.bot_username else None


def parse_requirement(args: Sequence[str]) -> tuple[int | None, str | None]:
    """(requirement, None) for nothing, "3" or its numeral; (None, the text) for anything else."""
    if not args:
        return None, None
    raw = " ".join(args).strip()
    value = raw.removeprefix("#")
    if value.isascii() and value.isdigit() and 1 <= int(value) <= 5:
        return int(value), None
    if value in CHINESE_NUMBERS:
        return CHINESE_NUMBERS[value], None
    return None, raw


# --- the daily round ---


async def job_quiz_round(s: Services, run: SlotRun) -> None:
    """The chat's daily slot: open a round and send its polls (idempotent per slot)."""
    async with s.db.session() as session:
        chat = await session.get(Chat, run.chat_id)
        if chat is None or not chat.active:
            return
        settings = effective_settings(chat, s.config)
        if not settings["quiz.enabled"]:
            return
        round_ = await quiz.open_round(
            session,
            chat_id=chat.id,
            kind="daily",
            now=s.clock.now(),
            bank=s.content.questions,
            questions=int(settings["quiz.questions"]),
            open_seconds=int(settings["quiz.open_minutes"]) * 60,
            slot_at=run.slot_at,
        )
        round_id = round_.id
    await deliver_round(s, round_id)


async def deliver_round(s: Services, round_id: int) -> int:
    """Send whatever of the round is not sent yet (intro, polls); arm its close.

    Safe to run again (a takeover after a crash): each poll is recorded the moment
    Telegram accepts it and is never sent twice. Returns how many polls the round has.
    """
    bank = bank_index(s)
    async with s.db.session() as session:
        round_ = await session.get(QuizRound, round_id)
        if round_ is None or round_.status != "open":
            return 0
        chat = await session.get(Chat, round_.chat_id)
        locale = str(effective_settings(chat, s.config)["locale"])
        done = {p.position for p in await quiz.round_polls(session, round_id)}
        chat_id, plan, kind = round_.chat_id, list(round_.question_ids), round_.kind
        open_seconds, intro_sent = round_.open_seconds, round_.intro_message_id is not None
    if not intro_sent and not done and plan:
        key = "quiz.round.intro_daily" if kind == "daily" else "quiz.round.intro_extra"
        intro = s.t(key, locale, count=len(plan), minutes=open_seconds // 60)
        sent = await s.sender.send(chat_id, intro)
        if sent is not None:
            chat_id = sent.chat_id
            async with s.db.session() as session:
                row = await session.get(QuizRound, round_id)
                if row is not None:
                    row.intro_message_id = sent.message_id
    for position, question_id in enumerate(plan):
        question = bank.get(question_id)
        if position in done or question is None:
            continue
        poll = await s.sender.send_poll(
            chat_id,
            question.question,
            question.options,
            correct_option_id=question.answer,
            explanation=question.explanation,
            open_period=open_seconds,
        )
        if poll is None:
            logger.warning("quiz round %s: question %s was not sent", round_id, question_id)
            continue
        chat_id = poll.chat_id
        async with s.db.session() as session:
            row = await session.get(QuizRound, round_id)
            assert row is not None
            await quiz.record_poll(
                session,
                row,
                position,
                question,
                chat_id=poll.chat_id,
                message_id=poll.message_id,
                poll_id=poll.poll_id,
                now=s.clock.now(),
            )
            done.add(position)
    async with s.db.session() as session:
        ready = await quiz.finish_sending(session, round_id)
        if ready is not None:
            await s.scheduler.schedule_once(
                session,
                chat_id=ready.chat_id,
                kind=quiz.CLOSE_KIND,
                ref=str(round_id),
                run_at=ready.closes_at + quiz.CLOSE_MARGIN,
            )
    return len(done)


async def job_quiz_close(s: Services, run: SlotRun) -> None:
    """The round's one-off close: post the result once, then forget the schedule."""
    round_id = int(run.ref)
    now = s.clock.now()
    async with s.db.session() as session:
        round_ = await session.get(QuizRound, round_id)
        if round_ is None or round_.status != "open":
            return
        chat = await session.get(Chat, round_.chat_id)
        settings = effective_settings(chat, s.config)
        result = await quiz.round_result(session, round_id, now, ZoneInfo(settings["timezone"]))
    assert result is not None
    # No stopPoll: every poll was sent with open_period and Telegram has closed it by now
    # (the close runs after the last poll's closes_at); stopping it again would be a 400.
    locale = str(settings["locale"])
    link = deep_link(s)
    buttons = (
        [[Button(s.texts.plain("quiz.round.practice_button", locale), url=link)]] if link else None
    )
    sent = await s.sender.send(result.chat_id, render_result(s, locale, result), buttons=buttons)
    async with s.db.session() as session:
        await quiz.mark_closed(session, round_id, now, sent.message_id if sent else None)
        # A finished one-off would stay in the table forever; each round adds one.
        await s.scheduler.cancel(session, run.chat_id, quiz.CLOSE_KIND, run.ref)


def render_result(s: Services, locale: str, result: quiz.RoundResult) -> Html:
    lines = [
        s.t(
            "quiz.round.result_title",
            locale,
            count=len(result.questions),
            participants=result.participants,
        )
    ]
    for q in result.questions:
        topic = topic_label(s, locale, q.topic)
        if q.answered:
            lines.append(
                s.t(
                    "quiz.round.result_question",
                    locale,
                    number=q.position + 1,
                    topic=topic,
                    rate=percent(s, locale, q.correct, q.answered),
                    correct=q.correct,
                    answered=q.answered,
                )
            )
        else:
            lines.append(
                s.t("quiz.round.result_question_none", locale, number=q.position + 1, topic=topic)
            )
    lines.append(Html(""))
    if result.participants == 0:
        lines.append(s.t("quiz.round.result_nobody", locale))
    if result.best:
        names: Html = join_names(s, locale, [b.name for b in result.best])
        if result.best_more:
            names = s.t(
                "quiz.round.result_best_more",
                locale,
                names=names,
                total=len(result.best) + result.best_more,
            )
        lines.append(
            s.t("quiz.round.result_best", locale, names=names, points=result.best[0].points)
        )
    if result.hardest is not None:
        lines.append(
            s.t(
                "quiz.round.result_hardest",
                locale,
                topic=topic_label(s, locale, result.hardest.topic),
                rate=percent(s, locale, result.hardest.correct, result.hardest.answered),
            )
        )
    lines.append(s.t("quiz.round.result_practice", locale))
    return Html("\n".join(lines))


def join_names(s: Services, locale: str, names: Sequence[str]) -> Html:
    """Plain names (escaped), never mentions: nobody is pinged."""
    separator = escape(s.texts.plain("quiz.name_separator", locale))
    return Html(separator.join(escape(name) for name in names))


# --- poll answers ---


async def on_poll_answer(update: Update, context: Context) -> None:
    """A member voted in (or retracted from) a quiz poll; the poll id finds the round."""
    answer = update.poll_answer
    if answer is None or answer.user is None:
        return  # a vote on behalf of a chat cannot be scored
    s = svc(context)
    async with s.db.session() as session:
        outcome = await quiz.record_answer(
            session,
            poll_id=answer.poll_id,
            user_id=answer.user.id,
            option_ids=list(answer.option_ids),
            now=s.clock.now(),
            zone=zone(s),
        )
    logger.debug("poll %s answer by %s: %s", answer.poll_id, answer.user.id, outcome.status)


# --- commands ---


async def cmd_quiz(update: Update, context: Context) -> None:
    """/quiz: admins in a group start an extra round; in private a practice set begins."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return
    s = svc(context)
    locale = await locale_of(update, context)
    requirement, bad = parse_requirement(command_args(context))
    if bad is not None:
        await reply(update, context, bad_requirement_text(s, locale, bad), quote=True)
        return
    if chat.type == "private":
        await start_practice_in_private(s, user.id, locale, requirement)
        return
    if chat.type not in GROUP_TYPES:
        return
    # An anonymous admin (posting as the group) has no private chat to practise in.
    if (requirement is None or user.is_bot) and await is_admin(update, context):
        await start_extra_round(update, context, locale)
        return
    if user.is_bot:
        return
    await practice_from_group(update, context, locale, "practice", requirement)


async def cmd_review(update: Update, context: Context) -> None:
    """/review: practise the questions that are due in the member's review queue."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None or user.is_bot:
        return
    s = svc(context)
    locale = await locale_of(update, context)
    if chat.type == "private":
        await start_review_in_private(s, user.id, locale)
    elif chat.type in GROUP_TYPES:
        await practice_from_group(update, context, locale, "review", None)


async def cmd_start_quiz(update: Update, context: Context) -> None:
    """/start quiz (or review) from the deep link: straight into practice."""
    user = update.effective_user
    if user is None:
        return
    s = svc(context)
    locale = await locale_of(update, context)
    if command_args(context)[:1] == ["review"]:
        await start_review_in_private(s, user.id, locale)
    else:
        await start_practice_in_private(s, user.id, locale, None)


async def cmd_rank(update: Update, context: Context) -> None:
    """/rank: this week's leaderboard, with buttons for the month and all time."""
    chat = update.effective_chat
    if chat is None:
        return
    s = svc(context)
    if chat.type not in GROUP_TYPES:
        await reply(update, context, s.t("quiz.rank.group_only", await locale_of(update, context)))
        return
    locale = await chat_locale(context, chat.id)
    text, buttons = await leaderboard(s, chat.id, locale, "week")
    await reply(update, context, text, buttons=buttons)


def bad_requirement_text(s: Services, locale: str, value: str) -> Html:
    lines = [
        s.t("quiz.practice.requirement_line", locale, number=r.number, headline=r.headline)
        for r in s.content.requirements
    ]
    return s.t(
        "quiz.practice.bad_requirement",
        locale,
        value=value,
        size=quiz.SET_SIZE,
        requirements=Html("\n".join(lines)),
    )


async def start_extra_round(update: Update, context: Context, locale: str) -> None:
    s = svc(context)
    chat, user = update.effective_chat, update.effective_user
    assert chat is not None
    now = s.clock.now()
    async with s.db.session() as session:
        row = await session.get(Chat, chat.id)
        if row is None or not row.active:
            await hint_unregistered(update, context)
            return
        settings = effective_settings(row, s.config)
        running = await quiz.running_round(session, chat.id, now)
        if running is None:
            round_ = await quiz.open_round(
                session,
                chat_id=chat.id,
                kind="extra",
                now=now,
                bank=s.content.questions,
                questions=int(settings["quiz.questions"]),
                open_seconds=int(settings["quiz.open_minutes"]) * 60,
                started_by=user.id if user and not user.is_bot else None,
            )
            round_id = round_.id
    if running is not None:
        ends = running.closes_at.astimezone(ZoneInfo(settings["timezone"])).strftime("%H:%M")
        await reply(update, context, s.t("quiz.round.running", locale, time=ends), quote=True)
        return
    if await deliver_round(s, round_id) == 0:
        await reply(update, context, s.t("quiz.round.send_failed", locale), quote=True)


async def practice_from_group(
    update: Update, context: Context, locale: str, kind: str, requirement: int | None
) -> None:
    """Practice asked for in the group goes to the private chat, or a deep link if closed."""
    s = svc(context)
    user = update.effective_user
    assert user is not None
    async with s.db.session() as session:
        row = await session.get(User, user.id)
        private_open = row is not None and row.private_chat_open
    if private_open:
        private_locale = s.user_locale(user.language_code)
        if kind == "review":
            sent = await start_review_in_private(s, user.id, private_locale)
        else:
            sent = await start_practice_in_private(s, user.id, private_locale, requirement)
        if sent is not None:
            await reply(update, context, s.t("quiz.practice.sent_private", locale), quote=True)
            return
    # Never opened (or since blocked): Telegram lets us write only after they start us.
    link = deep_link(s, "review" if kind == "review" else "quiz")
    buttons = (
        [[Button(s.texts.plain("quiz.practice.deep_link_button", locale), url=link)]]
        if link
        else None
    )
    text = s.t("quiz.practice.deep_link", locale, name=user.first_name)
    await reply(update, context, text, buttons=buttons, quote=True)


# --- private practice ---


async def start_practice_in_private(
    s: Services, user_id: int, locale: str, requirement: int | None
) -> Sent | None:
    now = s.clock.now()
    rng = random.Random(f"{user_id}:{now.isoformat()}")
    async with s.db.session() as session:
        step = await quiz.start_practice(
            session, user_id, s.content.questions, now, rng, requirement=requirement
        )
    if step is None:
        return await s.sender.send(user_id, s.t("quiz.practice.empty", locale))
    return await send_step(s, user_id, locale, step)


async def start_review_in_private(s: Services, user_id: int, locale: str) -> Sent | None:
    now = s.clock.now()
    async with s.db.session() as session:
        step = await quiz.start_review(session, user_id, bank_index(s), now)
        summary = await quiz.review_summary(session, user_id, now) if step is None else None
    if step is not None:
        return await send_step(s, user_id, locale, step)
    assert summary is not None
    if summary.queued == 0:
        return await s.sender.send(user_id, s.t("quiz.review.empty", locale))
    lines = [s.t("quiz.review.nothing_due", locale)]
    if summary.next_due_at is not None:
        lines.append(
            s.t(
                "quiz.review.next",
                locale,
                queued=summary.queued,
                date=local_date(s, locale, summary.next_due_at),
            )
        )
    return await s.sender.send(user_id, Html("\n".join(lines)))


def render_step(s: Services, locale: str, step: quiz.Step) -> Html:
    key = "quiz.practice.title_review" if step.kind == "review" else "quiz.practice.title"
    # Naming the requirement of a "which requirement is this from" question gives it away.
    topic = (
        s.texts.plain("quiz.topic.which", locale)
        if step.question.kind == "which_requirement"
        else topic_label(s, locale, step.question.requirement)
    )
    title = s.t(key, locale, number=step.position + 1, total=step.total, topic=topic)
    options = [
        s.t("quiz.practice.option_line", locale, letter=LETTERS[i], text=option)
        for i, option in enumerate(step.question.options)
    ]
    return s.t(
        "quiz.practice.question",
        locale,
        title=title,
        question=step.question.question,
        options=Html("\n".join(options)),
    )


def step_buttons(step: quiz.Step) -> Keyboard:
    return [
        [
            Button(LETTERS[i], data=callback("quiz", "a", step.set_id, step.position, i))
            for i in range(len(step.question.options))
        ]
    ]


async def send_step(s: Services, user_id: int, locale: str, step: quiz.Step) -> Sent | None:
    return await s.sender.send(user_id, render_step(s, locale, step), buttons=step_buttons(step))


def render_feedback(s: Services, locale: str, outcome: quiz.PracticeOutcome) -> Html:
    assert outcome.answered is not None and outcome.chosen is not None
    question = outcome.answered.question
    lines = [render_step(s, locale, outcome.answered), Html("")]
    if outcome.correct:
        lines.append(s.t("quiz.practice.right", locale))
    else:
        lines.append(
            s.t(
                "quiz.practice.wrong",
                locale,
                chosen=LETTERS[outcome.chosen],
                correct=f"{LETTERS[question.answer]}. {question.correct_option}",
            )
        )
    lines.append(s.t("quiz.practice.explanation", locale, text=question.explanation))
    lines.append(s.t("quiz.practice.source", locale, text=question.source))
    return Html("\n".join(lines))


def render_score(s: Services, locale: str, score: quiz.Score) -> Html:
    review = score.kind == "review"
    key = "quiz.practice.score_review" if review else "quiz.practice.score"
    lines = [s.t(key, locale, correct=score.correct, answered=score.answered)]
    if review:
        lines.append(s.t("quiz.practice.score_review_note", locale))
    elif score.wrong:
        lines.append(s.t("quiz.practice.score_wrong", locale, wrong=score.wrong))
    else:
        lines.append(s.t("quiz.practice.score_perfect", locale))
    return Html("\n".join(lines))


def score_buttons(s: Services, locale: str, score: quiz.Score, due: int) -> Keyboard:
    again = callback("quiz", "n", score.requirement or 0)
    row = [Button(s.texts.plain("quiz.practice.again_button", locale), data=again)]
    if due:
        row.append(
            Button(s.texts.plain("quiz.practice.review_button", locale), data=callback("quiz", "v"))
        )
    return [row]


# --- buttons ---


async def cb_quiz(update: Update, context: Context) -> None:
    """Every quiz button: answers, another set, review, the leaderboard's periods."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    s = svc(context)
    _, action, args = parse_callback(query.data)
    locale = await locale_of(update, context)
    message = query.message
    chat_id = message.chat.id if message is not None else query.from_user.id
    if action == "r" and args and args[0] in PERIOD_CODES and message is not None:
        group_locale = await chat_locale(context, chat_id)
        text, buttons = await leaderboard(s, chat_id, group_locale, PERIOD_CODES[args[0]])
        await s.sender.edit(chat_id, message.message_id, text, buttons=buttons)
        await s.sender.answer_callback(query.id)
        return
    if chat_id != query.from_user.id:
        await s.sender.answer_callback(query.id)
        return  # practice buttons live in private chats only
    if action == "a" and len(args) == 3 and all(a.isdigit() for a in args):
        await answer_practice(update, context, locale, *(int(a) for a in args))
    elif action == "n" and len(args) == 1 and args[0].isdigit():
        await s.sender.answer_callback(query.id)
        requirement = int(args[0]) or None
        await start_practice_in_private(s, query.from_user.id, locale, requirement)
    elif action == "v":
        await s.sender.answer_callback(query.id)
        await start_review_in_private(s, query.from_user.id, locale)
    else:
        await s.sender.answer_callback(
            query.id, s.texts.plain("quiz.practice.stale", locale), alert=True
        )


async def answer_practice(
    update: Update, context: Context, locale: str, set_id: int, position: int, option: int
) -> None:
    s = svc(context)
    query = update.callback_query
    assert query is not None
    user_id = query.from_user.id
    now = s.clock.now()
    async with s.db.session() as session:
        outcome = await quiz.answer(
            session,
            user_id=user_id,
            set_id=set_id,
            position=position,
            option=option,
            now=now,
            bank=bank_index(s),
            zone=zone(s),
        )
        due = (
            (await quiz.review_summary(session, user_id, now)).due
            if outcome.score is not None
            else 0
        )
    message = query.message
    if outcome.status == "answered":
        await s.sender.answer_callback(query.id, s.texts.plain("quiz.practice.answered", locale))
        return
    if outcome.status != "ok":
        await s.sender.answer_callback(
            query.id, s.texts.plain("quiz.practice.stale", locale), alert=True
        )
        if message is not None:
            await s.sender.edit_buttons(message.chat.id, message.message_id, None)
        return
    toast = "quiz.practice.toast_right" if outcome.correct else "quiz.practice.toast_wrong"
    await s.sender.answer_callback(query.id, s.texts.plain(toast, locale))
    if message is not None:
        await s.sender.edit(
            message.chat.id, message.message_id, render_feedback(s, locale, outcome)
        )
    if outcome.step is not None:
        await send_step(s, user_id, locale, outcome.step)
    elif outcome.score is not None:
        await s.sender.send(
            user_id,
            render_score(s, locale, outcome.score),
            buttons=score_buttons(s, locale, outcome.score, due),
        )


# --- the leaderboard ---


async def leaderboard(s: Services, chat_id: int, locale: str, period: str) -> tuple[Html, Keyboard]:
    async with s.db.session() as session:
        chat = await session.get(Chat, chat_id)
        tz = ZoneInfo(str(effective_settings(chat, s.config)["timezone"]))
        since = quiz.period_start(period, s.clock.now(), tz)
        rows = await quiz.standings(session, chat_id, since=since)
    titles = {
        "week": s.t("quiz.rank.title_week", locale),
        "month": s.t("quiz.rank.title_month", locale),
        "all": s.t("quiz.rank.title_all", locale),
    }
    lines = [titles[period], Html("")]
    if rows:
        lines.extend(
            s.t(
                "quiz.rank.line",
                locale,
                rank=row.rank,
                name=row.name,
                points=row.points,
                answered=row.answered,
            )
            for row in rows
        )
    else:
        lines.append(s.t("quiz.rank.empty", locale))
    lines.extend([Html(""), s.t("quiz.rank.footer", locale)])
    labels = {
        "week": s.texts.plain("quiz.rank.week", locale),
        "month": s.texts.plain("quiz.rank.month", locale),
        "all": s.texts.plain("quiz.rank.all", locale),
    }
    buttons = [
        [
            Button(
                s.texts.plain("quiz.rank.current", locale, label=labels[p])
                if p == period
                else labels[p],
                data=callback("quiz", "r", code),
            )
            for code, p in PERIOD_CODES.items()
        ]
    ]
    return Html("\n".join(lines)), buttons


# --- /me (shared with study: it shows streaks and check-ins, this the quiz part) ---


async def me_section(s: Services, locale: str, chat_id: int | None, user_id: int) -> Html:
    """The quiz part of /me: accuracy per requirement and the review queue."""
    async with s.db.session() as session:
        rows = await quiz.accuracy_by_requirement(session, chat_id, user_id)
        review = await quiz.review_summary(session, user_id, s.clock.now())
    return render_me(s, locale, rows, review)


def render_me(
    s: Services,
    locale: str,
    rows: Sequence[quiz.Accuracy],
    review: quiz.ReviewSummary | None = None,
) -> Html:
    lines = [s.t("quiz.me.title", locale)]
    for row in rows:
        topic = topic_label(s, locale, row.topic)
        if row.answered:
            lines.append(
                s.t(
                    "quiz.me.line",
                    locale,
                    topic=topic,
                    rate=percent(s, locale, row.correct, row.answered),
                    correct=row.correct,
                    answered=row.answered,
                )
            )
        else:
            lines.append(s.t("quiz.me.line_none", locale, topic=topic))
    if review is not None and review.queued:
        lines.append(s.t("quiz.me.review", locale, due=review.due, queued=review.queued))
    return Html("\n".join(lines))
