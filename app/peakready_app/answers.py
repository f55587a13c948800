"""Cached answers as HTTP: the stored body sent as it is (gzip when the client accepts it), or a 304
to a client that already has it."""

from starlette.requests import Request
from starlette.responses import Response

from .cache import Body


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header admits gzip: its own entry if it has one (a q of 0 refuses
    it), else a * entry's."""
    found: dict[str, bool] = {}
    for part in accept_encoding.lower().split(","):
        coding, *params = [piece.strip() for piece in part.split(";")]
        q = next((p.split("=", 1)[1].strip() for p in params if p.replace(" ", "").startswith("q=")), "1")
        try:
            found.setdefault("gzip" if coding == "x-gzip" else coding, float(q) > 0)
        except ValueError:
            found.setdefault(coding, False)
    return found.get("gzip", found.get("*", False))


def _matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match's weak comparison: W/"x" and "x" name the same JSON; * names any."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


def cached(request: Request, answer: tuple[Body, str]) -> Response:
    """The stored body as it is: 304 when the client already has it (If-None-Match), gzip as stored
    when the client accepts it, else the plain JSON."""
    body, cache_status = answer
    headers = {"X-Cache": cache_status}
    if not body.etag:
        return Response(body.data, media_type="application/json", headers=headers)
    headers |= {"ETag": body.etag, "Vary": "Accept-Encoding"}
    if _matches(request.headers.get("if-none-match", ""), body.etag):
        return Response(status_code=304, headers=headers)
    if body.gzipped and accepts_gzip(request.headers.get("accept-encoding", "")):
        return Response(body.data, media_type="application/json", headers=headers | {"Content-Encoding": "gzip"})
    return Response(body.json(), media_type="application/json", headers=headers)
