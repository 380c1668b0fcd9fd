"""Fetching feeds over HTTP: conditional GET, bounded size, redirects and time, per-host limits.

Errors (all `FetchError`, translated here at the I/O edge):
    FetchError
    ├── FetchTimeout          connect, read or total time exceeded (a trickling server included)
    ├── FetchTooLarge         the body passed the size limit while streaming
    ├── FetchStatus(status)   an HTTP error status (retry_after_s set from Retry-After)
    └── FetchConnection       refused, reset, DNS, TLS, too many redirects, a redirect refused

Redirects are followed here, one hop at a time (at most MAX_REDIRECTS): a hop to another
scheme than http(s), or to another host whose address is internal and not allowed
(connectors.core.addresses), is refused, so a feed cannot point the connector at the machine's
own services; only a chain of permanent redirects that were all allowed is remembered.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import aiohttp

from connectors.core.addresses import Network, refused
from streams.core.retry_after import parse_retry_after

USER_AGENT = "warwire/0.1 (+https://github.com/warwire/warwire; news monitor; polite polling)"
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5


class FetchError(Exception):
    def __init__(self, url: str, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url, self.reason, self.retry_after_s = url, reason, retry_after_s


class FetchTimeout(FetchError):
    pass


class FetchTooLarge(FetchError):
    pass


class FetchConnection(FetchError):
    pass


class FetchStatus(FetchError):
    def __init__(self, url: str, status: int, retry_after_s: float | None = None) -> None:
        super().__init__(url, f"HTTP {status}", retry_after_s)
        self.status = status


@dataclass
class Validators:
    """What the last 200 answer told us, for the next conditional GET."""

    etag: str | None = None
    last_modified: str | None = None
    permanent_url: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    status: int  # 200 or 304
    body: bytes
    headers: Mapping[str, str]
    url: str
    max_age_s: float | None = None
    elapsed_s: float = 0.0


@dataclass
class Fetcher:
    """One shared HTTP session with a concurrency limit per host."""

    per_host: int = 2
    timeout: aiohttp.ClientTimeout = field(
        default_factory=lambda: aiohttp.ClientTimeout(total=30, connect=10, sock_connect=10, sock_read=15))
    max_body: int = MAX_BODY_BYTES
    allow_networks: tuple[Network, ...] = ()
    _session: aiohttp.ClientSession | None = None
    _hosts: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self.per_host)
        return self._hosts[host]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT, "Accept": "application/rss+xml, application/atom+xml, "
                         "application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"},
                auto_decompress=True, timeout=self.timeout)
        return self._session

    async def fetch(self, url: str, validators: Validators) -> Fetched:
        target = validators.permanent_url or url
        headers = {}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        host = urlsplit(target).netloc
        t0 = time.monotonic()
        async with self._host_slot(host):
            try:
                return await self._follow(url, target, headers, validators, t0)
            except TimeoutError as exc:
                raise FetchTimeout(url, f"timed out after {time.monotonic() - t0:.1f}s") from exc
            except aiohttp.ClientPayloadError as exc:
                raise FetchConnection(url, f"broken body: {exc}") from exc
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                raise FetchConnection(url, f"{type(exc).__name__}: {exc}") from exc

    async def _follow(self, url: str, target: str, headers: dict[str, str], validators: Validators,
                      t0: float) -> Fetched:
        origin = urlsplit(url).hostname
        permanent = True
        for _hop in range(MAX_REDIRECTS + 1):
            async with self.session().get(target, headers=headers, allow_redirects=False) as resp:
                location = resp.headers.get("Location")
                if resp.status in (301, 302, 303, 307, 308) and location:
                    permanent = permanent and resp.status in (301, 308)
                    nxt = urljoin(target, location)
                    await self.check_destination(url, origin, nxt, "redirect")
                    target = nxt
                    continue
                if target != (validators.permanent_url or url) and permanent:
                    validators.permanent_url = target
                if resp.status == 304:
                    return Fetched(304, b"", resp.headers, str(resp.url), _max_age(resp.headers),
                                   time.monotonic() - t0)
                if resp.status >= 400:
                    raise FetchStatus(url, resp.status, parse_retry_after(resp.headers.get("Retry-After"), time.time()))
                if (resp.content_length or 0) > self.max_body:
                    raise FetchTooLarge(url, f"Content-Length {resp.content_length} exceeds {self.max_body} bytes")
                chunks, size = [], 0
                async for chunk in resp.content.iter_chunked(65536):
                    size += len(chunk)
                    if size > self.max_body:
                        raise FetchTooLarge(url, f"body exceeds {self.max_body} bytes")
                    chunks.append(chunk)
                validators.etag = resp.headers.get("ETag")
                validators.last_modified = resp.headers.get("Last-Modified")
                return Fetched(resp.status, b"".join(chunks), resp.headers, str(resp.url),
                               _max_age(resp.headers), time.monotonic() - t0)
        raise FetchConnection(url, f"more than {MAX_REDIRECTS} redirects")

    async def check_destination(self, url: str, origin: str | None, destination: str, what: str) -> None:
        """Raise FetchConnection when the feed at `url` (host `origin`) may not lead to
        `destination` (module docstring)."""
        parts = urlsplit(destination)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchConnection(url, f"{what} to a non-http(s) URL refused: {destination[:120]}")
        host = parts.hostname
        if origin is not None and host == origin:
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 80, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise FetchConnection(url, f"{what} to {host}: cannot resolve ({exc})") from exc
        bad = refused([str(info[4][0]) for info in infos], self.allow_networks)
        if bad is not None:
            raise FetchConnection(url, f"{what} to {host} ({bad}) refused: an internal address "
                                       "(allow its network with connectors.allow_networks)")


def _max_age(headers: Mapping[str, str]) -> float | None:
    for part in (headers.get("Cache-Control") or "").split(","):
        k, _, v = part.strip().partition("=")
        if k.lower() == "max-age" and v.strip().isdigit():
            return float(v.strip())
    return None
