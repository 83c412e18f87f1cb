"""The Starlette application: JSON API, server-rendered UI, sessions, and the background ticker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from engine.definitions import Registry
from engine.errors import GoldkeyError
from engine.people import SESSION_LIFE
from engine.service import Engine, utcnow

from . import api, errors, recordapi, recordpages, registers, reportapi, reportpages, views
from .auth import LoginLimiter
from .middleware import BodyLimit, FollowReloads, OffLoop, SecurityHeaders

HERE = Path(__file__).resolve().parent
log = logging.getLogger("goldkey.server")


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def create_app(db: str | Path, registry: Registry, tick_seconds: float = 30.0,
               clock: Callable[[], datetime] = utcnow, https: bool = False) -> Starlette:
    """The app on one SQLite file. Endpoints run on one worker thread (middleware.OffLoop) and call the engine
    directly: a step is a fraction of a millisecond of SQLite work, and one Engine (one connection, one row cache)
    serves them all. `https`: served behind HTTPS (cookies marked Secure, Strict-Transport-Security sent)."""
    engine = Engine(db, registry, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        ticker = asyncio.create_task(_tick_forever(engine, tick_seconds)) if tick_seconds > 0 else None
        try:
            yield
        finally:
            if ticker:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            engine.close()

    app = Starlette(
        routes=[Route("/healthz", healthz), *api.routes, *recordapi.routes, *reportapi.routes, *registers.routes,
                *recordpages.routes, *reportpages.routes,
                *views.routes,
                Mount("/static", StaticFiles(directory=HERE / "static"), name="static")],
        middleware=[Middleware(SecurityHeaders, https=https), Middleware(BodyLimit), Middleware(OffLoop),
                    Middleware(FollowReloads, engine=engine),
                    Middleware(SessionMiddleware, secret_key=engine.session_secret, session_cookie="goldkey",
                               same_site="lax", https_only=https, max_age=int(SESSION_LIFE.total_seconds()))],
        exception_handlers={GoldkeyError: errors.goldkey_error, HTTPException: errors.http_error,
                            Exception: errors.server_error},
        lifespan=lifespan)
    app.state.engine = engine
    app.state.db = db  # (for the Engines of background jobs: an import runs on a thread with its own)
    app.state.logins = LoginLimiter()
    return app


async def _tick_forever(engine: Engine, seconds: float) -> None:
    """Apply deadlines and schedules every `seconds`, as `goldkey tick` does (safe beside a cron-run tick)."""
    while True:
        await asyncio.sleep(seconds)
        try:
            engine.follow_reloads()
            result = engine.tick()
            if result["started"] or result["actions"] or result["timers_fired"] or result["errors"]:
                log.info("tick: %s", result)
        except Exception:  # noqa: BLE001 - keep ticking; the next tick retries
            log.exception("tick failed")
