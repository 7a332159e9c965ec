"""The event loops `serve` runs on: uvloop's where it is installed (a dependency wherever uvloop builds: Linux and
macOS), else asyncio's own; `SRE_EVENT_LOOP` chooses one. The front door's thread runs a loop of the same kind as
the app's.

Measured (`bench/run.py --parts sqlite`, 3 pairs alternated, one build): a storm of 50 pages a second on one process
took 19.2 ms of CPU an incident on uvloop against 19.9 on asyncio's loop, the webhooks' p99 50 ms against 72, and
page to card p99 0.23 s against 0.41; the waking of a loop for each small thing is most of what it saves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

from bot.errors import ConfigError

try:
    import uvloop
except ImportError:  # (a platform uvloop does not build on: asyncio's loop)
    uvloop = None  # type: ignore[assignment]

__all__ = ["EventLoop", "chosen", "kind_of", "like", "run"]

T = TypeVar("T")
EventLoop = Literal["auto", "uvloop", "asyncio"]


def chosen(setting: EventLoop) -> Literal["uvloop", "asyncio"]:
    """The loop `setting` stands for here: auto is uvloop where it is installed. ConfigError for uvloop where it
    is not."""
    if setting == "asyncio":
        return "asyncio"
    if uvloop is None:
        if setting == "uvloop":
            raise ConfigError("SRE_EVENT_LOOP is uvloop, but uvloop is not installed (pip install uvloop)")
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T], kind: Literal["uvloop", "asyncio"]) -> T:
    """`asyncio.run(main)` on a loop of `kind` (as `chosen` says it)."""
    with asyncio.Runner(loop_factory=_factory(kind)) as runner:
        return runner.run(main)


def like(loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
    """A new loop of the kind `loop` is."""
    return _factory(kind_of(loop))()


def kind_of(loop: asyncio.AbstractEventLoop) -> Literal["uvloop", "asyncio"]:
    """The kind of loop `loop` is (also what the start's log line says)."""
    return "uvloop" if uvloop is not None and isinstance(loop, uvloop.Loop) else "asyncio"


def _factory(kind: Literal["uvloop", "asyncio"]) -> Callable[[], asyncio.AbstractEventLoop]:
    return uvloop.new_event_loop if kind == "uvloop" and uvloop is not None else asyncio.new_event_loop
