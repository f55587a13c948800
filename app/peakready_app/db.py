"""MariaDB access through asyncmy and a small pool with SQLAlchemy-like sizing: `size` connections
are kept, `overflow` more may be opened under a burst and are closed when returned, and never more
than size + overflow are open in one process.

A connection that fails or times out is closed, never returned to the pool. When the failure says
the server went away, the idle connections (opened to the same, now gone, server) are dropped too
and work that is safe to repeat runs once more on a fresh connection; before work that is not, a
reused connection is pinged. So the app recovers by itself when MariaDB is back. Nothing connects
at startup: the app starts while MariaDB is down.
"""

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncmy
from asyncmy.cursors import DictCursor
from asyncmy.errors import IntegrityError, InterfaceError, OperationalError

from .config import DatabaseURL
from .metrics import DB_IN_USE, DB_OPEN

T = TypeVar("T")
Row = dict[str, Any]

# MariaDB error codes of a connection that is gone (client and server side).
CONNECTION_LOST = {1053, 1927, 2002, 2003, 2006, 2013, 2055, 4031}
# MariaDB error codes for constraint violations the API turns into 400 / 409.
DUPLICATE_KEY = 1062
# ER_OPTION_PREVENTS_STATEMENT: a read-only server refused the statement, so nothing ran. During a
# switchover the old primary is read-only for the moment before ProxySQL sees the new one writable
# (its read_only check runs every 1.5 s): the work is tried again until its deadline, every READ_ONLY_WAIT_S.
READ_ONLY = 1290
READ_ONLY_WAIT_S = 0.1
READ_ONLY_RETRY_S = 3.0  # from the first refusal: longer, and the server is read-only for good
NO_REFERENCED_ROW = 1452

__all__ = ["Database", "DatabaseUnavailable", "IntegrityError", "DUPLICATE_KEY", "NO_REFERENCED_ROW"]


class DatabaseUnavailable(Exception):
    """MariaDB could not answer in time: down, unreachable, too slow, or the pool stayed full."""


def _is_connection_lost(exc: BaseException) -> bool:
    if isinstance(exc, (InterfaceError, ConnectionError, asyncio.IncompleteReadError)):
        return True
    return isinstance(exc, OperationalError) and bool(exc.args) and exc.args[0] in CONNECTION_LOST


def _is_read_only(exc: BaseException) -> bool:
    """MariaDB's refusal of a write by a read-only server (1290 also covers other server options)."""
    return (isinstance(exc, OperationalError) and len(exc.args) > 1 and exc.args[0] == READ_ONLY
            and "read-only" in str(exc.args[1]))


class Pool:
    def __init__(self, url: DatabaseURL, size: int, overflow: int, connect_timeout_s: int = 2) -> None:
        self._url = url
        self._size = size
        self._slots = asyncio.Semaphore(size + overflow)
        self._idle: deque[Any] = deque()
        self._connect_timeout_s = connect_timeout_s

    async def _connect(self) -> Any:
        url = self._url
        try:
            conn = await asyncmy.connect(
                host=url.host, port=url.port, unix_socket=url.socket or None, user=url.user, password=url.password, database=url.database,
                charset="utf8mb4", autocommit=True, connect_timeout=self._connect_timeout_s,
                init_command="SET time_zone = '+00:00'",
            )
        except RuntimeError as exc:
            # asyncmy reads the new transport's socket to set keepalive; when the server closed the
            # connection at once (MariaDB shutting down) it raises "Transport does not expose socket
            # instance": a lost connection (503, retry), not a bug in the request (500).
            raise ConnectionResetError(f"connection closed while connecting: {exc}") from exc
        DB_OPEN.inc()
        return conn

    @staticmethod
    def _close(conn: Any) -> None:
        conn.close()
        DB_OPEN.dec()

    def drop_idle(self) -> None:
        """Close every idle connection (after the server went away they are all dead)."""
        while self._idle:
            self._close(self._idle.popleft())

    async def _checkout(self, verify: bool) -> tuple[Any, bool]:
        """(connection, reused). With `verify`, a reused connection is pinged first, and a dead one
        replaced: for work that cannot be retried."""
        if self._idle:
            conn = self._idle.pop()
            if not verify:
                return conn, True
            try:
                await conn.ping(reconnect=False)
                return conn, True
            except Exception:
                self._close(conn)
                self.drop_idle()
        return await self._connect(), False

    @asynccontextmanager
    async def connection(self, verify: bool) -> AsyncIterator[tuple[Any, bool]]:
        """(connection, reused) for the body. It goes back to the pool unless the body failed (an
        IntegrityError aside): a failed or cancelled connection may be mid-reply, so it is closed."""
        await self._slots.acquire()
        conn = None
        DB_IN_USE.inc()
        try:
            conn, reused = await self._checkout(verify)
            yield conn, reused
        except IntegrityError:
            raise  # a statement the server refused: the connection is still good
        except BaseException:
            if conn is not None:
                self._close(conn)
                conn = None
            raise
        finally:
            if conn is not None:
                if len(self._idle) < self._size:
                    self._idle.append(conn)
                else:
                    self._close(conn)  # an overflow connection: closed once the burst is served
            DB_IN_USE.dec()
            self._slots.release()


class Transaction:
    """Statements on one connection (inside a transaction when given by Database.transaction)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        async with self._conn.cursor(DictCursor) as cur:
            await cur.execute(sql, args)
            return await cur.fetchone()

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        async with self._conn.cursor(DictCursor) as cur:
            await cur.execute(sql, args)
            return list(await cur.fetchall())

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Runs one statement; returns the last inserted id (0 when none)."""
        async with self._conn.cursor() as cur:
            await cur.execute(sql, args)
            return int(cur.lastrowid or 0)


class Database:
    """Queries with a deadline; DatabaseUnavailable when MariaDB cannot answer."""

    def __init__(self, url: DatabaseURL, pool_size: int, pool_overflow: int, timeout_s: float = 5.0) -> None:
        self._pool = Pool(url, pool_size, pool_overflow)
        self._timeout_s = timeout_s
        self._via: str | None = None  # "proxysql" or "direct", once ping() has asked

    async def run(self, work: Callable[[Any], Awaitable[T]], retry: bool = True, timeout_s: float | None = None) -> T:
        """work(connection) within one deadline (pool wait and connect included).

        With `retry`, work that failed because a reused connection was gone runs once more on a
        fresh one: only for work that is safe to repeat (reads; an insert guarded by a unique key).
        Without it, a reused connection is pinged before the work starts instead. Either way, work a
        read-only server refused (nothing ran: a switchover's moment) runs again every
        READ_ONLY_WAIT_S, for at most READ_ONLY_RETRY_S.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout_s or self._timeout_s)
        attempt, refused_until = 0, None
        while True:
            attempt += 1
            reused = False
            try:
                async with asyncio.timeout_at(deadline):
                    async with self._pool.connection(verify=not retry) as (conn, reused):
                        return await work(conn)
            except TimeoutError:
                raise DatabaseUnavailable("database did not answer in time") from None
            except (OperationalError, InterfaceError, OSError, asyncio.IncompleteReadError) as exc:
                if _is_read_only(exc):
                    refused_until = refused_until or loop.time() + READ_ONLY_RETRY_S
                    if loop.time() + READ_ONLY_WAIT_S < min(deadline, refused_until):
                        # Refused, not run (a transaction's earlier statements were refused too, or
                        # roll back with it): the whole work again, on the writer ProxySQL finds by then.
                        await asyncio.sleep(READ_ONLY_WAIT_S)
                        attempt -= 1
                        continue
                if not _is_connection_lost(exc):
                    raise DatabaseUnavailable(f"database error {exc.args[0] if exc.args else ''}") from exc
                self._pool.drop_idle()
                if not (retry and reused and attempt == 1):
                    raise DatabaseUnavailable("database connection lost") from exc

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return await self.run(lambda conn: Transaction(conn).fetch_all(sql, args))

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        return await self.run(lambda conn: Transaction(conn).fetch_one(sql, args))

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """One statement in autocommit mode, retried like a read: it must be safe to repeat."""
        return await self.run(lambda conn: Transaction(conn).execute(sql, args))

    async def transaction(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        """work(tx) in one transaction, committed if it returns. If it raises, the transaction is
        rolled back (IntegrityError) or its connection closed, which rolls it back too. Not
        retried when the connection is lost (during COMMIT the outcome is unknown); a read-only
        server's refusal is retried like any work (run())."""

        async def in_transaction(conn: Any) -> T:
            await conn.begin()
            try:
                result = await work(Transaction(conn))
            except IntegrityError:
                await conn.rollback()
                raise
            await conn.commit()
            return result

        return await self.run(in_transaction, retry=False)

    async def ping(self, timeout_s: float) -> str | None:
        """How MariaDB answers, "proxysql" (through ProxySQL) or "direct", or None when it does not.

        SELECT 1 reaches MariaDB either way. ProxySQL answers the mysql client's greeting query,
        `select @@version_comment limit 1` (exactly so spelled), itself with "(ProxySQL)"; MariaDB
        with its own comment. Asked once per process (the address it connects to does not change):
        after that a ping is one statement."""
        async def check(conn: Any) -> str:
            t = Transaction(conn)
            await t.fetch_one("SELECT 1")
            if self._via is None:
                row = await t.fetch_one("select @@version_comment limit 1")
                self._via = "proxysql" if row and "(ProxySQL)" in map(str, row.values()) else "direct"
            return self._via

        try:
            return await self.run(check, timeout_s=timeout_s)
        except DatabaseUnavailable:
            return None

    async def close(self) -> None:
        self._pool.drop_idle()
