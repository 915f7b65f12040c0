"""`firmbot notice parse|import|send` as processes: files, pages, the outbox, the progress."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from bot.clock import Clock
from bot.config import DatabaseConfig
from bot.content.loader import Content
from bot.db import Database
from bot.db.models import Chat
from bot.sandbox.driver import BotHarness, harness_config
from bot.sandbox.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "content" / "notices" / "000_62420782f47914ad.txt"
DATA = ROOT / "tests" / "data" / "notices"
TITLE = "关于深入学习贯彻司法部党组“做党和人民满意的好律师”座谈会精神的通知"
PARSER_KEYS = [
    "title",
    "doc_number",
    "published",
    "issuer",
    "addressees",
    "sections",
    "points",
    "deadlines",
    "attachments",
    "removed",
    "summary",
]


async def firmbot(*args: str, config: Path | None = None) -> tuple[int, str, str]:
    """Run the CLI in a C locale: its output must be UTF-8 regardless."""
    head = ["-c", str(config)] if config else []
    env = {**os.environ, "FIRMBOT_TOKEN": "", "FIRMBOT_DATABASE_URL": "", "LC_ALL": "C"}
    env.pop("PYTHONIOENCODING", None)
    env.pop("PYTHONUTF8", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *head,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode("utf-8"), err.decode("utf-8")


def write_config(path: Path, database_url: str, **extra: Any) -> Path:
    path.write_text(yaml.safe_dump({"database": {"url": database_url}, **extra}), "utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("000_62420782f47914ad.txt", None),
        ("gb18030.txt", "gb18030.expected.json"),
        ("page.html", "page.expected.json"),
    ],
)
async def test_parse_json_prints_exactly_the_parsers_keys(name: str, expected: str | None) -> None:
    path = SEED if expected is None else DATA / name
    code, out, err = await firmbot("notice", "parse", str(path), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert list(data) == PARSER_KEYS
    if expected is None:
        assert data["title"] == TITLE and data["published"] == "2023-07-24"
        assert len(data["points"]) == 5 and len(data["sections"]) == 3
    else:
        assert data == json.loads((DATA / expected).read_text("utf-8"))


async def test_parse_without_json_prints_the_summary_and_bad_files_say_why(
    tmp_path: Path,
) -> None:
    code, out, _ = await firmbot("notice", "parse", str(SEED))
    assert code == 0
    assert out.startswith(TITLE + "\n发文：办公室\n日期：2023-07-24")
    assert "<b>" not in out

    code, out, err = await firmbot("notice", "parse", str(tmp_path / "missing.txt"))
    assert code == 1 and out == ""
    assert err.startswith("firmbot: 无法读取") and "missing.txt" in err
    assert "Traceback" not in err


async def test_import_stores_once_and_says_so_the_second_time(
    tmp_path: Path, database_url: str
) -> None:
    config = write_config(tmp_path / "c.yaml", database_url)
    code, out, err = await firmbot("notice", "import", str(SEED), config=config)
    assert code == 0, err
    assert out.splitlines() == [
        f"已导入通知 1：{TITLE}",
        "没有开启自动接收通知的在用群，未排入发送。",
    ]

    # The same notice as GB18030: same content.
    gbk = tmp_path / "seed-gbk.txt"
    gbk.write_bytes(SEED.read_text("utf-8").encode("gb18030"))
    code, out, _ = await firmbot("notice", "import", str(gbk), config=config)
    assert code == 0
    assert out.strip() == f"通知 1「{TITLE}」已导入过（内容相同），未作任何改动。"

    empty = tmp_path / "empty.html"
    empty.write_text("<html><body><p></p></body></html>", "utf-8")
    code, out, err = await firmbot("notice", "import", str(empty), config=config)
    assert code == 1 and out == ""
    assert err.strip() == (
        f"firmbot: 无法导入 {empty}：其中没有可识别的通知（找不到标题和正文）。未作任何改动。"
    )

    # A corrected re-issue: other words, the same title and date.
    edited = tmp_path / "seed-edited.txt"
    edited.write_text(
        SEED.read_text("utf-8").replace("特此通知。", "特此通知，请遵照执行。"), "utf-8"
    )
    code, out, _ = await firmbot("notice", "import", str(edited), config=config)
    assert code == 0
    assert out.strip() == f"通知 1「{TITLE}」已导入过（标题和日期相同），未作任何改动。"


@pytest.fixture
async def site() -> AsyncIterator[str]:
    """A notice site: a GB2312-declared page (GBK bytes), a missing page."""
    page = (DATA / "page.html").read_text("utf-8").replace('<meta charset="utf-8">', "")

    async def notice(_: web.Request) -> web.Response:
        return web.Response(
            body=page.encode("gb18030"), headers={"Content-Type": "text/html; charset=gb2312"}
        )

    app = web.Application()
    app.router.add_get("/tzgg/1.html", notice)
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_import_a_url_uses_the_pages_charset(
    tmp_path: Path, database_url: str, site: str
) -> None:
    config = write_config(tmp_path / "c.yaml", database_url)
    expected = json.loads((DATA / "page.expected.json").read_text("utf-8"))
    code, out, err = await firmbot("notice", "import", f"{site}/tzgg/1.html", config=config)
    assert code == 0, err
    assert out.splitlines()[0] == f"已导入通知 1：{expected['title']}"

    code, out, err = await firmbot("notice", "import", f"{site}/tzgg/2.html", config=config)
    assert code == 1 and out == ""
    assert err.strip() == f"firmbot: 无法获取 {site}/tzgg/2.html：HTTP 404 Not Found"


async def add_groups(database_url: str, emulator: Emulator | None, titles: list[str]) -> list[int]:
    """Groups that added the bot, as the database records them."""
    db = Database(DatabaseConfig(url=database_url))
    ids = []
    now = Clock().now()
    try:
        async with db.session() as session:
            for n, title in enumerate(titles):
                chat_id = -(5000 + n)
                if emulator is not None:
                    chat_id = emulator.create_group(title).id
                    emulator.set_member(chat_id, emulator.bot_user, "administrator")
                session.add(
                    Chat(
                        id=chat_id,
                        type="group",
                        title=title,
                        active=True,
                        settings={},
                        created_at=now,
                    )
                )
                ids.append(chat_id)
    finally:
        await db.dispose()
    return ids


async def test_send_no_wait_queues_and_prints_the_state(tmp_path: Path, database_url: str) -> None:
    config = write_config(tmp_path / "c.yaml", database_url, notices_auto=False)
    await firmbot("db", "upgrade", config=config)
    a, b = await add_groups(database_url, None, ["甲律师事务所", "乙律师事务所"])
    code, out, _ = await firmbot("notice", "import", str(SEED), config=config)
    assert code == 0 and "未排入发送" in out

    code, out, err = await firmbot("notice", "send", "1", "--chat", "-1", str(a), config=config)
    assert code == 1 and out == ""
    assert err.strip() == "firmbot: 数据库中没有这些群：-1。未排入任何发送。"

    code, out, err = await firmbot("notice", "send", "1", "--all", "--no-wait", config=config)
    assert code == 0, err
    assert out.splitlines() == [
        f"通知 1「{TITLE}」：2 个群排入发送，其中新排入 2 个，重新排入 0 个；0 个群已停用，跳过。",
        "已送达 0，待发送 2，发送中 0，已跳过 0（群已停用），失败 0。",
    ]
    code, out, _ = await firmbot(
        "notice", "send", "1", "--chat", str(b), "--no-wait", config=config
    )
    assert "新排入 0 个" in out  # queued already: never twice

    code, _, err = await firmbot("notice", "send", "7", "--all", config=config)
    assert code == 1 and err.strip() == "firmbot: 没有编号为 7 的通知。"
    code, _, err = await firmbot("notice", "send", "1", config=config)
    assert code == 2 and "--chat" in err and "--all" in err


async def test_send_follows_the_running_bot_until_every_group_has_it(
    tmp_path: Path, database_url: str, content: Content
) -> None:
    async with Emulator() as emulator:
        bot = BotHarness(emulator, harness_config(emulator, database_url), Clock(), content=content)
        await bot.start()
        try:
            groups = await add_groups(
                database_url, emulator, ["甲律师事务所", "乙律师事务所", "丙律师事务所"]
            )
            emulator.set_member(groups[2], emulator.bot_user, "kicked")  # removed unseen
            config = write_config(tmp_path / "c.yaml", database_url, notices_auto=False)
            code, _, err = await firmbot("notice", "import", str(SEED), config=config)
            assert code == 0, err

            code, out, err = await firmbot("notice", "send", "1", "--all", config=config)

            assert code == 0, err
            assert out.splitlines()[-1] == (
                "已送达 2，待发送 0，发送中 0，已跳过 1（群已停用），失败 0。"
            )
            assert "正在等待运行中的机器人发送" in err and "3/3" in err  # the progress bar
            for chat_id in groups[:2]:
                assert [m.text.startswith(TITLE) for m in emulator.messages(chat_id)] == [True]
            assert emulator.messages(groups[2]) == []
        finally:
            await bot.stop()
