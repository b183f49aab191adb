"""Starts N tracker workers and restarts any that exits, so that one crash never stops the service.

A Procfile launcher stops everything when one of its processes exits; this supervisor is the one process it
sees, and it keeps the workers alive underneath.

The supervisor loads the tracker's models once and forks the workers from it: each worker has its own
predictor, but the 100 MB of regression trees stay one copy in memory (copy-on-write, never written), so the
workers' landmark fits share the CPU cache instead of evicting each other's trees. A restarted worker is
forked from the same loaded models and serves at once.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass, replace
from multiprocessing.process import BaseProcess

from gazepipe import logs
from gazepipe.config import Settings
from gazepipe.model import predictor_path
from gazepipe.tracking.tracker import GazeTracker
from gazepipe.workers import worker

log = logging.getLogger("gazepipe.supervisor")
# The 68-point model is 100 MB of regression trees, read at scattered places on every frame: on 4 KB pages nearly
# every read also misses the TLB. With this tunable glibc's malloc asks Linux for transparent huge pages (granted
# in its default "madvise" mode; harmless where they are off): the landmark fit ran about 30 % faster here,
# measured in process with other work between fits.
HUGE_PAGES = "glibc.malloc.hugetlb=1"
# One BLAS thread a process: the workers are the parallelism, and OpenBLAS's own threads in each of them only
# compete for the same cores (the pupil network's two-eye product took its threaded path: 3.6 ms of CPU under
# load; single-threaded, both eyes in one product cost 0.6 of two threaded calls). A value the user set is kept.
BLAS_THREADS = {"OPENBLAS_NUM_THREADS": "1"}
_fork = multiprocessing.get_context("fork")


@dataclass
class _Slot:
    index: int
    process: BaseProcess
    started: float
    restarts: int = 0
    quick_failures: int = 0


def _start(settings: Settings, tracker: GazeTracker, index: int, restarts: int) -> BaseProcess:
    process = _fork.Process(target=worker.run, args=(settings, index, restarts, tracker),
                            name=f"gazepipe-worker-{index}")
    process.start()
    return process


def supervise(settings: Settings) -> None:
    """Runs until SIGTERM or SIGINT, then stops the workers."""
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tracker = GazeTracker(str(predictor_path()))
    slots = [_Slot(i, _start(settings, tracker, i, 0), time.monotonic()) for i in range(settings.workers)]
    log.info("started %d tracker workers", len(slots))
    while not stopping:
        time.sleep(0.1)
        for slot in slots:
            if slot.process.is_alive() or stopping:
                continue
            # A worker that dies right after starting would otherwise spin: back off while it keeps failing.
            lived = time.monotonic() - slot.started
            slot.quick_failures = slot.quick_failures + 1 if lived < 2.0 else 0
            delay = min(5.0, 0.1 * 2 ** slot.quick_failures) if slot.quick_failures else 0.0
            log.warning("worker %d (pid %s) exited with %s; restarting in %.1f s",
                        slot.index, slot.process.pid, slot.process.exitcode, delay,
                        extra={"worker": slot.index, "worker_pid": slot.process.pid, "restarts": slot.restarts + 1})
            time.sleep(delay)
            slot.restarts += 1
            slot.process = _start(settings, tracker, slot.index, slot.restarts)
            slot.started = time.monotonic()
    for slot in slots:
        slot.process.terminate()
    for slot in slots:
        slot.process.join(timeout=5)
        if slot.process.is_alive():
            slot.process.kill()


def with_worker_environment() -> None:
    """Runs this process again with HUGE_PAGES and BLAS_THREADS set, unless it has them: glibc reads its
    tunables and OpenBLAS its thread count only at start, and the models must be loaded after that. Call it
    first thing in `main` (the benchmarks that time the tracker in their own process do too, to time it as the
    workers run it)."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if HUGE_PAGES in tunables.split(":") and all(name in os.environ for name in BLAS_THREADS):
        return
    env = dict(BLAS_THREADS, **os.environ)
    env["GLIBC_TUNABLES"] = tunables if HUGE_PAGES in tunables.split(":") else \
        ":".join(t for t in (tunables, HUGE_PAGES) if t)
    os.execve(sys.executable, sys.orig_argv, env)


def main(argv: list[str] | None = None) -> None:
    with_worker_environment()
    parser = argparse.ArgumentParser(description="Run gazepipe's tracker workers under a supervisor.")
    parser.add_argument("--workers", type=int,
                        help="number of worker processes (default: GAZEPIPE_WORKERS, else one per core)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logs.configure(settings.log_json, "supervisor")
    if args.workers:
        settings = replace(settings, workers=args.workers)
    supervise(settings)
