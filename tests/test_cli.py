"""The `sre-agent` command as a user meets it: one clear line for a missing or wrong setting."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from sandbox.botapp import free_port
from sandbox.server import Sandbox
from tests.harness import BOT_EMAIL, WEBHOOK_SECRETS, Serve

EXAMPLE_CATALOG = Path(__file__).resolve().parents[1] / "examples" / "catalog.yml"


async def _run(*args: str, env: dict[str, str], limit_s: float = 30) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), limit_s)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _base_env(tmp_path: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}
    return {**keep, "SRE_SQLITE_PATH": str(tmp_path / "cli.db")}


async def test_serve_without_settings_names_the_missing_variable(tmp_path: Path) -> None:
    code, out, err = await _run("serve", env=_base_env(tmp_path))
    assert code == 2 and out == ""
    assert err.strip().splitlines() == ["sre-agent: error: SLACK_BOT_TOKEN is not set"]


async def test_serve_with_a_wrong_slack_token_says_so(tmp_path: Path, sandbox: Sandbox) -> None:
    env = {
        **_base_env(tmp_path),
        "SLACK_BOT_TOKEN": "xoxb-wrong",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_API_URL": sandbox.slack_api_url,
        "PAGERDUTY_API_TOKEN": sandbox.world.pagerduty.api_token,
        "PAGERDUTY_API_URL": sandbox.pagerduty_api_url,
        "PAGERDUTY_FROM_EMAIL": BOT_EMAIL,
        "PAGERDUTY_WEBHOOK_SECRETS": ",".join(WEBHOOK_SECRETS),
    }
    code, _, err = await _run("serve", env=env)
    assert code == 2
    assert err.strip().splitlines() == ["sre-agent: error: SLACK_BOT_TOKEN is invalid: Slack said invalid_auth"]


async def test_serve_on_a_taken_port_says_so(tmp_path: Path, sandbox: Sandbox) -> None:
    env = {**_base_env(tmp_path), **sandbox.bot_settings(), "SRE_HOST": "127.0.0.1"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = await _run("serve", env={**env, "SRE_PORT": str(port)})
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(f"sre-agent: error: cannot listen on 127.0.0.1:{port}: ")
    assert err.strip().endswith("(SRE_HOST, SRE_PORT)")


async def test_serve_stops_cleanly_on_sigterm(tmp_path: Path, sandbox: Sandbox) -> None:
    """Asked to stop, it stops taking requests, closes down and exits 0; the database is free for the next one. Once
    serving, it has left what its start made (the imports, the app) out of the collector's scans (bot/runtime/
    collector.py: a full collection scanned them all, a pause of every thread). It runs on uvloop's event loop
    unless SRE_EVENT_LOOP says asyncio's (the second start)."""
    env = {**_base_env(tmp_path), **sandbox.bot_settings(), "SRE_HOST": "127.0.0.1", "SRE_PORT": str(free_port())}
    for loop in ("auto", "asyncio"):  # the second start finds the SQLite file free
        serve = Serve(sandbox, {**env, "SRE_EVENT_LOOP": loop}, int(env["SRE_PORT"]), log=tmp_path / "serve.log")
        await serve.start()
        assert serve.process is not None
        serve.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(serve.process.wait(), 30) == 0
    started = re.findall(
        r"serving on (\w+)'s event loop; (\d+) objects of the start are left out", (tmp_path / "serve.log").read_text()
    )
    assert [loop for loop, _ in started] == ["uvloop", "asyncio"], started
    assert all(int(n) > 50_000 for _, n in started), started


async def test_serve_on_uvloop_where_it_is_missing_says_so(tmp_path: Path) -> None:
    """Asked for uvloop where it cannot be imported (here a module of that name that fails, first on the path), it
    says so; left to choose, it serves on asyncio's loop (test_serve_stops_cleanly_on_sigterm serves on each)."""
    missing = tmp_path / "missing"
    missing.mkdir()
    (missing / "uvloop.py").write_text('raise ImportError("no uvloop on this platform")\n')
    env = {
        **_base_env(tmp_path),
        "PYTHONPATH": os.pathsep.join(p for p in (str(missing), os.environ.get("PYTHONPATH")) if p),
        "SLACK_BOT_TOKEN": "x",
        "SLACK_SIGNING_SECRET": "y",
        "PAGERDUTY_API_TOKEN": "t",
        "PAGERDUTY_FROM_EMAIL": "a@example.com",
        "PAGERDUTY_WEBHOOK_SECRETS": "s",
    }
    code, _, err = await _run("serve", env={**env, "SRE_EVENT_LOOP": "uvloop"})
    assert code == 2
    assert err.strip().splitlines() == [
        "sre-agent: error: SRE_EVENT_LOOP is uvloop, but uvloop is not installed (pip install uvloop)"
    ]
    code, _, err = await _run("serve", env={**env, "SRE_EVENT_LOOP": "trio"})
    assert code == 2 and err.startswith("sre-agent: error: SRE_EVENT_LOOP is invalid"), err


async def test_serve_with_an_invalid_port_names_it(tmp_path: Path) -> None:
    env = {
        **_base_env(tmp_path),
        "SLACK_BOT_TOKEN": "x",
        "SLACK_SIGNING_SECRET": "y",
        "PAGERDUTY_API_TOKEN": "t",
        "PAGERDUTY_FROM_EMAIL": "a@example.com",
        "PAGERDUTY_WEBHOOK_SECRETS": "s",
        "SRE_PORT": "http",
    }
    code, _, err = await _run("serve", env=env)
    assert code == 2 and err.startswith("sre-agent: error: SRE_PORT is invalid")


async def test_db_upgrade(tmp_path: Path) -> None:
    code, out, _ = await _run("db", "upgrade", env=_base_env(tmp_path))
    assert code == 0 and "newest schema" in out
    assert (tmp_path / "cli.db").exists()


async def test_db_upgrade_with_an_unknown_database_names_the_variable(tmp_path: Path) -> None:
    env = {**_base_env(tmp_path), "SRE_DATABASE_URL": "mysql://root@127.0.0.1/sre"}
    code, _, err = await _run("db", "upgrade", env=env)
    assert code == 2
    assert err.strip().splitlines() == [
        "sre-agent: error: SRE_DATABASE_URL is invalid: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
    ]


async def test_intent_reads_every_reference_example_as_written(tmp_path: Path) -> None:
    from tests.test_intent import REFERENCE

    env = {**_base_env(tmp_path), "SRE_CATALOG_PATH": str(EXAMPLE_CATALOG)}
    code, out, err = await _run("intent", "--json", *(row[0] for row in REFERENCE), env=env)
    assert code == 0, err
    readings = [json.loads(line) for line in out.splitlines()]
    assert len(readings) == len(REFERENCE)
    for (message, intent, service, severity), reading in zip(REFERENCE, readings, strict=True):
        assert reading["intent"] == intent, (message, reading)
        assert reading["service"] == service, (message, reading)
        if severity is not None:
            assert reading["severity"] == severity, (message, reading)


async def test_intent_with_a_missing_catalog_names_it(tmp_path: Path) -> None:
    env = {**_base_env(tmp_path), "SRE_CATALOG_PATH": str(tmp_path / "nope.yml")}
    code, _, err = await _run("intent", "payments is down", env=env)
    assert code == 2
    assert err.strip().splitlines() == [f"sre-agent: error: SRE_CATALOG_PATH: no file at {tmp_path / 'nope.yml'}"]


async def test_audit_verify_finds_the_first_changed_event(tmp_path: Path, h: Any, database_url: str) -> None:
    import sqlalchemy as sa

    h.sandbox.pagerduty.page("checkout-service", "checkout-service: error rate 8.5%", priority="P2")
    await h.settle()
    env = {**_base_env(tmp_path), "SRE_DATABASE_URL": database_url}
    code, out, err = await _run("audit", "verify", env=env)
    assert code == 0, err
    assert out.startswith("INC-4211: ") and out.strip().endswith("events, the chain holds")

    # someone edits the third event of the timeline in the database
    await h.services.store.run(
        lambda c: c.execute(sa.text("UPDATE timeline_events SET text = 'nothing happened' WHERE seq = 3"))
    )
    code, out, _ = await _run("audit", "verify", "INC-4211", env=env)
    assert code == 1
    assert "INC-4211: broken at event 3 (" in out
    assert out.strip().endswith("its content does not match its hash: it was changed after it was written")
    code, _, err = await _run("audit", "verify", "INC-9999", env=env)
    assert code == 2 and "no incident INC-9999" in err


async def test_postmortem_prints_an_incidents_draft_as_markdown_or_json(
    tmp_path: Path, h: Any, database_url: str
) -> None:
    import json

    h.sandbox.pagerduty.page("checkout-service", "checkout-service: error rate 8.5%", priority="P2")
    await h.settle()
    env = {**_base_env(tmp_path), "SRE_DATABASE_URL": database_url, "SRE_TIMEZONE": "America/New_York"}
    code, out, err = await _run("postmortem", "INC-4211", env=env)
    assert code == 0, err
    assert out.startswith("# Postmortem: INC-4211 · checkout-service: error rate 8.5%")
    assert "| Time (UTC) | Time (America/New_York) | Who | What |" in out and "| Status | not resolved |" in out
    code, again, _ = await _run("postmortem", "INC-4211", env=env)
    assert again == out  # the same timeline, the same document
    code, out, err = await _run("postmortem", "INC-4211", "--format", "json", env=env)
    assert code == 0, err
    data = json.loads(out)
    assert data["label"] == "INC-4211" and data["resolved"] is False
    assert data["timeline"][0]["kind"] == "triggered" and data["metrics"]["time_to_resolve_s"] is None
    code, _, err = await _run("postmortem", "INC-9999", env=env)
    assert code == 2 and "no incident INC-9999" in err
    code, _, err = await _run("postmortem", "INC-4211", env={**env, "SRE_TIMEZONE": "Mars/Olympus"})
    assert code != 0 and "SRE_TIMEZONE" in err
