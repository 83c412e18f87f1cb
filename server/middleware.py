"""What every request passes through before the app's own code: security headers, a bounded body, and the move
off the server's event loop onto the worker thread where the app's work runs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine import attachments

from .errors import server_error, too_large

MAX_BODY = 1024 * 1024  # bytes of a JSON or form post
MAX_UPLOAD_BODY = 4 * attachments.MAX_BYTES + 1024 * 1024  # a post with files: a few photos at their limit


class SecurityHeaders:
    """Headers every response carries: no sniffing, no framing, scripts and styles only from this site; and
    behind HTTPS, Strict-Transport-Security (browsers then never try plain HTTP to this site)."""

    HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
               (b"referrer-policy", b"same-origin"),
               (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                            b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'")]
    HSTS = (b"strict-transport-security", b"max-age=31536000")

    def __init__(self, app: ASGIApp, https: bool = False) -> None:
        self.app = app
        self.headers = self.HEADERS + ([self.HSTS] if https else [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + self.headers
            await send(message)

        await self.app(scope, receive, sending)


class BodyLimit:
    """A request body is read whole before the app runs, and is at most MAX_BODY bytes (MAX_UPLOAD_BODY for
    multipart posts, which carry files): one that says it is longer is refused before a byte of it is read, and
    a chunked one as soon as it passes the limit, so a client cannot make the server hold more."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def limit(scope: Scope) -> int:
        kind = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
        return MAX_UPLOAD_BODY if kind == b"multipart/form-data" else MAX_BODY

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit(scope)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        body = bytearray()
        while not (declared.isdigit() and int(declared) > limit):
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # (the client left)
            body += message.get("body", b"")
            if len(body) > limit:
                break
            if not message.get("more_body"):
                return await self.app(scope, _replay(bytes(body), receive), send)
        await too_large(Request(scope), limit)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body as one message, then what the server says next (a disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receiving() -> Message:
        return pending.pop() if pending else await receive()
    return receiving


class FollowReloads:
    """On the worker, before a request: definitions another server on the same database reloaded are loaded here
    too (the Engine looks at most once a second)."""

    def __init__(self, app: ASGIApp, engine) -> None:
        self.app, self.engine = app, engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.engine.follow_reloads()
        await self.app(scope, receive, send)


class OffLoop:
    """The app's work runs on one worker thread with an event loop of its own; the server's loop only moves
    bytes and answers the paths in `here` (/healthz). So a request that is busy for a while (an expression or a
    printout near its limits, a large export) delays other requests' work, never the server's answers to
    health checks or its reading of requests. One worker, as before on the server's loop: the Engine (one SQLite
    connection, one cache) is only ever used from one thread, and a step is a fraction of a millisecond.

    A request crosses once each way: its body (read whole by BodyLimit) goes over with it, and its response
    comes back whole (every response of the app is in memory anyway)."""

    def __init__(self, app: ASGIApp, here: tuple[str, ...] = ("/healthz",)) -> None:
        self.app, self.here = app, here
        self._worker: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def worker(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._worker is None or self._worker.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=self._run, args=(loop,), name="goldkey-worker", daemon=True).start()
                self._worker = loop
            return self._worker

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.here:
            return await self.app(scope, receive, send)
        if scope["type"] != "http":
            return await self._bridged(scope, receive, send)
        body = await receive()  # (all of it: see BodyLimit)
        messages, error = await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self._respond(scope, body), self.worker()))
        for message in messages:
            await send(message)
        if error is not None:
            raise error  # (after its 500 went out, as Starlette does: for the log and the test client)

    async def _respond(self, scope: Scope, body: Message) -> tuple[list[Message], BaseException | None]:
        """On the worker: the app's answer to one request, whole; an error escaping the app is answered 500
        here, where the Engine lives."""
        pending, sent = [body], []

        async def receiving() -> Message:
            if pending:
                return pending.pop()
            await asyncio.Event().wait()  # (nothing more comes: the body was read whole)
            raise AssertionError("unreachable")

        async def sending(message: Message) -> None:
            sent.append(message)

        try:
            await self.app(scope, receiving, sending)
        except Exception as exc:  # noqa: BLE001 - answered, then raised again on the server's side
            if sent:
                return sent, exc
            await (await server_error(Request(scope), exc))(scope, receiving, sending)
            return sent, exc
        return sent, None

    async def _bridged(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The lifespan (startup, shutdown) on the worker, each message passed across."""
        server, worker = asyncio.get_running_loop(), self.worker()

        def on_server(call: Callable[..., Awaitable]) -> Callable[..., Awaitable]:
            async def bridged(*args):  # (runs on the worker: waits for `call` done on the server's loop)
                return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(*args), server))
            return bridged

        done: Future = asyncio.run_coroutine_threadsafe(self.app(scope, on_server(receive), on_server(send)), worker)
        if scope["type"] != "lifespan":
            return await asyncio.wrap_future(done)
        try:
            await asyncio.wrap_future(done)
        except asyncio.CancelledError:
            pass  # the server ends its loop as soon as the app says its shutdown is complete: it is
        finally:
            self.stop()

    def stop(self) -> None:
        """After the app's shutdown: what still runs on the worker is cancelled and let finish, then its thread
        ends (a later request starts another)."""
        with self._lock:
            loop, self._worker = self._worker, None
        if loop is not None:
            asyncio.run_coroutine_threadsafe(self._drain(), loop)

    @staticmethod
    async def _drain() -> None:
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        asyncio.get_running_loop().stop()
