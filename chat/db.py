"""Database calls from async code, run on a small pool of threads.

`database_sync_to_async` on its own runs every call on the one thread that all
thread-sensitive calls of the process share: under load, one answer's save waits
behind everyone else's, and so does anything else queued on that thread. The calls
here are self-contained (each opens and ends its own transaction and returns its
connection to the pool afterwards), so they can run side by side on
`DATABASE_THREADS` threads instead; `DATABASE_POOL_SIZE` connections are pooled.
`update_rows` writes many rows in one round trip (batched saves); `database_now` reads
the database's clock, the one clock every server shares (chat/conversations/liveness.py).
`GroupCall` runs the calls that arrive together as one (group commit: the starts of
answers, the credential checks of their frames).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import FieldError
from django.db import connection
from django.db.models import Field, Model
from django.db.models.expressions import DatabaseDefault
from django.db.models.functions import Now
from django.db.models.sql import Query

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def executor() -> ThreadPoolExecutor:
    """The process's database threads, made on first use (never at import)."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=max(1, settings.DATABASE_THREADS), thread_name_prefix="db"
            )
        return _executor


def db_call(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`func` as a coroutine function run on the database threads; closes old
    connections before and after, as `database_sync_to_async` does."""
    return database_sync_to_async(func, thread_sensitive=False, executor=executor())


@dataclass
class _Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R] = field(repr=False)


class _Group(Generic[T, R]):
    """One event loop's queue of a GroupCall: at most one call in the database at a
    time, and every item that arrives meanwhile goes in the next one."""

    def __init__(self, call: GroupCall[T, R]) -> None:
        self._call = call
        self._queue: list[_Pending[T, R]] = []
        self._task: asyncio.Task[None] | None = None  # referenced: asyncio keeps weak ones

    def submit(self, item: T) -> asyncio.Future[R]:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(item, future))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain(), name=self._call.name)
        return future

    async def _drain(self) -> None:
        limit = self._call.max_batch
        try:
            while self._queue:
                batch, self._queue = self._queue[:limit], self._queue[limit:]
                outcomes: Sequence[R | Exception]
                try:
                    outcomes = await db_call(self._call.func)([p.item for p in batch])
                except Exception as exc:  # the database is unreachable: every one fails
                    outcomes = [exc] * len(batch)
                for pending, outcome in zip(batch, outcomes, strict=True):
                    if pending.future.done():  # its caller went away
                        continue
                    if isinstance(outcome, Exception):
                        pending.future.set_exception(outcome)
                    else:
                        pending.future.set_result(outcome)
        finally:
            self._task = None


class GroupCall(Generic[T, R]):
    """Group commit: `func` takes a list of items and returns one outcome per item (a
    result, or the exception that refuses it), on the database threads. The first item
    of a quiet moment goes at once (no added delay); whatever arrives while a call is
    in the database goes together in the next one, at most `max_batch` at a time. Under
    a burst that is a few statements for all instead of a few for each, and one thread
    instead of all of them fighting for the interpreter."""

    def __init__(
        self,
        func: Callable[[list[T]], Sequence[R | Exception]],
        *,
        name: str,
        max_batch: int = 200,
    ) -> None:
        self.func = func
        self.name = name
        self.max_batch = max_batch
        self._groups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Group[T, R]] = (
            weakref.WeakKeyDictionary()
        )

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue `item` for this event loop's next call; its outcome as a future."""
        loop = asyncio.get_running_loop()
        group = self._groups.get(loop)
        if group is None:
            group = self._groups[loop] = _Group(self)
        return group.submit(item)


async def release_request_connection() -> None:
    """Give back the connection the request's own thread holds (its session, user or
    token read) before a wait: Django returns it only when the response is closed, so
    each request that waited for its answer to start (on the database threads, which
    need connections too) and then streamed it kept one of the pool's connections:
    a dozen at once emptied the pool for everyone (10 s, then 500). Thread-sensitive:
    it runs on the thread that opened it."""
    from django.db import connections

    await sync_to_async(connections.close_all, thread_sensitive=True)()


def close_connections() -> None:
    """Give back the connection each database thread holds (shutdown, end of tests)."""
    from django.db import connections

    with _lock:
        pool = _executor
    if pool is None:
        return
    workers = pool._max_workers
    meeting = threading.Barrier(workers)

    def close() -> None:
        connections.close_all()
        meeting.wait(timeout=5)  # each call on its own thread: all of them are reached

    for future in [pool.submit(close) for _ in range(workers)]:
        future.result(timeout=10)


def now_sql() -> str:
    """SQL for the database's clock now (`Now()`, as the ORM writes it)."""
    sql, params = Query(None).get_compiler(connection=connection).compile(Now())
    assert not params, params
    return str(sql)


def database_now() -> datetime:
    """The database's clock now (aware): one round trip."""
    now = Now()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {now_sql()}", [])  # params: "%%" in the SQL is unescaped
        (value,) = cursor.fetchone()
    for convert in connection.ops.get_db_converters(now) + now.get_db_converters(connection):
        value = convert(value, now, connection)
    assert isinstance(value, datetime)
    return value


def insert_rows(objs: Sequence[Model]) -> None:
    """The new objects' rows (of one model, primary keys set), sent with executemany:
    psycopg pipelines them into one round trip. `bulk_create` without its per-value ORM
    work (0.24 ms of CPU a row; a burst's starts write two rows each). Every concrete
    field is written as `pre_save` (auto_now_add, in order) and `get_db_prep_save` give
    it; a field left to its database default (`db_default`) is written as that default,
    the same for every row. Nothing is returned or refreshed."""
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    quote = connection.ops.quote_name
    compiler = Query(model).get_compiler(connection=connection)
    fields: list[Field[Any, Any]] = []
    columns, values = [], []
    for f in meta.concrete_fields:
        column, field = _column(model, f.name)
        columns.append(quote(column))
        first = getattr(objs[0], field.attname)
        if isinstance(first, DatabaseDefault):  # DEFAULT, or the expression (SQLite)
            if not all(isinstance(getattr(o, field.attname), DatabaseDefault) for o in objs):
                raise ValueError(f"{field.name}: its database default for some rows only")
            sql, params = compiler.compile(first)
            assert not params, params
            values.append(str(sql))
        else:
            fields.append(field)
            values.append("%s")
    statement = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(columns)}) VALUES ({', '.join(values)})"
    )
    rows = [[f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields] for obj in objs]
    with connection.cursor() as cursor:
        cursor.executemany(statement, rows)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


def update_rows(
    model: type[Model],
    fields: list[str],
    where: str,
    rows: Sequence[Sequence[object]],
    *,
    now: Sequence[str] = (),
) -> None:
    """One UPDATE per row, sent with executemany: psycopg pipelines them into one round
    trip, and nothing is resolved per row (a CASE per row cost milliseconds of CPU).

    Each row holds the values of `fields`, then the primary key, then the parameters of
    `where` (extra SQL ANDed to the primary key match). The fields named in `now` are
    set to the database's clock (a heartbeat: no server's own clock)."""
    quote = connection.ops.quote_name
    meta = model._meta
    columns = [_column(model, name) for name in [*fields, meta.pk.name]]
    clock = now_sql()
    sql = (
        f"UPDATE {quote(meta.db_table)} SET "
        + ", ".join(
            [f"{quote(column)} = %s" for column, _ in columns[:-1]]
            + [f"{quote(_column(model, name)[0])} = {clock}" for name in now]
        )
        + f" WHERE {quote(columns[-1][0])} = %s"
        + (f" AND {where}" if where else "")
    )
    prepared = [
        [
            field.get_db_prep_value(value, connection)
            for (_, field), value in zip(columns, row[: len(fields) + 1], strict=True)
        ]
        + list(row[len(fields) + 1 :])
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)


def _column(model: type[Model], name: str) -> tuple[str, Field[Any, Any]]:
    """The column of field `name` and the field: one stored in the model's table."""
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise FieldError(f"{model.__name__}.{name} has no column of its own.")
    return field.column, field
