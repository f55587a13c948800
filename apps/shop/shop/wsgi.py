"""A team's own app, as small as one gets: the one README.md's production quickstart deploys
(app_source = "apps/shop", app_module = "shop.wsgi:app", gunicorn's gthread workers). Copy it, or
point app_source at your own app instead.

It uses what peakready hands every app in its environment: DATABASE_URL (MariaDB through ProxySQL,
as the app's own database user) and REDIS_URL (the cache, as the app's own Redis user). Its health
path (app_health_path, "/health") answers 200 only when both answer: a release that cannot reach
them never goes live.
"""

from __future__ import annotations

import os
from html import escape
from urllib.parse import unquote, urlsplit

import pymysql
import redis
from flask import Flask

app = Flask(__name__)

PRODUCTS = [("Dates, 1 kg", "12.00"), ("Lentil soup", "4.50"), ("Mint tea", "2.00")]


def database() -> pymysql.Connection:
    """A connection to the app's database, as DATABASE_URL names it (mysql://user:password@host:port/name)."""
    url = urlsplit(os.environ["DATABASE_URL"])
    return pymysql.connect(host=url.hostname, port=url.port or 3306, user=unquote(url.username or ""),
                           password=unquote(url.password or ""), database=url.path.lstrip("/"),
                           connect_timeout=5, read_timeout=10, write_timeout=10)


_cache: redis.Redis | None = None


def cache() -> redis.Redis:
    global _cache
    if _cache is None:
        _cache = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)
    return _cache


@app.get("/")
def home():
    # The same for everyone: nginx's micro-cache may answer it for a second or two (docs/app.md).
    rows = "".join(f"<li>{escape(name)}: {price}</li>" for name, price in PRODUCTS)
    return f"<!doctype html><title>Shop</title><h1>Shop</h1><ul>{rows}</ul>"


@app.get("/health")
def health():
    with database() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    cache().ping()
    return "ok\n", 200, {"Content-Type": "text/plain", "Cache-Control": "no-store"}
