"""The same two endpoints on each candidate stack, to choose the app's framework and MySQL driver.

BENCH_STACK=<framework>-<driver> (fastapi|starlette, aiomysql|asyncmy) picks the stack;
DATABASE_URL as for the app (the schema must be migrated). `run.sh` serves each stack with
gunicorn and loads it with hey.

    GET /ping          JSON, no I/O: the framework's own cost
    GET /outlets/{id}  one primary-key SELECT through a pool of 10, as JSON
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from uvicorn_worker import UvicornWorker

FRAMEWORK, DRIVER = os.environ["BENCH_STACK"].split("-")
URL = urlsplit(os.environ["DATABASE_URL"])
SQL = "SELECT id, slug, name, city, seats FROM outlets WHERE id = %s"


class AsyncioH11Worker(UvicornWorker):
    """uvicorn without uvloop and httptools: the pure-Python event loop and HTTP parser."""

    CONFIG_KWARGS = {"loop": "asyncio", "http": "h11"}


async def create_pool() -> Any:
    if DRIVER == "aiomysql":
        import aiomysql as driver
    else:
        import asyncmy as driver
    return await driver.create_pool(
        minsize=10, maxsize=10, host=URL.hostname, port=URL.port or 3306,
        user=unquote(URL.username or ""), password=unquote(URL.password or ""),
        db=URL.path.lstrip("/"), autocommit=True, charset="utf8mb4",
    )


async def fetch_outlet(pool: Any, outlet_id: int) -> dict | None:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(SQL, (outlet_id,))
        row = await cur.fetchone()
    if row is None:
        return None
    return dict(zip(("id", "slug", "name", "city", "seats"), row))


state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    state["pool"] = await create_pool()
    yield
    state["pool"].close()
    await state["pool"].wait_closed()


if FRAMEWORK == "fastapi":
    from fastapi import FastAPI, HTTPException

    app = FastAPI(lifespan=lifespan)

    @app.get("/ping")
    async def ping() -> dict:
        return {"status": "ok"}

    @app.get("/outlets/{outlet_id}")
    async def outlet(outlet_id: int) -> dict:
        row = await fetch_outlet(state["pool"], outlet_id)
        if row is None:
            raise HTTPException(404, "outlet not found")
        return row

else:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ping_endpoint(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def outlet_endpoint(request: Request) -> JSONResponse:
        row = await fetch_outlet(state["pool"], request.path_params["outlet_id"])
        if row is None:
            return JSONResponse({"error": "outlet not found"}, status_code=404)
        return JSONResponse(row)

    app = Starlette(lifespan=lifespan, routes=[
        Route("/ping", ping_endpoint), Route("/outlets/{outlet_id:int}", outlet_endpoint),
    ])
