"""Thin PTB callbacks. ``register(app)`` is the single ordered list of handlers (TG).

Groups: -1 runs first for every update (bookkeeping), 0 holds the commands and
features (the first matching handler wins, so specific before general), 100 runs
last for every update. Feature modules only define callbacks; they are wired here.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    PollAnswerHandler,
    TypeHandler,
    filters,
)

from handlers import core, ledger, notices, quiz, reports, settings, study
from handlers.common import FirmBotApp
from handlers.core import MenuCommand

# Study: plain text (or a caption), not a command; the reply listener's handler group.
STUDY_TEXT = (filters.TEXT | filters.CAPTION) & ~filters.COMMAND
STUDY_ANSWER = filters.UpdateType.MESSAGE & STUDY_TEXT
STUDY_REPLIES = 10

# Commands act on new messages only: PTB's CommandHandler also takes edits, and an
# edited "/ledger_add ..." must not add a second item.
NEW = filters.UpdateType.MESSAGE

# The command menu and /help, in this order; descriptions are locale keys commands.<name>.
MENU: list[MenuCommand] = [
    # By feature: study, quizzes, notices, the ledger; then the admins' tools.
    MenuCommand("start"),
    MenuCommand("help"),
    MenuCommand("study"),
    MenuCommand("me"),
    MenuCommand("quiz"),
    MenuCommand("rank", private=False),
    MenuCommand("review"),
    MenuCommand("notice"),
    MenuCommand("ledger", private=False),
    MenuCommand("ledger_add", admin_only=True, private=False),
    MenuCommand("ledger_edit", admin_only=True, private=False),
    MenuCommand("ledger_done", private=False),
    MenuCommand("ledger_reopen", admin_only=True, private=False),
    MenuCommand("ledger_cancel", admin_only=True, private=False),
    MenuCommand("ledger_export", admin_only=True, private=False),
    MenuCommand("ledger_import", admin_only=True, private=False),
    MenuCommand("session", admin_only=True, private=False),
    MenuCommand("study_report", admin_only=True, private=False),
    MenuCommand("excellent", admin_only=True, private=False),
    MenuCommand("report", admin_only=True, private=False),
    MenuCommand("settings", admin_only=True, private=False),
    MenuCommand("set", admin_only=True, private=False),
    MenuCommand("firms", admin_only=True, group=False),
]


def register(app: FirmBotApp) -> None:
    # Bookkeeping first: who spoke where. Never answers, never stops the update.
    app.add_handler(TypeHandler(Update, core.track_seen), group=-1)

    # The bot's own membership, members' status changes, group upgrades.
    app.add_handler(ChatMemberHandler(core.on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(ChatMemberHandler(core.on_chat_member, ChatMemberHandler.CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, core.on_migrate))

    # Before the core /start: the quiz deep link (t.me/<bot>?start=quiz) arrives as
    # "/start quiz" in private and must start practice, not the generic welcome.
    app.add_handler(
        CommandHandler(
            "start",
            quiz.cmd_start_quiz,
            filters=NEW & filters.ChatType.PRIVATE & filters.Regex(r"^/start (quiz|review)$"),
        )
    )
    app.add_handler(CommandHandler("start", core.cmd_start, filters=NEW))
    app.add_handler(CommandHandler("help", core.cmd_help, filters=NEW))

    # Settings (admins): the inline menu and /set shortcuts.
    app.add_handler(CommandHandler("settings", settings.cmd_settings, filters=NEW))
    app.add_handler(CommandHandler("set", settings.cmd_set, filters=NEW))
    app.add_handler(CallbackQueryHandler(settings.cb_settings, pattern=r"^set:"))

    # Quizzes: rounds of quiz polls in groups, practice and review in private.
    quiz.setup(app)
    app.add_handler(CommandHandler("quiz", quiz.cmd_quiz, filters=NEW))
    app.add_handler(CommandHandler("rank", quiz.cmd_rank, filters=NEW))
    app.add_handler(CommandHandler("review", quiz.cmd_review, filters=NEW))
    app.add_handler(CallbackQueryHandler(quiz.cb_quiz, pattern=r"^quiz:"))
    app.add_handler(PollAnswerHandler(quiz.on_poll_answer))

    # Daily study: prompts, check-ins, reflections, collective sessions, report.
    study.setup(app)
    app.add_handler(CommandHandler("study", study.cmd_study, filters=NEW))
    app.add_handler(CommandHandler("me", study.cmd_me, filters=NEW))
    app.add_handler(CommandHandler("study_report", study.cmd_study_report, filters=NEW))
    app.add_handler(CommandHandler("excellent", study.cmd_excellent, filters=NEW))
    # /session with a date schedules at once; without, a dialog (per admin and chat) asks
    # for the time and the topic. Its /cancel only matches while that dialog is open.
    app.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("session", study.cmd_session, filters=NEW)],
            states={
                study.ASK_WHEN: [MessageHandler(STUDY_ANSWER, study.on_session_when)],
                study.ASK_TOPIC: [MessageHandler(STUDY_ANSWER, study.on_session_topic)],
                ConversationHandler.TIMEOUT: [TypeHandler(Update, study.on_session_timeout)],
            },
            fallbacks=[CommandHandler("cancel", study.cmd_session_cancel, filters=NEW)],
            allow_reentry=True,
            conversation_timeout=study.DIALOG_TIMEOUT,
        )
    )
    app.add_handler(CallbackQueryHandler(study.cb_study, pattern=r"^study:"))
    # Its own group: every text reply to the bot is offered to study (reflections and
    # their edits) without taking it from features in group 0; non-study replies pass.
    app.add_handler(
        MessageHandler(filters.REPLY & STUDY_TEXT, study.on_study_reply), group=STUDY_REPLIES
    )

    # Rectification ledger (整改台账): commands, buttons, Excel import, dialogs.
    ledger.setup(app)
    app.add_handler(CommandHandler("ledger", ledger.cmd_ledger, filters=NEW))
    app.add_handler(CommandHandler("ledger_add", ledger.cmd_ledger_add, filters=NEW))
    app.add_handler(CommandHandler("ledger_edit", ledger.cmd_ledger_edit, filters=NEW))
    app.add_handler(CommandHandler("ledger_done", ledger.cmd_ledger_done, filters=NEW))
    app.add_handler(CommandHandler("ledger_reopen", ledger.cmd_ledger_reopen, filters=NEW))
    app.add_handler(CommandHandler("ledger_cancel", ledger.cmd_ledger_cancel, filters=NEW))
    app.add_handler(CommandHandler("ledger_export", ledger.cmd_ledger_export, filters=NEW))
    app.add_handler(CommandHandler("ledger_import", ledger.cmd_ledger_import, filters=NEW))
    # A file whose caption is /ledger_import (CommandHandler only reads message text).
    app.add_handler(
        MessageHandler(
            filters.Document.ALL & filters.CaptionRegex(r"^/ledger_import(@\w+)?(\s|$)"),
            ledger.cmd_ledger_import,
        )
    )
    app.add_handler(CallbackQueryHandler(ledger.cb_ledger, pattern=r"^ledger:"))
    # /cancel and plain messages match only while their sender has an open ledger dialog
    # (checked in memory), so other features keep /cancel and free text otherwise.
    app.add_handler(
        CommandHandler(
            "cancel", ledger.cmd_ledger_dialog_cancel, filters=ledger.InDialog(app, commands=True)
        )
    )
    app.add_handler(MessageHandler(ledger.InDialog(app), ledger.on_ledger_dialog))
    # Owners named by @username before the bot saw them are linked when they first speak.
    # Its own group: PTB runs one handler per group and core.track_seen takes every update
    # in group -1; the link does not depend on track_seen, so running just before is fine.
    app.add_handler(TypeHandler(Update, ledger.on_ledger_seen), group=-2)

    # Notices: summaries, the list, sections in full; /notice_send for bot-wide admins.
    app.add_handler(CommandHandler("notice", notices.cmd_notice, filters=NEW))
    app.add_handler(CommandHandler("notice_send", notices.cmd_notice_send, filters=NEW))
    app.add_handler(CallbackQueryHandler(notices.cb_notice, pattern=r"^notice:"))

    # Reports: /report (chat admins), the weekly report job, /firms (bot-wide admins).
    reports.setup(app)
    app.add_handler(CommandHandler("report", reports.cmd_report, filters=NEW))
    app.add_handler(CallbackQueryHandler(reports.cb_report, pattern=r"^report:"))
    app.add_handler(CommandHandler("firms", reports.cmd_firms, filters=NEW))
    app.add_handler(CallbackQueryHandler(reports.cb_firms, pattern=r"^firms:"))

    # Feature handlers go above this line, in their own blocks.

    # Last in group 0: any command nobody took gets a hint (if addressed to us).
    app.add_handler(MessageHandler(NEW & filters.COMMAND, core.on_unknown_command))

    # Last of all: count the update as handled (metrics; tests wait on it).
    app.add_handler(TypeHandler(Update, core.mark_handled), group=100)

    app.add_error_handler(core.on_error)
