"""Soak run: the real service (the Procfile's front and worker supervisor) under steady load while workers die.

    .venv/bin/python benchmarks/soak.py [--duration 600] [--clients 20] [--fps 10] [--kill-every 30]
                                        [--bad-every 50] [--workers 2] [--json]

20 clients stream real faces at 10 FPS each (half text mode, half binary), one message in every 50 is malformed,
and one tracker worker is killed with SIGKILL every 30 s. At the end it reports front crashes, sessions lost
(a connection the server closed or that failed), frames and bad messages left unanswered, start and end RSS of
every process (workers by index: the first process's start against the current one's end), and the shared-
memory segments and socket left after the service stops. Exits 0 when every criterion holds.

Traffic goes to 127.0.0.1 only; every loop is bounded by --duration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from testdata import clean_wild_faces, encode_jpeg, face_frame  # noqa: E402

from gazepipe.ring import SEGMENT_PREFIX  # noqa: E402
from tests.service import Service  # noqa: E402
from tests.streaming import StreamLog, p95, stream  # noqa: E402

MB = 2 ** 20


@dataclass
class Memory:
    """RSS samples of one role (front, supervisor, worker-N) over the run."""

    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (seconds, pid, rss)

    def add(self, at: float, pid: int, rss: int) -> None:
        self.samples.append((at, pid, rss))

    def summary(self) -> dict[str, object]:
        first, last = self.samples[0], self.samples[-1]
        # The same process at about 10 %, 50 % and 100 % of the run: growth after warm-up shows as a trend here.
        same = [s for s in self.samples if s[1] == last[1]]
        trend = [round(same[min(len(same) - 1, int(f * len(same)))][2] / MB, 1) for f in (0.1, 0.5, 1.0)]
        return {"start_pid": first[1], "start_rss_mb": round(first[2] / MB, 1), "end_pid": last[1],
                "end_rss_mb": round(last[2] / MB, 1), "max_rss_mb": round(max(s[2] for s in self.samples) / MB, 1),
                "end_process_trend_mb": trend}


def _rss(pid: int) -> int | None:
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


def sample_memory(service: Service, memory: dict[str, Memory], at: float) -> None:
    front = service.processes["front"].pid
    supervisor = service.processes["workers"].pid
    for role, pid in (("front", front), ("supervisor", supervisor)):
        rss = _rss(pid)
        if rss is not None:
            memory.setdefault(role, Memory()).add(at, pid, rss)
    workers: Any = []
    with contextlib.suppress(OSError):
        workers = service.health()[1].get("workers", [])
    for worker in workers:
        rss = _rss(int(worker["pid"]))
        if rss is not None:
            memory.setdefault(f"worker-{worker['index']}", Memory()).add(at, int(worker["pid"]), rss)


async def soak(args: argparse.Namespace) -> dict[str, object]:
    faces = clean_wild_faces()[:8]
    frames = [encode_jpeg(face_frame(face)) for face in faces]
    service = Service(workers=args.workers)
    memory: dict[str, Memory] = {}
    kills: list[dict[str, object]] = []
    front_crashes = 0
    with service:
        front_process = service.processes["front"]
        started = time.monotonic()
        sample_memory(service, memory, 0.0)

        async def killer() -> None:
            index = 0
            end = started + args.duration
            while time.monotonic() + args.kill_every < end:
                await asyncio.sleep(args.kill_every)
                workers: Any = (await asyncio.to_thread(service.health))[1].get("workers", [])
                victims = [w for w in workers if w["index"] == index % args.workers] or workers
                if victims:
                    victim = victims[0]
                    with_pid = int(victim["pid"])
                    psutil.Process(with_pid).send_signal(signal.SIGKILL)
                    kills.append({"at_s": round(time.monotonic() - started, 1), "worker": victim["index"],
                                  "pid": with_pid})
                index += 1

        async def sampler() -> None:
            end = started + args.duration
            while time.monotonic() < end:
                await asyncio.sleep(min(10.0, max(0.1, end - time.monotonic())))
                await asyncio.to_thread(sample_memory, service, memory, round(time.monotonic() - started, 1))

        clients = [stream(service.ws_url, frames[i % len(frames):] + frames[:i % len(frames)], fps=args.fps,
                          duration_s=args.duration, binary=i % 2 == 1, bad_every=args.bad_every, drain_s=15.0)
                   for i in range(args.clients)]
        results = await asyncio.gather(*clients, killer(), sampler())
        logs: list[StreamLog] = [r for r in results[:args.clients] if isinstance(r, StreamLog)]
        if front_process.poll() is not None:
            front_crashes += 1
        recovered = True
        try:  # the workers killed last come back by themselves
            await asyncio.to_thread(service.wait_healthy, None, 90.0)
        except (TimeoutError, RuntimeError):
            recovered = False
        health_status, health = service.health()
    port = service.port
    segments_left = sorted(p.name for p in Path("/dev/shm").glob(f"{SEGMENT_PREFIX}{port}_*"))
    socket_left = Path(service.env["GAZEPIPE_SOCKET"]).exists()
    results_all = [r for log in logs for r in log.results]
    dropped: dict[str, int] = {}
    for r in results_all:
        if not r.frame_processed:
            dropped[str(r.dropped)] = dropped.get(str(r.dropped), 0) + 1
    errors: dict[str, int] = {}
    for log in logs:
        for e in log.errors:
            errors[e.code] = errors.get(e.code, 0) + 1
    latencies = [ms for log in logs for ms in log.latencies_ms]
    front_exit = service.processes["front"].returncode
    report: dict[str, object] = {
        "duration_s": args.duration, "clients": args.clients, "fps": args.fps, "workers": args.workers,
        "kill_every_s": args.kill_every, "bad_every": args.bad_every,
        "frames_sent": sum(len(log.sent) for log in logs),
        "bad_messages_sent": sum(log.bad_sent for log in logs),
        "answers": sum(len(log.answers) for log in logs),
        "frames_tracked": sum(r.frame_processed for r in results_all),
        "dropped_by_reason": dropped, "errors_by_code": errors,
        "unanswered": sum(max(0, log.unanswered) for log in logs),
        "sessions_lost": sum(bool(log.closed_early or log.error) for log in logs),
        "front_crashes": front_crashes, "front_exit_code": front_exit,
        "workers_killed": len(kills), "worker_restarts_seen": health.get("worker_restarts"),
        "health_at_end": health_status, "workers_back": recovered,
        "latency_tracked_ms": {"p50": round(sorted(latencies)[len(latencies) // 2], 1) if latencies else None,
                               "p95": round(p95(latencies), 1) if latencies else None},
        "rss": {role: m.summary() for role, m in sorted(memory.items())},
        "shm_segments_left": segments_left, "socket_left": socket_left,
        "kills": kills,
    }
    report["ok"] = (front_crashes == 0 and front_exit == 0 and recovered and report["sessions_lost"] == 0
                    and report["unanswered"] == 0 and not segments_left and not socket_left)
    return report


def print_report(report: dict[str, object]) -> None:
    print(f"soak: {report['duration_s']} s, {report['clients']} clients at {report['fps']} FPS, "
          f"{report['workers']} workers, a worker SIGKILLed every {report['kill_every_s']} s, "
          f"1 bad message in {report['bad_every']}")
    for key in ("frames_sent", "bad_messages_sent", "answers", "frames_tracked", "dropped_by_reason",
                "errors_by_code", "unanswered", "sessions_lost", "front_crashes", "front_exit_code",
                "workers_killed", "worker_restarts_seen", "health_at_end", "workers_back", "latency_tracked_ms",
                "shm_segments_left", "socket_left"):
        print(f"  {key}: {report[key]}")
    print("  rss (MB):")
    rss: Any = report["rss"]
    for role, summary in rss.items():
        print(f"    {role}: start {summary['start_rss_mb']} (pid {summary['start_pid']}), end {summary['end_rss_mb']}"
              f" (pid {summary['end_pid']}), max {summary['max_rss_mb']}; that process at 10/50/100 % of the run"
              f" {summary['end_process_trend_mb']}")
    print(f"  result: {'PASS' if report['ok'] else 'FAIL'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of streaming (default 600)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--fps", type=float, default=10.0, help="frames per second per client")
    parser.add_argument("--kill-every", type=float, default=30.0, help="seconds between worker SIGKILLs")
    parser.add_argument("--bad-every", type=int, default=50, help="one malformed message in this many")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the report as JSON too")
    args = parser.parse_args(argv)
    report = asyncio.run(soak(args))
    print_report(report)
    if args.json:
        print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
