"""The front: a thin Starlette app that takes frames off WebSockets and hands them to the dispatcher.

A frame's path: `gaze_socket` receives it, `_intake` parses the message and reads only the JPEG header, the
dispatcher decodes it into a ring slot when a worker is free, the worker tracks it, and the session sends the
answer back in the order the frames came.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import msgspec
from prometheus_client import generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from gazepipe import __version__, ipc
from gazepipe.config import Settings
from gazepipe.front import metrics
from gazepipe.front.dispatcher import Dispatcher, WorkerLink
from gazepipe.front.jpeg import base64_payload, plan_decode
from gazepipe.front.session import Frame, Session, SlowConsumer
from gazepipe.protocol import (
    PROTOCOL_VERSIONS,
    CalibrationMessage,
    ConfigMessage,
    FrameMessage,
    ProtocolError,
    StatsRequest,
    json_decoder,
    parse_binary_frame,
)
from gazepipe.ring import FrameRing, remove_stale_segments, segment_name
from gazepipe.signals.screen import CalibrationError

log = logging.getLogger("gazepipe.front")
DEMO_DIR = Path(__file__).parents[1] / "static" / "demo"  # the package's static/, beside front/
CLOSE_POLICY = 1008  # RFC 6455: the message or client violates the service's policy
CLOSE_GOING_AWAY = 1001


class Front:
    """Everything the front process holds: the ring, the dispatcher, the worker socket and open sessions."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.origin_pattern = re.compile(settings.allowed_origins)
        self.sessions: dict[str, tuple[Session, WebSocket]] = {}
        self.per_client: Counter[str] = Counter()
        self.ring: FrameRing | None = None
        self.dispatcher: Dispatcher | None = None
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._floods: dict[str, tuple[float, int]] = {}  # client address: (last cut-off, strikes)

    def flooded(self, client: str) -> None:
        """A connection from `client` was cut off for flooding: hold its next handshakes back for a while,
        doubling with each cut-off within the hold window, so that reconnecting to flood again costs time."""
        now = time.monotonic()
        last, strikes = self._floods.get(client, (0.0, 0))
        strikes = strikes + 1 if now - last < 2 * self.settings.flood_hold_s else 1
        self._floods[client] = (now, strikes)
        if len(self._floods) > 4096:  # forget old offenders rather than grow
            self._floods = {c: v for c, v in self._floods.items() if now - v[0] < 2 * self.settings.flood_hold_s}

    def release_client(self, client: str) -> None:
        """One connection (or held handshake) of `client` is gone."""
        self.per_client[client] -= 1
        if self.per_client[client] <= 0:
            del self.per_client[client]

    def hold_for(self, client: str) -> float:
        """Seconds to hold a handshake from `client` before accepting it (0 for everyone who has not flooded)."""
        if client not in self._floods:
            return 0.0
        last, strikes = self._floods[client]
        hold = min(self.settings.flood_hold_s, 0.25 * 2 ** strikes)
        return max(0.0, last + hold - time.monotonic())

    async def start(self) -> None:
        removed = remove_stale_segments()
        if removed:
            log.info("removed shared-memory segments of dead fronts: %s", ", ".join(removed))
        s = self.settings
        self.ring = FrameRing.create(segment_name(s.port, os.getpid()), s.ring_slots, s.slot_pixels)
        self.dispatcher = Dispatcher(s, self.ring)
        with contextlib.suppress(FileNotFoundError):
            s.socket_path.unlink()
        dispatcher = self.dispatcher
        self._server = await asyncio.get_running_loop().create_unix_server(lambda: WorkerConnection(dispatcher),
                                                                          path=str(s.socket_path))
        self._sweeper = asyncio.create_task(self._sweep())
        log.info("front ready: ring %s, %d slots; workers connect at %s", self.ring.name, s.ring_slots,
                 s.socket_path)

    async def drain(self) -> None:
        """On SIGTERM: answer every frame held, close every socket with 1001, stop taking workers' results."""
        if self.dispatcher is not None:
            self.dispatcher.shutdown()
        # All sessions at once: one after another, a few hundred slow clients would outlast the stop timeout.
        await asyncio.gather(*(self._close_drained(session, websocket)
                               for session, websocket in list(self.sessions.values())))

    @staticmethod
    async def _close_drained(session: Session, websocket: WebSocket) -> None:
        session.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session_flushed(session), timeout=1.0)
            await websocket.close(code=CLOSE_GOING_AWAY, reason="server shutting down")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(FileNotFoundError):
                self.settings.socket_path.unlink()
        if self.dispatcher is not None:
            for link in list(self.dispatcher.workers.values()):
                link.writer.close()
        if self.ring is not None:
            self.ring.close()

    async def _sweep(self) -> None:
        assert self.dispatcher is not None
        while True:
            await asyncio.sleep(0.025)
            self.dispatcher.sweep()


class WorkerConnection(asyncio.Protocol):
    """One tracker worker's end of the front's socket: its length-prefixed messages are parsed as they arrive and
    handed to the dispatcher in the same callback, with no task to wake per result."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.transport: asyncio.WriteTransport | None = None
        self.link: WorkerLink | None = None
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.WriteTransport, transport)  # a Unix socket's (uvloop's are not subclasses)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        buffer = self._buffer
        buffer += data
        start = 0
        while len(buffer) - start >= ipc.LENGTH.size:
            (size,) = ipc.LENGTH.unpack_from(buffer, start)
            end = start + ipc.LENGTH.size + size
            if len(buffer) < end:
                break
            try:
                message = ipc.front_decoder.decode(buffer[start + ipc.LENGTH.size:end])
            except msgspec.DecodeError:
                self.transport.close()
                return
            start = end
            if isinstance(message, ipc.Hello):
                self.link = self.dispatcher.add_worker(message, self.transport)
            elif self.link is not None:
                self.dispatcher.complete(self.link, message)
        del buffer[:start]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.dispatcher.remove_worker(self.link)


async def session_flushed(session: Session) -> None:
    while not session.outbox.empty():
        await asyncio.sleep(0.01)


def _client_address(websocket: WebSocket) -> str:
    return websocket.client.host if websocket.client else "unknown"


def _front(request: Request | WebSocket) -> Front:
    front: Front = request.app.state.front
    return front


async def info(request: Request) -> JSONResponse:
    front = _front(request)
    workers = len(front.dispatcher.workers) if front.dispatcher else 0
    return JSONResponse({
        "service": "gazepipe",
        "version": __version__,
        "protocols": list(PROTOCOL_VERSIONS),
        "workers": workers,
        "websocket": "/ws/gaze",
        "demo": "/demo/",
        "health": "/health",
        "metrics": "/metrics",
    })


async def health(request: Request) -> JSONResponse:
    front = _front(request)
    if front.dispatcher is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    body: dict[str, object] = {"status": "ok", "sessions": len(front.sessions), **front.dispatcher.health()}
    if front.dispatcher.shutting_down:  # draining on SIGTERM: readiness probes and balancers take it out
        body.update(status="draining", reason="shutting down")
        return JSONResponse(body, status_code=503)
    if not front.dispatcher.workers:
        body.update(status="unavailable", reason="no tracker worker is connected")
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


async def prometheus(request: Request) -> Response:
    front = _front(request)
    if front.dispatcher is not None and front.ring is not None:
        metrics.RING_IN_USE.set(front.ring.in_use)
        metrics.WORKERS.set(len(front.dispatcher.workers))
        metrics.WORKER_RESTARTS.set(front.dispatcher.worker_restarts)
    metrics.CONNECTIONS.set(len(front.sessions))
    return Response(generate_latest(metrics.REGISTRY), media_type="text/plain; version=0.0.4")


def _refusal(front: Front, websocket: WebSocket) -> str | None:
    """Why this handshake is refused, or None to accept it."""
    origin = websocket.headers.get("origin")
    if origin is not None and not front.origin_pattern.match(origin):
        return f"origin {origin} is not allowed"
    if front.settings.token and not hmac.compare_digest(
            websocket.query_params.get("token", "").encode(), front.settings.token.encode()):
        return "missing or wrong token"
    client = _client_address(websocket)
    if front.per_client[client] >= front.settings.max_connections_per_client:
        return f"too many connections from {client}"
    return None


async def gaze_socket(websocket: WebSocket) -> None:
    front = _front(websocket)
    refusal = _refusal(front, websocket)
    if refusal is None and (front.dispatcher is None or front.dispatcher.shutting_down) \
            and "websocket.http.response" in websocket.scope.get("extensions", {}):
        # Starting or draining: HTTP 503, which a balancer (nginx's proxy_next_upstream http_503) retries on
        # another instance, where a close would reach the client as a failed handshake.
        log.warning("websocket refused: %s", "starting" if front.dispatcher is None else "shutting down")
        await websocket.send_denial_response(JSONResponse({"status": "unavailable"}, status_code=503))
        return
    if refusal is not None or front.dispatcher is None or front.dispatcher.shutting_down:
        log.warning("websocket refused: %s", refusal or "shutting down")
        await websocket.close(code=CLOSE_POLICY, reason=refusal or "shutting down")
        return
    client = _client_address(websocket)
    hold = front.hold_for(client)
    if hold > 0:  # this address flooded a moment ago: its handshake waits (and counts against its connections)
        front.per_client[client] += 1
        try:
            await asyncio.sleep(hold)
        finally:
            front.release_client(client)
    await websocket.accept()
    settings = front.settings
    session = Session(client, settings.max_outbox, settings.detect_every_s, settings.no_face_search_every_s)
    front.sessions[session.id] = (session, websocket)
    front.per_client[client] += 1
    metrics.SESSIONS_TOTAL.inc()
    log.info("session %s opened from %s", session.id, client, extra={"session": session.id, "client": client})
    sender = asyncio.create_task(_send_answers(session, websocket))
    limiter = RateLimiter(settings.max_fps)
    # Bytes too: hypercorn has unmasked and buffered a message before the app sees it (about 6 ms per MB), so a
    # client sending large messages at a legal frame rate would otherwise have the front's CPU.
    byte_limiter = RateLimiter(settings.max_bytes_per_s)
    disconnected = False
    loop = asyncio.get_running_loop()
    try:
        # One deadline moved on by each message: `wait_for` around every receive would cost a task a message.
        async with asyncio.timeout(settings.idle_timeout_s) as idle:
            while not session.closed:
                message = await websocket.receive()
                idle.reschedule(loop.time() + settings.idle_timeout_s)
                if message["type"] == "websocket.disconnect":
                    disconnected = True
                    break
                data, text = message.get("bytes"), message.get("text")
                within_bytes = byte_limiter.take(len(data) if data is not None else len(text or ""))
                if limiter.flooding() or byte_limiter.flooding():
                    front.flooded(client)
                    metrics.ERRORS.labels("flooding").inc()
                    log.warning("session %s closed: flooding", session.id,
                                extra={"session": session.id, "client": client, "reason": "flooding"})
                    # the answers already given (the rate_limited ones among them) go out before the close
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(session_flushed(session), timeout=1.0)
                    await websocket.close(code=CLOSE_POLICY, reason="message or byte rate far above the limit")
                    break
                _intake(front, session, data, text, limiter, within_bytes)
    except TimeoutError:
        with contextlib.suppress(Exception):
            await websocket.close(code=CLOSE_GOING_AWAY, reason="idle timeout")
    except WebSocketDisconnect:
        disconnected = True
    except SlowConsumer as exc:  # its answers piled up unread (an error or a reply answered at intake)
        metrics.ERRORS.labels("slow_consumer").inc()
        log.warning("session %s closed: slow consumer (%s)", session.id, exc,
                    extra={"session": session.id, "reason": "slow_consumer"})
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(code=CLOSE_POLICY, reason="answers not read"), 1.0)
    finally:
        session.close()
        front.dispatcher.forget(session)
        front.sessions.pop(session.id, None)
        front.release_client(client)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sender, timeout=2.0)
        if front.dispatcher.shutting_down:
            # The drain closed this session and a message ended the loop before the drain got to close the
            # socket: close it here with 1001, or hypercorn would close it with 1011 when this handler returns.
            with contextlib.suppress(Exception):
                await websocket.close(code=CLOSE_GOING_AWAY, reason="server shutting down")
        if not disconnected:
            await _discard_until_disconnect(websocket, settings.idle_timeout_s)
        log.info("session %s closed: %d received, %d processed, %d dropped", session.id,
                 session.frames_received, session.frames_processed, session.frames_dropped,
                 extra={"session": session.id, "client": client})


async def _discard_until_disconnect(websocket: WebSocket, timeout: float) -> None:
    """After the server closed a connection, drops what the client still sends until its close arrives.

    hypercorn queues a client's messages for the app and stops reading the socket while that queue is full: a
    handler that returned without reading on would leave the connection half-open (CLOSE_WAIT) for good, with
    the client's close reply never read. Bounded by `timeout`."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(timeout):
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass


async def _send_answers(session: Session, websocket: WebSocket) -> None:
    with contextlib.suppress(Exception):
        while (answer := await session.outbox.get()) is not None:
            if isinstance(answer, bytes):
                await websocket.send_bytes(answer)
            else:
                await websocket.send_text(answer)


class RateLimiter:
    """A token bucket of one second's worth (of frames, or of bytes); far past empty, the client is flooding."""

    def __init__(self, per_second: float) -> None:
        self.rate = per_second
        self.tokens = per_second
        self.last = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now

    def take(self, amount: float = 1.0) -> bool:
        self._refill()
        self.tokens -= amount
        return self.tokens >= 0.0

    def flooding(self) -> bool:
        self._refill()
        return self.tokens < -1.0 * self.rate


def _intake(front: Front, session: Session, data: bytes | None, text: str | None, limiter: RateLimiter,
            within_bytes: bool) -> None:
    """Parses one client message and files a frame with the dispatcher, or answers it at once. A frame beyond
    the session's frame rate or, `within_bytes` false, its byte rate is dropped as rate_limited undecoded."""
    assert front.dispatcher is not None
    settings = front.settings
    binary = data is not None
    ordinal = session.next_ordinal()
    timestamp: float | None = None
    seq: int | None = None
    try:
        size = len(data) if data is not None else len(text or "")
        if size > settings.max_message_bytes:
            raise ProtocolError("message_too_large",
                                f"message of {size} bytes exceeds the {settings.max_message_bytes}-byte limit")
        if data is not None:
            parsed = parse_binary_frame(data)
            timestamp, seq, jpeg = parsed.timestamp, parsed.seq, parsed.jpeg
        else:
            try:
                message = json_decoder.decode(text or "")
            except (msgspec.DecodeError, UnicodeError) as exc:
                raise ProtocolError("bad_message", f"not a valid message: {exc}") from None
            if not isinstance(message, FrameMessage):
                _control(session, ordinal, message)
                return
            timestamp = message.timestamp
            seq = message.seq if message.seq is not None else session.next_seq()
            jpeg = memoryview(base64_payload(message.image))
        session.frames_received += 1
        metrics.FRAMES_RECEIVED.inc()
        plan = plan_decode(jpeg, settings.max_frame_side, settings.slot_pixels, settings.max_progressive_pixels)
        frame = Frame(ordinal=ordinal, seq=seq, timestamp=timestamp, binary=binary, jpeg=jpeg, plan=plan)
        if not limiter.take() or not within_bytes:
            front.dispatcher.drop(session, frame, "rate_limited")
            return
        front.dispatcher.submit(session, frame)
    except ProtocolError as exc:
        limiter.take()  # a refused message costs its sender a frame's token, so a flood of garbage is cut off too
        metrics.ERRORS.labels(exc.code).inc()
        session.answer_error(ordinal, exc.code, str(exc), binary, timestamp, seq)


def _control(session: Session, ordinal: int, message: object) -> None:
    """Answers a control message (never a frame) in its place in the session's answer order. It takes effect
    in that place too: after every frame sent before it, before every frame sent after it (`Session.in_order`)."""
    session.in_order(ordinal, lambda: _answer_control(session, ordinal, message))


def _answer_control(session: Session, ordinal: int, message: object) -> None:
    signals = session.signals
    try:
        if isinstance(message, StatsRequest):
            request, data = "stats", session.stats()
        elif isinstance(message, ConfigMessage):
            request = "config"
            try:
                data = signals.configure(message.settings)
            except ValueError as exc:
                raise ProtocolError("bad_config", str(exc)) from None
        elif isinstance(message, CalibrationMessage):
            request = "calibration"
            try:
                data = {"action": message.action,
                        **signals.calibrate(message.action, message.x, message.y, message.data)}
            except CalibrationError as exc:
                raise ProtocolError(exc.code, str(exc)) from None
        else:
            raise ProtocolError("bad_message", f"{type(message).__name__} is not a control message")
    except ProtocolError as exc:
        metrics.ERRORS.labels(exc.code).inc()
        session.answer_error(ordinal, exc.code, str(exc), binary=False)
        return
    session.answer_reply(ordinal, request, data, binary=False)


def create_app(settings: Settings | None = None) -> Starlette:
    front = Front(settings or Settings.from_env())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await front.start()
        try:
            yield
        finally:
            await front.stop()

    routes: list[Route | WebSocketRoute | Mount] = [
        Route("/", info),
        Route("/health", health),
        Route("/metrics", prometheus),
        WebSocketRoute("/ws/gaze", gaze_socket),
    ]
    if DEMO_DIR.is_dir():
        routes.append(Mount("/demo", StaticFiles(directory=DEMO_DIR, html=True), name="demo"))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.front = front
    return app
