"""What the benchmarks share: the sandbox, and the bot as its own process (`sre-agent serve`, exactly as in
production) pointed at it, one or several replicas (several on PostgreSQL, behind the sandbox's round-robin
balancer); a fresh PostgreSQL database; a bare server to read the bot's times against; percentiles.

Run as a script (`python bench/common.py bare PORT`) it is that bare server: an aiohttp app, served the way
`sre-agent serve` serves (`web.run_app`), that reads each POST's body and answers 202 at once."""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from sandbox.a2a_agents import AgentSpec
from sandbox.balancer import Balancer
from sandbox.botapp import free_port, wait_healthy
from sandbox.server import Sandbox
from sandbox.world import World

THIS_FILE = Path(__file__).resolve()
EXAMPLE_CATALOG = THIS_FILE.parents[1] / "examples" / "catalog.yml"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# what the bot reads from its environment: none of the caller's own is passed on, so a benchmark measures the
# settings it states (no agents file, no database, ... of the shell it was started from)
_BOT_ENV_PREFIXES = ("SRE_", "SLACK_", "PAGERDUTY_", "OPSGENIE_", "STATUSPAGE_")


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile, rounded to 0.01."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[index], 2)


def summary(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": round(max(values), 2) if values else None,
    }


def rss_mb(pid: int) -> dict[str, float | None]:
    """A process's resident memory now (VmRSS) and at its peak (VmHWM), in MB, from /proc/<pid>/status."""
    found: dict[str, float | None] = {"VmRSS": None, "VmHWM": None}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in found:
            found[key] = round(int(value.split()[0]) / 1024, 1)  # kB
    return {"rss_mb": found["VmRSS"], "peak_rss_mb": found["VmHWM"]}


@dataclass
class Setup:
    sandbox: Sandbox
    bot_url: str  # where the sandbox sends: the one replica, or the balancer in front of them
    sqlite_path: Path | None
    database_url: str | None = None
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)
    profilers: list[asyncio.subprocess.Process] = field(default_factory=list)  # BENCH_PROFILE's py-spy
    replica_urls: list[str] = field(default_factory=list)
    balancer: Balancer | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    async def store_rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the bot's store (SQLite or PostgreSQL), from outside the bot."""
        if self.sqlite_path is not None:
            path = self.sqlite_path

            def read() -> list[tuple[Any, ...]]:
                with sqlite3.connect(path) as db:
                    return [tuple(r) for r in db.execute(sql).fetchall()]

            return await asyncio.to_thread(read)
        assert self.database_url is not None
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(_asyncpg_dsn(self.database_url))
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    async def incidents_in_store(self) -> int:
        return int((await self.store_rows("select count(*) from incidents"))[0][0])

    async def inbound_unfinished(self) -> int:
        """Inbound events stored and not yet handled (pending or processing): the bot's queue."""
        rows = await self.store_rows("select count(*) from inbound_events where status in ('pending', 'processing')")
        return int(rows[0][0])

    def log_lines(self) -> list[str]:
        """What the replicas wrote to stderr (their logs), when started with `capture_logs`."""
        return [line for path in self.logs if path.exists() for line in path.read_text(errors="replace").splitlines()]


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@asynccontextmanager
async def postgres_database(admin_url: str = DEFAULT_POSTGRES_URL) -> AsyncIterator[str]:
    """A fresh, empty database `bench_<random>` on the server of `admin_url` (its URL), dropped afterwards."""
    import asyncpg

    name = f"bench_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(admin_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        admin = await asyncpg.connect(_asyncpg_dsn(admin_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def sandbox_and_bot(
    database_url: str | None = None,
    agents: list[AgentSpec] | None = None,
    *,
    replicas: int = 1,
    capture_logs: bool = False,
) -> AsyncIterator[Setup]:
    """The sandbox in this process (with `agents`, if any; else no agents file at all), the bot in its own process,
    its store a fresh SQLite file unless `database_url`. With `replicas` > 1 (PostgreSQL only: a second serve on one
    SQLite file refuses to start), that many `sre-agent serve` processes, each its own SRE_INSTANCE_NAME and port,
    started one after the other (the first creates the schema), behind a round-robin `Balancer` whose URL the
    sandbox sends to. `capture_logs`: each replica's stderr to a file (`Setup.log_lines`) instead of this one's."""
    if replicas > 1 and not database_url:
        raise ValueError("several replicas need PostgreSQL (database_url)")
    sandbox = Sandbox(
        World.default(),
        slack_signing_secret=secrets.token_hex(16),
        pagerduty_webhook_secrets=[secrets.token_hex(16)],
        agents=agents or [],
    )
    await sandbox.start()
    try:
        with tempfile.TemporaryDirectory(prefix="sre-agent-bench-") as tmp:
            sqlite_path = None if database_url else Path(tmp) / "bench.db"
            base = {
                **{k: v for k, v in os.environ.items() if not k.startswith(_BOT_ENV_PREFIXES)},
                **sandbox.bot_settings(),
                "SRE_HOST": "127.0.0.1",
                "SRE_LOG_LEVEL": "WARNING",
                "SRE_CATALOG_PATH": str(EXAMPLE_CATALOG),
            }
            if agents:
                agents_path = Path(tmp) / "agents.yml"
                agents_path.write_text(yaml.safe_dump(sandbox.agents.agents_file()), encoding="utf-8")
                base["SRE_AGENTS_PATH"] = str(agents_path)
            if database_url:
                base["SRE_DATABASE_URL"] = database_url
            else:
                base["SRE_SQLITE_PATH"] = str(sqlite_path)
            setup = Setup(sandbox, "", sqlite_path, database_url)
            try:
                for i in range(replicas):
                    await _start_replica(
                        setup,
                        i,
                        {**base, "SRE_INSTANCE_NAME": f"bench-replica-{i}"} if replicas > 1 else base,
                        Path(tmp),
                        capture_logs,
                    )
                if replicas > 1:
                    setup.balancer = Balancer(setup.replica_urls)
                    setup.bot_url = await setup.balancer.start()
                else:
                    setup.bot_url = setup.replica_urls[0]
                sandbox.bot_url = setup.bot_url
                yield setup
            finally:
                await _stop(setup)
    finally:
        await sandbox.stop()


async def _start_replica(
    setup: Setup, i: int, env: dict[str, str], tmp: Path, capture_logs: bool, tries: int = 3
) -> None:
    """Start replica `i` on a free port and wait until it is healthy. A port found free can be taken before the
    replica binds it (by any outgoing connection of this busy process): then it is started again on another."""
    for attempt in range(tries):
        port = free_port()
        log = tmp / f"replica-{i}.{attempt}.log"
        stderr: Any = log.open("wb") if capture_logs else None
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "serve",
                env={**env, "SRE_PORT": str(port)},
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
            )
        finally:
            if stderr is not None:
                stderr.close()  # the child has its own copy
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(url, process)
        except SystemExit as exc:
            if process.returncode is None:
                process.terminate()
                await process.wait()
            said = log.read_text(errors="replace") if capture_logs else ""
            if process.returncode is not None and "address already in use" in said and attempt + 1 < tries:
                continue
            raise SystemExit(f"replica {i}: {exc}\n{said[-2000:]}") from None
        setup.processes.append(process)
        setup.replica_urls.append(url)
        await _profile(setup, process.pid, f"replica-{i}")
        if capture_logs:
            setup.logs.append(log)
        return


async def _profile(setup: Setup, pid: int, name: str) -> None:
    """With BENCH_PROFILE=DIR: py-spy (BENCH_PY_SPY, else on PATH) samples the replica, the threads holding the GIL
    only (what it spends CPU on), until it ends: DIR/<name>.<pid>.txt in py-spy's raw format (one stack a line and
    its count). Not for a run whose figures are kept: the sampling costs the replica some of its time."""
    folder = os.environ.get("BENCH_PROFILE")
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    spy = await asyncio.create_subprocess_exec(
        os.environ.get("BENCH_PY_SPY", "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--gil",
        "--threads",
        "--rate",
        "250",
        "--format",
        "raw",
        "--output",
        str(Path(folder) / f"{name}.{pid}.txt"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    setup.profilers.append(spy)


async def _stop(setup: Setup) -> None:
    for process in setup.processes:
        if process.returncode is None:
            process.terminate()
    for process in setup.processes:
        await process.wait()
    for spy in setup.profilers:  # each writes its file once its replica has ended
        await spy.wait()
    if setup.balancer is not None:
        await setup.balancer.close()


@asynccontextmanager
async def bare_server() -> AsyncIterator[tuple[str, int]]:
    """The bare server (this file run as a script) in its own process: (its URL, its pid)."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(THIS_FILE), "bare", str(port), stdout=asyncio.subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url, process)
        yield url, process.pid
    finally:
        process.terminate()
        await process.wait()


def serve_bare(port: int) -> None:
    """Answer 202 to any POST once its body is read (GET /healthz: 200), nothing else."""
    from aiohttp import web

    async def accepted(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True}, status=202)

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/{path:.*}", accepted)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "bare":
        raise SystemExit(f"usage: {sys.argv[0]} bare PORT")
    serve_bare(int(sys.argv[2]))
