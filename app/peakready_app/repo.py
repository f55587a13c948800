"""The app's SQL, and rows turned into the JSON the API returns."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from .db import Database, Row, Transaction
from .validation import BookingInput, MenuItemInput, format_utc

OUTLET_COLUMNS = "id, slug, name, city, address, phone, opens_at, closes_at, seats"
MENU_COLUMNS = "id, outlet_id, category, name, description, price_idr, is_featured, is_available"
BOOKING_COLUMNS = "id, request_hash, outlet_id, name, phone, party_size, booked_for, created_at"


def _hhmm(value: timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def outlet_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"], "slug": row["slug"], "name": row["name"], "city": row["city"],
        "address": row["address"], "phone": row["phone"], "opens_at": _hhmm(row["opens_at"]),
        "closes_at": _hhmm(row["closes_at"]), "seats": row["seats"],
    }


def menu_item_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"], "outlet_id": row["outlet_id"], "category": row["category"], "name": row["name"],
        "description": row["description"], "price_idr": row["price_idr"],
        "is_featured": bool(row["is_featured"]), "is_available": bool(row["is_available"]),
    }


def booking_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"], "outlet_id": row["outlet_id"], "name": row["name"], "phone": row["phone"],
        "party_size": row["party_size"], "time": format_utc(row["booked_for"]),
        "created_at": format_utc(row["created_at"]),
    }


# Public reads: only available items are listed.

async def list_outlets(db: Database) -> list[dict[str, Any]]:
    rows = await db.fetch_all(f"SELECT {OUTLET_COLUMNS} FROM outlets ORDER BY id")
    return [outlet_json(r) for r in rows]


async def get_outlet(db: Database, outlet_id: int) -> dict[str, Any] | None:
    row = await db.fetch_one(f"SELECT {OUTLET_COLUMNS} FROM outlets WHERE id = %s", (outlet_id,))
    return outlet_json(row) if row else None


async def outlet_exists(db: Database, outlet_id: int) -> bool:
    return await db.fetch_one("SELECT 1 FROM outlets WHERE id = %s", (outlet_id,)) is not None


async def list_menu(db: Database, outlet_id: int | None, category: str | None) -> list[dict[str, Any]]:
    where: list[str] = ["is_available = 1"]
    args: list[Any] = []
    if outlet_id is not None:
        where.append("outlet_id = %s")
        args.append(outlet_id)
    if category is not None:
        where.append("category = %s")
        args.append(category)
    rows = await db.fetch_all(
        f"SELECT {MENU_COLUMNS} FROM menu_items WHERE {' AND '.join(where)} "
        "ORDER BY outlet_id, category, name, id", args,
    )
    return [menu_item_json(r) for r in rows]


async def list_featured(db: Database) -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        f"SELECT {MENU_COLUMNS} FROM menu_items WHERE is_featured = 1 AND is_available = 1 "
        "ORDER BY outlet_id, category, name, id",
    )
    return [menu_item_json(r) for r in rows]


# Admin writes: each returns the rows before and after, for cache invalidation.

def _menu_values(item: MenuItemInput) -> tuple[Any, ...]:
    return (item.outlet_id, item.category, item.name, item.description, item.price_idr,
            item.is_featured, item.is_available)


async def _menu_item(tx: Transaction, item_id: int, lock: bool = False) -> Row | None:
    return await tx.fetch_one(
        f"SELECT {MENU_COLUMNS} FROM menu_items WHERE id = %s{' FOR UPDATE' if lock else ''}", (item_id,),
    )


async def create_menu_item(db: Database, item: MenuItemInput) -> Row:
    """Raises IntegrityError (NO_REFERENCED_ROW) for an unknown outlet."""

    async def work(tx: Transaction) -> Row:
        item_id = await tx.execute(
            "INSERT INTO menu_items (outlet_id, category, name, description, price_idr, is_featured, "
            "is_available) VALUES (%s, %s, %s, %s, %s, %s, %s)", _menu_values(item),
        )
        row = await _menu_item(tx, item_id)
        assert row is not None
        return row

    return await db.transaction(work)


async def replace_menu_item(db: Database, item_id: int, item: MenuItemInput) -> tuple[Row, Row] | None:
    """(before, after), or None when there is no such item."""

    async def work(tx: Transaction) -> tuple[Row, Row] | None:
        before = await _menu_item(tx, item_id, lock=True)
        if before is None:
            return None
        await tx.execute(
            "UPDATE menu_items SET outlet_id = %s, category = %s, name = %s, description = %s, "
            "price_idr = %s, is_featured = %s, is_available = %s WHERE id = %s", (*_menu_values(item), item_id),
        )
        after = await _menu_item(tx, item_id)
        assert after is not None
        return before, after

    return await db.transaction(work)


async def delete_menu_item(db: Database, item_id: int) -> Row | None:
    """The deleted row, or None when there is no such item."""

    async def work(tx: Transaction) -> Row | None:
        before = await _menu_item(tx, item_id, lock=True)
        if before is not None:
            await tx.execute("DELETE FROM menu_items WHERE id = %s", (item_id,))
        return before

    return await db.transaction(work)


# Bookings.

async def insert_booking(db: Database, key: str, request_hash: str, booking: BookingInput, now: datetime) -> Row:
    """The stored row (as find_booking reads it), in one statement: no read back. Raises
    IntegrityError: DUPLICATE_KEY when the key is taken, NO_REFERENCED_ROW for an unknown outlet.
    Safe to retry: the unique key makes a repeated insert a duplicate."""
    # As MariaDB keeps them: naive UTC (the connection's time_zone is +00:00), whole seconds.
    booked_for = booking.time.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    created_at = now.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    booking_id = await db.execute(
        "INSERT INTO bookings (idempotency_key, request_hash, outlet_id, name, phone, party_size, booked_for, "
        "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (key, request_hash, booking.outlet_id, booking.name, booking.phone, booking.party_size, booked_for,
         created_at),
    )
    return {"id": booking_id, "request_hash": request_hash, "outlet_id": booking.outlet_id, "name": booking.name,
            "phone": booking.phone, "party_size": booking.party_size, "booked_for": booked_for,
            "created_at": created_at}


async def find_booking(db: Database, key: str) -> Row | None:
    """The booking of `key`, read from the primary: in a transaction, which ProxySQL keeps on the
    writer (a replica may not have applied a booking stored a moment ago)."""
    return await db.transaction(
        lambda tx: tx.fetch_one(f"SELECT {BOOKING_COLUMNS} FROM bookings WHERE idempotency_key = %s", (key,)))


async def availability(db: Database, outlet_id: int, day: date) -> dict[str, Any] | None:
    """Seats booked and free for each hour the outlet is open on `day` (UTC): read from the
    bookings as they are now, never cached, in one query. None for an outlet that does not exist."""
    start = datetime.combine(day, time())
    rows = await db.fetch_all(
        "SELECT o.opens_at, o.closes_at, o.seats, HOUR(b.booked_for) AS hour, SUM(b.party_size) AS booked "
        "FROM outlets o LEFT JOIN bookings b ON b.outlet_id = o.id AND b.booked_for >= %s AND b.booked_for < %s "
        "WHERE o.id = %s GROUP BY o.id, o.opens_at, o.closes_at, o.seats, HOUR(b.booked_for)",
        (start, start + timedelta(days=1), outlet_id),
    )
    if not rows:
        return None
    outlet = rows[0]
    booked = {int(r["hour"]): int(r["booked"]) for r in rows if r["hour"] is not None}
    opens = int(outlet["opens_at"].total_seconds()) // 3600
    closes = -(-int(outlet["closes_at"].total_seconds()) // 3600)  # an hour that has begun counts
    seats = outlet["seats"]
    hours = [{"hour": f"{h:02d}:00", "booked": booked.get(h, 0), "free": max(seats - booked.get(h, 0), 0)}
             for h in range(opens, min(closes, 24))]
    return {"outlet_id": outlet_id, "date": day.isoformat(), "seats": seats, "hours": hours}
