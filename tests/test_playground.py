"""`sre-agent playground`: the sandbox's workspace in a browser with the real app behind it.

The browser test drives the page in a real headless Chromium (Debian's `chromium`, through Playwright): it pages
checkout-service from the side panel, approves the proposal and resolves the incident by clicking the buttons the
page rendered, and saves a screenshot (PLAYGROUND_SCREENSHOT, default test-artifacts/playground-resolved.png).
It is skipped, saying why, only where no Chromium is installed. The other tests read the page's routes over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sandbox.playground import PAGE_PATH, serve_playground
from sandbox.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = Path(os.environ.get("PLAYGROUND_SCREENSHOT") or ROOT / "test-artifacts" / "playground-resolved.png")
CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None)


@contextlib.asynccontextmanager
async def playground(
    scenario: str = "checkout-crash-storm", speed: float = 120, pager: str | None = None
) -> AsyncIterator[str]:
    """The playground served in this process on a free port (with `pager`, as `--pager` does); the page's address."""
    address: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    played = load_scenario(scenario)
    if pager is not None:
        played = replace(played, pager=pager)
    task = asyncio.create_task(serve_playground(played, port=0, speed=speed, ready=address.set_result))
    try:
        waiting: list[asyncio.Future[Any]] = [address, task]
        await asyncio.wait(waiting, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # it could not start: its error, at once
        yield address.result()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _root(url: str) -> str:
    return url.removesuffix(PAGE_PATH)


async def test_the_page_and_what_it_reads_of_the_scenario_are_served() -> None:
    async with playground() as url, aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 200
            page = await response.text()
        assert "sre-agent playground" in page and "playground.js" in page
        async with http.get(_root(url) + "/", allow_redirects=False) as response:
            assert response.status == 302 and response.headers["Location"] == PAGE_PATH
        async with http.get(_root(url) + "/_sandbox/playground") as response:
            state = await response.json()
        assert state["scenario"]["name"] == "checkout-crash-storm" and state["scenario"]["pager"] == "pagerduty"
        assert state["default_user"] == "U0DANA"  # the on-call's first level
        assert {"id": "U0DANA", "name": "dana", "real_name": "Dana Ortiz"} in state["users"]
        assert state["pages"] == [
            {
                "service": "checkout-service",
                "title": "checkout-service: error rate 8.5% (threshold 1%)",
                "urgency": "high",
                "priority": None,
            }
        ]
        monitoring = next(a for a in state["agents"] if a["role"] == "monitoring")
        assert any(s["service"] == "checkout-service" and s["when"] == "now" for s in monitoring["signals"])
        for name in ("playground.js", "playground.css"):
            async with http.get(f"{url}{name}") as response:
                assert response.status == 200, name


async def test_a_page_from_the_panel_opens_an_incident_and_a_bad_one_is_refused_with_the_reason() -> None:
    async with playground() as url, aiohttp.ClientSession() as http:
        api = _root(url) + "/_sandbox"
        async with http.post(f"{api}/playground/page", json={"service": "nope", "title": "x"}) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "service: no service 'nope' in this workspace"
        async with http.post(f"{api}/playground/page", data=b"[1]") as response:
            assert response.status == 400 and "JSON object" in (await response.json())["error"]
        async with http.post(
            f"{api}/playground/page", json={"service": "checkout-service", "title": "checkout is down"}
        ) as response:
            assert response.status == 201
            assert (await response.json())["page"]["pager"] == "pagerduty"

        async def channels() -> list[dict[str, Any]]:
            async with http.get(f"{api}/slack/channels") as response:
                return list((await response.json())["channels"])

        for _ in range(200):
            if any(c["name"].startswith("inc-") for c in await channels()):
                break
            await asyncio.sleep(0.1)
        assert any(c["name"].startswith("inc-") for c in await channels())


async def test_with_the_other_pager_a_page_comes_from_opsgenie_and_opens_an_incident() -> None:
    """`--pager opsgenie` on a scenario written for PagerDuty: sre-agent runs with OpsGenie, the panel's page is an
    OpsGenie alert, and its incident is opened from it."""
    async with playground(pager="opsgenie") as url, aiohttp.ClientSession() as http:
        api = _root(url) + "/_sandbox"
        async with http.get(f"{api}/playground") as response:
            assert (await response.json())["scenario"]["pager"] == "opsgenie"
        page = {"service": "checkout-service", "title": "checkout is down", "priority": "P2"}
        async with http.post(f"{api}/playground/page", json=page) as response:
            assert response.status == 201
            assert (await response.json())["page"]["pager"] == "opsgenie"
        for _ in range(200):
            async with http.get(f"{api}/slack/channels") as response:
                names = [c["name"] for c in (await response.json())["channels"]]
            if any(n.startswith("inc-") for n in names):
                break
            await asyncio.sleep(0.1)
        assert "inc-1-checkout-service" in names  # OpsGenie's alerts have no number: sre-agent counts its own


async def test_a_signal_changed_in_the_panel_is_what_the_agent_reports_next() -> None:
    async with playground() as url, aiohttp.ClientSession() as http:
        api = _root(url) + "/_sandbox"
        changed = {"agent": "monitoring", "service": "checkout-service", "when": "now", "text": "all quiet"}
        async with http.post(f"{api}/playground/signal", json=changed) as response:
            assert response.status == 200
        async with http.post(f"{api}/playground/signal", json={**changed, "agent": "nobody"}) as response:
            assert response.status == 400 and "no agent 'nobody'" in (await response.json())["error"]
        async with http.post(f"{api}/playground/signal", json={**changed, "when": "later"}) as response:
            assert response.status == 400 and (await response.json())["error"] == "when: one of now, after_change"
        async with http.get(f"{api}/playground") as response:
            state = await response.json()
        monitoring = next(a for a in state["agents"] if a["name"] == "monitoring")
        [now] = [s for s in monitoring["signals"] if s["service"] == "checkout-service" and s["when"] == "now"]
        assert now["text"] == "all quiet" and now["data"] == {"error_rate": 0.085, "latency_p99_ms": 640}  # kept
        figures = {**changed, "text": "calm", "data": {"error_rate": 0.001}}
        async with http.post(f"{api}/playground/signal", json=figures) as response:
            assert response.status == 200
        async with http.post(f"{api}/playground/signal", json={**changed, "data": None}) as response:
            assert response.status == 200  # words alone now: no figures
        async with http.get(f"{api}/playground") as response:
            monitoring = next(a for a in (await response.json())["agents"] if a["name"] == "monitoring")
        assert next(s for s in monitoring["signals"] if s["when"] == "now")["data"] is None
        async with http.post(f"{api}/playground/signal", json=figures) as response:
            assert response.status == 200
        async with http.post(f"{api}/playground/signal", json={**figures, "data": [1]}) as response:
            assert response.status == 400 and (await response.json())["error"] == "data: must be an object or null"
        # what the agent answers over A2A from now on
        rpc = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "message/send",
            "params": {
                "message": {
                    "role": "user",
                    "messageId": "m1",
                    "parts": [
                        {"kind": "text", "text": "What do you see for checkout-service?"},
                        {"kind": "data", "data": {"service": "checkout-service"}},
                    ],
                }
            },
        }
        async with http.post(f"{_root(url)}/a2a/monitoring/", json=rpc) as response:
            said = await response.text()
        assert "calm" in said and "0.001" in said


def _ctrl_c_as_at_a_terminal() -> None:
    """In the child: SIGINT does what Ctrl-C does at a terminal. (A test runner started in the background by a
    shell ignores SIGINT, and a child inherits that: the playground then never heard the test's Ctrl-C.)"""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def _sre_agent_playground(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "playground",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        preexec_fn=_ctrl_c_as_at_a_terminal,
    )


async def test_sre_agent_playground_prints_its_address_and_serves_the_page() -> None:
    process = await _sre_agent_playground("--port", "0")
    try:
        assert process.stdout is not None
        lines = [(await asyncio.wait_for(process.stdout.readline(), 60)).decode() for _ in range(2)]
        assert lines[0].startswith("sre-agent playground: checkout-service is crash-looping")
        assert lines[1].startswith("Open http://127.0.0.1:") and PAGE_PATH in lines[1]
        url = lines[1].split()[1]
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == 0


async def test_a_taken_port_is_said_plainly() -> None:
    async with playground() as url:
        port = url.split(":")[2].split("/")[0]
        process = await _sre_agent_playground("--port", port)
        _out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err.decode()


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian: apt-get install chromium; .ci/run does)")
async def test_in_a_real_browser_a_page_is_approved_and_resolved_by_clicking() -> None:
    from playwright.async_api import async_playwright, expect

    assert CHROMIUM is not None
    async with playground() as url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(url)
            await expect(page.locator("#channel-list")).to_contain_text("#incidents")
            await expect(page.locator("#user-select")).to_have_value("U0DANA")
            # the scenario's page, from the side panel
            await page.locator(".preset").first.click()
            await expect(page.locator("#page-service")).to_have_value("checkout-service")
            await page.locator("#page-submit").click()
            incident = page.locator("#channel-list [data-channel-id]", has_text="#inc-")
            await expect(incident).to_have_count(1, timeout=30_000)
            await incident.click()
            approve = page.locator('#messages button[data-action-id="proposal.approve"]')
            await expect(approve).to_be_visible(timeout=60_000)
            await approve.click()  # (a medium-risk plan: no confirmation asked)
            await expect(page.locator("#messages")).to_contain_text("Carried out", timeout=60_000)
            resolve = page.locator('#messages button[data-action-id="incident.resolve"]').first
            await expect(resolve).to_be_visible(timeout=60_000)
            await resolve.click()
            await expect(page.locator("#confirm-dialog")).to_be_visible()
            await page.locator("#confirm-yes").click()
            await expect(page.locator("#messages")).to_contain_text("Resolved", timeout=60_000)
            # the composer: a slash command's answer is for this person only; untrusted text stays text
            composer = page.locator("#composer")
            await composer.fill("/incident help")
            await composer.press("Enter")
            await expect(page.locator("#messages .message.ephemeral").last).to_contain_text("/incident")
            await composer.fill('<img src=x onerror="window.pwned=1"> *said*')
            await page.locator("#send").click()
            await expect(page.locator("#messages")).to_contain_text('<img src=x onerror="window.pwned=1">')
            assert await page.locator("#messages img[src=x]").count() == 0
            assert await page.evaluate("window.pwned") is None
            # the postmortem shared on resolving opens from its file
            shared = page.locator("#messages a.file").last
            await expect(shared).to_contain_text("Postmortem", timeout=30_000)
            href = await shared.get_attribute("href")
            assert href is not None
            async with aiohttp.ClientSession() as http, http.get(_root(url) + href) as response:
                assert response.status == 200 and "# " in await response.text()
            await expect(page.locator("#error-strip")).to_be_hidden()
            # a modal: /incident declare opens the form; submitted, it opens another incident and its channel
            await composer.fill("/incident declare Search results are empty")
            await composer.press("Enter")
            modal = page.locator("#modal")
            await expect(modal).to_be_visible()
            await expect(modal.locator("textarea, input").first).to_have_value("Search results are empty")
            await modal.locator("select").first.select_option("storefront")
            await page.locator("#modal-submit").click()
            await expect(modal).to_have_count(0)
            await expect(page.locator("#channel-list [data-channel-id]", has_text="#inc-")).to_have_count(2)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT), full_page=True)
            assert not errors, errors
        finally:
            await browser.close()
