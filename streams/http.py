"""The HTTP face of every warwire process: /metrics, /healthz (liveness), /readyz (readiness), and
what a process adds (the worker: /slack/interactions, alerts/interactions.py).

Readiness is a list of named checks, each a callable returning None when fine or a reason when
not; /readyz answers 200 with {"ready": true} or 503 with every failing check's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Check = Callable[[], str | None]


Route = tuple[str, str, Any]  # (method, path, aiohttp handler)


def make_app(registry: CollectorRegistry, checks: dict[str, Check], routes: Sequence[Route] = ()) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def readyz(_: web.Request) -> web.Response:
        failing = {name: reason for name, check in checks.items() if (reason := check()) is not None}
        if failing:
            return web.json_response({"ready": False, "failing": failing}, status=503)
        return web.json_response({"ready": True, "checks": sorted(checks)})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    return app


async def serve(registry: CollectorRegistry, checks: dict[str, Check], port: int,
                host: str = "0.0.0.0", routes: Sequence[Route] = ()) -> web.AppRunner | None:  # noqa: S104 - scraped by Prometheus
    """Start the endpoints on `port` in the running loop (port 0: none)."""
    if not port:
        return None
    runner = web.AppRunner(make_app(registry, checks, routes), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
