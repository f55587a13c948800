"""Checks of everything a client sends. Each failure is an InvalidInput whose message becomes a
400 {"error": ...}; nothing a client sends can reach the database unchecked or cause a 500."""

import json
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

MAX_ID = 2**31 - 1
CATEGORIES = ("rice", "noodles", "soups", "grills", "snacks", "desserts", "drinks", "coffee")
MAX_PRICE_IDR = 10_000_000
MAX_BOOKING_AHEAD = timedelta(days=365)
PHONE = re.compile(r"\+?[0-9][0-9 ()-]{5,30}")
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{8,64}")  # printable ASCII, no spaces


class InvalidInput(Exception):
    pass


def parse_id(raw: str, what: str = "id") -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and 1 <= int(raw) <= MAX_ID):
        raise InvalidInput(f"{what} must be an integer between 1 and {MAX_ID}")
    return int(raw)


def parse_category(raw: str) -> str:
    if raw not in CATEGORIES:
        raise InvalidInput(f"category must be one of: {', '.join(CATEGORIES)}")
    return raw


def parse_menu_filters(query: Mapping[str, str]) -> tuple[int | None, str | None]:
    """(outlet id, category) from ?outlet=&category=, each optional."""
    outlet = parse_id(query["outlet"], "outlet") if "outlet" in query else None
    category = parse_category(query["category"]) if "category" in query else None
    return outlet, category


def parse_date(raw: str | None, what: str = "date") -> date:
    """YYYY-MM-DD, from a year ago to a year ahead (bookings are taken up to a year ahead)."""
    shape = f"{what} must be a date YYYY-MM-DD within a year from today"
    if raw is None or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        raise InvalidInput(shape)
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(shape) from None
    today = datetime.now(UTC).date()
    if abs(day - today) > MAX_BOOKING_AHEAD:
        raise InvalidInput(shape)
    return day


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInput("body must be valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidInput("body must be a JSON object")
    return value


def _check_fields(data: Mapping[str, Any], required: Set[str], optional: Set[str] = frozenset()) -> None:
    missing = sorted(required - data.keys())
    if missing:
        raise InvalidInput(f"missing field: {missing[0]}")
    unknown = sorted(data.keys() - required - optional)
    if unknown:
        raise InvalidInput(f"unknown field: {unknown[0]}")


def _int(data: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = data[name]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"{name} must be an integer between {low} and {high}")
    return value


# Control characters (C0, DEL, C1) have no place in a name or a phone number; a description may
# hold tabs and line breaks. openapi.py publishes the same rules as JSON Schema patterns.
CONTROL = r"\x00-\x1f\x7f-\x9f"
CONTROL_BUT_LINES = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
LINE_TEXT = re.compile(f"[^{CONTROL}]*")
MULTILINE_TEXT = re.compile(f"[^{CONTROL_BUT_LINES}]*")


def _str(data: Mapping[str, Any], name: str, low: int, high: int, text: re.Pattern[str] = LINE_TEXT) -> str:
    """The value stripped: at most `high` characters as sent, at least `low` once stripped."""
    value = data[name]
    if not isinstance(value, str) or len(value) > high or len(value.strip()) < low:
        raise InvalidInput(f"{name} must be a string of {low} to {high} characters")
    # JSON can carry lone UTF-16 surrogates ("\ud800"): valid in a Python str, not in UTF-8, so
    # the database driver would fail to encode them (a 500 before this check).
    if not text.fullmatch(value):
        raise InvalidInput(f"{name} must be text without control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{name} must be valid Unicode text (no lone surrogates)") from None
    return value.strip()


def _bool(data: Mapping[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be true or false")
    return value


@dataclass(frozen=True)
class MenuItemInput:
    outlet_id: int
    category: str
    name: str
    description: str
    price_idr: int
    is_featured: bool
    is_available: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "MenuItemInput":
        """The whole item (POST creates it, PUT replaces it); description and flags are optional."""
        _check_fields(data, {"outlet_id", "category", "name", "price_idr"},
                      {"description", "is_featured", "is_available"})
        if not isinstance(data["category"], str):
            raise InvalidInput("category must be a string")
        return cls(
            outlet_id=_int(data, "outlet_id", 1, MAX_ID),
            category=parse_category(data["category"]),
            name=_str(data, "name", 1, 120),
            description=_str(data, "description", 0, 500, MULTILINE_TEXT) if "description" in data else "",
            price_idr=_int(data, "price_idr", 1, MAX_PRICE_IDR),
            is_featured=_bool(data, "is_featured", False),
            is_available=_bool(data, "is_available", True),
        )


@dataclass(frozen=True)
class BookingInput:
    outlet_id: int
    name: str
    phone: str
    party_size: int
    time: datetime  # UTC, timezone-aware

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "BookingInput":
        """All fields; `time` is ISO 8601 with a UTC offset. Whether it is in the future is checked
        by the caller, so a replay of an old booking is still recognised."""
        _check_fields(data, {"outlet_id", "name", "phone", "party_size", "time"})
        phone = _str(data, "phone", 6, 32)
        if not PHONE.fullmatch(phone):
            raise InvalidInput("phone must contain digits, spaces, ()- and an optional leading +")
        return cls(
            outlet_id=_int(data, "outlet_id", 1, MAX_ID),
            name=_str(data, "name", 1, 100),
            phone=phone,
            party_size=_int(data, "party_size", 1, 20),
            time=_parse_time(data["time"]),
        )

    def fingerprint(self) -> dict[str, Any]:
        """What makes two requests "the same booking" (times compared as instants)."""
        return {"outlet_id": self.outlet_id, "name": self.name, "phone": self.phone,
                "party_size": self.party_size, "time": format_utc(self.time)}

    def check_future(self, now: datetime) -> None:
        if self.time <= now:
            raise InvalidInput("time must be in the future")
        if self.time > now + MAX_BOOKING_AHEAD:
            raise InvalidInput("time must be within a year from now")


def _parse_time(value: Any) -> datetime:
    shape = "time must be an ISO 8601 date-time with a UTC offset, e.g. 2030-01-31T19:30:00+07:00"
    if not isinstance(value, str):
        raise InvalidInput(shape)
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.utcoffset() is None:
            raise InvalidInput(shape)
        return parsed.astimezone(UTC).replace(microsecond=0)
    except (ValueError, OverflowError):
        raise InvalidInput(shape) from None


def format_utc(moment: datetime) -> str:
    """2030-01-31T12:30:00Z; a naive datetime is taken as UTC (as MariaDB's DATETIME columns hold it)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_idempotency_key(raw: str | None) -> str:
    if raw is None or not IDEMPOTENCY_KEY.fullmatch(raw):
        raise InvalidInput("header Idempotency-Key is required: 8 to 64 printable ASCII characters, no spaces")
    return raw
