"""Messages between the front and the tracker workers: length-prefixed msgpack over the front's Unix socket.

A job names a ring slot, never pixels; the result names the slot back so the front can free it.
"""

from __future__ import annotations

import socket
import struct

import msgspec

from gazepipe.tracking.types import TrackHints, TrackOutput

LENGTH = struct.Struct("<I")
MAX_MESSAGE = 1 << 20


class Hello(msgspec.Struct, tag=True):
    """A worker introduces itself after connecting."""

    worker_index: int
    pid: int
    restarts: int


class RingInfo(msgspec.Struct, tag=True):
    """The front tells a new worker which shared-memory ring to attach."""

    name: str
    slots: int
    slot_bytes: int


class Job(msgspec.Struct, tag=True):
    """Track the frame in `slot`: `width` x `height` decoded pixels, `scale` of the frame as sent."""

    job_id: int
    slot: int
    width: int
    height: int
    scale: float
    hints: TrackHints


class Done(msgspec.Struct, tag=True):
    """The job's measurements, already in the coordinates of the frame as sent."""

    job_id: int
    slot: int
    output: TrackOutput
    track_ms: float
    error: str | None = None  # the tracker raised on this frame: `output` is empty, the worker goes on


FrontMessage = RingInfo | Job
WorkerMessage = Hello | Done

_encoder = msgspec.msgpack.Encoder()
front_decoder = msgspec.msgpack.Decoder(WorkerMessage)
worker_decoder = msgspec.msgpack.Decoder(FrontMessage)


def frame(message: msgspec.Struct) -> bytes:
    """A message with its length prefix, ready to write to the socket."""
    body = _encoder.encode(message)
    return LENGTH.pack(len(body)) + body


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("front closed the connection")
        chunks += chunk
    return bytes(chunks)


def recv_front_message(sock: socket.socket) -> FrontMessage:
    """Blocking read of one front message, for the worker's loop."""
    (size,) = LENGTH.unpack(_recv_exactly(sock, LENGTH.size))
    if size > MAX_MESSAGE:
        raise ConnectionError(f"message of {size} bytes from the front")
    return worker_decoder.decode(_recv_exactly(sock, size))
