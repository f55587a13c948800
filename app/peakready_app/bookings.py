"""Table bookings, made idempotent by the client's Idempotency-Key: the bookings table's UNIQUE
key on it holds across every worker and host."""

import hashlib
import json
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse

from . import repo
from .db import DUPLICATE_KEY, NO_REFERENCED_ROW, Database, IntegrityError, Row
from .services import error, services
from .validation import (
    BookingInput,
    InvalidInput,
    parse_idempotency_key,
    parse_json_object,
)


async def _insert(db: Database, key: str, digest: str, booking: BookingInput, now: datetime) -> Row | None:
    """The stored booking, or None if the key was already used."""
    try:
        return await repo.insert_booking(db, key, digest, booking, now)
    except IntegrityError as exc:
        code = exc.args[0] if exc.args else None
        if code == NO_REFERENCED_ROW:
            raise InvalidInput("outlet_id: no such outlet") from None
        if code == DUPLICATE_KEY:
            return None
        raise


async def create_booking(request: Request) -> JSONResponse:
    """201 with the new booking; 200 with the same booking when a key is replayed with the same
    body (even once its time has passed); 409 when a key is reused with a different body."""
    key = parse_idempotency_key(request.headers.get("idempotency-key"))
    booking = BookingInput.from_json(parse_json_object(await request.body()))
    digest = hashlib.sha256(json.dumps(booking.fingerprint(), sort_keys=True).encode()).hexdigest()
    db = services(request).db
    now = datetime.now(UTC)

    if booking.time > now:
        booking.check_future(now)
        stored = await _insert(db, key, digest, booking, now)
        if stored is not None:  # a new booking: one statement, nothing to read back
            return JSONResponse(repo.booking_json(stored), status_code=201)
    # A key used before: the booking stored with it, from the primary.
    row = await repo.find_booking(db, key)
    if row is None:
        booking.check_future(now)  # raises: the time has passed and no booking has this key
        raise RuntimeError("a stored booking was not found")
    if row["request_hash"] != digest:
        return error(409, "Idempotency-Key was already used with a different request")
    return JSONResponse(repo.booking_json(row), status_code=200)
