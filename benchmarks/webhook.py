"""A local webhook receiver for the benchmarks and the fault suite: records when each alert
arrived (by the alerted item's URL), how often each alert and each Idempotency-Key arrived, and
can answer with chosen statuses or go down (connection refused) and come back on the same port."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchmarks.harness import free_port

Answer = Callable[[], tuple[int, dict[str, str]]]


class _Server(ThreadingHTTPServer):
    """One connection per request (HTTP/1.0, so that `down` refuses at once), and a listen
    backlog like a real server's: with the default of 5, eight concurrent connects overflow it and
    the dropped SYNs are retried by the client's kernel after 1 s, which the latency benchmark
    measured as warwire's delay."""

    allow_reuse_address = True
    request_queue_size = 256


class Receiver:
    def __init__(self, answer: Answer | None = None) -> None:
        self.arrivals: dict[str, float] = {}
        self.counts: Counter[str] = Counter()
        self.keys: Counter[str] = Counter()
        self.requests = 0
        self.answer: Answer = answer or (lambda: (200, {}))
        self.last = time.monotonic()
        self.lock = threading.Lock()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.server: ThreadingHTTPServer | None = None
        self.up()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        rx = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers = rx.answer()
                with rx.lock:
                    rx.requests += 1
                    if 200 <= status < 300:
                        url = json.loads(body).get("alert", {}).get("url", "")
                        rx.arrivals.setdefault(url, time.time())
                        rx.counts[url] += 1
                        rx.keys[self.headers.get("Idempotency-Key", "")] += 1
                        rx.last = time.monotonic()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        return Handler

    def up(self) -> None:
        self.server = _Server(("127.0.0.1", self.port), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        """Stop listening: requests are refused until `up`."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def wait_quiet(self, quiet_s: float, timeout_s: float = 300.0) -> int:
        """Wait until no alert has arrived for `quiet_s`; the number of distinct alerts."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and time.monotonic() - self.last < quiet_s:
            time.sleep(0.2)
        return len(self.arrivals)

    def close(self) -> None:
        self.down()
