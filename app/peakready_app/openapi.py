"""The OpenAPI 3.1 description served at /openapi.json, written by hand to match the handlers."""

from typing import Any

from .validation import CATEGORIES, CONTROL, CONTROL_BUT_LINES, MAX_ID, MAX_PRICE_IDR


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _list_of(name: str) -> dict[str, Any]:
    return {"type": "object", "required": ["items", "count"],
            "properties": {"items": {"type": "array", "items": _ref(name)}, "count": {"type": "integer"}}}


ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def _text(low: int, high: int, pattern: str = CONTROL, **extra: Any) -> dict[str, Any]:
    """A string of low to high characters (low counted without surrounding spaces) without control
    characters (a description may hold tabs and line breaks): what validation.py accepts."""
    return {"type": "string", "minLength": low, "maxLength": high, "pattern": f"^[^{pattern}]*$", **extra}


X_CACHE = {"X-Cache": {"description": "hit, miss, bypass (Redis unavailable) or off (CACHE=off)",
                       "schema": {"type": "string", "enum": ["hit", "miss", "bypass", "off"]}}}
UNAVAILABLE = _error("MariaDB is unavailable")


def _cached(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {**_json(schema, description), "headers": X_CACHE}


def _path_id(description: str) -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "description": description, "schema": ID}


ADMIN: list[dict[str, list[str]]] = [{"bearer": []}]
ADMIN_ERRORS = {"400": _error("invalid input"), "401": _error("missing or wrong bearer token"),
                "503": UNAVAILABLE}
ITEM_BODY = {"required": True, "content": {"application/json": {"schema": _ref("MenuItemInput")}}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "peakready sample app", "version": "1.0.0",
        "description": "Outlets, menus and table bookings of a restaurant chain. Errors are {\"error\": \"...\"}.",
    },
    "paths": {
        "/health": {"get": {"summary": "MariaDB and Redis reachability", "responses": {
            "200": _json(_ref("Health"), "ok, or degraded (Redis down, reads served from MariaDB)"),
            "503": _json(_ref("Health"), "MariaDB is down")}}},
        "/health/live": {"get": {"summary": "The worker answers (no I/O)", "responses": {
            "200": _json({"type": "object", "properties": {"status": {"enum": ["ok"]}}}, "alive")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics of all workers", "responses": {
            "200": {"description": "text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/api/v1/outlets": {"get": {"summary": "All outlets", "responses": {
            "200": _cached(_list_of("Outlet"), "the outlets"), "503": UNAVAILABLE}}},
        "/api/v1/outlets/{id}": {"get": {"summary": "One outlet", "parameters": [_path_id("outlet id")], "responses": {
            "200": _cached(_ref("Outlet"), "the outlet"), "400": _error("id is not a valid integer"),
            "404": _error("no such outlet"), "503": UNAVAILABLE}}},
        "/api/v1/outlets/{id}/availability": {"get": {
            "summary": "Seats booked and free per hour on one day (never cached)",
            "parameters": [_path_id("outlet id"),
                           {"name": "date", "in": "query", "required": True,
                            "description": "YYYY-MM-DD (UTC), within a year from today",
                            "schema": {"type": "string", "format": "date"}}],
            "responses": {"200": _json(_ref("Availability"), "the outlet's hours"),
                          "400": _error("invalid id or date"), "404": _error("no such outlet"),
                          "503": UNAVAILABLE}}},
        "/api/v1/menu": {"get": {
            "summary": "Available menu items, optionally of one outlet and/or category",
            "parameters": [
                {"name": "outlet", "in": "query", "required": False, "schema": ID},
                {"name": "category", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": list(CATEGORIES)}},
            ],
            "responses": {"200": _cached(_list_of("MenuItem"), "the items"), "400": _error("invalid filter"),
                          "404": _error("no such outlet"), "503": UNAVAILABLE}}},
        "/api/v1/menu/featured": {"get": {"summary": "Available featured items of every outlet", "responses": {
            "200": _cached(_list_of("MenuItem"), "the items"), "503": UNAVAILABLE}}},
        "/api/v1/admin/menu": {"post": {
            "summary": "Create a menu item", "security": ADMIN,
            "requestBody": ITEM_BODY,
            "responses": {"201": _json(_ref("MenuItem"), "created"), **ADMIN_ERRORS}}},
        "/api/v1/admin/menu/{id}": {
            "put": {"summary": "Replace a menu item", "security": ADMIN, "parameters": [_path_id("menu item id")],
                    "requestBody": ITEM_BODY,
                    "responses": {"200": _json(_ref("MenuItem"), "replaced"), "404": _error("no such item"),
                                  **ADMIN_ERRORS}},
            "delete": {"summary": "Delete a menu item", "security": ADMIN, "parameters": [_path_id("menu item id")],
                       "responses": {"200": _json({"type": "object", "properties": {"deleted": ID}}, "deleted"),
                                     "404": _error("no such item"), **ADMIN_ERRORS}}},
        "/api/v1/bookings": {"post": {
            "summary": "Book a table (idempotent)",
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": True,
                            "description": "8 to 64 printable ASCII characters; a replay returns the same booking",
                            "schema": {"type": "string", "minLength": 8, "maxLength": 64}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("BookingInput")}}},
            "responses": {"201": _json(_ref("Booking"), "booked"),
                          "200": _json(_ref("Booking"), "replay of an earlier request with the same key and body"),
                          "400": _error("invalid input"),
                          "409": _error("the key was used with a different body"), "503": UNAVAILABLE}}},
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            "Health": {"type": "object", "properties": {
                "status": {"enum": ["ok", "degraded", "down"]}, "mariadb": {"enum": ["ok", "down"]},
                "redis": {"enum": ["ok", "down", "off"]},
                "mariadb_via": {"enum": ["proxysql", "direct"], "description": "how MariaDB answered"},
                "replication": {"type": "array", "description": "each db server, with replicas only", "items": {
                    "type": "object", "required": ["role", "up"], "properties": {
                        "role": {"enum": ["primary", "replica"]}, "up": {"type": "boolean"},
                        "read_only": {"type": "boolean"},
                        "behind_transactions": {"type": "integer", "minimum": 0}}}}}},
            "Availability": {"type": "object", "properties": {
                "outlet_id": ID, "date": {"type": "string", "format": "date"}, "seats": {"type": "integer"},
                "hours": {"type": "array", "items": {"type": "object", "properties": {
                    "hour": {"type": "string", "examples": ["19:00"]}, "booked": {"type": "integer"},
                    "free": {"type": "integer"}}}}}},
            "Outlet": {"type": "object", "properties": {
                "id": ID, "slug": {"type": "string"}, "name": {"type": "string"}, "city": {"type": "string"},
                "address": {"type": "string"}, "phone": {"type": "string"},
                "opens_at": {"type": "string", "examples": ["10:00"]},
                "closes_at": {"type": "string", "examples": ["22:00"]},
                "seats": {"type": "integer"}}},
            "MenuItem": {"type": "object", "properties": {
                "id": ID, "outlet_id": ID, "category": {"enum": list(CATEGORIES)}, "name": {"type": "string"},
                "description": {"type": "string"}, "price_idr": {"type": "integer"},
                "is_featured": {"type": "boolean"}, "is_available": {"type": "boolean"}}},
            "MenuItemInput": {
                "type": "object", "additionalProperties": False,
                "required": ["outlet_id", "category", "name", "price_idr"],
                "properties": {
                    "outlet_id": ID, "category": {"enum": list(CATEGORIES)},
                    "name": _text(1, 120),
                    "description": _text(0, 500, CONTROL_BUT_LINES, default=""),
                    "price_idr": {"type": "integer", "minimum": 1, "maximum": MAX_PRICE_IDR},
                    "is_featured": {"type": "boolean", "default": False},
                    "is_available": {"type": "boolean", "default": True}}},
            "BookingInput": {
                "type": "object", "additionalProperties": False,
                "required": ["outlet_id", "name", "phone", "party_size", "time"],
                "properties": {
                    "outlet_id": ID, "name": _text(1, 100),
                    "phone": _text(6, 32, examples=["+62 812 3456 7890"],
                                   description="digits, spaces, ()- and an optional leading +"),
                    "party_size": {"type": "integer", "minimum": 1, "maximum": 20},
                    "time": {"type": "string", "format": "date-time",
                             "description": "with a UTC offset; in the future, within a year"}}},
            "Booking": {"type": "object", "properties": {
                "id": {"type": "integer"}, "outlet_id": ID, "name": {"type": "string"}, "phone": {"type": "string"},
                "party_size": {"type": "integer"}, "time": {"type": "string", "format": "date-time"},
                "created_at": {"type": "string", "format": "date-time"}}},
        },
    },
}
