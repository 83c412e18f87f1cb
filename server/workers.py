"""`goldkey serve --workers N`: N server processes on one port, each with its own app and Engine on the one database.

Each worker binds a listening socket of its own with SO_REUSEPORT, so the kernel spreads new connections evenly
over them; with one shared socket, a burst of connections mostly goes to whichever process wakes first. The parent
only starts the workers, passes SIGTERM and SIGINT on to them (as SIGTERM), and waits."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket


def serve(host: str, port: int, workers: int, db: str, defs: str, tick_seconds: float, https: bool) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(host, port, db, defs, tick_seconds, https), name=f"goldkey-{i + 1}")
             for i in range(workers)]
    for proc in procs:
        proc.start()

    def pass_on(signum, frame) -> None:
        # as SIGTERM: a Ctrl-C at a terminal reaches the workers too, and a second SIGINT would make uvicorn
        # stop at once instead of finishing the requests under way
        for proc in procs:
            if proc.pid and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, pass_on)
    signal.signal(signal.SIGINT, pass_on)
    for proc in procs:
        proc.join()


def _worker(host: str, port: int, db: str, defs: str, tick_seconds: float, https: bool) -> None:
    import uvicorn

    from engine import definitions

    from .app import create_app

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    app = create_app(db, definitions.load_strict(defs), tick_seconds=tick_seconds, https=https)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", proxy_headers=False)
    uvicorn.Server(config).run(sockets=[sock])
