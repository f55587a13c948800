"""Health, the public cached reads (outlets and menus) and the uncached one (availability)."""

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import replication, repo
from .answers import cached
from .cache import featured_key, menu_key, outlet_key, outlets_key
from .flights import Flights
from .services import Services, error, services
from .validation import parse_date, parse_id, parse_menu_filters

HEALTH_TIMEOUT_S = 1.0


async def live(_request: Request) -> JSONResponse:
    """The worker answers: no I/O at all (readiness, with MariaDB and Redis, is /health)."""
    return JSONResponse({"status": "ok"})


async def health(request: Request) -> JSONResponse:
    """200 ok; 200 degraded when only Redis is down (reads go to MariaDB); 503 when MariaDB is down.
    With CACHE=off Redis is "off" and does not count. mariadb_via: "proxysql" or "direct". With
    replicas, "replication" has each db server's state (replication.py). Concurrent probes in a
    worker share one check (flights.py): a storm of them costs one check at a time, not one each."""
    s = services(request)
    (body, status), _ = await _HEALTH.run("health", lambda: _check(s))
    return JSONResponse(body, status_code=status)


_HEALTH: Flights[tuple[dict, int]] = Flights()


async def _check(s: Services) -> tuple[dict, int]:
    async def redis_ok() -> bool | None:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S):
                return await s.cache.ping()
        except TimeoutError:
            return False

    db_via, redis_up = await asyncio.gather(s.db.ping(HEALTH_TIMEOUT_S), redis_ok())
    db_up = db_via is not None
    body = {
        "status": "ok" if db_up and redis_up is not False else "degraded" if db_up else "down",
        "mariadb": "ok" if db_up else "down",
        "redis": "off" if redis_up is None else "ok" if redis_up else "down",
    }
    if db_up:
        body["mariadb_via"] = db_via
    servers = await replication.status(s.settings.database, s.settings.db_servers)
    if servers is not None:  # informational: ProxySQL keeps reads off a replica that is down or behind
        body["replication"] = replication.public(servers)
    return body, 200 if db_up else 503


class _NotFound(Exception):
    """Raised by a loader so that nothing is cached; the handler answers 404."""


async def list_outlets(request: Request) -> Response:
    s = services(request)

    async def load() -> dict:
        outlets = await repo.list_outlets(s.db)
        return {"items": outlets, "count": len(outlets)}

    return cached(request, await s.cache.read_through("outlets", outlets_key(), s.settings.ttl_outlets_s, load))


async def get_outlet(request: Request) -> Response:
    s = services(request)
    outlet_id = parse_id(request.path_params["id"])

    async def load() -> dict:
        outlet = await repo.get_outlet(s.db, outlet_id)
        if outlet is None:
            raise _NotFound
        return outlet

    try:
        ttl_s = s.settings.ttl_outlet_s
        return cached(request, await s.cache.read_through("outlet", outlet_key(outlet_id), ttl_s, load))
    except _NotFound:
        return error(404, "outlet not found")


async def list_menu(request: Request) -> Response:
    """?outlet= and ?category=, both optional; 404 for an outlet that does not exist."""
    s = services(request)
    outlet_id, category = parse_menu_filters(request.query_params)

    async def load() -> dict:
        items = await repo.list_menu(s.db, outlet_id, category)
        if not items and outlet_id is not None and not await repo.outlet_exists(s.db, outlet_id):
            raise _NotFound
        return {"items": items, "count": len(items)}

    key = menu_key(outlet_id, category)
    try:
        return cached(request, await s.cache.read_through("menu", key, s.settings.ttl_menu_s, load))
    except _NotFound:
        return error(404, "outlet not found")


async def list_featured(request: Request) -> Response:
    s = services(request)

    async def load() -> dict:
        items = await repo.list_featured(s.db)
        return {"items": items, "count": len(items)}

    return cached(request, await s.cache.read_through("featured", featured_key(), s.settings.ttl_featured_s, load))


async def availability(request: Request) -> JSONResponse:
    """?date=YYYY-MM-DD: seats booked and free per hour, read from MariaDB on every request
    (bookings change by the second: never cached, Cache-Control: no-store)."""
    s = services(request)
    outlet_id = parse_id(request.path_params["id"])
    day = parse_date(request.query_params.get("date"))
    found = await repo.availability(s.db, outlet_id, day)
    if found is None:
        return error(404, "outlet not found")
    return JSONResponse(found, headers={"Cache-Control": "no-store"})
