"""End-to-end latency of the service under N webcam-like clients.

    .venv/bin/python benchmarks/latency.py --clients 20 --fps 10 --duration 10 --mode binary [--json]
    .venv/bin/python benchmarks/latency.py --url ws://127.0.0.1:8001/ws/gaze --clients 5   # a running service

Without `--url` it starts the service as `make run` does (the Procfile's front and workers, on a free loopback
port) and stops it afterwards. Each client sends real-face 640x480 JPEG q80 frames (the real clip, or a
faces-wild face drifting a little from frame to frame) at `--fps`, open-loop, and matches answers by seq.

Reports frames sent / answered / processed / dropped by reason, answers out of order (must be 0), latency from
client send to client receive (processed frames) p50/p95/p99/max, per-stage medians from the results'
`stages_ms`, processed frames per second, and CPU and peak RSS of every process (load generators included).
With `--json` the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import loadgen


def run(url: str | None = None, clients: int = 20, fps: float = 10.0, duration: float = 10.0, mode: str = "binary",
        workers: int | None = None, warmup: float = 1.0, client_processes: int = 1, deflate: bool = False,
        seed: bool = False, window: int = 0, **settings: object) -> dict[str, Any]:
    """One measured run; starts (and stops) the service unless `url` is given."""
    workers = workers or (loadgen.os.cpu_count() or 1)
    with loadgen.service_under_test(url, workers, seed=seed, **settings) as (ws, launched):
        pids = loadgen.service_pids(ws, launched)
        before = loadgen.stage_sums(ws)
        logs, usage, wall = loadgen.drive(ws, clients, fps, duration, mode, warmup=warmup,
                                          processes=client_processes, deflate=deflate, window=window,
                                          monitor_pids=pids)
        means = loadgen.sample_stage_means(ws, before)
    config = {"benchmark": "latency", "design": "seed" if seed else "gazepipe", "clients": clients, "fps": fps,
              "duration_s": duration, "mode": mode, "workers": 1 if seed else workers, "deflate": deflate,
              "client_window": window,
              "url": url or "launched", **loadgen.machine()}
    return loadgen.summarise(logs, usage, wall, config, {k: v for k, v in means.items() if k == "encode"})


def table(result: dict[str, Any]) -> str:
    lat = result["latency_ms"]
    lines = [
        f"{result['design']}  {result['clients']} clients x {result['fps']:g} FPS, {result['mode']}, "
        f"{result['duration_s']:g} s, {result['workers']} workers  (commit {result['commit']}, {result['date']}, "
        f"{result['cpus']} cores, load {result['load_avg_1m']})",
        f"  frames sent {result['frames_sent']} (ticks skipped by the client {result['frames_skipped_by_client']})"
        f"  answered {result['frames_answered']}  processed "
        f"{result['frames_processed']}  dropped {result['frames_dropped']} {result['dropped_by_reason']}  "
        f"unanswered {result['frames_unanswered']}  errors {result['errors_by_code']}",
        f"  out of order / older than delivered: {result['out_of_order']}",
        f"  latency ms (send -> receive, processed)  p50 {lat['p50']}  p95 {lat['p95']}  p99 {lat['p99']}  "
        f"max {lat['max']}",
        f"  processed {result['processed_fps']} frames/s of {result['offered_fps']} offered;  per client "
        + ("-" if not (share := result["processed_per_client"]) else
           f"min {share['min']}  median {share['median']}  max {share['max']}"),
        "  stage medians ms: " + "  ".join(f"{k} {v}" for k, v in result["stages_ms_median"].items()),
        f"  {'process':<12} {'pid':>7} {'CPU %':>7} {'CPU s':>7} {'ms/frame':>9} {'peak RSS MB':>12}",
    ]
    per_frame = result["cpu_ms_per_processed_frame"]
    for proc in result["processes"]:
        lines.append(f"  {proc['process']:<12} {proc['pid']:>7} {proc['cpu_percent']:>7} {proc['cpu_s']:>7} "
                     f"{per_frame.get(proc['process'], '-')!s:>9} {proc['peak_rss_mb']:>12}")
    lines.append(f"  service CPU per processed frame {result['service_cpu_ms_per_frame']} ms -> at most "
                 f"{result['cpu_bound_capacity_fps']} frames/s on {result['cpus']} idle cores")
    if result["connect_errors"]:
        lines.append(f"  client errors: {result['connect_errors'][:3]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="attach to a running service (ws:// or http:// URL) instead of starting one")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds, after the warm-up")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--mode", choices=("text", "binary"), default="binary")
    parser.add_argument("--workers", type=int, help="tracker workers when starting the service (default: cores)")
    parser.add_argument("--client-processes", type=int, default=1, help="load-generator processes")
    parser.add_argument("--deflate", action="store_true",
                        help="offer permessage-deflate as browsers do (hypercorn accepts it); off by default because "
                             "compressing every JPEG costs the load generator about 1 ms of the same 2 cores")
    parser.add_argument("--window", type=int, default=0,
                        help="skip a capture tick while this many frames are unanswered, as the project's own "
                             "client does (2); 0, the default, sends every tick like a bare camera")
    parser.add_argument("--seed", action="store_true", help="measure the seed-style reference instead")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    result = run(args.url, args.clients, args.fps, args.duration, args.mode, args.workers, args.warmup,
                 args.client_processes, args.deflate, args.seed, args.window)
    print(table(result))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
