"""Faults and shutdown on the real service: workers killed mid-frame or crashing on a frame, every worker gone,
SIGTERM and SIGKILL of the front, and what is left in /dev/shm afterwards."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
import websockets
from testdata import encode_jpeg

from gazepipe.protocol import ErrorMessage, GazeResult
from gazepipe.ring import SEGMENT_PREFIX, remove_stale_segments

from .conftest import FaceFrame
from .service import Service
from .streaming import StreamLog, stream
from .wsclient import GazeConnection

SHM = Path("/dev/shm")
RAISE_WIDTH, SLEEP_WIDTH = 333, 334  # frames this wide make a worker raise / hang (GAZEPIPE_TEST_FAULTS)


def segments(port: int) -> list[str]:
    return sorted(p.name for p in SHM.glob(f"{SEGMENT_PREFIX}{port}_*"))


def health(service: Service) -> Any:
    """/health's body, untyped (it is JSON)."""
    return service.health()[1]


def worker_pids(service: Service) -> list[int]:
    return [int(w["pid"]) for w in health(service).get("workers", [])]


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def faulty() -> Iterator[Service]:
    """Two workers with fault injection armed; tests leave it with both workers connected."""
    with Service(workers=2, test_faults=f"raise@{RAISE_WIDTH},sleep@{SLEEP_WIDTH}",
                 in_flight_timeout_ms=20000, worker_hang_s=6) as running:
        yield running


def test_a_frame_that_crashes_the_tracker_costs_only_that_frame(faulty: Service,
                                                                face_frames: list[FaceFrame]) -> None:
    crashing = encode_jpeg(np.full((240, RAISE_WIDTH), 120, np.uint8))
    pids = worker_pids(faulty)

    async def run() -> list[object]:
        async with websockets.connect(faulty.ws_url) as ws:
            client = GazeConnection(ws)
            answers: list[object] = []
            for jpeg in (crashing, face_frames[0].jpeg, crashing, face_frames[1].jpeg):
                await client.send_frame(jpeg, timestamp=float(len(answers)))
                answers.append(await client.receive())
            return answers

    answers = asyncio.run(run())
    assert isinstance(answers[0], ErrorMessage) and answers[0].code == "tracking_failed", answers[0]
    assert answers[0].timestamp == 0.0
    assert isinstance(answers[1], GazeResult) and answers[1].frame_processed
    assert isinstance(answers[2], ErrorMessage) and answers[2].code == "tracking_failed"
    assert isinstance(answers[3], GazeResult) and answers[3].frame_processed
    assert worker_pids(faulty) == pids, "a worker died or restarted on a tracker exception"
    assert faulty.health()[1]["ring"]["in_use"] == 0  # type: ignore[index]


def test_worker_killed_mid_frame_is_restarted_and_its_frame_answered(faulty: Service,
                                                                     face_frames: list[FaceFrame]) -> None:
    hanging = encode_jpeg(np.full((240, SLEEP_WIDTH), 120, np.uint8))
    restarts_before = int(health(faulty)["worker_restarts"])

    async def run() -> tuple[object, GazeResult]:
        async with websockets.connect(faulty.ws_url) as ws:
            client = GazeConnection(ws)
            await client.send_frame(hanging, timestamp=1.0)
            busy: list[int] = []
            for _ in range(50):  # the worker holding the frame shows as busy
                await asyncio.sleep(0.1)
                busy = [int(w["pid"]) for w in faulty.health()[1]["workers"] if w["busy"]]  # type: ignore
                if busy:
                    break
            assert len(busy) == 1, busy
            os.kill(busy[0], signal.SIGKILL)
            lost = await client.receive(timeout=10)
            after = await client.track(face_frames[0].jpeg)  # the same session goes on
            return lost, after

    lost, after = asyncio.run(run())
    assert isinstance(lost, GazeResult), lost
    assert not lost.frame_processed and lost.dropped == "worker_lost" and lost.timestamp == 1.0
    assert after.frame_processed
    faulty.wait_healthy(timeout=60)
    wait_for(lambda: int(health(faulty)["worker_restarts"]) == restarts_before + 1, 60,
             "/health to count the restart")
    body = health(faulty)
    assert body["ring"]["in_use"] == 0 and body["frames_in_flight"] == 0


def test_hung_worker_is_killed_and_restarted(faulty: Service, face_frames: list[FaceFrame]) -> None:
    """A worker stuck on a frame (alive, socket open) is killed by the front after `worker_hang_s`: the frame is
    answered `worker_lost`, its slot comes back, the supervisor restarts the worker."""
    hanging = encode_jpeg(np.full((240, SLEEP_WIDTH), 120, np.uint8))
    restarts_before = int(health(faulty)["worker_restarts"])

    async def run() -> tuple[object, float, GazeResult]:
        async with websockets.connect(faulty.ws_url) as ws:
            client = GazeConnection(ws)
            started = time.monotonic()
            await client.send_frame(hanging, timestamp=7.0)
            lost = await client.receive(timeout=30)
            waited = time.monotonic() - started
            return lost, waited, await client.track(face_frames[0].jpeg)

    lost, waited, after = asyncio.run(run())
    assert isinstance(lost, GazeResult) and lost.dropped == "worker_lost" and lost.timestamp == 7.0, lost
    assert 5.0 <= waited < 20.0, waited
    assert after.frame_processed
    faulty.wait_healthy(timeout=60)
    wait_for(lambda: int(health(faulty)["worker_restarts"]) == restarts_before + 1, 60, "the restart")
    assert health(faulty)["ring"]["in_use"] == 0
    assert 'gazepipe_errors_total{code="worker_hung"}' in faulty_metrics(faulty)


def test_ten_clients_keep_getting_answers_while_workers_are_killed(faulty: Service,
                                                                   face_frames: list[FaceFrame]) -> None:
    frames = [f.jpeg for f in face_frames[:6]]
    restarts_before = int(health(faulty)["worker_restarts"])
    kills = 2
    duration = 14.0

    async def killer() -> list[int]:
        """SIGKILLs a worker 2 s in, then another as soon as both are connected again (a restart loads the
        model: several seconds)."""
        killed: list[int] = []
        last = time.monotonic()
        deadline = last + duration - 3.0
        while len(killed) < kills and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            pids = await asyncio.to_thread(worker_pids, faulty)
            if len(pids) == 2 and time.monotonic() - last >= 2.0:
                victim = min(pids) if not killed else max(pids)
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
                last = time.monotonic()
        return killed

    async def run() -> tuple[list[StreamLog], list[int]]:
        clients = [stream(faulty.ws_url, frames[i % 3:] + frames[:i % 3], fps=10, duration_s=duration,
                          binary=i % 2 == 1) for i in range(10)]
        *logs, killed = await asyncio.gather(*clients, killer())
        return logs, killed  # type: ignore[return-value]

    logs, killed = asyncio.run(run())
    assert len(killed) >= 1, "no worker was killed"
    for log in logs:
        assert log.error is None and not log.closed_early, (log.error, log.close_code)
        assert log.unanswered == 0, f"{log.unanswered} of {len(log.sent)} frames unanswered"
        stamps = [a.timestamp for a in log.answers if getattr(a, "timestamp", None) is not None]  # type: ignore[union-attr]  # frames: in order
        assert stamps == log.sent[:len(stamps)]
        reasons = {r.dropped for r in log.results if not r.frame_processed}
        assert reasons <= {"superseded", "stale", "worker_lost", "overloaded"}, reasons
        assert {e.code for e in log.errors} <= {"no_workers"}
        # Still tracked in the last seconds, after the last kill.
        assert any(r.frame_processed for r in log.results[-15:]), "no tracked frame after the kills"
    faulty.wait_healthy(timeout=60)
    wait_for(lambda: int(health(faulty)["worker_restarts"]) >= restarts_before + len(killed), 60,
             "/health to count every restart")
    assert faulty.health()[1]["ring"]["in_use"] == 0  # type: ignore[index]
    metrics = faulty_metrics(faulty)
    assert "gazepipe_workers_lost_total" in metrics


def faulty_metrics(service: Service) -> str:
    import urllib.request
    with urllib.request.urlopen(service.http_url + "/metrics", timeout=5) as response:
        return response.read().decode()


def test_all_workers_dead_then_back(faulty: Service, face_frames: list[FaceFrame]) -> None:
    jpeg = face_frames[0].jpeg

    async def run() -> tuple[list[Any], list[Any]]:
        async with websockets.connect(faulty.ws_url) as ws:
            client = GazeConnection(ws)
            assert (await client.track(jpeg)).frame_processed
            faulty.signal("workers", signal.SIGKILL)  # the supervisor and every worker with it
            faulty.processes["workers"].wait(timeout=10)
            await asyncio.sleep(0.3)
            status, body = faulty.health()
            assert status == 503 and body["status"] == "unavailable", body
            dead = []
            for n in range(5):
                await client.send_frame(jpeg, timestamp=100.0 + n)
                dead.append(await client.receive(timeout=10))
            faulty.start("workers")
            await asyncio.to_thread(faulty.wait_healthy, None, 90.0)
            back = []
            for n in range(3):
                await client.send_frame(jpeg, timestamp=200.0 + n)
                back.append(await client.receive(timeout=30))
            return dead, back

    dead, back = asyncio.run(run())
    for n, answer in enumerate(dead):
        assert isinstance(answer, ErrorMessage) and answer.code == "no_workers", answer
        assert answer.timestamp == 100.0 + n
    assert all(isinstance(a, GazeResult) and a.frame_processed for a in back), back


def test_workers_do_not_outlive_their_supervisor(faulty: Service) -> None:
    """The supervisor alone killed with SIGKILL: its workers stop too (PR_SET_PDEATHSIG), so that a new
    supervisor does not find orphans still serving beside its own workers."""
    pids = worker_pids(faulty)
    assert pids
    os.kill(faulty.processes["workers"].pid, signal.SIGKILL)
    faulty.processes["workers"].wait(timeout=10)

    def gone(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(lambda: all(gone(p) for p in pids), 15, "the orphaned workers to exit")
    wait_for(lambda: faulty.health()[0] == 503, 10, "/health to answer 503")
    faulty.start("workers")
    faulty.wait_healthy(timeout=90)


def test_sigterm_drains_closes_with_1001_and_leaves_nothing(face_frames: list[FaceFrame]) -> None:
    service = Service(workers=1)
    with service:
        port = service.port
        assert len(segments(port)) == 1
        assert Path(service.env["GAZEPIPE_SOCKET"]).exists()

        async def run() -> list[StreamLog]:
            clients = [stream(service.ws_url, [face_frames[i].jpeg], fps=20, duration_s=6.0, drain_s=5.0)
                       for i in range(4)]

            async def terminate() -> None:
                await asyncio.sleep(1.5)
                service.signal("front", signal.SIGTERM)

            *logs, _ = await asyncio.gather(*clients, terminate())
            return logs  # type: ignore[return-value]

        logs = asyncio.run(run())
        code = service.processes["front"].wait(timeout=15)
        assert code == 0, service.log("front")
        for log in logs:
            assert log.close_code == 1001, (log.close_code, log.error)
            assert log.results, "no answer before the shutdown"
            reasons = {r.dropped for r in log.results if not r.frame_processed}
            assert reasons <= {"superseded", "stale", "shutdown", "overloaded"}, reasons
            stamps = [a.timestamp for a in log.answers if getattr(a, "timestamp", None) is not None]  # type: ignore[union-attr]  # frames: in order
            assert stamps == log.sent[:len(stamps)]
        assert segments(port) == [], "the ring outlived its front"
        assert not Path(service.env["GAZEPIPE_SOCKET"]).exists(), "the worker socket file was left"
        # New connections are refused once it is down.
        with pytest.raises(OSError):
            asyncio.run(websockets.connect(service.ws_url, open_timeout=2).__aenter__())

        # A front killed with SIGKILL leaves its ring; the next front removes it on start.
        service.start("front")
        service.wait_healthy(timeout=60)
        first = segments(port)
        assert len(first) == 1
        service.signal("front", signal.SIGKILL)
        service.processes["front"].wait(timeout=10)
        service.start("front")
        service.wait_healthy(timeout=60)
        second = segments(port)
        assert len(second) == 1 and second != first, (first, second)
    assert segments(port) == []
    assert not Path(service.env["GAZEPIPE_SOCKET"]).exists()
    assert service.processes["workers"].returncode is not None


def test_remove_stale_segments_keeps_live_fronts(tmp_path: Path) -> None:
    import subprocess
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / f"{SEGMENT_PREFIX}8001_{dead.pid}").write_bytes(b"x")
    (tmp_path / f"{SEGMENT_PREFIX}8001_{os.getpid()}").write_bytes(b"x")
    (tmp_path / "someone_else_1").write_bytes(b"x")
    assert remove_stale_segments(tmp_path) == [f"{SEGMENT_PREFIX}8001_{dead.pid}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{SEGMENT_PREFIX}8001_{os.getpid()}", "someone_else_1"])
