"""One pipelined connection to Redis for the event loop: commands are written as they come and their replies,
parsed by hiredis, answer them in order.

The hot path of a cached recommendation makes one Redis call on the event loop. redis-py's asyncio client spends
more CPU per call than the rest of that request's Redis work (a connection checked out of a pool and back, a
retry wrapper, a timeout per read); Redis answers the commands of one connection in the order they were sent, so
one connection, shared by every request of the loop, needs none of that. A watchdog closes the connection when
the oldest call waits longer than the timeout, failing every call in flight: the caller then marks Redis down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import deque
from typing import Any

import hiredis
import redis
from redis.connection import UnixDomainSocketConnection, parse_url


class RedisLink(asyncio.Protocol):
    def __init__(self, url: str, timeout_s: float) -> None:
        self.options = parse_url(url)
        if self.options.get("connection_class") not in (None, UnixDomainSocketConnection):
            raise ValueError(f"{url.split('://')[0]}:// connections go through redis-py's client")
        self.timeout_s = timeout_s
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader(replyError=redis.ResponseError)
        self.waiting: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._scripts: dict[str, str] = {}  # text -> SHA-1

    # -- the protocol --------------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            _, future = self.waiting.popleft()
            if not future.done():
                if isinstance(reply, redis.ResponseError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(redis.ConnectionError(f"the connection to Redis was lost: {exc or 'closed'}"))

    def _fail(self, error: Exception) -> None:
        self.transport = None
        self.reader = hiredis.Reader(replyError=redis.ResponseError)
        while self.waiting:
            _, future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)

    # -- calls ---------------------------------------------------------------------------------------------------
    async def call(self, *parts: str | bytes | int | float) -> Any:
        """One command's reply; redis.ConnectionError or redis.TimeoutError when Redis cannot answer in time,
        redis.ResponseError for Redis's own error reply."""
        if self.transport is None or self.loop is not asyncio.get_running_loop():
            await self._connect()
        assert self.loop is not None and self.transport is not None
        future = self.loop.create_future()
        self.waiting.append((self.loop.time(), future))
        self.transport.write(self._encode(parts))
        return await future

    async def script(self, text: str, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA of ``text``, loading it on Redis's first NOSCRIPT."""
        sha = self._scripts.get(text) or self._scripts.setdefault(text, hashlib.sha1(text.encode()).hexdigest())
        try:
            return await self.call("EVALSHA", sha, len(keys), *keys, *args)
        except redis.ResponseError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
            return await self.call("EVAL", text, len(keys), *keys, *args)

    @staticmethod
    def _encode(parts: tuple[str | bytes | int | float, ...]) -> bytes:
        out = [b"*%d\r\n" % len(parts)]
        for part in parts:
            raw = part if isinstance(part, bytes) else str(part).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
        return b"".join(out)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # tests run one loop per client: a connection belongs to the loop that opened it
            self.close()
            self.loop, self._connecting = loop, None
        if self._connecting is None:
            self._connecting = loop.create_task(self._open(loop))  # type: ignore[assignment]
        connecting = self._connecting
        try:
            await asyncio.shield(connecting)  # type: ignore[arg-type]
        finally:
            if connecting.done():
                self._connecting = None

    async def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        options = self.options
        try:
            async with asyncio.timeout(self.timeout_s):
                if "path" in options:
                    await loop.create_unix_connection(lambda: self, options["path"])
                else:
                    await loop.create_connection(lambda: self, options.get("host", "localhost"),
                                                 options.get("port", 6379))
        except (OSError, TimeoutError) as error:
            raise redis.ConnectionError(f"cannot connect to Redis: {error}") from error
        self._watch()
        if options.get("password"):
            await self.call("AUTH", *([options["username"]] if options.get("username") else []), options["password"])
        if options.get("db"):
            await self.call("SELECT", options["db"])

    def _watch(self) -> None:
        """Every half timeout while connected: close the connection when its oldest call has waited too long."""
        self._watchdog = None
        if self.transport is None or self.loop is None:
            return
        if self.waiting and self.loop.time() - self.waiting[0][0] > self.timeout_s:
            transport = self.transport
            self._fail(redis.TimeoutError(f"Redis did not answer within {self.timeout_s:g} s"))
            transport.abort()
            return
        self._watchdog = self.loop.call_later(self.timeout_s / 2, self._watch)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop that opened it may be closed already
            if self._watchdog is not None:
                self._watchdog.cancel()
            if self.transport is not None:
                self.transport.close()
        self._watchdog = None
        self.transport = None
