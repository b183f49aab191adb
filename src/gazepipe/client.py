"""A Python client of `/ws/gaze`: frames in (NumPy BGR arrays or JPEG bytes), the service's own typed results out.

    async with GazeClient("ws://127.0.0.1:8001/ws/gaze", max_unanswered=2) as client:
        await client.send(frame)               # waits while 2 frames are unanswered (backpressure)
        result = await client.receive()        # GazeResult | ErrorMessage | ReplyMessage (gazepipe.protocol)

Answers are decoded with the service's own msgspec types (`gazepipe.protocol`): one schema for both sides. When
the connection drops, the client reconnects with a growing delay; frames that were unanswered then are counted
in `lost` and never answered (a frame whose sending failed goes again on the new connection).
`BlockingGazeClient` wraps it for code without an event loop.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Literal, TypeVar

import cv2
import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gazepipe.protocol import (
    ClientMessage,
    FrameMessage,
    ServerMessage,
    json_encoder,
    pack_binary_frame,
    server_json_decoder,
    server_msgpack_decoder,
)

Image = np.ndarray | bytes
T = TypeVar("T")


class _Link:
    """One connection and what was sent on it unanswered (True: a frame, False: a request), in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.outstanding: collections.deque[bool] = collections.deque()


def to_jpeg(frame: Image, quality: int = 80) -> bytes:
    """JPEG bytes of a BGR (or greyscale) image; JPEG bytes pass through."""
    if isinstance(frame, bytes | bytearray | memoryview):
        return bytes(frame)
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode an image of shape {frame.shape} as JPEG")
    return encoded.tobytes()


class GazeClient:
    """One connection to a running service. `max_unanswered` 0 sends without waiting for answers."""

    def __init__(self, url: str = "ws://127.0.0.1:8001/ws/gaze", *, max_unanswered: int = 2,
                 mode: Literal["binary", "text"] = "binary", token: str | None = None, jpeg_quality: int = 80,
                 reconnect: bool = True, backoff_s: tuple[float, float] = (0.1, 5.0),
                 compression: Literal["deflate"] | None = None, open_timeout_s: float = 30.0) -> None:
        self.url = url if token is None else f"{url}{'&' if '?' in url else '?'}token={token}"
        self.max_unanswered = max_unanswered
        self.mode = mode
        self.jpeg_quality = jpeg_quality
        self.reconnect = reconnect
        self.backoff_s = backoff_s
        self.compression = compression
        self.open_timeout_s = open_timeout_s
        self.lost = 0  # frames and requests left unanswered by a dropped connection
        self.reconnects = 0
        self._seq = 0
        self._link: _Link | None = None
        self._answers: asyncio.Queue[ServerMessage | BaseException] = asyncio.Queue()
        self._room = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def unanswered(self) -> int:
        """Frames sent and not answered yet."""
        return 0 if self._link is None else sum(self._link.outstanding)

    async def __aenter__(self) -> GazeClient:
        await self.connect()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Connects, retrying with a growing delay when `reconnect` is set (else the first failure raises)."""
        delay = self.backoff_s[0]
        while True:
            try:
                ws = await connect(self.url, max_size=None, compression=self.compression,
                                   open_timeout=self.open_timeout_s, ping_interval=None)
                break
            except Exception:  # refused, reset, timed out, or HTTP 503 while the service starts or drains
                if not self.reconnect or self._closing:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_s[1])
        self._link = _Link(ws)
        self._reader = asyncio.create_task(self._read(self._link))

    async def _read(self, link: _Link) -> None:
        try:
            async for raw in link.ws:
                message = (server_msgpack_decoder.decode(raw) if isinstance(raw, bytes)
                           else server_json_decoder.decode(raw))
                if link.outstanding:
                    link.outstanding.popleft()
                self._answers.put_nowait(message)
                await self._notify()
        except ConnectionClosed:
            pass
        if self._closing:
            return
        self._link = None
        self.lost += len(link.outstanding)
        link.outstanding.clear()
        await self._notify()
        if not self.reconnect:
            self._answers.put_nowait(ConnectionError(f"connection to {self.url} closed"))
            return
        self.reconnects += 1
        try:
            await self.connect()
        except Exception as exc:
            self._answers.put_nowait(exc)

    async def _notify(self) -> None:
        async with self._room:
            self._room.notify_all()

    async def _connection(self) -> _Link:
        """The open connection, waiting while the client reconnects."""
        while self._link is None:
            if self._closing:
                raise ConnectionError("client closed")
            await asyncio.sleep(0.02)
        return self._link

    async def send(self, frame: Image, timestamp_ms: float | None = None, seq: int | None = None) -> int:
        """Sends one frame, waiting while `max_unanswered` frames are unanswered; returns its seq."""
        if self.max_unanswered > 0:
            async with self._room:
                await self._room.wait_for(lambda: self.unanswered < self.max_unanswered)
        seq = self._seq if seq is None else seq
        self._seq = seq + 1
        timestamp = time.time() * 1000.0 if timestamp_ms is None else timestamp_ms
        jpeg = to_jpeg(frame, self.jpeg_quality)
        if self.mode == "binary":
            data: bytes | str = pack_binary_frame(seq, timestamp, jpeg)
        else:
            image = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
            data = json_encoder.encode(FrameMessage(image=image, timestamp=timestamp, seq=seq)).decode()
        await self._send(data, frame=True)
        return seq

    async def request(self, message: ClientMessage) -> None:
        """Sends a control message (`ConfigMessage`, `StatsRequest`, `CalibrationMessage`); its `ReplyMessage`
        comes through `receive` in its turn."""
        await self._send(json_encoder.encode(message).decode(), frame=False)

    async def _send(self, data: bytes | str, frame: bool) -> None:
        while True:
            link = await self._connection()
            link.outstanding.append(frame)
            try:
                await link.ws.send(data)
                return
            except ConnectionClosed:
                if not self.reconnect:
                    raise
            # Not sent, so not lost: it goes again once the reader has reconnected. Whether the reader has counted
            # this connection's unanswered messages yet or not, this one is taken out of them.
            if self._link is link:
                link.outstanding.pop()
            else:
                self.lost -= 1
            await asyncio.sleep(0.02)

    async def receive(self) -> ServerMessage:
        """The next answer, in the order the frames and requests were sent."""
        answer = await self._answers.get()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def __aiter__(self) -> AsyncIterator[ServerMessage]:
        while True:
            try:
                yield await self.receive()
            except ConnectionError:
                return

    async def close(self) -> None:
        self._closing = True
        if self._link is not None:
            with contextlib.suppress(Exception):
                await self._link.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader


class BlockingGazeClient:
    """`GazeClient` for code without an event loop: it runs on a thread of its own.

        with BlockingGazeClient(url) as client:
            client.send(frame)
            print(client.receive(timeout=5))
    """

    def __init__(self, url: str = "ws://127.0.0.1:8001/ws/gaze", **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="gazepipe-client", daemon=True)
        self._thread.start()
        self.client = GazeClient(url, **options)
        self._call(self.client.connect())

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def send(self, frame: Image, timestamp_ms: float | None = None, seq: int | None = None) -> int:
        return self._call(self.client.send(frame, timestamp_ms, seq))

    def request(self, message: ClientMessage) -> None:
        self._call(self.client.request(message))

    def receive(self, timeout: float | None = None) -> ServerMessage:
        return self._call(self.client.receive(), timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self.client.close(), timeout=5.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)
        self._loop.close()

    def __enter__(self) -> BlockingGazeClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
