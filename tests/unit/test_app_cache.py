"""The sample app's cached answers (app/peakready_app/cache.py, answers.py) without Redis: a body is
serialized and compressed once, stored as one value, and sent as stored, as a 304, or as plain JSON;
concurrent reads of one key share one read."""

import asyncio
import gzip
import json
import sys

from starlette.requests import Request

from peakready import ROOT

sys.path.insert(0, str(ROOT / "app"))
from peakready_app.answers import accepts_gzip, cached
from peakready_app.cache import Body, Cache
from peakready_app.config import RedisURL

MENU = {"items": [{"id": i, "name": f"Nasi goreng {i}", "price_idr": 25000 + i} for i in range(40)], "count": 40}


def request(**headers: str) -> Request:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/api/v1/menu", "headers": raw, "query_string": b""})


def test_a_big_body_is_stored_gzipped_with_a_stable_weak_etag_and_round_trips():
    body = Body.of(MENU)
    assert body.gzipped and len(body.data) < len(json.dumps(MENU)) / 3
    assert json.loads(gzip.decompress(body.data)) == MENU == json.loads(body.json())
    assert body.etag.startswith('W/"') and body.etag == Body.of(json.loads(body.json())).etag
    assert Body.loads(body.dumps()) == body
    assert Body.of({**MENU, "count": 41}).etag != body.etag


def test_a_small_body_is_stored_as_it_is():
    body = Body.of({"id": 1})
    assert not body.gzipped and body.data == b'{"id":1}' and Body.loads(body.dumps()) == body


def test_accept_encoding_is_read_as_a_client_means_it():
    assert accepts_gzip("gzip") and accepts_gzip("br, gzip;q=0.5") and accepts_gzip("*")
    assert not accepts_gzip("") and not accepts_gzip("identity") and not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("br, gzip;q=0.0") and not accepts_gzip("gzip;q=nonsense")
    assert not accepts_gzip("*, gzip;q=0") and accepts_gzip("identity;q=1, *;q=0.5")
    assert not accepts_gzip("gzip; level=1; q=0") and accepts_gzip("x-gzip")


def test_a_hit_is_sent_gzipped_as_stored_or_plain_to_a_client_without_gzip():
    body = Body.of(MENU)
    zipped = cached(request(accept_encoding="gzip, deflate"), (body, "hit"))
    assert zipped.status_code == 200 and zipped.body == body.data
    assert zipped.headers["content-encoding"] == "gzip" and zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.headers["etag"] == body.etag and zipped.headers["x-cache"] == "hit"
    plain = cached(request(), (body, "hit"))
    assert "content-encoding" not in plain.headers and json.loads(plain.body) == MENU


def test_a_client_that_has_the_body_gets_a_304_without_it():
    body = Body.of(MENU)
    strong = body.etag.removeprefix("W/")
    for tag in (body.etag, strong, f'"other", {strong}', "*"):
        answer = cached(request(if_none_match=tag, accept_encoding="gzip"), (body, "hit"))
        assert answer.status_code == 304 and answer.body == b"" and answer.headers["etag"] == body.etag, tag
    assert cached(request(if_none_match='W/"stale"'), (body, "hit")).status_code == 200


def test_an_answer_not_from_the_cache_has_no_etag_and_is_left_to_nginx_to_compress():
    answer = cached(request(accept_encoding="gzip", if_none_match="*"), (Body(b'{"items":[]}'), "bypass"))
    assert answer.status_code == 200 and answer.body == b'{"items":[]}'
    assert "etag" not in answer.headers and "content-encoding" not in answer.headers


class FakeRedis:
    """GET and DEL of a dict, each answering after one event-loop turn (a GET with the value when it
    was sent), counting the GETs."""

    def __init__(self, values: dict[str, bytes]):
        self.values, self.gets = values, 0

    async def get(self, key):
        self.gets += 1
        value = self.values.get(key)
        await asyncio.sleep(0)
        return value

    async def set(self, key, value, ex=None):
        self.values[key] = value

    async def delete(self, *keys):
        await asyncio.sleep(0)
        for key in keys:
            self.values.pop(key, None)


def a_cache(values: dict[str, bytes]) -> Cache:
    cache = Cache(RedisURL("127.0.0.1", 6379, 0, "app", "secret-0123456789"))  # connects only when used
    cache._redis = FakeRedis(values)
    return cache


def test_concurrent_reads_of_one_key_share_one_get_and_one_load():
    async def scenario():
        cache, loads = a_cache({}), []

        async def load():
            loads.append(1)
            await asyncio.sleep(0.01)
            return MENU

        answers = await asyncio.gather(*(cache.read_through("menu", "k", 60, load) for _ in range(50)))
        assert len(loads) == 1 and cache._redis.gets == 1 and {a[1] for a in answers} == {"miss"}
        assert all(json.loads(a[0].json()) == MENU for a in answers)
        again = await asyncio.gather(*(cache.read_through("menu", "k", 60, load) for _ in range(50)))
        assert cache._redis.gets == 2 and {a[1] for a in again} == {"hit"} and not len(cache._flights)

    asyncio.run(scenario())


def test_a_read_after_a_write_in_the_same_worker_never_joins_an_older_read():
    async def scenario():
        old = Body.of({"v": "old"})
        cache = a_cache({"k": old.dumps()})

        async def load():
            return {"v": "new"}

        before = asyncio.ensure_future(cache.read_through("menu", "k", 60, load))
        while not cache._redis.gets:  # its GET is on its way
            await asyncio.sleep(0)
        await cache.invalidate(["k"])
        after = await cache.read_through("menu", "k", 60, load)
        assert json.loads(after[0].json()) == {"v": "new"} and after[1] == "miss"
        assert json.loads((await before)[0].json()) == {"v": "old"}, "the read sent before the write"

    asyncio.run(scenario())


def test_a_waiter_that_goes_away_does_not_cancel_the_others():
    async def scenario():
        cache = a_cache({})

        async def load():
            await asyncio.sleep(0.02)
            return MENU

        first = asyncio.ensure_future(cache.read_through("menu", "k", 60, load))
        second = asyncio.ensure_future(cache.read_through("menu", "k", 60, load))
        await asyncio.sleep(0.005)
        first.cancel()
        assert (await second)[1] == "miss"

    asyncio.run(scenario())


def test_a_flight_shares_one_call_and_a_grounded_key_starts_another():
    from peakready_app.flights import Flights

    async def scenario():
        flights, calls = Flights(), []

        async def call():
            calls.append(1)
            await asyncio.sleep(0.01)
            return len(calls)

        answers = await asyncio.gather(*(flights.run("k", call) for _ in range(20)))
        assert len(calls) == 1 and [a for a, _ in answers] == [1] * 20
        assert [shared for _, shared in answers] == [False] + [True] * 19 and len(flights) == 0
        first = asyncio.ensure_future(flights.run("k", call))
        await asyncio.sleep(0)
        flights.ground(["k"])
        second = await flights.run("k", call)
        assert second == (3, False) and (await first)[0] == 3 and len(calls) == 3

    asyncio.run(scenario())
