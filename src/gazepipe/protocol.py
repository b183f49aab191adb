"""The wire protocol of `/ws/gaze`: one set of msgspec types for encoding and decoding.

Text mode (the original protocol): the client sends a JSON `FrameMessage` whose `image` is a base64 JPEG data
URL and receives JSON. Binary mode: the client sends `BINARY_HEADER` followed by the JPEG bytes and receives
msgpack. Either way the server answers with `GazeResult` or `ErrorMessage`, told apart by `type`.
"""

from __future__ import annotations

import struct
from typing import Literal

import msgspec

PROTOCOL_VERSIONS = ("json-1", "binary-1")
BINARY_VERSION = 1

# Binary frame header, little-endian, 16 bytes, naturally aligned so that a browser's DataView reads it as is:
#   u8 version (1) | u8 flags (0) | u16 header size in bytes (16) | u32 seq | f64 timestamp (ms)
BINARY_HEADER = struct.Struct("<BBHId")

DropReason = Literal["superseded", "stale", "overloaded", "rate_limited", "worker_lost", "shutdown", "no_face"]


class FrameMessage(msgspec.Struct, tag_field="type", tag="frame"):
    """A camera frame in text mode."""

    image: str
    timestamp: float = 0.0
    seq: int | None = None


class ConfigMessage(msgspec.Struct, tag_field="type", tag="config", forbid_unknown_fields=True):
    """Changes this session's settings; unknown names are refused."""

    settings: dict[str, float | bool | str]


class StatsRequest(msgspec.Struct, tag_field="type", tag="stats"):
    """Asks for this session's statistics."""


class CalibrationMessage(msgspec.Struct, tag_field="type", tag="calibration"):
    """Screen calibration control: start, record a point (or a validation point), finish, reset, export or
    import (docs/attention.md, "Screen calibration")."""

    action: Literal["start", "point", "validate", "finish", "reset", "export", "import"]
    x: float | None = None
    y: float | None = None
    data: dict[str, object] | None = None


ClientMessage = FrameMessage | ConfigMessage | StatsRequest | CalibrationMessage


class HeadPose(msgspec.Struct):
    """Head rotation in degrees: yaw (+ turned to the image's right), pitch (+ down), roll."""

    yaw: float
    pitch: float
    roll: float


class GazeResult(msgspec.Struct, tag_field="type", tag="result", omit_defaults=False):
    """The answer to one frame. The first eleven fields are the original contract."""

    timestamp: float
    pupil_left: tuple[float, float] | None = None
    pupil_right: tuple[float, float] | None = None
    horizontal_ratio: float | None = None
    vertical_ratio: float | None = None
    is_left: bool = False
    is_right: bool = False
    is_center: bool = False
    is_blinking: bool = False
    attention_score: float = 0.0
    frame_processed: bool = False
    seq: int = 0
    dropped: DropReason | None = None
    latency_ms: float = 0.0
    face_found: bool = False
    face_box: tuple[int, int, int, int] | None = None
    pupil_left_confidence: float = 0.0
    pupil_right_confidence: float = 0.0
    pupil_left_reason: str | None = None
    pupil_right_reason: str | None = None
    eye_openness_left: float | None = None
    eye_openness_right: float | None = None
    head_pose: HeadPose | None = None
    attentive: bool = False
    events: list[dict[str, object]] = msgspec.field(default_factory=list)
    screen_x: float | None = None
    screen_y: float | None = None
    stages_ms: dict[str, float] = msgspec.field(default_factory=dict)
    # Added by the attention model (docs/attention.md); the fields above stay the tracker's raw measurements.
    pupil_left_smoothed: tuple[float, float] | None = None  # One Euro filtered, same units as pupil_left
    pupil_right_smoothed: tuple[float, float] | None = None
    horizontal_ratio_smoothed: float | None = None
    vertical_ratio_smoothed: float | None = None
    screen_error: float | None = None  # the calibration's error estimate, screen units (None: uncalibrated)
    attention_frame: float | None = None  # this frame's attention value before smoothing


class ErrorMessage(msgspec.Struct, tag_field="type", tag="error"):
    """A frame or message that could not be handled; the connection stays open."""

    code: str
    message: str
    timestamp: float | None = None
    seq: int | None = None


class ReplyMessage(msgspec.Struct, tag_field="type", tag="reply"):
    """The answer to a control message (config, stats, calibration)."""

    request: str
    data: dict[str, object]


ServerMessage = GazeResult | ErrorMessage | ReplyMessage

json_decoder = msgspec.json.Decoder(ClientMessage)
json_encoder = msgspec.json.Encoder()
msgpack_encoder = msgspec.msgpack.Encoder()
server_json_decoder = msgspec.json.Decoder(ServerMessage)
server_msgpack_decoder = msgspec.msgpack.Decoder(ServerMessage)


class BinaryFrame(msgspec.Struct):
    """A parsed binary-mode frame: its header fields and a view of the JPEG bytes."""

    seq: int
    timestamp: float
    jpeg: memoryview


class ProtocolError(ValueError):
    """A client message that breaks the protocol; `code` goes into the `ErrorMessage`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def pack_binary_frame(seq: int, timestamp: float, jpeg: bytes) -> bytes:
    """Builds a binary-mode frame message (used by clients and tests)."""
    return BINARY_HEADER.pack(BINARY_VERSION, 0, BINARY_HEADER.size, seq, timestamp) + jpeg


def parse_binary_frame(data: bytes) -> BinaryFrame:
    """Splits a binary-mode message into its header and JPEG bytes."""
    if len(data) < BINARY_HEADER.size:
        raise ProtocolError("bad_header", f"binary frame shorter than its {BINARY_HEADER.size}-byte header")
    version, _flags, header_size, seq, timestamp = BINARY_HEADER.unpack_from(data)
    if version != BINARY_VERSION:
        raise ProtocolError("bad_version", f"binary protocol version {version} is not supported (use 1)")
    if header_size < BINARY_HEADER.size or header_size > len(data):
        raise ProtocolError("bad_header", f"binary header size {header_size} is out of range")
    return BinaryFrame(seq=seq, timestamp=timestamp, jpeg=memoryview(data)[header_size:])
