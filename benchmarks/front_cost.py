"""The front's CPU per frame, this checkout against an earlier commit, in one run.

    .venv/bin/python benchmarks/front_cost.py [--base ef9bfbc] [--rounds 3] [--clients 6] [--fps 8] [--json]

Both services run side by side (the Procfile's processes, each on its own loopback port; the earlier commit's
from a `git archive` of it in a temporary folder). In each round every case (binary or text, permessage-deflate
offered as browsers do or not) drives one service and then the other, alternating which goes first, so that the
machine's drift falls on both alike. The clients send webcam faces only (no stage clip, whose frames without a
face are answered undecoded), each skipping a capture tick while a frame of its own is unanswered, so that no
frame is superseded and every frame is decoded, tracked and answered whatever else runs on the machine: the
front's CPU (psutil) over the frames answered is then its whole cost per frame.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import loadgen

from tests.service import Service

CASES = {"binary": ("binary", False), "binary+deflate": ("binary", True), "text": ("text", False),
         "text+deflate": ("text", True)}  # deflate: the client offers permessage-deflate, as browsers do


class TreeService(Service):
    """The service run from another source tree (the package imported from there, not from this checkout)."""

    def __init__(self, root: Path, workers: int) -> None:
        super().__init__(workers=workers)
        self.root = root
        self.env["PYTHONPATH"] = str(root / "src")


@contextlib.contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """The tree of `ref` in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="gazepipe-base-") as folder:
        archive = subprocess.run(["git", "archive", ref], cwd=loadgen.REPO, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        yield Path(folder)


def measure(service: Service, mode: str, deflate: bool, clients: int, fps: float, duration: float
            ) -> dict[str, float]:
    logs, usage, _ = loadgen.drive(service.ws_url, clients, fps, duration, mode, warmup=1.0, grace=3.0,
                                   deflate=deflate, window=1, monitor_pids={"front": service.processes["front"].pid},
                                   first_sequence=1)
    front = next(p for p in usage if p["process"] == "front")
    answered = sum(log["answered"] for log in logs)
    processed = sum(log["processed"] for log in logs)
    return {"cpu_s": front["cpu_s"], "answered": answered, "processed": processed,
            "fps": round(answered / duration, 1), "ms_per_frame": round(1000.0 * front["cpu_s"] / max(1, answered), 3)}


def run(base: str, rounds: int, clients: int, fps: float, duration: float, workers: int,
        cases: tuple[str, ...] = tuple(CASES)) -> dict[str, Any]:
    runs: dict[str, dict[str, list[dict[str, float]]]] = {}
    with checkout(base) as base_root, TreeService(base_root, workers) as before, \
            Service(workers=workers) as after:
        services = {"base": before, "this": after}
        for r in range(rounds):
            for case in cases:
                mode, deflate = CASES[case]
                order = ("base", "this") if r % 2 == 0 else ("this", "base")
                for name in order:
                    result = measure(services[name], mode, deflate, clients, fps, duration)
                    runs.setdefault(case, {}).setdefault(name, []).append(result)
                    print(f"  round {r + 1} {case:<14} {name:<4} front {result['ms_per_frame']} ms/frame  "
                          f"({result['answered']} answered, {result['processed']} tracked, {result['fps']} frames/s)",
                          file=sys.stderr,
                          flush=True)
    summary = {}
    for case, by_name in runs.items():
        medians = {name: statistics.median(r["ms_per_frame"] for r in results) for name, results in by_name.items()}
        tracked = {name: round(sum(r["processed"] for r in results) / max(1, sum(r["answered"] for r in results)), 3)
                   for name, results in by_name.items()}
        summary[case] = {"base_ms": round(medians["base"], 3), "this_ms": round(medians["this"], 3),
                         "ratio": round(medians["this"] / medians["base"], 3) if medians["base"] else None,
                         "tracked_share": tracked}
    return {"benchmark": "front_cost", "base": base, "rounds": rounds, "clients": clients, "fps": fps,
            "duration_s": duration, "workers": workers, **loadgen.machine(), "cases": summary, "runs": runs}


def table(result: dict[str, Any]) -> str:
    lines = [f"front CPU ms per frame answered, median of {result['rounds']} interleaved rounds;  "
             f"{result['clients']} clients x {result['fps']:g} FPS, webcam faces, {result['duration_s']:g} s each",
             f"  {'case':<16} {'base ' + result['base']:>14} {'this ' + result['commit']:>20} {'ratio':>7} "
             f"{'tracked base/this':>18}"]
    for case, row in result["cases"].items():
        share = row["tracked_share"]
        lines.append(f"  {case:<16} {row['base_ms']:>14} {row['this_ms']:>20} {row['ratio']!s:>7} "
                     f"{share['base']:>9}/{share['this']}")
    lines.append(f"{result['date']}, {result['cpus']} cores, load {result['load_avg_1m']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="ef9bfbc", help="the earlier commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=6, help="at most 12: one webcam face each")
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per case and service")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    result = run(args.base, args.rounds, args.clients, args.fps, args.duration, args.workers,
                 tuple(args.cases.split(",")))
    print(table(result))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
