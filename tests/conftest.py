from __future__ import annotations

import copy
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.server import Sandbox
from sandbox.world import DEFAULT_WORLD, World
from tests.harness import Harness, fast_harness, started_sandbox

POSTGRES_ENV = "SRE_TEST_POSTGRES_URL"


async def _postgres_database(admin_url: str) -> tuple[str, str]:
    import asyncpg

    name = f"sre_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin_url.rsplit("/", 1)[0]
    return name, f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)


async def _drop_postgres_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Every store-backed test runs on SQLite, and on PostgreSQL when SRE_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sre-agent.db'}"
        return
    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(f"{POSTGRES_ENV} is not set: no PostgreSQL to run this test on")
    name, url = await _postgres_database(admin_url)
    try:
        yield url
    finally:
        await _drop_postgres_database(admin_url, name)


@pytest.fixture
def world() -> World:
    """The sandbox's default world (it holds the PagerDuty user whose e-mail the bot writes as)."""
    return World.from_dict(copy.deepcopy(DEFAULT_WORLD))


@pytest.fixture
async def sandbox(world: World) -> AsyncIterator[Sandbox]:
    async with started_sandbox(world) as sb:
        yield sb


@pytest.fixture
def harness_overrides() -> dict[str, object]:
    return {}


@pytest.fixture
async def h(sandbox: Sandbox, database_url: str, harness_overrides: dict[str, object]) -> AsyncIterator[Harness]:
    harness = Harness(sandbox, database_url, **harness_overrides)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.close()


@pytest.fixture
async def fast(world: World, database_url: str) -> AsyncIterator[Harness]:
    """The bot and the sandbox on one virtual clock 200 times faster than the wall: retries' and leases' minutes
    pass in a second or two."""
    async with fast_harness(world, database_url) as harness:
        yield harness
