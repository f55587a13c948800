"""The MySQL drivers alone, without HTTP: 20,000 primary-key SELECTs from 10 concurrent tasks over a
pool of 10, per driver, in one process on uvloop. Prints queries/s and the client CPU per query
(what a worker spends; MariaDB's own time is not counted). DATABASE_URL as for the app.

    python bench/drivers.py
"""

import asyncio
import os
import time
from urllib.parse import unquote, urlsplit

import aiomysql
import asyncmy
import uvloop

URL = urlsplit(os.environ["DATABASE_URL"])
QUERIES = 20_000
TASKS = 10


async def measure(name: str, driver: object) -> None:
    pool = await driver.create_pool(  # type: ignore[attr-defined]
        minsize=TASKS, maxsize=TASKS, host=URL.hostname, port=URL.port or 3306,
        user=unquote(URL.username or ""), password=unquote(URL.password or ""),
        db=URL.path.lstrip("/"), autocommit=True, charset="utf8mb4",
    )

    async def worker(count: int) -> None:
        for i in range(count):
            async with pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute("SELECT id, slug, name, city, seats FROM outlets WHERE id = %s", (i % 12 + 1,))
                await cur.fetchone()

    await worker(100)  # warm up
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(QUERIES // TASKS) for _ in range(TASKS)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{name:9} {QUERIES / wall:8.0f} queries/s  {cpu / QUERIES * 1e6:5.1f} µs client CPU per query")
    pool.close()
    await pool.wait_closed()


async def main() -> None:
    for _ in range(2):
        await measure("aiomysql", aiomysql)
        await measure("asyncmy", asyncmy)


uvloop.run(main())
