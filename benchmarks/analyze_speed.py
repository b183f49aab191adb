"""How fast `gazepipe analyze` goes through a 640x480 30 FPS recording, against the recording's own duration.

The recording is made from the shared clip (640x360, 29.97 FPS, 275 frames of people on a stage) scaled to cover
640x480 and cropped to it, at 30 FPS, as an MPEG-4 file in a temporary folder, repeated `--repeat` times. Each
variant (`--window 1`: frame after frame, reproducible; `--window 2`: both workers on the file) runs as the real
command, interleaved A, B, A, B; the figure is the analysis of the file (the summary's `analysis_s`, decode to
written result), with the start of the workers (loading the model) shown apart.

    python benchmarks/analyze_speed.py [--rounds 2] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from gazepipe.testdata import data_root

SIZE = (640, 480)
FPS = 30.0


def make_recording(path: Path, repeat: int) -> int:
    capture = cv2.VideoCapture(str(data_root() / "video" / "short_hamilton_clip.mp4"))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        height, width = frame.shape[:2]
        scale = max(SIZE[0] / width, SIZE[1] / height)
        scaled = cv2.resize(frame, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        x = (scaled.shape[1] - SIZE[0]) // 2
        y = (scaled.shape[0] - SIZE[1]) // 2
        frames.append(np.ascontiguousarray(scaled[y:y + SIZE[1], x:x + SIZE[0]]))
    capture.release()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, SIZE)
    for _ in range(repeat):
        for frame in frames:
            writer.write(frame)
    writer.release()
    return len(frames) * repeat


def run(folder: Path, recording: Path, window: int, workers: int) -> dict[str, float]:
    out = folder / f"w{window}.jsonl"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "gazepipe", "analyze", str(recording), "--out", str(out), "--workers",
                    str(workers), "--window", str(window)], check=True, capture_output=True, timeout=1800)
    wall = time.monotonic() - started
    summary = json.loads(out.read_text().splitlines()[-1])
    return {"analysis_s": summary["analysis_s"], "wall_s": wall, "frames": summary["frames_tracked"],
            "video_s": summary["duration_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of every variant")
    parser.add_argument("--repeat", type=int, default=2, help="the clip's frames this many times over")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gazepipe-speed-") as name:
        folder = Path(name)
        recording = folder / "recording_640x480_30fps.mp4"
        frames = make_recording(recording, args.repeat)
        windows = (1, args.workers)
        runs: dict[int, list[dict[str, float]]] = {w: [] for w in windows}
        for _ in range(args.rounds):
            for window in windows:
                runs[window].append(run(folder, recording, window, args.workers))
    load = os.getloadavg()[0]
    print(f"gazepipe analyze, {frames} frames of 640x480 at 30 FPS ({frames / FPS:.1f} s), {args.workers} workers, "
          f"{os.cpu_count()} cores, load {load:.1f}, {args.rounds} interleaved rounds")
    print(f"  {'window':>6} {'frames/s':>9} {'x real time':>12} {'analysis s':>11} {'start-up s':>11}")
    for window, results in runs.items():
        analysis = statistics.median(r["analysis_s"] for r in results)
        startup = statistics.median(r["wall_s"] - r["analysis_s"] for r in results)
        rounds = ", ".join(f"{r['analysis_s']:.2f}" for r in results)
        print(f"  {window:>6} {frames / analysis:>9.1f} {frames / FPS / analysis:>12.2f} {analysis:>11.2f} "
              f"{startup:>11.2f}   (each round: {rounds})")


if __name__ == "__main__":
    main()
