"""A local stand-in for Slack's Web API (aiohttp on 127.0.0.1), for the slack-app receiver's tests.

It implements what warwire calls, with Slack's documented request and response shapes:
`chat.postMessage` and `chat.update` (JSON bodies, `Authorization: Bearer xoxb-…`), and
`conversations.history` / `conversations.replies` (form fields; JSON is refused, as Slack's read
methods do not accept it), each answering `{"ok": true, …}` or `{"ok": false, "error": …}`.
Every message payload is validated with slack_sdk's Block Kit models (tests/slack_blocks.py).
Tests can make the next calls fail: HTTP 429 with Retry-After, or an `ok: false` error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.slack_blocks import texts, validate_message

TOKEN = "xoxb-test-token"
# A rule file with a slack-app receiver (its token in T_SLACK_BOT_TOKEN) on channel C0NEWS: a new
# air-defence story, and a story reaching three outlets.
APP_RULES = """
receivers:
  newsroom: {type: slack-app, token_env: T_SLACK_BOT_TOKEN, channel: C0NEWS, api_url: API}
rules:
  - {name: air, type: match, topics: [air-defence], realert: 1h, receivers: [newsroom]}
  - {name: wide, type: coverage, min_outlets: 3, realert: 1h, receivers: [newsroom]}
"""


def write_rules(directory: Path, api: SlackAPI) -> Path:
    directory.mkdir()
    (directory / "r.yaml").write_text(APP_RULES.replace("API", api.url))
    return directory


class _Invalid(Exception):
    pass


class SlackAPI:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.channels: dict[str, list[dict[str, Any]]] = defaultdict(list)  # channel -> messages, oldest first
        self.replies: dict[str, list[dict[str, Any]]] = defaultdict(list)  # thread ts -> replies
        self.calls: list[tuple[str, dict[str, Any], float]] = []
        self.fail: dict[str, list[tuple[int, str, float | None]]] = defaultdict(list)  # method -> queued failures
        self.forgotten: set[str] = set()  # ts of messages deleted meanwhile (chat.update: message_not_found)
        self.invalid: list[str] = []  # payloads slack_sdk's Block Kit models refused
        self.hang: dict[str, float] = {}  # method -> seconds its next call waits after acting, before answering
        self._seq = 0
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self.lock = threading.Lock()

    # -- what tests look at -------------------------------------------------------------------
    def called(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for m, body, _ in self.calls if m == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.channels[channel])

    def fail_next(self, method: str, error: str = "ratelimited", status: int = 200, retry_after: float | None = None) -> None:
        with self.lock:
            self.fail[method].append((status, error, retry_after))

    # -- the API --------------------------------------------------------------------------------
    def _ts(self) -> str:
        self._seq += 1
        return f"{int(time.time())}.{self._seq:06d}"

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "not_authed" if "Authorization" not in request.headers
                                      else "invalid_auth"})
        is_json = request.content_type == "application/json"
        if method.startswith("conversations."):
            if is_json:
                return web.json_response({"ok": False, "error": "invalid_arguments",
                                          "response_metadata": {"messages": ["[ERROR] JSON body not accepted"]}})
            body: dict[str, Any] = dict(await request.post())
        elif is_json:
            body = await request.json()
        else:
            body = dict(await request.post())
        with self.lock:
            self.calls.append((method, body, time.time()))
            queued = self.fail[method].pop(0) if self.fail[method] else None
        if queued is not None:
            status, error, retry_after = queued
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
            return web.json_response({"ok": False, "error": error}, status=429 if error == "ratelimited" else status,
                                     headers=headers)
        handler: Any = {"chat.postMessage": self._post, "chat.update": self._update,
                   "conversations.history": self._history, "conversations.replies": self._replies}.get(method)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        try:
            answer = handler(body)
        except _Invalid:
            return web.json_response({"ok": False, "error": "invalid_blocks"})
        with self.lock:
            hang = self.hang.pop(method, 0.0)
        if hang:  # acted on, but the caller has no answer yet (a crash now leaves it ambiguous)
            assert self._stopping is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), hang)
        return web.json_response(answer)

    def _message_fields(self, body: dict[str, Any]) -> dict[str, Any] | None:
        if not body.get("text") and not body.get("blocks"):
            return None
        try:
            validate_message(body)
            for t in texts(body):
                assert "<!channel>" not in t and "<!here>" not in t, t
        except Exception as exc:  # noqa: BLE001 - recorded for the test, answered as Slack would
            self.invalid.append(f"{type(exc).__name__}: {exc}")
            raise _Invalid from exc
        return {k: body[k] for k in ("text", "blocks", "metadata") if k in body}

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        fields = self._message_fields(body)
        if fields is None:
            return {"ok": False, "error": "no_text"}
        with self.lock:
            ts = self._ts()
            msg = {"type": "message", "user": "UWARWIRE", "ts": ts, **fields}
            thread = body.get("thread_ts")
            if thread:
                if not any(m["ts"] == thread for m in self.channels[channel]):
                    return {"ok": False, "error": "thread_not_found"}
                msg["thread_ts"] = thread
                self.replies[thread].append(msg)
            else:
                self.channels[channel].append(msg)
        return {"ok": True, "channel": channel, "ts": ts, "message": msg}

    def _update(self, body: dict[str, Any]) -> dict[str, Any]:
        channel, ts = body.get("channel"), body.get("ts")
        fields = self._message_fields(body)
        if fields is None:
            return {"ok": False, "error": "no_text"}
        with self.lock:
            if ts in self.forgotten:
                return {"ok": False, "error": "message_not_found"}
            for m in self.channels.get(channel, []):
                if m["ts"] == ts:
                    m.update(fields, edited={"user": "UWARWIRE", "ts": self._ts()})
                    return {"ok": True, "channel": channel, "ts": ts, "text": m.get("text", ""), "message": m}
        return {"ok": False, "error": "message_not_found"}

    def _visible(self, messages: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
        oldest = float(body.get("oldest") or 0)
        limit = int(body.get("limit") or 100)
        with_meta = body.get("include_all_metadata") in ("true", "1", True)
        out = [dict(m) for m in messages if float(m["ts"]) >= oldest and m["ts"] not in self.forgotten]
        if not with_meta:
            for m in out:
                m.pop("metadata", None)
        out = sorted(out, key=lambda m: float(m["ts"]), reverse=True)[:limit]
        return {"ok": True, "messages": out, "has_more": False, "response_metadata": {"next_cursor": ""}}

    def _history(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        with self.lock:
            return self._visible(self.channels[channel], body)

    def _replies(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            parent = [m for m in self.channels.get(body.get("channel", ""), []) if m["ts"] == body.get("ts")]
            if not parent:
                return {"ok": False, "error": "thread_not_found"}
            return self._visible(parent + self.replies[body["ts"]], body)

    # -- running it in a thread of its own, so that a worker in another process can call it --------
    def start(self) -> SlackAPI:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._stopping = asyncio.Event()
            app = web.Application()
            app.router.add_post("/api/{method}", self.handle)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.url = f"http://127.0.0.1:{port}/api/"
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        if self._loop is not None:
            self._loop.close()


def dump(api: SlackAPI) -> str:
    return json.dumps({"calls": [(m, b.get("channel"), b.get("ts"), b.get("thread_ts")) for m, b, _ in api.calls]},
                      indent=1)
