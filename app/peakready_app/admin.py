"""Menu administration behind `Authorization: Bearer <ADMIN_TOKEN>`. Each write then deletes
exactly the cached lists the item was or now is in."""

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse

from . import repo
from .cache import featured_key, menu_keys_for_item
from .db import NO_REFERENCED_ROW, IntegrityError, Row
from .services import error, services
from .validation import MenuItemInput, parse_id, parse_json_object


class Unauthorized(Exception):
    pass


def require_admin(request: Request) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = services(request).settings.admin_token
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Unauthorized


def affected_keys(*rows: Row) -> set[str]:
    """The cached lists showing any of these versions of an item: menus list available items,
    the featured list available featured ones."""
    keys: set[str] = set()
    for row in rows:
        if row["is_available"]:
            keys |= menu_keys_for_item(row["outlet_id"], row["category"])
            if row["is_featured"]:
                keys.add(featured_key())
    return keys


async def _read_item(request: Request) -> MenuItemInput:
    return MenuItemInput.from_json(parse_json_object(await request.body()))


def _is_unknown_outlet(exc: IntegrityError) -> bool:
    return bool(exc.args) and exc.args[0] == NO_REFERENCED_ROW


async def create_item(request: Request) -> JSONResponse:
    require_admin(request)
    item = await _read_item(request)
    s = services(request)
    try:
        row = await repo.create_menu_item(s.db, item)
    except IntegrityError as exc:
        if _is_unknown_outlet(exc):
            return error(400, "outlet_id: no such outlet")
        raise
    await s.cache.invalidate(affected_keys(row))
    return JSONResponse(repo.menu_item_json(row), status_code=201)


async def replace_item(request: Request) -> JSONResponse:
    require_admin(request)
    item_id = parse_id(request.path_params["id"])
    item = await _read_item(request)
    s = services(request)
    try:
        changed = await repo.replace_menu_item(s.db, item_id, item)
    except IntegrityError as exc:
        if _is_unknown_outlet(exc):
            return error(400, "outlet_id: no such outlet")
        raise
    if changed is None:
        return error(404, "menu item not found")
    before, after = changed
    await s.cache.invalidate(affected_keys(before, after))
    return JSONResponse(repo.menu_item_json(after))


async def item(request: Request) -> JSONResponse:
    """PUT replaces the item, DELETE deletes it (the route allows only these two)."""
    return await (replace_item if request.method == "PUT" else delete_item)(request)


async def delete_item(request: Request) -> JSONResponse:
    require_admin(request)
    item_id = parse_id(request.path_params["id"])
    s = services(request)
    before = await repo.delete_menu_item(s.db, item_id)
    if before is None:
        return error(404, "menu item not found")
    await s.cache.invalidate(affected_keys(before))
    return JSONResponse({"deleted": item_id})
