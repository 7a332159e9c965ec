"""Answers kept for a while and asked once at a time (bot/adapters/recent.py)."""

from __future__ import annotations

import asyncio

import pytest

from bot.adapters.recent import Recent


class _Peer:
    """Answers after `gate` opens, counting the questions."""

    def __init__(self) -> None:
        self.asked = 0
        self.gate = asyncio.Event()
        self.fail: Exception | None = None

    async def answer(self) -> str:
        self.asked += 1
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return f"answer {self.asked}"


async def test_callers_that_ask_at_once_share_one_question_and_its_answer_is_kept() -> None:
    now = [0.0]
    recent: Recent[str, str] = Recent(lambda _: 30.0, clock=lambda: now[0])
    peer = _Peer()
    callers = [asyncio.create_task(recent.get("policy", peer.answer)) for _ in range(20)]
    await asyncio.sleep(0)
    peer.gate.set()
    assert await asyncio.gather(*callers) == ["answer 1"] * 20
    assert peer.asked == 1
    now[0] = 29.9
    assert await recent.get("policy", peer.answer) == "answer 1"  # kept
    assert await recent.get("other", peer.answer) == "answer 2"  # (another key: its own question)
    now[0] = 30.0
    assert await recent.get("policy", peer.answer) == "answer 3"  # asked again once it is old


async def test_a_failure_is_every_waiting_callers_and_is_not_kept() -> None:
    recent: Recent[str, str] = Recent(lambda _: 30.0)
    peer = _Peer()
    peer.fail = RuntimeError("the pager is down")
    callers = [asyncio.create_task(recent.get("policy", peer.answer)) for _ in range(3)]
    await asyncio.sleep(0)
    peer.gate.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert [str(o) for o in outcomes] == ["the pager is down"] * 3 and peer.asked == 1
    peer.fail = None
    assert await recent.get("policy", peer.answer) == "answer 2"  # asked again


async def test_an_answer_kept_for_no_time_is_asked_again() -> None:
    recent: Recent[str, str | None] = Recent(lambda found: 60.0 if found else None)
    asked: list[str] = []

    async def unknown() -> str | None:
        asked.append("x")
        return None

    assert await recent.get("someone@example.com", unknown) is None
    assert await recent.get("someone@example.com", unknown) is None
    assert len(asked) == 2


async def test_a_caller_that_gives_up_does_not_take_the_answer_from_the_others() -> None:
    recent: Recent[str, str] = Recent(lambda _: 30.0)
    peer = _Peer()
    impatient = asyncio.create_task(recent.get("policy", peer.answer))
    patient = asyncio.create_task(recent.get("policy", peer.answer))
    await asyncio.sleep(0)
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    peer.gate.set()
    assert await patient == "answer 1" and peer.asked == 1
