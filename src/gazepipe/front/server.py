"""Procfile entry point of the front: the Starlette app served by hypercorn on GAZEPIPE_HOST:GAZEPIPE_PORT.

Served through hypercorn's `serve()` from this process (not the `hypercorn` command, whose daemonic worker
process could not own resources cleanly) on uvloop, with SIGTERM wired to a drain that answers every frame
held, and WebSocket compression declined.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from dataclasses import replace

import uvloop
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.protocol import ws_stream

from gazepipe import logs
from gazepipe.config import Settings
from gazepipe.front.app import Front, create_app


class UncompressedHandshake(ws_stream.Handshake):
    """hypercorn's WebSocket handshake, declining the extensions a client offers.

    hypercorn (0.18, no setting for it) accepts permessage-deflate whenever it is offered, and browsers always
    offer it: the front would then inflate every JPEG frame and deflate every answer, for nothing on JPEG bytes
    (0.1 ms of CPU per 24 KB binary frame, 0.2 per text frame). RFC 7692 lets the server decline, and the
    client then sends its messages as they are."""

    def __init__(self, headers: list[tuple[bytes, bytes]], http_version: str) -> None:
        super().__init__(headers, http_version)
        self.extensions = None


def decline_compression() -> None:
    """Makes hypercorn answer every WebSocket handshake with `UncompressedHandshake`."""
    ws_stream.Handshake = UncompressedHandshake  # type: ignore[misc]


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    # Our own limit answers an oversized message with an error and keeps the connection; hypercorn's is the
    # hard stop far above it.
    config.websocket_max_message_size = 4 * settings.max_message_bytes
    config.graceful_timeout = 3.0
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # through our handler: one event a line
    return config


async def run(settings: Settings) -> None:
    app = create_app(settings)
    front: Front = app.state.front
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def shutdown_trigger() -> None:
        await stop.wait()
        logging.getLogger("gazepipe.front").info("shutting down: draining sessions")
        await front.drain()

    decline_compression()
    await serve(app, hypercorn_config(settings), shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run gazepipe's WebSocket front.")
    parser.add_argument("--host", help="bind address (GAZEPIPE_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (GAZEPIPE_PORT, default 8001)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logs.configure(settings.log_json, "front")
    if args.host:
        settings = replace(settings, host=args.host)
    if args.port:
        settings = replace(settings, port=args.port)
    uvloop.run(run(settings))  # libuv's event loop: a frame's dozen wake-ups and socket calls cost less


if __name__ == "__main__":
    main()
