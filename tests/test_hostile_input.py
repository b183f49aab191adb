"""Property-based tests of everything that parses client bytes: the JSON messages, the binary header, the base64
and the JPEG (truncated, corrupt, huge or zero dimensions, CMYK, progressive). Each bad input gets an error
answer; none raises anything else; none makes the front allocate more than its configured frame size.

These run in-process against the real intake (`app._intake`), dispatcher, ring and decoder, with a fake worker
that answers every job, so that thousands of messages take seconds."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import struct
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gazepipe import ipc
from gazepipe.config import Settings
from gazepipe.front.app import RateLimiter, _intake
from gazepipe.front.dispatcher import Dispatcher
from gazepipe.front.jpeg import base64_payload, buffers_whole_image, decode_into, plan_decode
from gazepipe.front.session import Session
from gazepipe.protocol import (
    BINARY_HEADER,
    ProtocolError,
    ServerMessage,
    json_decoder,
    pack_binary_frame,
    parse_binary_frame,
    server_json_decoder,
    server_msgpack_decoder,
)
from gazepipe.ring import FrameRing
from gazepipe.tracking.types import TrackOutput

from .conftest import FaceFrame

SLOT_PIXELS = 320 * 240  # a small slot, so that scaled decoding and the slot limit are both exercised
MAX_SIDE = 4096
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# JPEG material --------------------------------------------------------------------------------------------

def _encode(image: np.ndarray, progressive: bool = False) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1] if progressive else [])
    assert ok
    return data.tobytes()


def _cmyk() -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.new("CMYK", (64, 48), (10, 20, 30, 40)).save(out, format="JPEG")
    return out.getvalue()


def with_dimensions(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its frame header (SOFn) claiming another size: a tiny file announcing a huge image."""
    data = bytearray(jpeg)
    pos = 2
    while pos + 9 < len(data):
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2:pos + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            struct.pack_into(">HH", data, pos + 5, height, width)
            return bytes(data)
        pos += 2 + length
    raise AssertionError("no SOF marker")


_rng = np.random.default_rng(3)
_texture = cv2.resize(_rng.integers(0, 255, (24, 32), dtype=np.uint8), (640, 480))
GOOD = _encode(_texture)
BASES = {
    "vga": GOOD,
    "tiny": _encode(np.full((1, 1), 7, np.uint8)),
    "colour": _encode(np.dstack([_texture, 255 - _texture, _texture // 2])),
    "progressive": _encode(_texture, progressive=True),
    "progressive_colour": _encode(np.dstack([_texture, _texture, _texture]), progressive=True),
    "cmyk": _cmyk(),
    "huge_header": with_dimensions(GOOD, 20000, 20000),
    "big_header": with_dimensions(GOOD, 2000, 1500),  # within the side limit, decodes scaled: data runs short
    "zero_size": with_dimensions(GOOD, 0, 0),
    "zero_width": with_dimensions(GOOD, 0, 480),
    "progressive_big_header": with_dimensions(_encode(_texture, progressive=True), 4096, 4096),
}


@st.composite
def hostile_jpegs(draw: st.DrawFn) -> bytes:
    data = bytearray(BASES[draw(st.sampled_from(sorted(BASES)))])
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["truncate", "flip", "insert", "zero_run"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if action == "truncate":
            del data[at:]
        elif action == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            data[at:at + 256] = bytes(len(data[at:at + 256]))
    return bytes(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)


@st.composite
def text_messages(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["frame", "any_json", "typed_json", "text", "base64_junk"]))
    if kind == "frame":
        image = base64.b64encode(draw(hostile_jpegs())).decode()
        prefix = draw(st.sampled_from(["data:image/jpeg;base64,", "", "data:image/png;base64,", "base64,base64,"]))
        message: dict[str, object] = {"type": "frame", "image": prefix + image}
        if draw(st.booleans()):
            message["timestamp"] = draw(json_values)
        if draw(st.booleans()):
            message["seq"] = draw(json_values)
        return json.dumps(message)
    if kind == "any_json":
        return json.dumps(draw(json_values))
    if kind == "typed_json":
        body = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=4))
        body["type"] = draw(st.sampled_from(["frame", "config", "stats", "calibration", "", "FRAME"]))
        return json.dumps(body)
    if kind == "base64_junk":
        return json.dumps({"type": "frame", "timestamp": 1.0,
                           "image": "data:image/jpeg;base64," + draw(st.text(max_size=200))})
    return draw(st.text(max_size=300))


@st.composite
def binary_messages(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=64))
    header = BINARY_HEADER.pack(draw(st.sampled_from([1, 1, 1, 0, 2, 255])), draw(st.integers(0, 255)),
                                draw(st.sampled_from([16, 16, 16, 0, 15, 17, 4096, 65535])),
                                draw(st.integers(0, 2 ** 32 - 1)),
                                draw(st.floats(allow_nan=True, allow_infinity=True)))
    return header + draw(hostile_jpegs())


# The intake harness -------------------------------------------------------------------------------------

class _Writer:
    """A worker's end of the socket: records the jobs the dispatcher writes."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def close(self) -> None:
        pass


@dataclass
class Harness:
    ring: FrameRing
    dispatcher: Dispatcher
    front: SimpleNamespace
    session: Session
    writer: _Writer
    link: object
    answers: list[object] = field(default_factory=list)

    def send(self, text: str | None = None, data: bytes | None = None) -> list[ServerMessage]:
        """One client message through the real intake; a fake worker completes every job at once."""
        _intake(self.front, self.session, data, text, RateLimiter(1e9), True)  # type: ignore[arg-type]
        while self.writer.sent:
            raw = self.writer.sent.pop(0)
            message = ipc.worker_decoder.decode(raw[ipc.LENGTH.size:])
            if isinstance(message, ipc.Job):
                assert 0 <= message.slot < self.ring.slots
                assert message.width * message.height <= SLOT_PIXELS
                self.dispatcher.complete(self.link, ipc.Done(message.job_id, message.slot,  # type: ignore
                                                             TrackOutput(), 0.1))
        out: list[ServerMessage] = []
        while not self.session.outbox.empty():
            answer = self.session.outbox.get_nowait()
            assert answer is not None, "the session was closed"
            out.append(server_msgpack_decoder.decode(answer) if isinstance(answer, bytes)
                       else server_json_decoder.decode(answer))
        return out


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    asyncio.set_event_loop(asyncio.new_event_loop())
    config = Settings(slot_pixels=SLOT_PIXELS, ring_slots=4, max_frame_side=MAX_SIDE, max_fps=1e9,
                      max_message_bytes=256 * 1024, max_outbox=10_000)
    ring = FrameRing.create(f"gazepipe_hypothesis_{os.getpid()}", config.ring_slots, config.slot_pixels)
    dispatcher = Dispatcher(config, ring)
    writer = _Writer()
    link = dispatcher.add_worker(ipc.Hello(worker_index=0, pid=os.getpid(), restarts=0), writer)  # type: ignore
    writer.sent.clear()  # the ring announcement
    session = Session("127.0.0.1", config.max_outbox, config.detect_every_s)
    front = SimpleNamespace(settings=config, dispatcher=dispatcher, ring=ring)
    yield Harness(ring, dispatcher, front, session, writer, link)
    ring.close()


def _check_one_answer(harness: Harness, answers: list[ServerMessage], peak: int, size: int) -> None:
    assert len(answers) == 1, answers
    assert harness.ring.in_use == 0, "a slot was not given back"
    assert not harness.session.closed
    # The message itself is already in memory; anything near a decoded image of the claimed size is not.
    assert peak <= 3 * size + SLOT_PIXELS, f"{peak} bytes allocated for a {size}-byte message"


@PROPERTY
@given(message=text_messages())
def test_text_messages_get_exactly_one_answer(harness: Harness, message: str) -> None:
    tracemalloc.start()
    try:
        answers = harness.send(text=message)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _check_one_answer(harness, answers, peak, len(message))


@PROPERTY
@given(message=binary_messages())
def test_binary_messages_get_exactly_one_answer(harness: Harness, message: bytes) -> None:
    tracemalloc.start()
    try:
        answers = harness.send(data=message)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _check_one_answer(harness, answers, peak, len(message))


def test_each_named_hostile_jpeg_gets_its_error(harness: Harness) -> None:
    expected = {"huge_header": "frame_too_large", "zero_size": "bad_jpeg", "zero_width": "bad_jpeg",
                "cmyk": "bad_jpeg", "big_header": "bad_jpeg", "progressive_big_header": "frame_too_large"}
    for name, code in expected.items():
        [answer] = harness.send(data=pack_binary_frame(1, 2.0, BASES[name]))
        assert getattr(answer, "code", None) == code, (name, answer)
    for name in ("vga", "tiny", "colour", "progressive", "progressive_colour"):
        [answer] = harness.send(data=pack_binary_frame(1, 2.0, BASES[name]))
        assert getattr(answer, "frame_processed", None) is True, (name, answer)
    [answer] = harness.send(data=pack_binary_frame(1, 2.0, b""))
    assert getattr(answer, "code", None) == "not_jpeg"
    [answer] = harness.send(text=json.dumps({"type": "frame", "image": "x" * 300_000}))
    assert getattr(answer, "code", None) == "message_too_large"


# The parsers one by one -----------------------------------------------------------------------------------

@PROPERTY
@given(data=st.binary(max_size=64) | binary_messages())
def test_binary_header_parses_or_refuses(data: bytes) -> None:
    try:
        frame = parse_binary_frame(data)
    except ProtocolError as exc:
        assert exc.code in {"bad_header", "bad_version"}
        return
    assert len(frame.jpeg) <= len(data) - BINARY_HEADER.size


@PROPERTY
@given(text=st.text(max_size=400) | st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()))
def test_base64_decodes_or_refuses(text: str) -> None:
    try:
        payload = base64_payload(text)
    except ProtocolError as exc:
        assert exc.code == "bad_base64"
        return
    assert len(payload) <= len(text)


@PROPERTY
@given(text=st.text(max_size=300) | json_values.map(json.dumps))
def test_json_messages_decode_or_refuse(text: str) -> None:
    import msgspec
    with contextlib.suppress(msgspec.DecodeError):
        json_decoder.decode(text)


@PROPERTY
@given(jpeg=hostile_jpegs())
def test_jpeg_plan_and_decode_never_exceed_the_slot(jpeg: bytes) -> None:
    slot = np.zeros(SLOT_PIXELS, np.uint8)
    tracemalloc.start()
    try:
        try:
            plan = plan_decode(jpeg, MAX_SIDE, SLOT_PIXELS)
        except ProtocolError as exc:
            assert exc.code in {"not_jpeg", "bad_jpeg", "frame_too_large"}
            return
        assert 0 < plan.decoded_width * plan.decoded_height <= SLOT_PIXELS
        assert plan.width <= MAX_SIDE and plan.height <= MAX_SIDE
        if buffers_whole_image(jpeg):
            assert plan.width * plan.height <= SLOT_PIXELS
        view = slot[:plan.decoded_width * plan.decoded_height].reshape(plan.decoded_height, plan.decoded_width)
        try:
            decode_into(jpeg, plan, view)
        except ProtocolError as exc:
            assert exc.code == "bad_jpeg"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 2 * len(jpeg) + 64 * 1024, peak


def test_a_corrupt_jpeg_leaves_the_next_decode_unchanged(face_frames: list[FaceFrame]) -> None:
    """The decoder's handle outlives each frame: after truncated streams and headers with a byte zeroed
    (libjpeg-turbo warnings and errors, some of which leave a handle unusable), a real face decodes to the same
    pixels as before them."""
    good = face_frames[0].jpeg
    plan = plan_decode(good, MAX_SIDE, 1 << 22)
    before = np.empty((plan.decoded_height, plan.decoded_width), np.uint8)
    decode_into(good, plan, before)
    zeroed = [good[:k] + b"\0" + good[k + 1:] for k in range(2, 120)]
    for bad in (good[:len(good) // 2], good[:600] + bytes(1500) + good[2100:], *zeroed):
        with contextlib.suppress(ProtocolError):
            bad_plan = plan_decode(bad, MAX_SIDE, 1 << 22)
            decode_into(bad, bad_plan, np.empty((bad_plan.decoded_height, bad_plan.decoded_width), np.uint8))
        after = np.zeros_like(before)
        decode_into(good, plan_decode(good, MAX_SIDE, 1 << 22), after)
        assert np.array_equal(after, before)


def test_atheris_fuzz_smoke(tmp_path: object) -> None:
    """A short libFuzzer run of fuzz/fuzz_intake.py from a seed corpus (skipped where atheris does not install)."""
    pytest.importorskip("atheris")
    import subprocess
    import sys
    from pathlib import Path

    corpus = Path(str(tmp_path)) / "corpus"
    corpus.mkdir()
    (corpus / "raw").write_bytes(b"\x02" + GOOD)
    (corpus / "progressive").write_bytes(b"\x02" + BASES["progressive"])
    (corpus / "binary").write_bytes(b"\x00" + pack_binary_frame(1, 2.0, BASES["tiny"]))
    (corpus / "text").write_bytes(b"\x01" + json.dumps(
        {"type": "frame", "image": "data:image/jpeg;base64," + base64.b64encode(BASES["tiny"]).decode()}).encode())
    harness = Path(__file__).resolve().parents[1] / "fuzz" / "fuzz_intake.py"
    run = subprocess.run([sys.executable, str(harness), "-runs=20000", "-max_total_time=20", "-rss_limit_mb=1024",
                          f"-artifact_prefix={tmp_path}/", str(corpus)],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Done " in run.stderr
