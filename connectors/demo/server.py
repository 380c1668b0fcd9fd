"""A local HTTP server for the bundled demo feeds (connectors/demo/*.xml, *.json), with ETags,
so `warwire run --demo` works with no internet and exercises conditional GET."""

from __future__ import annotations

import hashlib
from pathlib import Path

from aiohttp import web

DEMO_DIR = Path(__file__).resolve().parent
_TYPES = {".xml": "application/xml; charset=utf-8", ".json": "application/feed+json; charset=utf-8"}


def make_app(directory: Path = DEMO_DIR) -> web.Application:
    async def feed(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = (directory / name).resolve()
        if path.parent != directory.resolve() or path.suffix not in _TYPES or not path.is_file():
            raise web.HTTPNotFound()
        body = path.read_bytes()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, headers={"ETag": etag, "Content-Type": _TYPES[path.suffix]})

    app = web.Application()
    app.router.add_get("/{name}", feed)
    return app


async def start(port: int, host: str = "127.0.0.1") -> web.AppRunner:
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
