"""How the store's transactions run. A transaction is a plain function over a synchronous SQLAlchemy ``Connection``,
run by a backend:
- SQLite: the stdlib driver on one connection: a transaction runs on its caller's thread when the connection is
  free and nothing is queued, else on one dedicated thread (urgent ones first), at most one thread hop a transaction.
  (Through aiosqlite every statement, cursor and commit is its own hop: 2.0 ms for a one-row read on a 2-core machine
  against 0.6 ms here, and those hops, not SQLite, limited how many pages per second the bot could take.)
  One connection also means one writer, in arrival order, and never "database is locked" between our own
  transactions.
- PostgreSQL: asyncpg through SQLAlchemy's async engine, the same function in one greenlet (as
  ``AsyncConnection.run_sync`` runs it).

The schema is upgraded in place by Alembic (``migrations/``) on a connection of the backend; ``Transactions`` is
the base of the store's groups of queries: a backend and ``run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import logging
import os
import queue
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn

from bot.errors import ConfigError, StoreUnavailable

__all__ = [
    "MIGRATIONS",
    "Alike",
    "AsyncBackend",
    "Backend",
    "ServingLock",
    "SqliteBackend",
    "Transactions",
    "Work",
    "alembic_config",
    "backend_for",
]

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)

T = TypeVar("T")
CONNECT_TIMEOUT_S = 5
# how long the bot's own work waits for a free connection of its pool: in a storm every one is busy for seconds at a
# time, and waiting its turn is better than failing and being tried again after a backoff (an incident's card then
# came minutes late); the urgent pools (a webhook's row, a click) keep CONNECT_TIMEOUT_S, under their senders' limits
POOL_WAIT_S = 30
# how many connections each PostgreSQL pool may hold: the bot's work, and the urgent transactions (on the app's loop;
# the front door's loop has a pool of that size too). A pool opens them as they are needed and keeps each one: a pool
# that closed the ones beyond a smaller kept number ("overflow") opened and closed connections all through a storm
# (each a new server process: 5% of a replica's CPU and the server's, and a webhook waiting on its connect)
MAIN_CONNECTIONS = 20
URGENT_CONNECTIONS = 5
# (urgent as well: a lease's renewal, and the timers' claims, whose leases run from a time read before they are sent.
# Behind the bot's work in a storm one waited for a connection for as long as a lease lasts (POOL_WAIT_S): the lease
# lapsed meanwhile, and another replica took the work up while this one still did it)
# what says that the database itself is not there just now (down, unreachable, locked), rather than a query's fault
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,
    OSError,  # connection refused or reset, a connect timeout
)
# ... and what PostgreSQL says of itself (SQLSTATE): a connection refused or lost (08), out of connections or other
# resources (53), shutting down, starting up or restarting (57P), a system error (58), a standby taking writes after
# a failover (25006). SQLAlchemy wraps these in a plain DBAPIError, as it does a query's own fault
_UNAVAILABLE_STATES = ("08", "53", "57P", "58", "25006")
Work = Callable[[sa.Connection], T]


@dataclass(frozen=True)
class Alike(Generic[T]):
    """A transaction's work that is also one of a kind: called, it runs alone, as any work does; the SQLite thread
    runs those of one kind that wait side by side as one call of `together` (their `row`s, the results in their
    order), in as few statements as the kind needs rather than a few each.

    Why: sqlite3 lets go of the interpreter's lock for every statement it steps, and while another thread of the
    process is busy (the front door reading a burst of requests, the app's loop in a storm) each statement waits
    about a switch interval to have it back. 64 webhook rows took 50 to 100 ms that way, one INSERT each, against
    0.4 ms alone; as one INSERT of 64 rows, 6 to 11 ms."""

    together: Callable[[sa.Connection, list[Any]], list[T]]  # also what tells kinds apart
    row: Any
    alone: Work[T]

    def __call__(self, conn: sa.Connection) -> T:
        return self.alone(conn)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: sa.Connection) -> None:
    """The schema brought to head in the caller's transaction: all of it, or (failing) none of it. Python's sqlite3
    begins a transaction only before a row is written, and runs CREATE and ALTER outside of one, each kept at once:
    a migration that failed halfway left the tables it had made without the version that says so, and every start
    after it failed on "table already exists". On SQLite the transaction is begun first, here."""
    driver = connection.connection.driver_connection
    if connection.dialect.name == "sqlite" and driver is not None and not driver.in_transaction:
        connection.exec_driver_sql("BEGIN")
    command.upgrade(alembic_config(connection), "head")


class Backend(Protocol):
    async def run(self, work: Work[T], *, urgent: bool = False, one_statement: bool = False) -> T: ...

    async def leave_loop(self) -> None: ...

    async def close(self) -> None: ...


_URGENT, _NORMAL, _STOP = 0, 1, 2
ALIKE_MIN = 3  # fewer Alike side by side run one by one: one statement each, where together takes two
BATCH_MAX = 64  # transactions already waiting that the SQLite thread runs together, with one commit ...
BATCH_BUDGET_S = 0.02  # ... for at most about this long (the first one's answer waits for the commit)
# how long a statement waits for another process's write lock (a backup, a shell on the file) before SQLite says
# "database is locked": a transaction on its caller's thread then goes to the store's thread instead (its loop must not
# wait), which tries again for up to LOCKED_WAIT_S before the transaction fails
LOCKED_BUSY_S = 0.1
LOCKED_WAIT_S = 30
# a transaction run on its caller's thread runs without the loop taking a turn (a turn each cost more than some
# transactions); every YIELD_EVERY-th one first gives the loop a turn, so that a coroutine that runs nothing but
# transactions (or waits for a row, asking again and again) cannot keep the loop's other work waiting for long
YIELD_EVERY = 8


class SqliteBackend:
    """SQLite through the stdlib driver, on one connection that one transaction uses at a time.

    A transaction that finds the connection free and nothing waiting for it runs at once, on the caller's own thread
    (a hop to another thread and back, two wake-ups, cost more CPU than most of the bot's transactions themselves).
    Otherwise it waits its turn on one dedicated thread, which takes transactions in arrival order, except that urgent
    ones (storing an inbound webhook, which a sender is waiting on; a click) go before any that are queued: the answer
    to PagerDuty does not wait behind the bot's work. Urgent ones always go through that thread, so that a burst of
    them is stored together while the front door goes on reading. Those that are waiting when it takes one (of the
    same urgency, up to BATCH_MAX) it runs with it in one transaction: a burst of 200 clicks is a few commits, not 200;
    and those of one kind side by side (`Alike`: the webhooks' rows) in one statement, not one each.
    One connection also means one writer, in arrival order, and never "database is locked" between our own
    transactions.
    """

    def __init__(self, url: str) -> None:
        parsed = make_url(url).set(drivername="sqlite")
        self.engine = sa.create_engine(
            parsed,
            pool_size=1,
            max_overflow=0,
            pool_reset_on_return=None,  # every transaction ends in commit or rollback already
            connect_args={"timeout": LOCKED_BUSY_S, "check_same_thread": False},
        )
        sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        # one connection, kept (a checkout per transaction cost more than SQLite), held by whoever runs a transaction
        self._conn: sa.Connection | None = None
        self._using = threading.Lock()
        self._turns = itertools.count(1)  # the transactions that may run on their callers' threads
        # transactions handed to the thread and not yet done (the queue's unfinished tasks: each taken is marked done
        # once it ran or went back in): while there are any, a caller's goes after them
        self._jobs: queue.PriorityQueue[_Entry] = queue.PriorityQueue()
        self._handing = threading.Lock()  # held to hand a transaction to the thread, and by the thread at its stop
        self._order = itertools.count()
        self._closed = False  # no more transactions are taken (`close` was called) ...
        self._stopped = False  # ... and the thread has let go of the connection
        self._thread = threading.Thread(target=self._serve, name="sqlite", daemon=True)
        self._thread.start()

    async def run(self, work: Work[T], *, urgent: bool = False, one_statement: bool = False) -> T:
        # (`one_statement` changes nothing here: SQLite's BEGIN and COMMIT are no round trips)
        if self._closed:  # nobody would ever answer: say so instead of waiting forever
            raise RuntimeError("the store is closed")
        if not urgent and next(self._turns) % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # (before, not after: the caller goes on from its commit at once, as it did)
        if not urgent and not self._jobs.unfinished_tasks and self._using.acquire(blocking=False):
            try:
                return self._transaction(work)
            except sa.exc.OperationalError as exc:
                if not _locked(exc):
                    raise
                # (another process holds the write lock: the store's thread waits for it, not this loop)
            finally:
                self._using.release()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._handing:
            if self._stopped:  # (it raced `close`: the thread that would have answered it is gone)
                raise RuntimeError("the store is closed")
            self._jobs.put((_URGENT if urgent else _NORMAL, next(self._order), _Job(work, future, loop)))
        return await future

    def _connection(self) -> sa.Connection:
        if self._stopped:  # (a caller that raced `close` on another thread: no connection is opened again)
            raise RuntimeError("the store is closed")
        if self._conn is None or self._conn.invalidated or self._conn.closed:
            self._conn = self.engine.connect()
        return self._conn

    def _transaction(self, work: Work[T]) -> T:
        """`work` in one transaction of the connection, which the caller holds (`_using`)."""
        try:
            conn = self._connection()
            with conn.begin():
                return work(conn)
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                self._drop()
            raise

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _serve(self) -> None:
        while True:
            priority, order, job = self._jobs.get()
            if job is None:
                with self._handing, self._using:
                    self._drop()
                    self._stopped = True
                    self._refuse_the_rest()
                self.engine.dispose()
                return
            batch = [(priority, order, job)]
            while len(batch) < BATCH_MAX:  # the others of the same urgency already waiting go with it
                try:
                    waiting = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if waiting[0] != priority or waiting[2] is None:
                    self._jobs.put(waiting)  # back in its place: its order number keeps it there
                    self._jobs.task_done()  # (as taken)
                    break
                batch.append((waiting[0], waiting[1], waiting[2]))
            with self._using:
                tried = self._run_batch(batch)
            for entry in batch[len(tried) :]:  # cut short (an urgent one came, or time was up): back in their places
                self._jobs.put(entry)
            for _ in batch:  # each taken: run, or back in the queue (counted there again)
                self._jobs.task_done()

    def _run_batch(self, batch: list[_Batched]) -> list[_Batched]:
        """The batch (or as much of it as `_together` took) run, each job answered; those that were."""
        if len(batch) == 1:
            self._alone(batch[0][2])
            return batch
        tried, outcome = self._together(batch)
        if not tried:  # nothing ran (the connection could not be had): each is told so alone
            tried = batch
            for _, _, one in batch:
                self._alone(one)
        elif outcome is not _COMMITTED:
            again = tried
            if isinstance(outcome, _Failed):  # its own work failed: it is told so, the ones before it run again
                _hand_over(tried[-1][2], None, outcome.error)
                again = tried[:-1]
            for _, _, one in again:
                self._alone(one)
        return tried

    def _together(self, batch: list[_Batched]) -> tuple[list[_Batched], object]:
        """Jobs that waited together run in one transaction, one after the other as they came (what each sees is
        what it would have seen alone, after the ones before it), with one commit; those tried, and how it went:
        committed, the last one tried failed (`_Failed`: nothing is kept), or the transaction itself failed (the
        caller runs each of those tried alone, so that only one that fails fails). An urgent job that comes meanwhile
        cuts a batch of others short, as does BATCH_BUDGET_S of work (the rest go after)."""
        tried: list[_Batched] = []
        failed: _Failed | None = None
        try:
            conn = self._connection()
            with conn.begin():
                results: list[Any] = []
                began = time.monotonic()
                while len(tried) < len(batch):
                    entry = batch[len(tried)]
                    if tried and (
                        time.monotonic() - began > BATCH_BUDGET_S or (entry[0] != _URGENT and self._urgent_waiting())
                    ):
                        break
                    alike = _alike(batch, len(tried))
                    if len(alike) >= ALIKE_MIN:  # it and the others of its kind right behind it, in one call
                        tried.extend(batch[len(tried) : len(tried) + len(alike)])
                        outcomes = alike[0].together(conn, [work.row for work in alike])
                        if len(outcomes) != len(alike):
                            raise RuntimeError(f"{alike[0].together!r}: {len(outcomes)} results for {len(alike)} rows")
                        results.extend(outcomes)
                        continue  # (when that fails, each of them is run again alone, as for a failed transaction)
                    tried.append(entry)
                    try:
                        results.append(entry[2].work(conn))
                    except BaseException as exc:
                        if not _locked(exc):  # (locked: not its own failure; each is run alone, patiently)
                            failed = _Failed(exc)
                        raise
        except BaseException as exc:  # noqa: BLE001 - handed over, or each run again alone, which hands it over
            if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
                self._drop()
            return tried, failed or _TRANSACTION_FAILED
        for loop, settled in _by_loop([job for _, _, job in tried], results).items():
            _call_soon(loop, _settle_all, settled)
        return tried, _COMMITTED

    def _refuse_the_rest(self) -> None:
        """At the stop: what was handed over after it (a caller that raced `close`) is told the store is closed, rather
        than left waiting for an answer that nobody would give."""
        while True:
            try:
                _, _, job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                _hand_over(job, None, RuntimeError("the store is closed"))
            self._jobs.task_done()

    def _urgent_waiting(self) -> bool:
        with self._jobs.mutex:
            return bool(self._jobs.queue) and self._jobs.queue[0][0] == _URGENT

    def _patiently(self, work: Work[T]) -> T:
        """`work` in one transaction, tried again while another process holds the write lock, for LOCKED_WAIT_S."""
        deadline = time.monotonic() + LOCKED_WAIT_S
        while True:
            try:
                return self._transaction(work)
            except sa.exc.OperationalError as exc:
                if not _locked(exc) or time.monotonic() >= deadline:
                    raise

    def _alone(self, job: _Job) -> None:
        try:
            result = self._patiently(job.work)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine, which raises it
            _hand_over(job, None, exc)
        else:
            _hand_over(job, result, None)

    async def leave_loop(self) -> None:
        """Nothing to close: the thread answers each caller on its own loop."""

    async def close(self) -> None:
        self._closed = True
        self._jobs.put((_STOP, next(self._order), None))
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)


@dataclass(frozen=True)
class _Job:
    work: Work[Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


_Entry = tuple[int, int, "_Job | None"]  # (urgency, order of arrival, the job; None: stop)
_Batched = tuple[int, int, "_Job"]
_COMMITTED, _TRANSACTION_FAILED = object(), object()


@dataclass(frozen=True)
class _Failed:
    error: BaseException


def _alike(batch: list[_Batched], start: int) -> list[Alike[Any]]:
    """The works of `batch` from `start` on that are Alike of the first one's kind (none if it is no Alike)."""
    first = batch[start][2].work
    if not isinstance(first, Alike):
        return []
    alike: list[Alike[Any]] = []
    for _, _, job in batch[start:]:
        if not isinstance(job.work, Alike) or job.work.together is not first.together:
            break
        alike.append(job.work)
    return alike


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    """`callback` on `loop`, from the SQLite thread; nothing when that loop is closed (nobody waits any more): the
    thread must outlive any caller."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


def _hand_over(job: _Job, result: Any, error: BaseException | None) -> None:
    _call_soon(job.loop, _settle, job.future, result, error)


def _by_loop(batch: list[_Job], results: list[Any]) -> dict[asyncio.AbstractEventLoop, list[tuple[Any, Any]]]:
    out: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any]]] = {}
    for job, result in zip(batch, results, strict=True):
        out.setdefault(job.loop, []).append((job.future, result))
    return out


def _settle_all(settled: list[tuple[asyncio.Future[Any], Any]]) -> None:
    """A batch's results, handed over in one call (one wake-up of the event loop for all of them)."""
    for future, result in settled:
        _settle(future, result, None)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled; the transaction ran (or failed) all the same
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _locked(exc: BaseException) -> bool:
    """SQLite's "database is locked": another process holds the write lock (SQLITE_BUSY)."""
    return isinstance(exc, sa.exc.OperationalError) and "locked" in str(exc.orig).lower()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class AsyncBackend:
    """PostgreSQL (asyncpg) through SQLAlchemy's async engine. Urgent transactions (a webhook's row, which its sender
    is waiting on; a person's click) have a small pool of their own, so that they never wait for a connection behind
    the bot's work when a storm keeps every connection of the main pool busy.

    An asyncpg connection belongs to the event loop that opened it: the first loop to run a transaction has the
    pools above; another loop (the front door's, bot/runtime/door.py) gets a small one of its own, closed by
    `leave_loop` on that loop. `listen` keeps a connection of its own (not the pools') for LISTEN."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url.replace("postgres://", "postgresql://", 1))
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+asyncpg")
        self.url = parsed
        self.engine: AsyncEngine = _engine(parsed, connections=MAIN_CONNECTIONS, pool_wait_s=POOL_WAIT_S)
        self.urgent: AsyncEngine = _engine(parsed, connections=URGENT_CONNECTIONS)
        self._home: asyncio.AbstractEventLoop | None = None  # the first loop to run a transaction (the app's)
        self._elsewhere: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncEngine] = weakref.WeakKeyDictionary()
        self._listening: list[tuple[Any, Callable[[Any], None]]] = []  # `listen`'s connections, when each ends

    async def run(self, work: Work[T], *, urgent: bool = False, one_statement: bool = False) -> T:
        loop = asyncio.get_running_loop()
        if self._home is None:
            self._home = loop
        if loop is self._home:
            engine = self.urgent if urgent else self.engine
        elif loop in self._elsewhere:
            engine = self._elsewhere[loop]
        else:
            engine = self._elsewhere[loop] = _engine(self.url, connections=URGENT_CONNECTIONS)
        try:
            return await _once(engine, work, one_statement)
        except _StaleConnection as stale:
            # a pooled connection had died (the server restarted, the network dropped it, an idle timeout) and the
            # transaction was rolled back with it: the pool is renewed, and the work is run once more on a fresh one
            log.info("a database connection was found closed; running the transaction again: %s", _first_line(stale))
            try:
                return await _once(engine, work, one_statement)
            except _StaleConnection as again:
                raise again.error from None

    async def leave_loop(self) -> None:
        """This loop (not the first) is done with the store: its pool is closed."""
        engine = self._elsewhere.pop(asyncio.get_running_loop(), None)
        if engine is not None:
            await engine.dispose()

    async def listen(self, channel: str, heard: Callable[[str], None], lost: Callable[[], None]) -> None:
        """Hear the notifications on `channel` (PostgreSQL's LISTEN / NOTIFY) on a connection of their own, kept
        until `close`: each one's payload to `heard`, on this loop; `lost` once that connection has ended."""
        import asyncpg  # type: ignore[import-untyped]  # (here: SQLite's processes need not load it to start)

        dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S)
        try:
            await conn.add_listener(channel, lambda _conn, _pid, _channel, payload: heard(payload))
        except BaseException:  # (LISTEN failed or was cut off: the connection is not left open, unknown to `close`)
            with contextlib.suppress(Exception):
                await conn.close(timeout=CONNECT_TIMEOUT_S)
            raise

        def ended(_conn: Any) -> None:
            lost()

        conn.add_termination_listener(ended)
        self._listening.append((conn, ended))

    async def close(self) -> None:
        """On the app's loop, after the other loops have let go (`leave_loop`): any they did not are dropped."""
        listening, self._listening = self._listening, []
        for conn, ended in listening:
            conn.remove_termination_listener(ended)  # (closed on purpose: nobody need hear of it)
            with contextlib.suppress(Exception):  # (gone already: the server went away)
                await conn.close(timeout=CONNECT_TIMEOUT_S)
        await self.leave_loop()
        self._elsewhere.clear()
        await self.engine.dispose()
        await self.urgent.dispose()
        self._home = None


class _StaleConnection(Exception):
    """The connection was found closed before the transaction's commit (nothing of it was kept)."""

    def __init__(self, error: sa.exc.DBAPIError) -> None:
        super().__init__(_first_line(error))  # (not SQLAlchemy's text of it: that holds the SQL and its parameters)
        self.error = error


async def _once(engine: AsyncEngine, work: Work[T], one_statement: bool = False) -> T:
    """`work` in one transaction of `engine`; _StaleConnection when its connection was found closed while the work
    ran (not at the commit, where whether it was kept cannot be told). The checkout, BEGIN, the work, COMMIT and the
    return to the pool run in one greenlet, as `AsyncConnection.run_sync` runs the work alone: through the async
    engine's own `begin()` each of them was a greenlet of its own, 0.1 ms of CPU more a transaction (0.4 -> 0.3 ms
    for a one-row read). `one_statement`: no BEGIN and COMMIT around it (PostgreSQL's autocommit: the statement is
    its own transaction), one round trip rather than three."""
    return await greenlet_spawn(_one_statement if one_statement else _in_transaction, engine.sync_engine, work)


def _in_transaction(engine: sa.Engine, work: Work[T]) -> T:
    with engine.begin() as conn:
        return _stale_said(conn, work)


def _one_statement(engine: sa.Engine, work: Work[T]) -> T:
    with engine.connect() as conn:
        return _stale_said(conn.execution_options(isolation_level="AUTOCOMMIT"), work)


def _stale_said(conn: sa.Connection, work: Work[T]) -> T:
    try:
        return work(conn)
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise _StaleConnection(exc) from exc
        raise


def _engine(url: sa.URL, *, connections: int, pool_wait_s: float = CONNECT_TIMEOUT_S) -> AsyncEngine:
    # a server that does not answer is said within seconds (asyncpg waits a minute to connect by default). No ping
    # before each checkout (a third of a short transaction's CPU, and a round trip): a connection found closed is
    # run again once instead (AsyncBackend.run). Every connection opened is kept (no overflow): see MAIN_CONNECTIONS
    return create_async_engine(
        url,
        pool_size=connections,
        max_overflow=0,
        pool_timeout=pool_wait_s,
        connect_args={"timeout": CONNECT_TIMEOUT_S},
    )


class ServingLock:
    """SQLite serves one process. `sre-agent serve` holds an exclusive lock on `<database file>.serve.lock` while it
    runs, so that a second one on the same file stops at once and says why, rather than two processes each believing
    they alone take the pages (several replicas need PostgreSQL). The lock goes with the process, however it ends."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        database = parsed.database if parsed.get_backend_name() == "sqlite" else None
        self.path = Path(f"{database}.serve.lock") if database and database != ":memory:" else None
        self._file: Any = None

    def acquire(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            database = str(self.path)[: -len(".serve.lock")]
            raise ConfigError(
                f"another sre-agent serve ({holder}) is using {database}; SQLite serves one process: stop it, or "
                "run several replicas on PostgreSQL (SRE_DATABASE_URL)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def backend_for(url: str) -> Backend:
    if make_url(url).get_backend_name() == "sqlite":
        return SqliteBackend(url)
    return AsyncBackend(url)


class Transactions:
    """The base of the store's groups of queries: every method is one short transaction on `backend`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def run(self, work: Work[T], *, urgent: bool = False, one_statement: bool = False) -> T:
        """Run `work` in one transaction: committed when it returns, rolled back when it raises. An urgent
        transaction (someone is waiting for the answer) goes before queued ones where the backend queues.
        `one_statement`: the work runs a single statement, a read or a write that may run twice without harm (it is
        run again when its connection was found closed), which is atomic on its own and needs no transaction
        around it: on PostgreSQL it is sent alone (one round trip, not three).
        StoreUnavailable when the database cannot be reached (or stays locked): the caller may try again later."""
        try:
            return await self.backend.run(work, urgent=urgent, one_statement=one_statement)
        except Exception as exc:
            if isinstance(exc, _UNAVAILABLE) or _unavailable_says_the_server(exc):
                reason = f"{type(exc).__name__}: {_first_line(exc)}"
                raise StoreUnavailable(f"the database is unavailable: {reason}") from exc
            raise


def _unavailable_says_the_server(exc: Exception) -> bool:
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated:  # (a connection found closed twice in a row: the database going away)
        return True
    state = getattr(exc.orig, "sqlstate", None)
    return isinstance(state, str) and state.startswith(_UNAVAILABLE_STATES)


def _first_line(exc: BaseException) -> str:
    """The driver's own words, without SQLAlchemy's SQL and parameters (which may hold incident text)."""
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().splitlines()[0][:200] if str(original).strip() else type(original).__name__
