"""The ASGI app: `gunicorn peakready_app.main:app -k uvicorn_worker.UvicornWorker`.

Settings are read when this module is imported; a missing or invalid variable stops the process
with one line naming it.
"""

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .config import ConfigError, Settings, load_settings


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"peakready_app: configuration error: {exc}", file=sys.stderr, flush=True)
        # 3 is gunicorn's "worker failed to boot": the master stops instead of respawning workers.
        raise SystemExit(3) from None


# Checked before the imports below: the metrics they define open files in PROMETHEUS_MULTIPROC_DIR.
SETTINGS = _settings_or_exit()

from starlette.applications import Starlette  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from . import admin, bookings, public, replication  # noqa: E402
from .cache import Cache, NoCache  # noqa: E402
from .db import Database, DatabaseUnavailable  # noqa: E402
from .metrics import MetricsMiddleware, render  # noqa: E402
from .openapi import OPENAPI  # noqa: E402
from .services import Services, error  # noqa: E402
from .validation import InvalidInput  # noqa: E402

log = logging.getLogger("peakready_app")


def _setup_logging() -> None:
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    s = SETTINGS
    cache = Cache(s.redis) if s.redis else NoCache()
    services = Services(s, Database(s.database, s.db_pool_size, s.db_pool_overflow), cache)
    app.state.services = services
    log.info("worker started: mariadb %s (pool %d + overflow %d), redis %s, cache ttl outlets %ds "
             "outlet %ds menu %ds featured %ds", s.database.describe(), s.db_pool_size, s.db_pool_overflow,
             s.redis.describe() if s.redis else "off (CACHE=off)", s.ttl_outlets_s, s.ttl_outlet_s,
             s.ttl_menu_s, s.ttl_featured_s)
    try:
        yield
    finally:
        await services.cache.close()
        await services.db.close()


async def metrics(request: Request) -> Response:
    body, content_type = render()
    settings = request.app.state.services.settings
    servers = await replication.status(settings.database, settings.db_servers)
    return Response(body + replication.prometheus(servers), media_type=content_type)


async def openapi(_request: Request) -> JSONResponse:
    return JSONResponse(OPENAPI)


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    return error(400, str(exc))


async def _unauthorized(_request: Request, _exc: Exception) -> JSONResponse:
    return error(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})


async def _unavailable(_request: Request, _exc: Exception) -> JSONResponse:
    return error(503, "database unavailable", {"Retry-After": "1"})


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, exc.detail.lower(), exc.headers)


async def _internal(_request: Request, _exc: Exception) -> JSONResponse:
    return error(500, "internal error")


def create_app() -> Starlette:
    routes = [
        Route("/health", public.health),
        Route("/health/live", public.live),
        Route("/metrics", metrics),
        Route("/openapi.json", openapi),
        Route("/api/v1/outlets", public.list_outlets),
        Route("/api/v1/outlets/{id}", public.get_outlet),
        Route("/api/v1/outlets/{id}/availability", public.availability),
        Route("/api/v1/menu", public.list_menu),
        Route("/api/v1/menu/featured", public.list_featured),
        Route("/api/v1/admin/menu", admin.create_item, methods=["POST"]),
        # One route for both methods, so a 405 there answers Allow: PUT, DELETE (two routes each
        # answered with their own method only).
        Route("/api/v1/admin/menu/{id}", admin.item, methods=["PUT", "DELETE"]),
        Route("/api/v1/bookings", bookings.create_booking, methods=["POST"]),
    ]
    handlers = {
        InvalidInput: _invalid, admin.Unauthorized: _unauthorized, DatabaseUnavailable: _unavailable,
        HTTPException: _http, Exception: _internal,
    }
    return Starlette(routes=routes, middleware=[Middleware(MetricsMiddleware)],
                     exception_handlers=handlers, lifespan=lifespan)


_setup_logging()
app = create_app()
