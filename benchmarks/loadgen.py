"""What the latency, throughput and scaling benchmarks share: starting a service, the WebSocket load
generator, the per-process CPU and memory monitor, and the summary of one run.

A client sends its sequence's frames open-loop at a fixed rate (frame k at start + k / fps, whatever the
answers do), as a camera would, and matches every answer to its frame by `seq`. Latency is client send to
client receive on one clock. Frames sent during the warm-up are answered but not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import statistics
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(REPO / "benchmarks") not in sys.path:
    sys.path.insert(0, str(REPO / "benchmarks"))

import frames  # noqa: E402

from tests.service import Service  # noqa: E402  (the one launcher of the Procfile's processes)

STAGES = ("decode", "queue", "ipc", "track", "answer", "total")


# The service under test --------------------------------------------------------------------------------------


class SeedService(Service):
    """The seed-style reference (`benchmarks/seed_reference.py`) launched like the service: one process."""

    def __init__(self) -> None:
        super().__init__(workers=1)

    def start(self, name: str | None = None) -> SeedService:
        log = (self.workdir / "seed.log").open("ab")
        self.processes["seed"] = __import__("subprocess").Popen(
            [sys.executable, str(REPO / "benchmarks" / "seed_reference.py"), "--port", str(self.port)],
            cwd=REPO, env=self.env, stdout=log, stderr=__import__("subprocess").STDOUT, start_new_session=True)
        return self

    def log(self, name: str) -> str:
        return super().log("seed" if name == "front" else name)


def http_base(url: str) -> str:
    """`ws://host:port/ws/gaze` -> `http://host:port`."""
    match = re.match(r"^(ws|http)(s?)://([^/]+)", url)
    if not match:
        raise ValueError(f"not a ws:// or http:// URL: {url}")
    return f"http{match.group(2)}://{match.group(3)}"


def ws_url(url: str) -> str:
    base = http_base(url)
    return base.replace("http", "ws", 1) + "/ws/gaze"


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: dict[str, Any] = json.loads(response.read())
        return body


def service_pids(url: str, launched: Service | None) -> dict[str, int]:
    """The service's processes by role: launched ones by their Popen, an attached one via /health and the
    process listening on its port."""
    pids: dict[str, int] = {}
    if launched is not None:
        for name, process in launched.processes.items():
            pids[name] = process.pid
    else:
        port = int(http_base(url).rsplit(":", 1)[1])
        with contextlib.suppress(psutil.Error):
            for conn in psutil.net_connections("tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                    pids["front"] = conn.pid
    with contextlib.suppress(OSError, ValueError, KeyError):
        for worker in get_json(http_base(url) + "/health").get("workers", []):
            if worker.get("pid") and worker["pid"] not in pids.values():
                pids[f"worker-{worker.get('index', len(pids))}"] = int(worker["pid"])
    return pids


# Process monitor -------------------------------------------------------------------------------------------


class ProcessMonitor:
    """Samples CPU time and RSS of named processes (and their children) in a thread until stopped."""

    def __init__(self, pids: dict[str, int], interval: float = 0.2) -> None:
        self._procs: dict[str, psutil.Process] = {}
        for name, pid in pids.items():
            with contextlib.suppress(psutil.Error):
                self._procs[name] = psutil.Process(pid)
        self._interval = interval
        self._start_cpu: dict[str, float] = {}
        self._last_cpu: dict[str, float] = {}
        self._peak_rss: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._began = 0.0
        self._ended = 0.0

    def _sample(self) -> None:
        for name, proc in list(self._procs.items()):
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    cpu = times.user + times.system
                    rss = proc.memory_info().rss
            except psutil.Error:
                continue
            self._start_cpu.setdefault(name, cpu)
            self._last_cpu[name] = cpu
            self._peak_rss[name] = max(self._peak_rss.get(name, 0), rss)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def start(self) -> ProcessMonitor:
        self._began = time.monotonic()
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        self._thread.join()
        self._sample()
        self._ended = time.monotonic()
        wall = max(self._ended - self._began, 1e-9)
        return [
            {"process": name, "pid": proc.pid,
             "cpu_s": round(self._last_cpu.get(name, 0.0) - self._start_cpu.get(name, 0.0), 3),
             "cpu_percent": round(100.0 * (self._last_cpu.get(name, 0.0) - self._start_cpu.get(name, 0.0)) / wall, 1),
             "peak_rss_mb": round(self._peak_rss.get(name, 0) / 2**20, 1)}
            for name, proc in self._procs.items()
        ]


def stage_sums(url: str) -> dict[str, tuple[float, float]]:
    """(sum seconds, count) per stage from the front's Prometheus histogram; {} where there is none."""
    sums: dict[str, tuple[float, float]] = {}
    try:
        with urllib.request.urlopen(http_base(url) + "/metrics", timeout=5) as response:
            text = response.read().decode()
    except (OSError, ValueError):
        return sums
    values: dict[tuple[str, str], float] = {}
    for match in re.finditer(r'^gazepipe_stage_seconds_(sum|count)\{stage="(\w+)"\} (\S+)$', text, re.M):
        values[(match.group(2), match.group(1))] = float(match.group(3))
    for (stage, kind), _ in values.items():
        if kind == "sum":
            sums[stage] = (values[(stage, "sum")], values.get((stage, "count"), 0.0))
    return sums


# Clients ---------------------------------------------------------------------------------------------------


@dataclass
class ClientLog:
    """What one client saw; only frames sent inside the measured window count, ordering is checked on all."""

    sent: int = 0
    skipped: int = 0  # capture ticks not sent because the in-flight window was full
    answered: int = 0
    processed: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    out_of_order: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # processed frames
    answer_latencies_ms: list[float] = field(default_factory=list)  # every answered frame
    stages: dict[str, list[float]] = field(default_factory=dict)
    face_found: int = 0
    connect_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Counter) else v) for k, v in self.__dict__.items()}


async def run_client(url: str, index: int, jpegs: tuple[bytes, ...], fps: float, warmup: float, duration: float,
                     mode: str, start_at: float, grace: float, deflate: bool, window: int = 0) -> ClientLog:
    """One camera: connects, sends from `start_at` (time.time()) for warmup + duration, waits for answers.

    `window` > 0 behaves like the project's own client: a capture tick is skipped while that many frames are
    unanswered (counted as `skipped`); 0 sends every tick whatever the answers do."""
    from gazepipe.client import GazeClient
    from gazepipe.protocol import GazeResult

    record = ClientLog()
    sent_at: dict[int, float] = {}
    counted_from = 0
    total_frames = int((warmup + duration) * fps)
    all_answered = asyncio.Event()
    answered_total = 0
    last_seq = -1
    skipped_total = 0
    # The project's Python client, without its own window (this one skips capture ticks instead of waiting) and
    # without reconnecting (a lost connection is a finding here).
    client = GazeClient(url, max_unanswered=0, mode="text" if mode == "text" else "binary", reconnect=False,
                        compression="deflate" if deflate else None)
    try:
        await client.connect()
    except Exception as exc:
        record.connect_error = repr(exc)
        return record

    async def receive() -> None:
        nonlocal answered_total, last_seq
        async for message in client:
            now = time.perf_counter()
            seq = getattr(message, "seq", None)
            if seq is None:
                continue
            if seq <= last_seq:
                record.out_of_order += 1
            last_seq = max(last_seq, seq)
            answered_total += 1
            if answered_total + skipped_total >= total_frames:
                all_answered.set()
            sent = sent_at.pop(seq, None)
            if sent is None or seq < counted_from:
                continue
            latency = (now - sent) * 1000.0
            record.answered += 1
            record.answer_latencies_ms.append(latency)
            if isinstance(message, GazeResult):
                if message.frame_processed:
                    record.processed += 1
                    record.face_found += message.face_found
                    record.latencies_ms.append(latency)
                    for name, value in message.stages_ms.items():
                        record.stages.setdefault(name, []).append(value)
                else:
                    record.dropped[message.dropped or "unknown"] += 1
            else:
                record.errors[getattr(message, "code", type(message).__name__)] += 1

    receiver = asyncio.create_task(receive())
    loop_offset = time.perf_counter() - time.time()
    begin = start_at + loop_offset + index * 0.0137 % (1.0 / fps)  # spread the clients' phases
    counted_from = int(warmup * fps)
    try:
        for k in range(total_frames):
            delay = begin + k / fps - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            jpeg_index = k % len(jpegs)
            if window and len(sent_at) >= window:
                skipped_total += 1
                if k >= counted_from:
                    record.skipped += 1
                continue
            sent_at[k] = time.perf_counter()
            await client.send(jpegs[jpeg_index], timestamp_ms=float(k), seq=k)
            if k >= counted_from:
                record.sent += 1
        if answered_total + skipped_total >= total_frames:
            all_answered.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_answered.wait(), timeout=grace)
    except Exception as exc:
        record.connect_error = repr(exc)
    finally:
        receiver.cancel()
        with contextlib.suppress(BaseException):
            await receiver
        with contextlib.suppress(Exception):
            await client.close()
    return record


async def _run_clients(url: str, clients: dict[int, tuple[bytes, ...]], fps: float, warmup: float,
                       duration: float, mode: str, start_at: float, grace: float, deflate: bool,
                       window: int) -> list[ClientLog]:
    return list(await asyncio.gather(*(run_client(url, i, jpegs, fps, warmup, duration, mode, start_at, grace,
                                                  deflate, window) for i, jpegs in clients.items())))


def _client_process(conn: Any, url: str, fps: float, warmup: float, duration: float, mode: str, grace: float,
                    deflate: bool, window: int) -> None:
    clients = conn.recv()  # {client index: its frames}, built once by the parent
    conn.send("ready")
    start_at = conn.recv()
    logs = asyncio.run(_run_clients(url, clients, fps, warmup, duration, mode, start_at, grace, deflate, window))
    conn.send([log.to_dict() for log in logs])
    conn.close()


def drive(url: str, clients: int, fps: float, duration: float, mode: str, warmup: float = 1.0,
          grace: float = 5.0, processes: int = 1, deflate: bool = False, window: int = 0,
          monitor_pids: dict[str, int] | None = None, first_sequence: int = 0,
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
    """Runs `clients` cameras in `processes` load-generator processes; returns their logs, the CPU and memory of
    the monitored processes (the load generators included) and the measured wall time. Client i sends
    `frames.sequence_for(first_sequence + i)` (1: webcam faces only, without the stage clip)."""
    processes = max(1, min(processes, clients))
    groups = [list(range(p, clients, processes)) for p in range(processes)]
    ctx = multiprocessing.get_context("spawn")
    children = []
    for p, group in enumerate(groups):
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(target=_client_process, name=f"loadgen-{p}",
                           args=(child_end, url, fps, warmup, duration, mode, grace, deflate, window))
        proc.start()
        parent_end.send({i: frames.sequence_for(first_sequence + i).jpegs for i in group})
        children.append((proc, parent_end))
    for _, end in children:
        if end.recv() != "ready":
            raise RuntimeError("load generator failed to start")
    pids = dict(monitor_pids or {})
    for p, (proc, _) in enumerate(children):
        pids[f"loadgen-{p}"] = proc.pid or 0
    start_at = time.time() + 0.5
    for _, end in children:
        end.send(start_at)
    time.sleep(max(0.0, start_at + warmup - time.time()))
    monitor = ProcessMonitor(pids).start()
    time.sleep(max(0.0, start_at + warmup + duration - time.time()))
    usage = monitor.stop()
    wall = duration
    logs: list[dict[str, Any]] = []
    for proc, end in children:
        logs.extend(end.recv())
        proc.join(timeout=30)
    return logs, usage, wall


# Summary ---------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100.0 * len(ordered) + 0.5) - 1))
    return round(ordered[rank], 2)


def summarise(logs: list[dict[str, Any]], usage: list[dict[str, Any]], wall: float, config: dict[str, Any],
              stage_totals: dict[str, float] | None = None) -> dict[str, Any]:
    latencies = [v for log in logs for v in log["latencies_ms"]]
    answered_lat = [v for log in logs for v in log["answer_latencies_ms"]]
    dropped: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    stages: dict[str, list[float]] = {}
    for log in logs:
        dropped.update(log["dropped"])
        errors.update(log["errors"])
        for name, values in log["stages"].items():
            stages.setdefault(name, []).extend(values)
    sent = sum(log["sent"] for log in logs)
    skipped = sum(log["skipped"] for log in logs)
    answered = sum(log["answered"] for log in logs)
    per_client = [log["processed"] for log in logs]
    processed = sum(per_client)
    stage_medians = {name: round(statistics.median(values), 3) for name, values in sorted(stages.items())}
    if stage_totals:
        stage_medians.update({f"{name}_mean": value for name, value in stage_totals.items()})
    return {
        **config,
        "frames_sent": sent,
        "frames_skipped_by_client": skipped,
        "frames_answered": answered,
        "frames_unanswered": sent - answered,
        "frames_processed": processed,
        "frames_dropped": sum(dropped.values()),
        "dropped_by_reason": dict(dropped),
        "errors_by_code": dict(errors),
        "face_found": sum(log["face_found"] for log in logs),
        "out_of_order": sum(log["out_of_order"] for log in logs),
        # fairness: how evenly the processed frames were shared between the clients
        "processed_per_client": {"min": min(per_client), "median": statistics.median(per_client),
                                 "max": max(per_client)} if per_client else None,
        "connect_errors": [log["connect_error"] for log in logs if log["connect_error"]],
        "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                       "p99": percentile(latencies, 99), "max": round(max(latencies), 2) if latencies else None},
        "answer_latency_ms": {"p50": percentile(answered_lat, 50), "p95": percentile(answered_lat, 95),
                              "p99": percentile(answered_lat, 99)},
        "stages_ms_median": stage_medians,
        "offered_fps": round(sent / wall, 1) if wall else 0.0,
        "processed_fps": round(processed / wall, 1) if wall else 0.0,
        "processes": usage,
        **cpu_budget(usage, processed),
    }


def cpu_budget(usage: list[dict[str, Any]], processed: int) -> dict[str, Any]:
    """CPU ms each process spent per processed frame, and the frames/s that the service's CPU cost alone would
    allow on every core of an otherwise idle machine (the load generators excluded): a figure that other
    programs' load on the machine disturbs far less than latency."""
    per_frame = {p["process"]: round(1000.0 * p["cpu_s"] / processed, 3) for p in usage} if processed else {}
    service = {k: v for k, v in per_frame.items() if not k.startswith("loadgen")}
    service_ms = sum(service.values())
    cores = os.cpu_count() or 1
    # all cores for the whole service, and no process faster than one core lets it (the seed is one process)
    bounds = [1000.0 * cores / service_ms] + [1000.0 / v for v in service.values() if v > 0.05] if service_ms else []
    return {"cpu_ms_per_processed_frame": per_frame, "service_cpu_ms_per_frame": round(service_ms, 3),
            "cpu_bound_capacity_fps": round(min(bounds), 1) if bounds else None}


@contextlib.contextmanager
def service_under_test(url: str | None, workers: int, seed: bool = False,
                       **settings: object) -> Iterator[tuple[str, Service | None]]:
    """Attaches to `url`, or starts the service (or the seed reference) as the run command does."""
    if url:
        yield ws_url(url), None
        return
    launched: Service = SeedService() if seed else Service(workers=workers, **settings)
    with launched:
        yield launched.ws_url, launched


def machine() -> dict[str, Any]:
    import platform
    import subprocess

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "src", "benchmarks"], cwd=REPO,
                                capture_output=True, text=True).stdout.strip())
    return {"commit": commit + ("+dirty" if dirty else ""), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def sample_stage_means(url: str, before: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Mean ms per stage between two scrapes of the front's histogram."""
    after = stage_sums(url)
    means = {}
    for stage, (total, count) in after.items():
        prev_total, prev_count = before.get(stage, (0.0, 0.0))
        if count > prev_count:
            means[stage] = round(1000.0 * (total - prev_total) / (count - prev_count), 4)
    return means
