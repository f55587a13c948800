"""`python -m peakready_app.migrate`: applies migrations/NNNN_name.sql in order, each once (recorded
in schema_migrations), then seeds the sample data if the tables are empty. Uses
MIGRATE_DATABASE_URL (a user with DDL on the app's database). A second run changes nothing.
Exits 0 on success, 1 with one line on stderr otherwise.

MariaDB commits each DDL statement on its own, so a migration that fails halfway is not recorded
and leaves what it did: write migrations that can be re-run, or repair by hand.
"""

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import asyncmy
from asyncmy.errors import MySQLError

from . import seed
from .config import ConfigError, load_migrate_database_url

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_NAME = re.compile(r"\d{4}_[a-z0-9_]+\.sql")
LOCK = "peakready_migrate"
LOCK_WAIT_S = 60


class MigrationError(Exception):
    pass


def migration_files() -> list[Path]:
    files = sorted(MIGRATIONS.glob("*.sql"))
    for path in files:
        if not MIGRATION_NAME.fullmatch(path.name):
            raise MigrationError(f"{path.name}: a migration is named NNNN_name.sql")
    return files


def statements(sql: str) -> list[str]:
    """The statements of a migration: `--` comment lines dropped, split at a `;` that ends a line."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.MULTILINE) if s.strip()]


async def _execute(conn: Any, sql: str, args: tuple = ()) -> list[tuple]:
    async with conn.cursor() as cur:
        await cur.execute(sql, args)
        return list(await cur.fetchall())


async def apply_migrations(conn: Any) -> list[str]:
    """The names of the migrations applied by this run."""
    exists = await _execute(conn, "SELECT 1 FROM information_schema.tables "
                                  "WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'")
    if not exists:
        await _execute(conn, "CREATE TABLE schema_migrations ("
                             " version VARCHAR(255) NOT NULL PRIMARY KEY,"
                             " applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP"
                             ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci")
    done = {row[0] for row in await _execute(conn, "SELECT version FROM schema_migrations")}
    applied = []
    for path in migration_files():
        version = path.stem
        if version in done:
            continue
        for statement in statements(path.read_text(encoding="utf-8")):
            try:
                await _execute(conn, statement)
            except MySQLError as exc:
                raise MigrationError(f"{path.name}: {exc.args[-1] if exc.args else exc}") from None
        await _execute(conn, "INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
        applied.append(version)
    return applied


async def seed_if_empty(conn: Any) -> str:
    """Inserts the sample outlets and menu in one transaction, unless there are outlets already."""
    if (await _execute(conn, "SELECT COUNT(*) FROM outlets"))[0][0]:
        return "data present, not seeded"
    outlets, items = seed.outlets(), seed.menu_items()
    await conn.begin()  # if anything fails, closing the connection rolls it all back
    ids = []
    async with conn.cursor() as cur:
        for o in outlets:
            await cur.execute(
                "INSERT INTO outlets (slug, name, city, address, phone, opens_at, closes_at, seats) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (o.slug, o.name, o.city, o.address, o.phone, o.opens_at, o.closes_at, o.seats),
            )
            ids.append(cur.lastrowid)
        await cur.executemany(
            "INSERT INTO menu_items (outlet_id, category, name, description, price_idr, is_featured, "
            "is_available) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(ids[i.outlet_index], i.category, i.name, i.description, i.price_idr, i.is_featured,
              i.is_available) for i in items],
        )
    await conn.commit()
    return f"seeded {len(outlets)} outlets, {len(items)} menu items"


async def migrate() -> str:
    url = load_migrate_database_url()
    conn = await asyncmy.connect(host=url.host, port=url.port, user=url.user, password=url.password,
                                 database=url.database, charset="utf8mb4", autocommit=True,
                                 connect_timeout=10, init_command="SET time_zone = '+00:00'")
    try:
        # One migrator at a time, whichever host runs it.
        if (await _execute(conn, "SELECT GET_LOCK(%s, %s)", (LOCK, LOCK_WAIT_S)))[0][0] != 1:
            raise MigrationError(f"another migration held the lock for {LOCK_WAIT_S} s")
        applied = await apply_migrations(conn)
        seeded = await seed_if_empty(conn)
        await _execute(conn, "SELECT RELEASE_LOCK(%s)", (LOCK,))
    finally:
        conn.close()
    return f"{len(applied)} applied ({', '.join(applied) or 'up to date'}); {seeded}"


def main() -> int:
    try:
        summary = asyncio.run(migrate())
    except ConfigError as exc:
        print(f"migrate: configuration error: {exc}", file=sys.stderr)
        return 1
    except (MigrationError, MySQLError, OSError) as exc:
        print(f"migrate: failed: {exc}", file=sys.stderr)
        return 1
    print(f"migrate: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
