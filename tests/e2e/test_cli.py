"""The `firmbot` command as a process: run against the emulator, no token, config errors."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
import yaml

from bot.sandbox.emulator import Emulator

PYTHON = sys.executable
# A token shaped like a real one, so a leak would be recognisable.
TOKEN = "987654321:AAH-secretTokenValue_ForTheLeakCheck12"


async def firmbot(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "bot.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def clean_env() -> dict[str, str]:
    return {"FIRMBOT_TOKEN": "", "FIRMBOT_DATABASE_URL": ""}


async def test_run_without_a_token_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./config.yaml
    code, _, err = await firmbot("run", env=clean_env())
    assert code == 2
    assert "FIRMBOT_TOKEN" in err and "firmbot sandbox" in err
    assert len(err.strip().splitlines()) == 1


async def test_check_config_names_the_key_and_the_reason(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text('database:\n  url: "mysql2://localhost/db"\n', encoding="utf-8")
    code, _, err = await firmbot("-c", str(config), "check-config", env=clean_env())
    assert code == 1
    assert err.strip() == (
        'firmbot: config error: database.url: unsupported scheme "mysql2" '
        "(use sqlite+aiosqlite or postgresql+asyncpg)"
    )


async def test_check_config_validates_content_and_names_the_file_and_entry(tmp_path: Path) -> None:
    import shutil

    from bot.content.paths import default_content_dir

    content = tmp_path / "content"
    shutil.copytree(default_content_dir(), content)
    bank = content / "quiz" / "bank.yaml"
    data = yaml.safe_load(bank.read_text(encoding="utf-8"))
    entries = data["questions"] if isinstance(data, dict) else data
    entries[4]["options"][0] = "长" * 101
    bank.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(f"content_dir: {content}\n", encoding="utf-8")
    code, _, err = await firmbot("-c", str(config), "check-config", env=clean_env())
    assert code == 1
    assert "bank.yaml" in err and entries[4]["id"] in err and "100" in err
    assert len(err.strip().splitlines()) == 1

    shutil.rmtree(content)
    shutil.copytree(default_content_dir(), content)
    code, out, _ = await firmbot("-c", str(config), "check-config", env=clean_env())
    assert code == 0 and "content ok" in out


async def test_unreachable_database_stops_start_up_with_one_line(tmp_path: Path) -> None:
    async with Emulator() as emu:
        config = tmp_path / "c.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "telegram": {"base_url": emu.base_url},
                    "database": {"url": "postgresql+asyncpg://u:hunter2@127.0.0.1:9/nowhere"},
                }
            ),
            encoding="utf-8",
        )
        code, _, err = await firmbot("-c", str(config), "run", env={"FIRMBOT_TOKEN": emu.token})
    assert code == 1
    lines = [line for line in err.strip().splitlines() if "unreachable" in line]
    assert lines and "127.0.0.1:9" in lines[0] and "hunter2" not in err
    assert "Traceback" not in err


async def test_db_upgrade_command(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    code, out, _ = await firmbot("db", "upgrade", env={**clean_env(), "FIRMBOT_DATABASE_URL": url})
    assert code == 0 and "up to date" in out


async def test_run_answers_help_over_long_polling_and_never_logs_the_token(tmp_path: Path) -> None:
    async with Emulator(token=TOKEN) as emu:
        config = tmp_path / "c.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "telegram": {"base_url": emu.base_url, "poll_timeout": 1},
                    "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"},
                    "log_level": "DEBUG",
                }
            ),
            encoding="utf-8",
        )
        proc = await asyncio.create_subprocess_exec(
            PYTHON,
            "-m",
            "bot.cli",
            "-c",
            str(config),
            "run",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "FIRMBOT_TOKEN": TOKEN, "FIRMBOT_DATABASE_URL": ""},
        )
        try:
            await emu.wait_for(lambda: len(emu.calls("getUpdates")) > 0, timeout=30)
            zhang = emu.create_user("张三")
            group = emu.create_group("示范律师事务所")
            emu.set_member(group.id, zhang, "creator")
            emu.add_bot(group.id, zhang, as_admin=True)
            await emu.wait_for(lambda: len(emu.messages(group.id)) >= 1, timeout=20)
            emu.send_message(group.id, zhang, "/help")
            reply = await emu.wait_for_message(group.id, count=1, timeout=20)
            assert "可用命令" in reply.text
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
    logs = out.decode() + err.decode()
    assert proc.returncode == 0, logs[-3000:]
    assert "DEBUG" in logs  # a full, verbose run was captured
    assert TOKEN not in logs
    assert TOKEN.split(":")[1] not in logs


@pytest.mark.parametrize("line", ["张三: /help"])
async def test_sandbox_runs_offline_from_a_script(tmp_path: Path, line: str) -> None:
    script = tmp_path / "demo.txt"
    script.write_text(f"{line}\n李四: /start@firmbot_test_bot\n:quit\n", encoding="utf-8")
    code, out, err = await firmbot("sandbox", "--script", str(script), env=clean_env())
    assert code == 0, err
    assert "[示范律师事务所] FirmBot" in out
    assert "可用命令" in out
    assert "/help — 查看帮助和命令列表" in out


async def test_report_firms_writes_a_workbook(tmp_path: Path) -> None:
    import openpyxl

    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    env = {**clean_env(), "FIRMBOT_DATABASE_URL": url}
    assert (await firmbot("db", "upgrade", env=env))[0] == 0
    import sqlite3

    with sqlite3.connect(tmp_path / "x.db") as conn:
        conn.execute(
            "INSERT INTO chats (id, type, title, active, bot_is_admin, settings, created_at,"
            " updated_at) VALUES (-1001, 'group', '甲律师事务所', 1, 1, '{}',"
            " '2023-07-24 00:00:00', '2023-07-24 00:00:00')"
        )
    out_file = tmp_path / "firms.xlsx"
    code, out, err = await firmbot("report", "firms", "-o", str(out_file), env=env)
    assert code == 0, err
    assert "1 firm groups" in out
    sheet = openpyxl.load_workbook(out_file).active
    assert sheet is not None
    assert [c.value for c in sheet[2]][:2] == ["群名称", "群 ID"]
    assert sheet.cell(row=3, column=1).value == "甲律师事务所"
