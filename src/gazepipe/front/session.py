"""One WebSocket client: its frames' order, its answers, and the state that follows it from frame to frame.

Every message that asks for an answer takes the next ordinal; answers are released strictly in ordinal order,
so a client sees its answers in the order it sent its frames however the workers finish.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import numpy as np

from gazepipe.front import metrics
from gazepipe.front.jpeg import JpegPlan
from gazepipe.protocol import (
    DropReason,
    ErrorMessage,
    GazeResult,
    HeadPose,
    ReplyMessage,
    ServerMessage,
    json_encoder,
    msgpack_encoder,
)
from gazepipe.signals.attention import gaze_direction
from gazepipe.signals.session_signals import SessionSignals
from gazepipe.tracking.calibration import ThresholdCalibration
from gazepipe.tracking.types import TrackHints, TrackOutput

_session_ids = itertools.count(1)
log = logging.getLogger("gazepipe.session")


@dataclass
class Frame:
    """A received frame waiting for a worker or inside one."""

    ordinal: int
    seq: int
    timestamp: float
    binary: bool
    jpeg: bytes | memoryview
    plan: JpegPlan
    received: float = field(default_factory=time.monotonic)
    dispatched: float = 0.0
    decode_ms: float = 0.0
    pixels: np.ndarray | None = None  # already decoded to greyscale (a recording's frame): copied, not decoded


class SlowConsumer(Exception):
    """The client stopped reading while its answers piled up."""


# After this long without a face, a session's frames are searched only every `no_face_search_every_s`.
NO_FACE_IDLE_S = 1.0


class Session:
    """State of one connection; all methods run on the front's event loop."""

    def __init__(self, client: str, max_outbox: int, detect_every_s: float, no_face_search_every_s: float = 0.0
                 ) -> None:
        self.id = f"s{next(_session_ids)}"
        self.client = client
        self.calibration = ThresholdCalibration()
        self.signals = SessionSignals()  # attention, events, smoothing, screen calibration, statistics
        self.attention = self.signals.attention
        self._in_order: dict[int, Callable[[], None]] = {}  # work waiting for every earlier answer
        self._running_in_order = False
        self.last: TrackOutput | None = None  # the last tracked frame
        self.queued: Frame | None = None
        self.in_flight = 0
        self.served_at = 0.0  # when a frame of this session last went to a worker (monotonic)
        self.closed = False
        self.frames_received = 0
        self.frames_processed = 0
        self.frames_dropped = 0
        self._detect_every_s = detect_every_s
        self._last_detect = -1e9
        self._no_face_search_every_s = no_face_search_every_s
        self._no_face_since: float | None = None  # receipt of the first frame of the current run without a face
        self._last_search = -1e9  # when a frame last went to a worker to be searched for a face
        self._ordinals = itertools.count()
        self._next_to_send = 0
        self._ready: dict[int, str | bytes] = {}
        self._max_outbox = max_outbox
        self.outbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()

    def next_ordinal(self) -> int:
        return next(self._ordinals)

    def next_seq(self) -> int:
        """The sequence number of a frame whose client gave none."""
        return self.frames_received

    def now(self, frame: Frame) -> float:
        """The session's clock in seconds at `frame`, which times the periodic detection: the front's clock."""
        return time.monotonic()

    def clock_ms(self, frame: Frame) -> float:
        """The frame's time for the signals (attention, events, statistics): the client's clock; a text-mode
        frame without a timestamp (0) is placed at its receipt instead."""
        return frame.timestamp if frame.timestamp > 0 else frame.received * 1000.0

    def hints(self, frame: Frame) -> TrackHints:
        """What a worker needs to track `frame`, this session's next; asks for a full detection now and then."""
        now = self.now(frame)
        if self.last is None or not self.last.face_found:
            self._last_search = now
        # `detect` asks only for a face larger than the one followed or found again, so every detect_every_s,
        # face or none: a frame after one without a face is searched for any face (first around a face just lost)
        # whatever it says.
        detect = now - self._last_detect >= self._detect_every_s
        if detect:
            self._last_detect = now
        return self.calibration.hints(self.last, detect=detect)

    def pauses_search(self, now: float) -> bool:
        """Whether a frame arriving now is answered `dropped: "no_face"` rather than searched: no face for
        NO_FACE_IDLE_S and a search less than `no_face_search_every_s` ago. Searching a frame without a face
        costs the whole-frame detector (30 ms here, against 8 for a followed face), so an empty room would
        cost a third of a core per session at 10 FPS. Only with nothing of the session in a worker or waiting,
        so that no search still running can find a face and be answered before this frame's "no face"."""
        return (self._no_face_search_every_s > 0 and self._no_face_since is not None
                and now - self._no_face_since >= NO_FACE_IDLE_S
                and now - self._last_search < self._no_face_search_every_s
                and self.in_flight == 0 and self.queued is None)

    # Answers -------------------------------------------------------------------------------------------

    def answer(self, ordinal: int, message: ServerMessage, binary: bool) -> None:
        """Files the answer for `ordinal` and releases every answer that is now next in line."""
        if self.closed:
            return
        started = time.perf_counter()
        self._ready[ordinal] = msgpack_encoder.encode(message) if binary else json_encoder.encode(message).decode()
        metrics.ENCODE_SECONDS.observe(time.perf_counter() - started)
        while self._next_to_send in self._ready:
            self.outbox.put_nowait(self._ready.pop(self._next_to_send))
            self._next_to_send += 1
        self._run_in_order()
        if self.outbox.qsize() > self._max_outbox:
            raise SlowConsumer(f"{self.outbox.qsize()} answers unread")

    def answer_error(self, ordinal: int, code: str, message: str, binary: bool,
                     timestamp: float | None = None, seq: int | None = None) -> None:
        self.answer(ordinal, ErrorMessage(code=code, message=message, timestamp=timestamp, seq=seq), binary)

    def answer_reply(self, ordinal: int, request: str, data: dict[str, object], binary: bool) -> None:
        self.answer(ordinal, ReplyMessage(request=request, data=data), binary)

    def answer_dropped(self, frame: Frame, reason: DropReason) -> None:
        self.frames_dropped += 1
        latency = (time.monotonic() - frame.received) * 1000.0
        result = GazeResult(timestamp=frame.timestamp, seq=frame.seq, frame_processed=False, dropped=reason,
                            latency_ms=latency, attention_score=round(self.attention.score, 4),
                            attentive=self.attention.attentive)
        self.answer(frame.ordinal, result, frame.binary)

    def in_order(self, ordinal: int, work: Callable[[], None]) -> None:
        """Runs `work`, which answers `ordinal`, once every earlier ordinal is answered: the session's signals
        (attention, events, smoothing, calibration) see frames and control messages in the client's order even
        when workers finish out of order."""
        self._in_order[ordinal] = work
        self._run_in_order()

    def _run_in_order(self) -> None:
        if self._running_in_order:
            return
        self._running_in_order = True
        try:
            while self._in_order and not self.closed:
                ordinal = min(self._in_order)
                if any(k not in self._ready for k in range(self._next_to_send, ordinal)):
                    break
                work = self._in_order.pop(ordinal)
                try:
                    work()
                except SlowConsumer:
                    raise
                except Exception as exc:  # a bug must not stall every later answer
                    log.exception("session %s: answering message %d failed", self.id, ordinal)
                    if ordinal >= self._next_to_send and ordinal not in self._ready:
                        self.answer_error(ordinal, "internal", f"{type(exc).__name__}: {exc}", False)
        finally:
            self._running_in_order = False

    def answer_tracked(self, frame: Frame, out: TrackOutput, track_ms: float) -> None:
        """Takes a worker's measurements: the tracker's hints are updated at once (`follow`), the result is built
        and sent in the frame's turn (`in_order`)."""
        self.frames_processed += 1
        self.follow(frame, out)
        arrived = time.monotonic()
        self.in_order(frame.ordinal, lambda: self._answer_tracked(frame, out, track_ms, arrived))

    def follow(self, frame: Frame, out: TrackOutput) -> None:
        """Takes a frame's measurements into what the next frames are tracked from (`hints`)."""
        self.calibration.update(out)
        self.last = out
        if out.face_found:
            self._no_face_since = None
        elif self._no_face_since is None:
            self._no_face_since = frame.received
        if out.detector_ran:
            self._last_detect = self.now(frame)

    def _answer_tracked(self, frame: Frame, out: TrackOutput, track_ms: float, arrived: float) -> None:
        """Builds a tracked frame's result, updating the session's signals."""
        signals = self.signals.process(out, self.clock_ms(frame))
        is_left, is_right, is_center = gaze_direction(out.horizontal_ratio, self.attention.settings)
        now = time.monotonic()
        total_ms = (now - frame.received) * 1000.0
        queue_ms = (frame.dispatched - frame.received) * 1000.0 - frame.decode_ms
        ipc_ms = (arrived - frame.dispatched) * 1000.0 - track_ms  # to the worker and back, waiting in its socket
        result = GazeResult(
            timestamp=frame.timestamp,
            seq=frame.seq,
            pupil_left=out.pupil_left,
            pupil_right=out.pupil_right,
            horizontal_ratio=out.horizontal_ratio,
            vertical_ratio=out.vertical_ratio,
            is_left=is_left,
            is_right=is_right,
            is_center=is_center,
            is_blinking=out.eyes_closed,
            attention_score=round(signals.score, 4),
            attentive=signals.attentive,
            frame_processed=True,
            latency_ms=round(total_ms, 3),
            face_found=out.face_found,
            face_box=out.face_box,
            pupil_left_confidence=out.pupil_left_confidence,
            pupil_right_confidence=out.pupil_right_confidence,
            pupil_left_reason=out.pupil_left_reason,
            pupil_right_reason=out.pupil_right_reason,
            eye_openness_left=out.eye_openness_left,
            eye_openness_right=out.eye_openness_right,
            head_pose=None if out.head_pose is None else HeadPose(*out.head_pose),
            events=signals.events,
            screen_x=signals.screen_x,
            screen_y=signals.screen_y,
            screen_error=signals.screen_error,
            pupil_left_smoothed=signals.pupil_left,
            pupil_right_smoothed=signals.pupil_right,
            horizontal_ratio_smoothed=signals.horizontal_ratio,
            vertical_ratio_smoothed=signals.vertical_ratio,
            attention_frame=None if signals.factors is None else round(signals.factors.value, 4),
            stages_ms={
                "queue": round(max(0.0, queue_ms), 3),
                "decode": round(frame.decode_ms, 3),
                "track": round(track_ms, 3),
                "ipc": round(max(0.0, ipc_ms), 3),
                "total": round(total_ms, 3),
            },
        )
        self.answer(frame.ordinal, result, frame.binary)

    def stats(self) -> dict[str, object]:
        return msgspec.to_builtins({
            "session": self.id,
            "frames_received": self.frames_received,
            "frames_processed": self.frames_processed,
            "frames_dropped": self.frames_dropped,
            "frames_in_flight": self.in_flight,
            **self.signals.statistics(),
        })

    def close(self) -> None:
        self.closed = True
        self.outbox.put_nowait(None)
