"""Quizzes: daily group rounds of quiz polls, leaderboards, private practice and review.

Domain services only (no Telegram): they take a session and plain values, return plain
values and never commit; ``handlers/quiz.py`` turns them into messages.
"""

from __future__ import annotations

from bot.quiz.practice import (
    SET_SIZE,
    PracticeOutcome,
    Score,
    Step,
    answer,
    current_set_id,
    start_practice,
    start_review,
)
from bot.quiz.reviews import ReviewSummary, note_answer, review_summary
from bot.quiz.rounds import (
    CLOSE_KIND,
    CLOSE_MARGIN,
    ROUND_KIND,
    AnswerOutcome,
    QuestionResult,
    RoundResult,
    Standing,
    TopicRate,
    finish_sending,
    mark_closed,
    open_round,
    period_start,
    record_answer,
    record_poll,
    round_polls,
    round_result,
    running_round,
    standings,
    sync_schedule,
)
from bot.quiz.selection import GENERAL_TOPIC, REQUIREMENTS, TOPICS, Asked, Topic, select_questions
from bot.quiz.stats import Accuracy, accuracy_by_requirement

__all__ = [
    "CLOSE_KIND",
    "CLOSE_MARGIN",
    "GENERAL_TOPIC",
    "REQUIREMENTS",
    "ROUND_KIND",
    "SET_SIZE",
    "TOPICS",
    "Accuracy",
    "AnswerOutcome",
    "Asked",
    "PracticeOutcome",
    "QuestionResult",
    "ReviewSummary",
    "RoundResult",
    "Score",
    "Standing",
    "Step",
    "Topic",
    "TopicRate",
    "accuracy_by_requirement",
    "answer",
    "current_set_id",
    "finish_sending",
    "mark_closed",
    "note_answer",
    "open_round",
    "period_start",
    "record_answer",
    "record_poll",
    "review_summary",
    "round_polls",
    "round_result",
    "running_round",
    "select_questions",
    "standings",
    "start_practice",
    "start_review",
    "sync_schedule",
]
