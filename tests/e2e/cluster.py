"""Several `firmbot run` processes behind nginx, against an in-test emulator (e2e helpers).

The deployment of ``deploy/``, scaled down to one machine: Debian's nginx runs as a
child of the test (not a daemon) in a temporary prefix, with ``deploy/nginx``'s upstream
(its ports replaced by free ones) and locations; each bot process gets
``deploy/config.postgresql.yaml`` with the test's addresses, and its secrets and port
from the environment, as the systemd units give them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bot.sandbox.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PYTHON = sys.executable
# Shaped like real ones, so a leak would be recognisable.
TOKEN = "987654321:AAH-clusterTokenValue_ForTheLeakCheck7"
SECRET = "e2e-Webhook_Secret-ForTheLeakCheck-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None


def require_postgresql(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several bot processes share a PostgreSQL database; SQLite is one process")


def require_nginx() -> str:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (.ci/run installs Debian's package)")
    return binary


async def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.get(url) as response,
    ):
        return response.status, await response.text()


async def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(interval)


async def settles_to(
    read: Callable[[], Awaitable[Any]], expected: Any, timeout: float, what: str
) -> None:
    """``read()`` returns ``expected`` within ``timeout`` s; else fails showing its last value.

    For state a process writes just after an effect the test has already seen: a message
    reaches the emulator a moment before its sender records it as sent, so one snapshot
    taken right after the last message arrives can catch that record still being written.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if value == expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert value == expected, f"{what}: {value!r} (waited up to {timeout} s)"


class Nginx:
    """Debian's nginx in the foreground, with deploy/nginx's upstream and locations."""

    def __init__(self, workdir: Path, port: int, backends: list[int]) -> None:
        self.prefix = workdir / "nginx"
        self.port = port
        self.backends = backends
        self.proc: asyncio.subprocess.Process | None = None

    def write_config(self) -> Path:
        self.prefix.mkdir(parents=True, exist_ok=True)
        upstream = (DEPLOY / "nginx" / "firmbot-upstream.conf").read_text(encoding="utf-8")
        shipped = ["127.0.0.1:8081", "127.0.0.1:8082"]
        for port in shipped:
            assert port in upstream, f"deploy/nginx/firmbot-upstream.conf lost {port}"
        lines = [
            line
            for line in upstream.splitlines()
            if not any(p in line for p in shipped[len(self.backends) :])
        ]
        upstream = "\n".join(lines)
        for old, new in zip(shipped, self.backends, strict=False):
            upstream = upstream.replace(old, f"127.0.0.1:{new}")
        (self.prefix / "firmbot-upstream.conf").write_text(upstream, encoding="utf-8")
        locations = DEPLOY / "nginx" / "firmbot-locations.conf"
        user = "user root root;" if os.geteuid() == 0 else ""
        temp = {
            name: self.prefix / name
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        }
        for path in temp.values():
            path.mkdir(exist_ok=True)
        conf = f"""
{user}
worker_processes 1;
pid {self.prefix}/nginx.pid;
error_log {self.prefix}/error.log info;
events {{ worker_connections 512; }}
http {{
    access_log {self.prefix}/access.log;
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {self.prefix}/firmbot-upstream.conf;
    server {{
        listen 127.0.0.1:{self.port};
        include {locations};
    }}
}}
"""
        path = self.prefix / "nginx.conf"
        path.write_text(conf, encoding="utf-8")
        return path

    async def start(self) -> None:
        binary = require_nginx()
        conf = self.write_config()
        command = [binary, "-p", str(self.prefix), "-e", str(self.prefix / "error.log")]
        check = await asyncio.create_subprocess_exec(
            *command, "-c", str(conf), "-t", stderr=asyncio.subprocess.PIPE
        )
        _, errors = await check.communicate()
        assert check.returncode == 0, errors.decode()
        self.proc = await asyncio.create_subprocess_exec(
            *command,
            "-c",
            str(conf),
            "-g",
            "daemon off;",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

        def listening() -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0

        await wait_until(listening, 10, "nginx listening")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.proc = None

    def log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


@dataclass
class BotProcess:
    """One `python -m bot.cli run` in webhook mode; its output goes to a file."""

    name: str
    port: int
    config: Path
    log_path: Path
    env: dict[str, str]
    proc: asyncio.subprocess.Process | None = None
    _log_file: Any = None

    async def start(self) -> None:
        self._log_file = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            PYTHON,
            "-m",
            "bot.cli",
            "-c",
            str(self.config),
            "run",
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=str(ROOT),
        )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def health(self) -> tuple[int, dict[str, Any]]:
        try:
            status, text = await http_get(f"http://127.0.0.1:{self.port}/healthz")
        except (aiohttp.ClientError, TimeoutError):
            return 0, {}
        return status, json.loads(text)

    async def metrics(self) -> dict[str, float]:
        _, text = await http_get(f"http://127.0.0.1:{self.port}/metrics")
        return parse_metrics(text)

    async def metrics_text(self) -> str:
        return (await http_get(f"http://127.0.0.1:{self.port}/metrics"))[1]

    async def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self, timeout: float = 30) -> int | None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return self.proc.returncode if self.proc is not None else None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def parse_metrics(text: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def cluster_config(
    emulator: Emulator, nginx_port: int, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """deploy/config.postgresql.yaml with the test's addresses and short leases."""
    config = yaml.safe_load((DEPLOY / "config.postgresql.yaml").read_text(encoding="utf-8"))
    assert config["telegram"]["mode"] == "webhook"
    config["telegram"]["base_url"] = emulator.base_url
    config["webhook"]["url"] = f"http://127.0.0.1:{nginx_port}{config['webhook']['path']}"
    config["webhook"]["claim_lease_seconds"] = 10
    config["scheduling"].update(tick_seconds=1, lease_seconds=10)
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


@dataclass
class Cluster:
    emulator: Emulator
    database_url: str
    workdir: Path
    processes: int = 2
    overrides: dict[str, Any] = field(default_factory=dict)
    bots: list[BotProcess] = field(default_factory=list)
    nginx: Nginx | None = None

    async def start(self) -> None:
        nginx_port = free_port()
        ports = [free_port() for _ in range(self.processes)]
        config = cluster_config(self.emulator, nginx_port, self.overrides)
        path = self.workdir / "config.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        self.nginx = Nginx(self.workdir, nginx_port, ports)
        await self.nginx.start()
        for index, port in enumerate(ports):
            env = {
                **os.environ,
                "FIRMBOT_TOKEN": TOKEN,
                "FIRMBOT_WEBHOOK_SECRET": SECRET,
                "FIRMBOT_DATABASE_URL": self.database_url,
                "FIRMBOT_WEBHOOK_PORT": str(port),
                "PYTHONUNBUFFERED": "1",
            }
            name = f"bot{index + 1}"
            self.bots.append(BotProcess(name, port, path, self.workdir / f"{name}.log", env))
        await asyncio.gather(*(bot.start() for bot in self.bots))
        await self.wait_healthy(timeout=90)

    async def wait_healthy(self, bots: list[BotProcess] | None = None, timeout: float = 60) -> None:
        for bot in bots or self.bots:

            async def healthy(bot: BotProcess = bot) -> bool:
                if not bot.running:
                    raise AssertionError(f"{bot.name} exited:\n{bot.log()[-3000:]}")
                return (await bot.health())[0] == 200

            await wait_until(healthy, timeout, f"{bot.name} healthy", interval=0.2)
        await wait_until(lambda: bool(self.emulator.webhook_url), 10, "webhook set")

    async def leader(self) -> BotProcess:
        found: list[BotProcess] = []

        async def one_leader() -> bool:
            found.clear()
            for bot in self.bots:
                if bot.running and (await bot.health())[1].get("leader"):
                    found.append(bot)
            return len(found) == 1

        await wait_until(one_leader, 30, "exactly one leader", interval=0.2)
        return found[0]

    def logs(self) -> str:
        text = "".join(f"\n===== {bot.name}\n{bot.log()}" for bot in self.bots)
        if self.nginx is not None:
            text += f"\n===== nginx\n{self.nginx.log()}"
        return text

    async def stop(self) -> None:
        await asyncio.gather(*(bot.stop() for bot in self.bots), return_exceptions=True)
        if self.nginx is not None:
            await self.nginx.stop()


@contextlib.asynccontextmanager
async def cluster(
    emulator: Emulator,
    database_url: str,
    workdir: Path,
    *,
    processes: int = 2,
    overrides: dict[str, Any] | None = None,
) -> AsyncIterator[Cluster]:
    require_nginx()
    running = Cluster(emulator, database_url, workdir, processes, overrides or {})
    try:
        await running.start()
        yield running
    except BaseException:
        print(running.logs()[-20000:])  # shown by pytest for the failed test
        raise
    finally:
        await running.stop()


@contextlib.asynccontextmanager
async def emulator_for_cluster() -> AsyncIterator[Emulator]:
    """The emulator with the cluster's token, retrying webhook deliveries quickly."""
    async with Emulator(token=TOKEN) as emu:
        emu.webhook_retry_base = 0.2
        emu.webhook_retry_max = 2.0
        emu.webhook_timeout = 30.0
        yield emu


# Telegram's budget is about 30 messages a second. Each process's limiter lets at most 29
# leave in any second; the emulator counts arrivals in a strict sliding second, stamped
# when its own event loop gets to each request. Enforcing 35/s tolerates ordinary jitter
# and still refuses at once what two drainers would send (about 58/s).
BUDGET_CHECK_PER_SECOND = 35
# On a loaded machine (CI runs four test workers on two cores, beside the bots, nginx and
# PostgreSQL) the emulator's process can be descheduled for a few tenths of a second; the
# requests that queued meanwhile get one stamp and a 36th can fall inside a second. One
# process draining alone caused one such refusal in CI. Two processes draining together
# would cause dozens for every second they overlap; which process sent what, and when, is
# checked directly from the database by ``one_at_a_time``.
JITTER_REFUSALS = 3


def one_at_a_time(finished: Iterable[tuple[str | None, datetime | None]]) -> list[str]:
    """The processes that did the work, in the order they took it over.

    ``finished`` is (owner, time finished) per row. Sorted by time, each owner's rows must
    form one run: an owner that appears again after another had started means two
    processes worked at once.
    """
    done = sorted((at, owner) for owner, at in finished if owner is not None and at is not None)
    runs = [owner for owner, _ in itertools.groupby(owner for _, owner in done)]
    assert len(runs) == len(set(runs)), f"two processes worked at once, in turns: {runs}"
    return runs


def busiest_second(emu: Emulator) -> int:
    """The most messages delivered within any one second (by arrival at the emulator)."""
    times = sorted(c.time for c in emu.calls("sendMessage") if c.status == 200)
    busiest, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


def leak_check(text: str) -> None:
    """Neither the token (nor its secret half) nor the webhook secret appears."""
    for secret in (TOKEN, TOKEN.split(":")[1], SECRET):
        assert secret not in text, "a secret leaked"
