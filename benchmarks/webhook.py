"""A local webhook receiver for the benchmarks and the fault suite: records when each alert
arrived (by the alerted item's URL) and how many times, and can answer with chosen statuses."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchmarks.harness import free_port


class Receiver:
    def __init__(self, answer: Callable[[], tuple[int, dict[str, str]]] | None = None) -> None:
        self.arrivals: dict[str, float] = {}
        self.counts: Counter[str] = Counter()
        self.keys: Counter[str] = Counter()
        self.answer = answer or (lambda: (200, {}))
        self.last = time.monotonic()
        self.lock = threading.Lock()
        rx = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers = rx.answer()
                if 200 <= status < 300:
                    url = json.loads(body).get("alert", {}).get("url", "")
                    with rx.lock:
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

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_quiet(self, quiet_s: float, timeout_s: float = 300.0) -> int:
        """Wait until no alert has arrived for `quiet_s`; the number of distinct alerts."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and time.monotonic() - self.last < quiet_s:
            time.sleep(0.2)
        return len(self.arrivals)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
