"""The tracker worker loop: attach the ring, take a job, track the slot's frame, post the result back."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import time

import cv2
import msgspec

from gazepipe import ipc, logs
from gazepipe.config import Settings
from gazepipe.ring import FrameRing
from gazepipe.tracking.tracker import GazeTracker
from gazepipe.tracking.types import TrackHints, TrackOutput

log = logging.getLogger("gazepipe.worker")


def _scale_box(box: tuple[int, int, int, int], factor: float) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return (round(x * factor), round(y * factor), round(w * factor), round(h * factor))


def _to_frame_coords(out: TrackOutput, scale: float) -> TrackOutput:
    """Maps measurements on a frame decoded at `scale` back to the pixels of the frame as sent."""
    if scale == 1.0:
        return out
    factor = 1.0 / scale

    def point(p: tuple[float, float] | None) -> tuple[float, float] | None:
        return None if p is None else (p[0] * factor, p[1] * factor)

    out.face_box = None if out.face_box is None else _scale_box(out.face_box, factor)
    out.lost_box = None if out.lost_box is None else _scale_box(out.lost_box, factor)
    out.pupil_left = point(out.pupil_left)
    out.pupil_right = point(out.pupil_right)
    if out.landmarks is not None:
        out.landmarks = [(x * factor, y * factor) for x, y in out.landmarks]
    return out


def _to_decoded_hints(hints: TrackHints, scale: float) -> TrackHints:
    if scale == 1.0 or (hints.face_box is None and hints.lost_box is None):
        return hints
    return msgspec.structs.replace(
        hints, face_box=None if hints.face_box is None else _scale_box(hints.face_box, scale),
        lost_box=None if hints.lost_box is None else _scale_box(hints.lost_box, scale))


def _test_faults() -> dict[int, str]:
    """Fault injection for the reliability tests only: `GAZEPIPE_TEST_FAULTS="raise@333,sleep@334"` makes a
    frame decoded `333` pixels wide raise inside the tracker, and one `334` wide hang for 30 s."""
    faults = {}
    for item in os.environ.get("GAZEPIPE_TEST_FAULTS", "").split(","):
        kind, _, width = item.partition("@")
        if kind in {"raise", "sleep"} and width.isdigit():
            faults[int(width)] = kind
    return faults


_FAULTS = _test_faults()


def _inject_fault(width: int) -> None:
    fault = _FAULTS.get(width)
    if fault == "raise":
        raise RuntimeError("injected tracker fault")
    if fault == "sleep":
        time.sleep(30.0)


def serve_front(sock: socket.socket, tracker: GazeTracker, hello: ipc.Hello) -> None:
    """Handles jobs from one front connection until it closes."""
    sock.sendall(ipc.frame(hello))
    info = ipc.recv_front_message(sock)
    if not isinstance(info, ipc.RingInfo):
        raise ConnectionError("front did not send the ring first")
    ring = FrameRing.attach(info.name, info.slots, info.slot_bytes)
    log.info("worker %d attached ring %s", hello.worker_index, info.name)
    try:
        while True:
            job = ipc.recv_front_message(sock)
            if not isinstance(job, ipc.Job):
                continue
            started = time.perf_counter()
            error: str | None = None
            try:
                _inject_fault(job.width)
                grey = ring.view(job.slot, job.width, job.height)
                output = tracker.track(grey, _to_decoded_hints(job.hints, job.scale))
                del grey  # the slot goes back to the front with the answer: keep no view of it
                output = _to_frame_coords(output, job.scale)
            except Exception as exc:  # a frame that crashes the tracker costs that frame, never the worker
                log.exception("worker %d: tracker failed on job %d", hello.worker_index, job.job_id,
                              extra={"worker": hello.worker_index})
                output, error = TrackOutput(), f"{type(exc).__name__}"
            track_ms = (time.perf_counter() - started) * 1000.0
            sock.sendall(ipc.frame(ipc.Done(job.job_id, job.slot, output, track_ms, error)))
    finally:
        ring.close()


def die_with_parent() -> None:
    """Asks Linux to SIGTERM this process when its parent dies, even by SIGKILL: no orphan keeps serving (a worker
    when its supervisor dies, the supervisor of `gazepipe analyze` when the command dies)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run(settings: Settings, worker_index: int, restarts: int, tracker: GazeTracker) -> None:
    """Serves whichever front listens on the socket, reconnecting when it restarts, with `tracker` (the
    supervisor's, inherited by fork)."""
    # A forked worker inherits the supervisor's signal handlers, which only ask the supervisor's loop to stop.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    logs.configure(settings.log_json, f"worker-{worker_index}")
    # One worker process per core already uses every core: OpenCV's own thread pool on top of that only adds
    # contention (measured: tracking wall time per frame 20-30 % lower with one thread, the same CPU time).
    cv2.setNumThreads(1)
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the supervisor died before the request took effect
        return
    hello = ipc.Hello(worker_index=worker_index, pid=os.getpid(), restarts=restarts)
    while os.getppid() == parent:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(str(settings.socket_path))
                serve_front(sock, tracker, hello)
        except (FileNotFoundError, ConnectionError, OSError) as exc:
            log.debug("worker %d waiting for the front: %s", worker_index, exc)
            time.sleep(0.2)
