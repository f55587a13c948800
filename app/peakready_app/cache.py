"""Read-through cache in Redis. A Redis failure never fails a request: the read is served from
MariaDB ("bypass") and Redis is left alone for a moment, so an outage costs one short timeout per
worker rather than one per request.

Every key is a function of the query (e.g. menu:v2:outlet=3:category=drinks), so a write computes
the exact keys it affects and deletes them by name (DEL): no KEYS, no SCAN, no index of keys.

A value is the answer as it is sent (Body): serialized once on a miss, gzip-compressed when that
makes it smaller, with its ETag; a hit is one GET and no JSON work, and nginx passes a compressed
body on as it is.

Within a worker, concurrent reads of one key share one read (flights.py): under a spike a hundred
requests for the same menu cost one GET, and a miss one MariaDB query, not a hundred. A write in
this worker grounds the flights of the keys it deletes, so a read after it never joins one before.
"""

import gzip
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .config import RedisURL
from .flights import Flights
from .metrics import CACHE_BYPASSES, CACHE_HITS, CACHE_MISSES, CACHE_SHARED

log = logging.getLogger("peakready_app")

OP_TIMEOUT_S = 0.25  # one Redis command, or one connect
PAUSE_AFTER_FAILURE_S = 1.0  # how long Redis is bypassed after a failure


GZIP_MIN_BYTES = 256  # smaller bodies are stored as they are (nginx's gzip_min_length too)
GZIP_LEVEL = 6  # once per miss, not per request: the better ratio is worth it


def dump_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Body:
    """An answer's JSON body as stored: `data` is gzip-compressed when `gzipped`; `etag` (weak: the
    same for both encodings) names the JSON, or is "" when nothing names it (an uncached answer)."""

    data: bytes
    gzipped: bool = False
    etag: str = ""

    @classmethod
    def of(cls, value: Any) -> "Body":
        """Serialized once, compressed when that helps, with its ETag."""
        raw = dump_json(value)
        etag = 'W/"' + hashlib.blake2b(raw, digest_size=8).hexdigest() + '"'
        if len(raw) >= GZIP_MIN_BYTES:
            packed = gzip.compress(raw, GZIP_LEVEL, mtime=0)
            if len(packed) < len(raw):
                return cls(packed, True, etag)
        return cls(raw, False, etag)

    def json(self) -> bytes:
        return gzip.decompress(self.data) if self.gzipped else self.data

    def dumps(self) -> bytes:
        """The Redis value: one flag byte, the ETag, a newline, the data."""
        return (b"g" if self.gzipped else b"i") + self.etag.encode() + b"\n" + self.data

    @classmethod
    def loads(cls, value: bytes) -> "Body":
        etag, _, data = value[1:].partition(b"\n")
        return cls(data, value[:1] == b"g", etag.decode())


def outlets_key() -> str:
    return "outlets:v2:all"


def outlet_key(outlet_id: int) -> str:
    return f"outlets:v2:id={outlet_id}"


def menu_key(outlet_id: int | None, category: str | None) -> str:
    outlet = "all" if outlet_id is None else str(outlet_id)
    return f"menu:v2:outlet={outlet}:category={category or 'all'}"


def featured_key() -> str:
    return "menu:v2:featured"


def menu_keys_for_item(outlet_id: int, category: str) -> set[str]:
    """Every menu list an item appears in: its outlet and category, either, and neither."""
    return {menu_key(o, c) for o in (outlet_id, None) for c in (category, None)}


class Cache:
    def __init__(self, url: RedisURL) -> None:
        self._redis = Redis(
            host=url.host, port=url.port, unix_socket_path=url.socket or None, db=url.db, username=url.username, password=url.password,
            socket_timeout=OP_TIMEOUT_S, socket_connect_timeout=OP_TIMEOUT_S,
            # One retry: a pooled connection broken by a Redis restart is replaced at once.
            retry=Retry(NoBackoff(), 1),
        )
        self._paused_until = 0.0
        self._down = False
        self._pending_deletes: set[str] = set()  # invalidations that failed: retried when Redis is back
        self._flights: Flights[tuple[Body, str]] = Flights()  # reads in progress, by key

    def _failed(self, exc: Exception) -> None:
        if not self._down:
            log.warning("redis unavailable (%s): serving from MariaDB", type(exc).__name__)
            self._down = True
        self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE_S

    def _answered(self) -> None:
        if self._down:
            log.info("redis answers again: caching resumed")
            self._down = False
        self._paused_until = 0.0

    def _usable(self) -> bool:
        return time.monotonic() >= self._paused_until

    async def _flush_pending(self) -> None:
        if self._pending_deletes:
            keys = list(self._pending_deletes)
            await self._redis.delete(*keys)
            self._pending_deletes.difference_update(keys)

    async def read_through(
        self, name: str, key: str, ttl_s: int, load: Callable[[], Awaitable[Any]],
    ) -> tuple[Body, str]:
        """(the body, "hit" | "miss" | "bypass"). `load` reads MariaDB; its exceptions propagate
        and nothing is cached then. A read of `key` already in flight is shared, not repeated."""
        answer, shared = await self._flights.run(key, lambda: self._read_through(name, key, ttl_s, load))
        if shared:
            CACHE_SHARED.labels(name).inc()
        return answer

    async def _read_through(
        self, name: str, key: str, ttl_s: int, load: Callable[[], Awaitable[Any]],
    ) -> tuple[Body, str]:
        status = "bypass"
        if self._usable():
            try:
                await self._flush_pending()
                cached = await self._redis.get(key)
            except (RedisError, OSError) as exc:
                self._failed(exc)
            else:
                self._answered()
                if cached is not None:
                    CACHE_HITS.labels(name).inc()
                    return Body.loads(cached), "hit"
                status = "miss"
        value = await load()
        if status == "miss":
            body = Body.of(value)
            CACHE_MISSES.labels(name).inc()
            try:
                await self._redis.set(key, body.dumps(), ex=ttl_s)
            except (RedisError, OSError) as exc:
                self._failed(exc)
        else:
            body = Body(dump_json(value))
            CACHE_BYPASSES.labels(name).inc()
        return body, status

    async def invalidate(self, keys: Iterable[str]) -> None:
        """Delete these keys now, or as soon as Redis answers again. Reads of them already in flight
        are not shared any more: a read after this returns starts its own."""
        keys = set(keys)
        self._flights.ground(keys)
        self._pending_deletes.update(keys)
        if not self._usable():
            return
        try:
            await self._flush_pending()
        except (RedisError, OSError) as exc:
            self._failed(exc)
        else:
            self._answered()
        self._flights.ground(keys)  # and those that began while the DEL was on its way

    async def ping(self) -> bool:
        try:
            await self._redis.ping()
        except (RedisError, OSError):
            return False
        self._answered()
        return True

    async def close(self) -> None:
        await self._redis.aclose()


class NoCache:
    """CACHE=off: every read is served from MariaDB (what a setup without Redis does)."""

    async def read_through(
        self, name: str, key: str, ttl_s: int, load: Callable[[], Awaitable[Any]],
    ) -> tuple[Body, str]:
        return Body(dump_json(await load())), "off"

    async def invalidate(self, keys: Iterable[str]) -> None:
        pass

    async def ping(self) -> bool | None:
        return None

    async def close(self) -> None:
        pass
