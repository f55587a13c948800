"""Settings, read once from environment variables and checked: the app has no other configuration."""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import SplitResult, unquote, urlsplit


class ConfigError(Exception):
    """A missing or invalid variable; the message names it and never echoes its value."""


@dataclass(frozen=True)
class DatabaseURL:
    host: str
    port: int
    user: str
    password: str
    database: str
    socket: str = ""  # DATABASE_SOCKET: the same server through a Unix socket, used instead of host:port

    def describe(self) -> str:
        """host:port/database (or the socket's path), safe to log."""
        return f"{self.socket or f'{self.host}:{self.port}'}/{self.database}"


@dataclass(frozen=True)
class RedisURL:
    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    socket: str = ""  # REDIS_SOCKET: the same server through a Unix socket, used instead of host:port

    def describe(self) -> str:
        """host:port/db (or the socket's path), safe to log."""
        return f"{self.socket or f'{self.host}:{self.port}'}/{self.db}"


@dataclass(frozen=True)
class Settings:
    database: DatabaseURL
    redis: RedisURL | None  # None: CACHE=off, every read goes to MariaDB
    db_pool_size: int
    db_pool_overflow: int
    admin_token: str
    ttl_outlets_s: int
    ttl_outlet_s: int
    ttl_menu_s: int
    ttl_featured_s: int
    metrics_dir: str
    db_servers: tuple[tuple[str, str, int], ...] = ()  # DB_SERVERS: (role, host, port), primary first


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


def _split(name: str, value: str, scheme: str) -> SplitResult:
    shape = f"{scheme}://USER:PASSWORD@HOST:PORT/..."
    try:
        url = urlsplit(value)
        url.port  # noqa: B018 - raises ValueError for a port that is not a number in 0..65535
    except ValueError:
        raise ConfigError(f"{name} is not a valid URL (expected {shape})") from None
    if url.scheme != scheme or not url.hostname:
        raise ConfigError(f"{name} must look like {shape}")
    return url


def parse_database_url(name: str, value: str) -> DatabaseURL:
    """mysql://USER:PASSWORD@HOST:PORT/DBNAME, user and password percent-encoded."""
    url = _split(name, value, "mysql")
    database = url.path.lstrip("/")
    if not url.username or not database or "/" in database:
        raise ConfigError(f"{name} must name a user and a database: mysql://USER:PASSWORD@HOST:PORT/DBNAME")
    return DatabaseURL(
        host=url.hostname or "", port=url.port or 3306, user=unquote(url.username),
        password=unquote(url.password or ""), database=unquote(database),
    )


def parse_redis_url(name: str, value: str) -> RedisURL:
    """redis://USER:PASSWORD@HOST:PORT/DB, user and password percent-encoded, DB 0 if absent."""
    url = _split(name, value, "redis")
    db = url.path.lstrip("/") or "0"
    if not db.isdigit():
        raise ConfigError(f"{name} must end with a database number, e.g. redis://USER:PASSWORD@HOST:PORT/0")
    return RedisURL(
        host=url.hostname or "", port=url.port or 6379, db=int(db),
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password is not None else None,
    )


def _int(env: Mapping[str, str], name: str, minimum: int, default: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw and default is not None:
        return default
    if not raw:
        raise ConfigError(f"{name} is not set")
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def _writable_dir(env: Mapping[str, str], name: str) -> str:
    path = _required(env, name)
    if not os.path.isdir(path) or not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{name} must be an existing writable directory")
    return path


def load_settings(env: Mapping[str, str] = os.environ) -> Settings:
    """Every variable the app reads; the first problem found raises ConfigError."""
    token = _required(env, "ADMIN_TOKEN")
    if len(token) < 16:
        raise ConfigError("ADMIN_TOKEN must be at least 16 characters")
    # Cached in Redis when given one (REDIS_URL), unless CACHE=off says otherwise.
    cache = env.get("CACHE", "").strip() or ("redis" if env.get("REDIS_URL", "").strip() else "off")
    if cache not in ("redis", "off"):
        raise ConfigError("CACHE must be redis or off")
    return Settings(
        database=replace(parse_database_url("DATABASE_URL", _required(env, "DATABASE_URL")), socket=_socket(env, "DATABASE_SOCKET")),
        redis=replace(parse_redis_url("REDIS_URL", _required(env, "REDIS_URL")), socket=_socket(env, "REDIS_SOCKET"))
              if cache == "redis" else None,
        db_pool_size=_int(env, "DB_POOL_SIZE", 1),
        db_pool_overflow=_int(env, "DB_POOL_OVERFLOW", 0),
        admin_token=token,
        ttl_outlets_s=_int(env, "CACHE_TTL_OUTLETS_S", 1, 300),
        ttl_outlet_s=_int(env, "CACHE_TTL_OUTLET_S", 1, 300),
        ttl_menu_s=_int(env, "CACHE_TTL_MENU_S", 1, 300),
        ttl_featured_s=_int(env, "CACHE_TTL_FEATURED_S", 1, 600),
        metrics_dir=_writable_dir(env, "PROMETHEUS_MULTIPROC_DIR"),
        db_servers=_servers(env),
    )


def _socket(env: Mapping[str, str], name: str) -> str:
    path = env.get(name, "").strip()
    if path and not path.startswith("/"):
        url = name.replace("_SOCKET", "_URL")
        raise ConfigError(f"{name} must be an absolute path (or unset: {url}'s host and port)")
    return path


def parse_servers(value: str) -> tuple[tuple[str, str, int], ...]:
    """((role, host, port), ...) from DB_SERVERS; ValueError for a malformed entry."""
    servers = []
    for entry in filter(None, (e.strip() for e in value.split(","))):
        match = re.fullmatch(r"(primary|replica)=([0-9A-Za-z.:-]+):(\d{1,5})", entry)
        if not match:
            raise ValueError(entry)
        servers.append((match[1], match[2], int(match[3])))
    return tuple(servers)


def _servers(env: Mapping[str, str]) -> tuple[tuple[str, str, int], ...]:
    try:
        return parse_servers(env.get("DB_SERVERS", ""))
    except ValueError:
        raise ConfigError("DB_SERVERS must be role=host:port entries, comma-separated "
                          "(primary=10.0.0.5:3306,replica=10.0.0.6:3306)") from None


def load_migrate_database_url(env: Mapping[str, str] = os.environ) -> DatabaseURL:
    """The only variable migrations read."""
    return parse_database_url("MIGRATE_DATABASE_URL", _required(env, "MIGRATE_DATABASE_URL"))
