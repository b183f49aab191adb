"""A few seconds of benchmarks/soak.py: clients streaming with bad messages while a worker is killed."""

from __future__ import annotations

import json
import subprocess
import sys

from .service import REPO


def test_soak_smoke() -> None:
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "soak.py"), "--duration", "6", "--clients", "4",
                          "--kill-every", "3", "--bad-every", "10", "--json"],
                         cwd=REPO, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["ok"] and report["unanswered"] == 0 and report["sessions_lost"] == 0
    assert report["workers_killed"] >= 1 and report["workers_back"]
    assert report["errors_by_code"].get("bad_message", 0) + report["errors_by_code"].get("bad_header", 0) >= 1
    assert report["shm_segments_left"] == [] and not report["socket_left"]
    assert {"front", "supervisor", "worker-0", "worker-1"} <= set(report["rss"])
