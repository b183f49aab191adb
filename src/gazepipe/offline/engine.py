"""The service in one process, for recordings: the front's ring, dispatcher and worker socket in this process, the
tracker workers under the supervisor in a child process, and one session per file.

A recording's frames take the path of a WebSocket client's, minus the JPEG: each is decoded by OpenCV, put into
a ring slot by the dispatcher and tracked by a worker, and the session turns the answers into the results the
service sends. What differs is what a file needs: no frame is ever dropped for being late (the reader waits
for an answer instead, `window` frames at most in the workers), and the session's clock is the frame's
presentation time, so the periodic searches for a larger face fall on the same frames however fast the
machine runs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gazepipe.config import Settings
from gazepipe.front.app import Front
from gazepipe.front.session import Frame, Session
from gazepipe.offline.reader import ReadAhead
from gazepipe.offline.recording import Recording, RecordingError, VideoFrame
from gazepipe.protocol import ServerMessage, server_msgpack_decoder
from gazepipe.tracking.types import TrackHints, TrackOutput, following
from gazepipe.workers.worker import die_with_parent

log = logging.getLogger("gazepipe.analyze")

# Frames decoded before they are wanted: one takes about a tenth of a tracking, so a few keep the workers from
# waiting for the decoder, and the queue's memory small.
READ_AHEAD = 4


class AnalysisError(Exception):
    """The workers could not be started."""


def analysis_settings(base: Settings, workers: int, window: int, socket_path: Path) -> Settings:
    """`base` (the service's settings from the environment) with what a file needs: nothing dropped as stale or
    as an empty room, at most `window` frames in the workers, a private worker socket."""
    return replace(base, port=0, socket=str(socket_path), workers=workers, max_in_flight=window,
                   stale_ms=math.inf, in_flight_timeout_ms=math.inf, no_face_search_every_s=0.0,
                   ring_slots=max(4, workers + window))


@dataclass(frozen=True)
class _Following:
    """What the frames after one are tracked from: its measurements, the thresholds and the last detection."""

    last: TrackOutput | None = None
    thresholds: tuple[float, float] | None = None
    closed_above: float | None = None
    last_detect: float = -1e9


class RecordingSession(Session):
    """A session whose clock is the recording's: the frame's presentation time, for the periodic detection and
    in the signals (where a live session's text frame without a timestamp is placed at its receipt, a
    recording's first frame is at 0).

    Frame k is tracked from the session's state as it was right after frame k - `window`, taken in frame order,
    whichever frames the workers have finished by then: the same hints, so the same results, on every run. With
    `window` 1 that is a live session's frame-after-frame following."""

    def __init__(self, name: str, settings: Settings, window: int) -> None:
        super().__init__(name, settings.max_outbox, settings.detect_every_s, 0.0)
        self.window = window
        self._after: collections.deque[tuple[int, _Following]] = collections.deque()  # (seq, state), in order
        self._from = _Following()  # the state the next frame to dispatch is tracked from
        self._requested_detect = -1e9  # detections asked for, in frame order

    def now(self, frame: Frame) -> float:
        return frame.timestamp / 1000.0

    def clock_ms(self, frame: Frame) -> float:
        return frame.timestamp

    def hints(self, frame: Frame) -> TrackHints:
        while self._after and self._after[0][0] <= frame.seq - self.window:
            self._from = self._after.popleft()[1]
        state, now = self._from, self.now(frame)
        detect = now - max(state.last_detect, self._requested_detect) >= self._detect_every_s
        if detect:
            self._requested_detect = now
        return following(state.last, state.thresholds, detect, state.closed_above)

    def answer_tracked(self, frame: Frame, out: TrackOutput, track_ms: float) -> None:
        self.frames_processed += 1
        arrived = time.monotonic()

        def in_turn() -> None:
            self.follow(frame, out)
            calibration = self.calibration
            self._after.append((frame.seq, _Following(out, calibration.thresholds, calibration.closed_above,
                                                      self._last_detect)))
            self._answer_tracked(frame, out, track_ms, arrived)

        self.in_order(frame.ordinal, in_turn)


@dataclass
class Answer:
    """One frame's answer, in frame order."""

    frame: VideoFrame
    message: ServerMessage


class LocalService:
    """`async with LocalService(settings) as service:` runs the front part in this event loop and the supervisor
    with `settings.workers` workers, until every worker is connected."""

    def __init__(self, settings: Settings, on_log: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self._front = Front(settings)
        self._supervisor: asyncio.subprocess.Process | None = None
        self._relay: asyncio.Task[None] | None = None
        self._on_log = on_log or (lambda line: print(line, file=sys.stderr))
        self.session: RecordingSession | None = None  # the last file's, once `analyse` has run
        self._stopping = False

    async def __aenter__(self) -> LocalService:
        await self._front.start()
        env = {**os.environ, "GAZEPIPE_SOCKET": str(self.settings.socket_path),
               "GAZEPIPE_WORKERS": str(self.settings.workers)}
        # Its own process group, so that a Ctrl-C reaches only this process, which stops the workers when it has
        # written what it has; and it dies with this process, even a killed one.
        self._supervisor = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gazepipe.workers", env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, start_new_session=True,
            preexec_fn=die_with_parent)
        self._relay = asyncio.create_task(self._relay_warnings())
        try:
            await self._wait_for_workers()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._stopping = True  # the workers' goodbyes are no news, here or in their supervisor's log
        logging.getLogger("gazepipe.dispatcher").setLevel(logging.ERROR)
        if self._supervisor is not None and self._supervisor.returncode is None:
            self._supervisor.terminate()
            try:
                await asyncio.wait_for(self._supervisor.wait(), timeout=10.0)
            except TimeoutError:
                self._supervisor.kill()
                await self._supervisor.wait()
        if self._relay is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._relay, timeout=1.0)
        await self._front.stop()

    async def _wait_for_workers(self, count: int | None = None, timeout_s: float = 120.0) -> None:
        """Until `count` workers (default: all) are connected."""
        assert self._supervisor is not None and self._front.dispatcher is not None
        wanted = self.settings.workers if count is None else count
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(self._front.dispatcher.workers) < wanted:
            if self._supervisor.returncode is not None:
                raise AnalysisError(f"the tracker workers' supervisor exited with {self._supervisor.returncode}")
            if asyncio.get_running_loop().time() > deadline:
                raise AnalysisError(f"the tracker workers did not connect within {timeout_s:.0f} s")
            await asyncio.sleep(0.05)

    async def _relay_warnings(self) -> None:
        """Passes on the workers' warnings and errors (a worker restarted, a frame that failed), not their
        start-up chatter."""
        assert self._supervisor is not None and self._supervisor.stderr is not None
        keep = False
        async for raw in self._supervisor.stderr:
            line = raw.decode(errors="replace").rstrip()
            if " INFO " in line or " DEBUG " in line:
                keep = False
            elif " WARNING " in line or " ERROR " in line or " CRITICAL " in line:
                keep = True
            if keep and line and not self._stopping:
                self._on_log(line)

    async def analyse(self, recording: Recording, window: int, stop: asyncio.Event,
                      calibration: dict[str, Any] | None = None) -> AsyncGenerator[Answer, None]:
        """Every frame of `recording` tracked and answered, in order; `stop` set ends the reading, the frames
        already in the workers are still answered. Afterwards, `self.session` holds the file's statistics."""
        dispatcher = self._front.dispatcher
        assert dispatcher is not None
        session = self.session = RecordingSession(str(recording.path), self.settings, window)
        # The statistics' window covers the whole file: the summary's blink rate and PERCLOS are the recording's.
        session.signals.configure({"stats_window_s": recording.duration_s + 60.0})
        if calibration is not None:
            session.signals.calibrate("import", None, None, calibration)
        pending: dict[int, VideoFrame] = {}
        index = 0
        # Decoding in a thread of its own overlaps the workers' tracking of the frames before.
        frames = ReadAhead(recording, READ_AHEAD)
        reading = True
        incomplete: RecordingError | None = None
        try:
            while reading or pending:
                while reading and len(pending) < window:
                    frame = await frames.next()
                    if frame is None:
                        reading = False
                        try:
                            recording.check_complete(index)
                        except RecordingError as exc:  # reported once the frames read before it are answered
                            incomplete = exc
                        break
                    await self._wait_for_workers(1)  # while a crashed worker restarts, frames wait for it
                    ordinal = session.next_ordinal()
                    session.frames_received += 1
                    pending[ordinal] = frame
                    dispatcher.submit(session, Frame(ordinal=ordinal, seq=index, timestamp=frame.timestamp_ms,
                                                     binary=True, jpeg=b"", plan=recording.plan, pixels=frame.grey))
                    index += 1
                    reading = not stop.is_set()
                if not pending:
                    break
                answer = await session.outbox.get()
                if not isinstance(answer, bytes):  # None: closed, which nothing does while this loop owns it
                    raise AnalysisError(f"the session answered {answer!r}")
                yield Answer(pending.pop(min(pending)), server_msgpack_decoder.decode(answer))
            if incomplete is not None:
                raise incomplete
        finally:
            frames.close()
            session.close()
            dispatcher.forget(session)


def private_socket_dir() -> tempfile.TemporaryDirectory[str]:
    """Where the workers' socket lives for one analysis (removed afterwards: nothing is left behind)."""
    return tempfile.TemporaryDirectory(prefix="gazepipe-analyze-")
