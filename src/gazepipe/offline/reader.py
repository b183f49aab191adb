"""A recording decoded ahead of the analysis by a thread of its own.

Handing each frame's decode to the event loop's executor cost the loop a submit, two chained futures and a
wake-up per frame, about a quarter of its time; this thread decodes up to `ahead` frames before they are
wanted (OpenCV releases the GIL while it decodes), and the loop takes a decoded frame without waiting or being
woken. It is woken only when it asks for a frame that is not decoded yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading

from gazepipe.offline.recording import Recording, VideoFrame

_Item = VideoFrame | None | Exception  # a frame; None at the end of the stream; what reading raised


class ReadAhead:
    """The frames of `recording` in order (`await next()`, None at the end); `close()` stops the reading and
    waits for a read under way, so that the capture is never closed under it."""

    def __init__(self, recording: Recording, ahead: int) -> None:
        self._recording = recording
        self._frames: queue.Queue[_Item] = queue.Queue(maxsize=ahead)
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._waiter: asyncio.Future[None] | None = None  # the loop waits for the next frame to be decoded
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._read, name="gazepipe-read", daemon=True)
        self._thread.start()

    async def next(self) -> VideoFrame | None:
        while True:
            try:
                item = self._frames.get_nowait()
            except queue.Empty:
                with self._lock:
                    if not self._frames.empty():
                        continue
                    waiter = self._waiter = self._loop.create_future()
                await waiter
                continue
            if isinstance(item, Exception):
                raise item
            return item

    def close(self) -> None:
        self._closing.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._frames.get_nowait()  # a reader blocked on a full queue sees `_closing`
            self._thread.join(timeout=0.01)

    def _read(self) -> None:
        index = 0
        try:
            while not self._closing.is_set():
                frame = self._recording.read(index)
                self._put(frame)
                if frame is None:
                    return
                index += 1
        except Exception as exc:  # the loop raises it where the frame was wanted
            self._put(exc)

    def _put(self, item: _Item) -> None:
        while not self._closing.is_set():
            try:
                self._frames.put(item, timeout=0.05)
            except queue.Full:
                continue
            with self._lock:
                waiter, self._waiter = self._waiter, None
            if waiter is not None:
                self._loop.call_soon_threadsafe(_wake, waiter)
            return


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)

