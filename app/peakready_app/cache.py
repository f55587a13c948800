"""Read-through cache in Redis. A Redis failure never fails a request: the read is served from
MariaDB ("bypass") and Redis is left alone for a moment, so an outage costs one short timeout per
worker rather than one per request.

Every key is a function of the query (e.g. menu:v1:outlet=3:category=drinks), so a write computes
the exact keys it affects and deletes them by name (DEL): no KEYS, no SCAN, no index of keys.
"""

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .config import RedisURL
from .metrics import CACHE_BYPASSES, CACHE_HITS, CACHE_MISSES

log = logging.getLogger("peakready_app")

OP_TIMEOUT_S = 0.25  # one Redis command, or one connect
PAUSE_AFTER_FAILURE_S = 1.0  # how long Redis is bypassed after a failure


def dump_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def outlets_key() -> str:
    return "outlets:v1:all"


def outlet_key(outlet_id: int) -> str:
    return f"outlets:v1:id={outlet_id}"


def menu_key(outlet_id: int | None, category: str | None) -> str:
    outlet = "all" if outlet_id is None else str(outlet_id)
    return f"menu:v1:outlet={outlet}:category={category or 'all'}"


def featured_key() -> str:
    return "menu:v1:featured"


def menu_keys_for_item(outlet_id: int, category: str) -> set[str]:
    """Every menu list an item appears in: its outlet and category, either, and neither."""
    return {menu_key(o, c) for o in (outlet_id, None) for c in (category, None)}


class Cache:
    def __init__(self, url: RedisURL) -> None:
        self._redis = Redis(
            host=url.host, port=url.port, db=url.db, username=url.username, password=url.password,
            socket_timeout=OP_TIMEOUT_S, socket_connect_timeout=OP_TIMEOUT_S,
            # One retry: a pooled connection broken by a Redis restart is replaced at once.
            retry=Retry(NoBackoff(), 1),
        )
        self._paused_until = 0.0
        self._down = False
        self._pending_deletes: set[str] = set()  # invalidations that failed: retried when Redis is back

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
    ) -> tuple[bytes, str]:
        """(JSON body, "hit" | "miss" | "bypass"). `load` reads MariaDB; its exceptions propagate
        and nothing is cached then."""
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
                    return cast(bytes, cached), "hit"
                status = "miss"
        body = dump_json(await load())
        if status == "miss":
            CACHE_MISSES.labels(name).inc()
            try:
                await self._redis.set(key, body, ex=ttl_s)
            except (RedisError, OSError) as exc:
                self._failed(exc)
        else:
            CACHE_BYPASSES.labels(name).inc()
        return body, status

    async def invalidate(self, keys: Iterable[str]) -> None:
        """Delete these keys now, or as soon as Redis answers again."""
        self._pending_deletes.update(keys)
        if not self._usable():
            return
        try:
            await self._flush_pending()
        except (RedisError, OSError) as exc:
            self._failed(exc)
        else:
            self._answered()

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
    ) -> tuple[bytes, str]:
        return dump_json(await load()), "off"

    async def invalidate(self, keys: Iterable[str]) -> None:
        pass

    async def ping(self) -> bool | None:
        return None

    async def close(self) -> None:
        pass
