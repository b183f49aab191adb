"""The dispatcher: hands sessions' frames to idle workers through the ring and routes their results back.

Each session has at most one frame waiting (a newer one supersedes it) and at most `max_in_flight` frames inside
workers. Waiting frames older than `stale_ms` are answered as stale instead of being tracked, so latency holds
when the offered load exceeds what the workers can do. Frames are decoded only when a worker is free for them.

When more frames wait than workers are free, a free worker takes a frame that arrived within `fresh_ms`, of the
session served longest ago, and only when no frame is that fresh, the freshest. Served in turn regardless of
their age, frames would wait about a round of all sessions (at 20 clients x 10 FPS on two cores, a median of
54 ms); a frame passed over is soon superseded by its session's next one, which is fresh. The price is
fairness: sessions whose frames arrive just before others' are served a little less often under overload
(processed frames per client within about 25 % of the median at 20 x 10, against 3 % in turn).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from gazepipe import ipc
from gazepipe.config import Settings
from gazepipe.front import metrics
from gazepipe.front.jpeg import decode_into
from gazepipe.front.session import Frame, Session, SlowConsumer
from gazepipe.protocol import DropReason, ProtocolError
from gazepipe.ring import FrameRing

log = logging.getLogger("gazepipe.dispatcher")


@dataclass
class WorkerLink:
    """A connected worker process."""

    index: int
    pid: int
    restarts: int
    writer: asyncio.WriteTransport  # the worker's socket
    jobs: set[int] = field(default_factory=set)
    frames_done: int = 0
    connected_at: float = field(default_factory=time.time)
    killed: bool = False  # the front sent it SIGKILL for hanging on a frame


@dataclass
class InFlight:
    session: Session
    frame: Frame
    slot: int
    worker: WorkerLink
    answered: bool = False
    slow: bool = False  # the full-frame detector will run: nothing should queue behind it


class Dispatcher:
    """Owns the ring, the worker links and the queue of sessions with a frame waiting."""

    def __init__(self, settings: Settings, ring: FrameRing) -> None:
        self.settings = settings
        self.ring = ring
        self.workers: dict[int, WorkerLink] = {}  # by pid
        self._waiting: deque[Session] = deque()
        self._jobs: dict[int, InFlight] = {}
        self._job_ids = itertools.count(1)
        self.shutting_down = False

    # Sessions' side --------------------------------------------------------------------------------------

    def submit(self, session: Session, frame: Frame) -> None:
        """Queues a session's newest frame, superseding the one it had waiting."""
        if self.shutting_down:
            self.drop(session, frame, "shutdown")
            return
        if not self.workers:
            metrics.ERRORS.labels("no_workers").inc()
            self._guard(session, lambda: session.answer_error(
                frame.ordinal, "no_workers", "no tracker worker is running; retry shortly", frame.binary,
                frame.timestamp, frame.seq))
            return
        if session.pauses_search(time.monotonic()):
            self.drop(session, frame, "no_face")
            return
        previous = session.queued
        session.queued = frame
        if previous is not None:
            self.drop(session, previous, "superseded")
        else:
            self._waiting.append(session)
        self._pump()

    def forget(self, session: Session) -> None:
        """A closed session's waiting frame is dropped; its frames inside workers are ignored when they return."""
        session.queued = None
        with contextlib.suppress(ValueError):
            self._waiting.remove(session)

    # Workers' side ---------------------------------------------------------------------------------------

    def add_worker(self, hello: ipc.Hello, writer: asyncio.WriteTransport) -> WorkerLink:
        link = WorkerLink(index=hello.worker_index, pid=hello.pid, restarts=hello.restarts, writer=writer)
        self.workers[hello.pid] = link
        writer.write(ipc.frame(ipc.RingInfo(self.ring.name, self.ring.slots, self.ring.slot_bytes)))
        log.info("worker %d connected (pid %d, restarts %d)", link.index, link.pid, link.restarts,
                 extra={"worker": link.index, "worker_pid": link.pid, "restarts": link.restarts})
        self._pump()
        return link

    def remove_worker(self, link: WorkerLink) -> None:
        """A worker's connection closed: it died or is stopping. Its frames are answered and its slots freed."""
        self.workers.pop(link.pid, None)
        for job_id in sorted(link.jobs):
            job = self._jobs.pop(job_id)
            self.ring.release(job.slot)
            job.session.in_flight -= 1
            if not job.answered:
                self.drop(job.session, job.frame, "worker_lost")
            self._requeue(job.session)
        link.jobs.clear()
        metrics.WORKERS_LOST.inc()
        log.warning("worker %d (pid %d) disconnected", link.index, link.pid,
                    extra={"worker": link.index, "worker_pid": link.pid})
        self._pump()

    def complete(self, link: WorkerLink, done: ipc.Done) -> None:
        job = self._jobs.pop(done.job_id, None)
        if job is None:
            return
        link.jobs.discard(done.job_id)
        link.frames_done += 1
        self.ring.release(job.slot)
        job.session.in_flight -= 1
        metrics.TRACK_SECONDS.observe(done.track_ms / 1000.0)
        if done.error is not None:
            if not job.answered and not job.session.closed:
                metrics.ERRORS.labels("tracking_failed").inc()
                frame = job.frame
                self._guard(job.session, lambda: job.session.answer_error(
                    frame.ordinal, "tracking_failed", f"the tracker failed on this frame ({done.error})",
                    frame.binary, frame.timestamp, frame.seq))
        elif not job.answered and not job.session.closed:
            metrics.FRAMES_PROCESSED.inc()
            self._guard(job.session, lambda: job.session.answer_tracked(job.frame, done.output, done.track_ms))
        self._requeue(job.session)
        self._pump()

    # Internals -------------------------------------------------------------------------------------------

    def _requeue(self, session: Session) -> None:
        if session.queued is not None and session not in self._waiting:
            self._waiting.append(session)

    def _idle_worker(self) -> WorkerLink | None:
        """The least busy worker with room for a job (`worker_depth` jobs: with more than one, a job queued
        behind another saves the worker a round trip to the front between frames)."""
        depth = max(1, self.settings.worker_depth)
        ready = [w for w in self.workers.values()
                 if not w.jobs or (len(w.jobs) < depth and not self._holds_slow_job(w))]
        return min(ready, key=lambda w: (len(w.jobs), w.frames_done)) if ready else None

    def _holds_slow_job(self, worker: WorkerLink) -> bool:
        return any(job.slow for j in worker.jobs if (job := self._jobs.get(j)) is not None)

    def _pump(self) -> None:
        """Starts as many waiting frames as there are idle workers."""
        while self._waiting:
            worker = self._idle_worker()
            if worker is None:
                break
            session = self._next_waiting(time.monotonic())
            if session is None:
                break
            self._waiting.remove(session)
            frame, session.queued = session.queued, None
            assert frame is not None
            if (time.monotonic() - frame.received) * 1000.0 > self.settings.stale_ms:
                self.drop(session, frame, "stale")
                continue
            self._start(session, frame, worker)

    def _next_waiting(self, now: float) -> Session | None:
        """The session whose frame a free worker takes (module docstring); with `fresh_ms` 0, the session that
        has waited longest. Sessions with nothing left to send leave the queue here."""
        for gone in [s for s in self._waiting if s.queued is None or s.closed]:
            self._waiting.remove(gone)
        ready = [s for s in self._waiting if s.in_flight < self.settings.max_in_flight]
        if not ready or self.settings.fresh_ms <= 0:
            return ready[0] if ready else None
        fresh_since = now - self.settings.fresh_ms / 1000.0
        fresh = [s for s in ready if s.queued is not None and s.queued.received >= fresh_since]
        if fresh:
            return min(fresh, key=lambda s: s.served_at)
        return max(ready, key=lambda s: s.queued.received if s.queued is not None else 0.0)

    def _start(self, session: Session, frame: Frame, worker: WorkerLink) -> None:
        slot = self.ring.acquire()
        if slot is None:
            self.drop(session, frame, "overloaded")
            return
        plan = frame.plan
        started = time.perf_counter()
        try:
            view = self.ring.view(slot, plan.decoded_width, plan.decoded_height)
            if frame.pixels is not None:
                view[...] = frame.pixels
            else:
                decode_into(frame.jpeg, plan, view)
        except ProtocolError as exc:
            self.ring.release(slot)
            metrics.ERRORS.labels(exc.code).inc()
            code, message = exc.code, str(exc)
            self._guard(session, lambda: session.answer_error(frame.ordinal, code, message, frame.binary,
                                                              frame.timestamp, frame.seq))
            return
        frame.decode_ms = (time.perf_counter() - started) * 1000.0
        metrics.DECODE_SECONDS.observe(frame.decode_ms / 1000.0)
        frame.jpeg, frame.pixels = b"", None  # the pixels are in the slot now
        frame.dispatched = session.served_at = time.monotonic()
        metrics.QUEUE_SECONDS.observe(frame.dispatched - frame.received)
        job_id = next(self._job_ids)
        hints = session.hints(frame)
        job = ipc.Job(job_id, slot, plan.decoded_width, plan.decoded_height, float(plan.scale), hints)
        self._jobs[job_id] = InFlight(session, frame, slot, worker, slow=hints.detect or hints.face_box is None)
        worker.jobs.add(job_id)
        session.in_flight += 1
        worker.writer.write(ipc.frame(job))

    def drop(self, session: Session, frame: Frame, reason: DropReason) -> None:
        metrics.FRAMES_DROPPED.labels(reason).inc()
        self._guard(session, lambda: session.answer_dropped(frame, reason))

    def _guard(self, session: Session, answer: Callable[[], None]) -> None:
        """Runs an answer; a client that stopped reading is cut off rather than allowed to grow the front."""
        try:
            answer()
        except SlowConsumer as exc:
            log.warning("session %s closed: slow consumer (%s)", session.id, exc,
                        extra={"session": session.id, "reason": "slow_consumer"})
            metrics.ERRORS.labels("slow_consumer").inc()
            session.close()
            self.forget(session)

    def sweep(self) -> None:
        """Answers waiting frames past their deadline and frames a worker has held too long."""
        now = time.monotonic()
        for session in list(self._waiting):
            frame = session.queued
            if frame is not None and (now - frame.received) * 1000.0 > self.settings.stale_ms:
                session.queued = None
                self._waiting.remove(session)
                self.drop(session, frame, "stale")
        for job in self._jobs.values():
            if not job.answered and (now - job.frame.received) * 1000.0 > self.settings.in_flight_timeout_ms:
                # The slot stays with the worker until it answers or dies; only the client is told now.
                job.answered = True
                self.drop(job.session, job.frame, "stale")
        if self.settings.worker_hang_s > 0:
            self._kill_hung_workers(now)

    def _kill_hung_workers(self, now: float) -> None:
        """A worker that has held a frame for `worker_hang_s` is stuck (a live process, so its socket stays
        open): SIGKILL it, so that its slots come back through `remove_worker` and the supervisor restarts it."""
        for link in list(self.workers.values()):
            held = [self._jobs[j].frame.dispatched for j in link.jobs if j in self._jobs]
            if link.killed or not held or now - min(held) < self.settings.worker_hang_s:
                continue
            link.killed = True
            metrics.ERRORS.labels("worker_hung").inc()
            log.error("worker %d (pid %d) held a frame for %.1f s: killing it", link.index, link.pid,
                      now - min(held), extra={"worker": link.index, "worker_pid": link.pid, "reason": "hung"})
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(link.pid, signal.SIGKILL)

    def shutdown(self) -> None:
        """Answers every waiting and in-flight frame with `shutdown`."""
        self.shutting_down = True
        while self._waiting:
            session = self._waiting.popleft()
            if session.queued is not None:
                frame, session.queued = session.queued, None
                self.drop(session, frame, "shutdown")
        for job in self._jobs.values():
            if not job.answered:
                job.answered = True
                self.drop(job.session, job.frame, "shutdown")

    @property
    def worker_restarts(self) -> int:
        """Restarts reported by the workers connected now."""
        return sum(w.restarts for w in self.workers.values())

    def health(self) -> dict[str, object]:
        return {
            "workers": [
                {"index": w.index, "pid": w.pid, "alive": True, "frames_done": w.frames_done,
                 "restarts": w.restarts, "busy": bool(w.jobs)}
                for w in sorted(self.workers.values(), key=lambda w: w.index)
            ],
            "worker_restarts": self.worker_restarts,
            "ring": {"name": self.ring.name, "slots": self.ring.slots, "in_use": self.ring.in_use,
                     "slot_bytes": self.ring.slot_bytes},
            "frames_in_flight": len(self._jobs),
            "sessions_waiting": len(self._waiting),
        }
