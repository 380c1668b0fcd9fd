"""A local RSS feed that grows by itself, for the fault suite: `per_s` new entries a second, the
newest 500 served, each about a power plant hit somewhere (so every entry is a new story)."""

from __future__ import annotations

import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchmarks.harness import free_port

KEEP = 500


class GrowingFeed:
    def __init__(self, per_s: float = 2.0) -> None:
        self.per_s = per_s
        self.t0 = time.time()
        self.frozen: int | None = None
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                body = feed.body().encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/feed.xml"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self) -> int:
        return self.frozen if self.frozen is not None else int((time.time() - self.t0) * self.per_s)

    def stop_growing(self) -> None:
        self.frozen = self.count()

    def urls(self) -> set[str]:
        return {f"https://growing.example/{n}" for n in range(self.count())}

    def body(self) -> str:
        n = self.count()
        entries = []
        for i in range(max(0, n - KEEP), n):
            entries.append(
                f"<item><guid>g{i}</guid><link>https://growing.example/{i}</link>"
                f"<title>Power plant number {i} hit, {i * 10 + 3} homes without electricity</title>"
                f"<description>Missiles struck power plant {i} overnight; {i + 7} engineers are repairing the grid."
                f"</description><pubDate>{formatdate(self.t0 + i / self.per_s, usegmt=True)}</pubDate></item>")
        return ('<?xml version="1.0"?><rss version="2.0"><channel><title>growing</title>'
                + "".join(reversed(entries)) + "</channel></rss>")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
