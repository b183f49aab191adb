"""A paced streaming client for reliability tests and the soak benchmark: sends frames at a fixed rate on one
connection, receives concurrently, and records every answer with its latency. Bounded in count and time."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import websockets

from gazepipe.protocol import ErrorMessage, GazeResult, ServerMessage, pack_binary_frame

from .wsclient import text_frame


@dataclass
class StreamLog:
    """What one streaming client saw."""

    sent: list[float] = field(default_factory=list)  # timestamps of the frames sent, in order
    bad_sent: int = 0  # malformed messages sent (each should get an error answer)
    answers: list[ServerMessage] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)  # client-side, frames that were tracked
    close_code: int | None = None
    closed_early: bool = False  # the server closed the connection before the client was done
    error: str | None = None

    @property
    def results(self) -> list[GazeResult]:
        return [a for a in self.answers if isinstance(a, GazeResult)]

    @property
    def errors(self) -> list[ErrorMessage]:
        return [a for a in self.answers if isinstance(a, ErrorMessage)]

    @property
    def unanswered(self) -> int:
        return len(self.sent) + self.bad_sent - len(self.answers)


BAD_MESSAGES = ("this is not json", '{"type": "teleport"}', b"\x01\x00",
                '{"type": "frame", "image": "data:image/jpeg;base64,@@@@", "timestamp": 1}')


async def stream(url: str, frames: list[bytes], fps: float, duration_s: float, binary: bool = False,
                 bad_every: int = 0, drain_s: float = 10.0,
                 on_answer: Callable[[ServerMessage], None] | None = None) -> StreamLog:
    """Streams `frames` round-robin at `fps` for `duration_s`, then waits up to `drain_s` for the last answers.
    Every `bad_every`-th message (when > 0) is a malformed one instead of a frame."""
    from gazepipe.protocol import server_json_decoder, server_msgpack_decoder

    log = StreamLog()
    sent_at: dict[float, float] = {}
    try:
        async with websockets.connect(url, max_size=None, open_timeout=10) as ws:
            async def receive() -> None:
                with contextlib.suppress(websockets.ConnectionClosed):
                    while True:
                        raw = await ws.recv()
                        answer = (server_msgpack_decoder.decode(raw) if isinstance(raw, bytes)
                                  else server_json_decoder.decode(raw))
                        log.answers.append(answer)
                        if isinstance(answer, GazeResult) and answer.frame_processed:
                            started = sent_at.get(answer.timestamp)
                            if started is not None:
                                log.latencies_ms.append((time.monotonic() - started) * 1000.0)
                        if on_answer is not None:
                            on_answer(answer)
                        if len(log.answers) >= len(log.sent) + log.bad_sent and done.is_set():
                            return

            done = asyncio.Event()
            receiver = asyncio.create_task(receive())
            start = time.monotonic()
            count = int(duration_s * fps)
            for n in range(count):
                await asyncio.sleep(max(0.0, start + n / fps - time.monotonic()))
                if receiver.done():
                    log.closed_early = True
                    break
                if bad_every and n % bad_every == bad_every - 1:
                    await ws.send(BAD_MESSAGES[(n // bad_every) % len(BAD_MESSAGES)])
                    log.bad_sent += 1
                    continue
                timestamp = time.time() * 1000.0 + n * 1e-3
                jpeg = frames[n % len(frames)]
                sent_at[timestamp] = time.monotonic()
                log.sent.append(timestamp)
                await ws.send(pack_binary_frame(len(log.sent) - 1, timestamp, jpeg) if binary
                              else text_frame(jpeg, timestamp))
            done.set()
            if len(log.answers) < len(log.sent) + log.bad_sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(receiver), drain_s)
            receiver.cancel()
            log.close_code = ws.close_code
    except websockets.ConnectionClosed as exc:
        log.closed_early = True
        log.close_code = exc.rcvd.code if exc.rcvd else None
    except (OSError, TimeoutError) as exc:
        log.error = repr(exc)
    return log


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else float("nan")


async def flood(url: str, jpeg: bytes, duration_s: float, max_messages: int = 200_000) -> dict[str, int]:
    """A hostile client: sends frames as fast as the socket takes them, reconnecting whenever it is cut off,
    for at most `duration_s` and `max_messages`. Reads (and discards) what comes back."""
    stats = {"sent": 0, "connections": 0, "refused": 0, "answers": 0, "rate_limited": 0}
    deadline = time.monotonic() + duration_s
    message = pack_binary_frame(0, 1.0, jpeg)
    while time.monotonic() < deadline and stats["sent"] < max_messages:
        try:
            async with websockets.connect(url, open_timeout=5, max_size=None) as ws:
                stats["connections"] += 1

                async def drain(ws: websockets.ClientConnection = ws) -> None:
                    with contextlib.suppress(websockets.ConnectionClosed):
                        async for raw in ws:
                            stats["answers"] += 1
                            stats["rate_limited"] += b"rate_limited" in (raw if isinstance(raw, bytes) else b"")

                reader = asyncio.create_task(drain())
                with contextlib.suppress(websockets.ConnectionClosed):
                    while time.monotonic() < deadline and stats["sent"] < max_messages:
                        await ws.send(message)
                        stats["sent"] += 1
                        await asyncio.sleep(0)  # let the reader see answers and the server's close
                if ws.close_code is None:  # time is up: the connection is still open
                    reader.cancel()
                else:  # cut off: the answers that arrived before the close are still to be read
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(reader, 5.0)
        except (OSError, websockets.InvalidHandshake, TimeoutError):
            stats["refused"] += 1
            await asyncio.sleep(0.05)
    return stats


if __name__ == "__main__":  # python -m tests.streaming flood URL SECONDS JPEG_PATH
    import sys
    from pathlib import Path

    if len(sys.argv) == 5 and sys.argv[1] == "flood":
        print(asyncio.run(flood(sys.argv[2], Path(sys.argv[4]).read_bytes(), float(sys.argv[3]))))
