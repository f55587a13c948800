"""What every request handler needs, created once per worker process."""

from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse

from .cache import Cache, NoCache
from .config import Settings
from .db import Database


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    cache: Cache | NoCache


def services(request: Request) -> Services:
    return request.app.state.services


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
