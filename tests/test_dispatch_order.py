"""Which waiting frame a free worker takes when frames wait for workers: fresh frames first, among them the
session served longest ago; with none fresh, the freshest (dispatcher module docstring).

The real dispatcher, ring, sessions and JPEG decoding, in-process; the worker is the socket end that records
the jobs written to it and is answered by hand, so that which frame goes next is decided by the test's clock."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import numpy as np
import pytest
from testdata import encode_jpeg

from gazepipe import ipc
from gazepipe.config import Settings
from gazepipe.front.dispatcher import Dispatcher, WorkerLink
from gazepipe.front.jpeg import plan_decode
from gazepipe.front.session import Frame, Session
from gazepipe.ring import FrameRing
from gazepipe.tracking.types import TrackOutput

JPEG = encode_jpeg(np.full((48, 64, 3), 128, np.uint8))


class _Worker:
    """The worker's end of its socket: the jobs the dispatcher wrote, in order."""

    def __init__(self) -> None:
        self.jobs: list[ipc.Job] = []

    def write(self, data: bytes) -> None:
        message = ipc.worker_decoder.decode(data[ipc.LENGTH.size:])
        if isinstance(message, ipc.Job):
            self.jobs.append(message)

    def close(self) -> None:
        pass


class _Pipeline:
    """One worker taking one job at a time, and the sessions whose frames wait for it."""

    def __init__(self, fresh_ms: float) -> None:
        self.settings = Settings(fresh_ms=fresh_ms, worker_depth=1)
        self.ring = FrameRing.create(f"gazepipe_order_{os.getpid()}", 8, 64 * 48)
        self.dispatcher = Dispatcher(self.settings, self.ring)
        self.worker = _Worker()
        self.link: WorkerLink = self.dispatcher.add_worker(
            ipc.Hello(worker_index=0, pid=os.getpid(), restarts=0), self.worker)  # type: ignore[arg-type]
        self.sessions: list[Session] = []

    def session(self) -> Session:
        session = Session("127.0.0.1", self.settings.max_outbox, self.settings.detect_every_s)
        self.sessions.append(session)
        return session

    def submit(self, session: Session, age_ms: float) -> None:
        """A frame of `session` that arrived `age_ms` ago."""
        plan = plan_decode(JPEG, 4096, 64 * 48)
        frame = Frame(ordinal=session.next_ordinal(), seq=0, timestamp=0.0, binary=True, jpeg=JPEG, plan=plan,
                      received=time.monotonic() - age_ms / 1000.0)
        self.dispatcher.submit(session, frame)

    def working_for(self) -> Session | None:
        """The session whose frame the worker holds."""
        busy = [s for s in self.sessions if s.in_flight]
        assert len(busy) <= 1 and len(self.worker.jobs) == len(busy)
        return busy[0] if busy else None

    def finish(self) -> Session | None:
        """The worker answers its job and takes the next one: whose is it?"""
        job = self.worker.jobs.pop(0)
        self.dispatcher.complete(self.link, ipc.Done(job.job_id, job.slot, TrackOutput(), 1.0))
        return self.working_for()

    def close(self) -> None:
        self.ring.close()


@pytest.fixture()
def pipeline(request: pytest.FixtureRequest) -> Iterator[_Pipeline]:
    asyncio.set_event_loop(asyncio.new_event_loop())
    pipeline = _Pipeline(request.param)
    yield pipeline
    pipeline.close()


@pytest.mark.parametrize("pipeline", [25.0], indirect=True)
def test_a_fresh_frame_goes_before_frames_that_waited(pipeline: _Pipeline) -> None:
    busy, waited_long, waited, fresh = (pipeline.session() for _ in range(4))
    pipeline.submit(busy, 0)
    assert pipeline.working_for() is busy
    pipeline.submit(waited_long, 150)
    pipeline.submit(waited, 100)
    pipeline.submit(fresh, 5)
    # none of the rest is fresh: the freshest next, and nothing is dropped on the way
    assert [pipeline.finish() for _ in range(4)] == [fresh, waited, waited_long, None]
    assert all(s.frames_dropped == 0 for s in pipeline.sessions)


@pytest.mark.parametrize("pipeline", [25.0], indirect=True)
def test_among_fresh_frames_the_session_served_longest_ago_goes_first(pipeline: _Pipeline) -> None:
    served_before, served_lately, busy = (pipeline.session() for _ in range(3))
    for session in (served_before, served_lately):
        pipeline.submit(session, 0)
        pipeline.finish()
    pipeline.submit(busy, 0)
    pipeline.submit(served_lately, 1)  # fresher, and waiting first
    pipeline.submit(served_before, 10)
    assert [pipeline.finish() for _ in range(3)] == [served_before, served_lately, None]


@pytest.mark.parametrize("pipeline", [0.0], indirect=True)
def test_without_a_freshness_preference_sessions_are_served_in_turn(pipeline: _Pipeline) -> None:
    busy, first, second, third = (pipeline.session() for _ in range(4))
    pipeline.submit(busy, 0)
    for session, age in ((first, 150), (second, 100), (third, 5)):
        pipeline.submit(session, age)
    assert [pipeline.finish() for _ in range(4)] == [first, second, third, None]
