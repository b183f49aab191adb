"""A minimal WebSocket client of the gaze protocol for tests, decoding with the service's own types."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import websockets

from gazepipe.protocol import (
    GazeResult,
    ServerMessage,
    pack_binary_frame,
    server_json_decoder,
    server_msgpack_decoder,
)

CONTRACT_FIELDS = ("timestamp", "pupil_left", "pupil_right", "horizontal_ratio", "vertical_ratio", "is_left",
                   "is_right", "is_center", "is_blinking", "attention_score", "frame_processed")


def text_frame(jpeg: bytes, timestamp: float, seq: int | None = None) -> str:
    message: dict[str, Any] = {"type": "frame", "image": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode(),
                               "timestamp": timestamp}
    if seq is not None:
        message["seq"] = seq
    return json.dumps(message)


class GazeConnection:
    """An open `/ws/gaze` connection that sends frames in text or binary mode."""

    def __init__(self, ws: websockets.ClientConnection, binary: bool = False) -> None:
        self.ws = ws
        self.binary = binary
        self.sent = 0

    async def send_frame(self, jpeg: bytes, timestamp: float | None = None) -> float:
        timestamp = time.time() * 1000.0 + self.sent * 1e-3 if timestamp is None else timestamp
        if self.binary:
            await self.ws.send(pack_binary_frame(self.sent, timestamp, jpeg))
        else:
            await self.ws.send(text_frame(jpeg, timestamp))
        self.sent += 1
        return timestamp

    async def receive(self, timeout: float = 30.0) -> ServerMessage:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        if isinstance(raw, bytes):
            return server_msgpack_decoder.decode(raw)
        return server_json_decoder.decode(raw)

    async def receive_raw_json(self, timeout: float = 30.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, str), "text mode answers must be text messages"
        decoded: dict[str, Any] = json.loads(raw)
        return decoded

    async def track(self, jpeg: bytes) -> GazeResult:
        await self.send_frame(jpeg)
        answer = await self.receive()
        assert isinstance(answer, GazeResult), answer
        return answer
