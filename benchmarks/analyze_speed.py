"""How fast `gazepipe analyze` goes through a 640x480 30 FPS recording, against the recording's own duration.

Two recordings are made from the shared clip (640x360, 29.97 FPS), scaled to cover 640x480 and cropped to it, at
30 FPS, as MPEG-4 files in a temporary folder: "webcam", its stretch with one frontal face (frames 90-215) played
forth and back to 30 s, like a webcam recording of someone at a desk; and "clip", the whole clip, whose first 2.7 s
and a few later moments show nobody (each such frame costs a whole-frame search). Each recording is analysed by
the real command with `--window 1` (frame after frame, reproducible) and `--window 2` (both workers on the file),
interleaved A, B, A, B. The speed is the analysis of the file (the summary's `analysis_s`: decode to written
result), the start of the workers (loading the model) apart. Since this machine is shared, the CPU time of the
command, its supervisor and workers is counted too (less that of a run on a one-frame file: the start-up), and
from it the speed on idle cores: CPU-bound, one core for a window of 1 (each frame waits for the one before),
every core for a window as wide. Interleaved with those runs, this process tracks the same decoded frames with
the tracker alone (one OpenCV thread, huge pages, as a worker): the command's CPU per frame over the bare
tracker's, measured in the same minutes, is what the command adds to the tracking whatever the load.

    python benchmarks/analyze_speed.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from testdata import data_root, video_greys

from gazepipe.model import predictor_path
from gazepipe.tracking.calibration import ThresholdCalibration
from gazepipe.tracking.tracker import GazeTracker
from gazepipe.workers.supervisor import with_worker_environment

SIZE = (640, 480)
FPS = 30.0


def clip_frames() -> list[np.ndarray]:
    """The clip's frames, scaled to cover 640x480 and cropped to it."""
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
    return frames


def write(path: Path, frames: list[np.ndarray]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, SIZE)
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def recordings(folder: Path) -> dict[str, Path]:
    frames = clip_frames()
    face = frames[90:216]
    webcam: list[np.ndarray] = []
    while len(webcam) < 30 * FPS:
        webcam.extend(face if len(webcam) // len(face) % 2 == 0 else face[::-1])
    return {"one frame": write(folder / "one.mp4", face[:1]), "webcam": write(folder / "webcam.mp4", webcam[:900]),
            "clip": write(folder / "clip.mp4", frames)}


def bare_tracker_cpu_ms(tracker: GazeTracker, path: Path) -> float:
    """CPU ms per frame of the tracker alone on the recording's frames, each followed from the one before."""
    greys = video_greys(path)
    calibration, out = ThresholdCalibration(), None
    started = time.process_time()
    for grey in greys:
        out = tracker.track(grey, calibration.hints(out))
        calibration.update(out)
    return (time.process_time() - started) / len(greys) * 1000.0


def children_cpu_s() -> float:
    """CPU seconds of the finished children: the command, and through it its supervisor and workers."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(folder: Path, recording: Path, window: int, workers: int) -> dict[str, float]:
    out = folder / f"w{window}.jsonl"
    started, cpu = time.monotonic(), children_cpu_s()
    subprocess.run([sys.executable, "-m", "gazepipe", "analyze", str(recording), "--out", str(out), "--workers",
                    str(workers), "--window", str(window)], check=True, capture_output=True, timeout=1800)
    wall, cpu = time.monotonic() - started, children_cpu_s() - cpu
    summary = json.loads(out.read_text().splitlines()[-1])
    return {"analysis_s": summary["analysis_s"], "wall_s": wall, "cpu_s": cpu, "frames": summary["frames_tracked"],
            "video_s": summary["duration_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of every variant")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with_worker_environment()  # the bare tracker runs as the workers run it
    cv2.setNumThreads(1)
    tracker = GazeTracker(str(predictor_path()))
    windows = (1, args.workers)
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    bare: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="gazepipe-speed-") as name:
        folder = Path(name)
        files = recordings(folder)
        for _ in range(args.rounds):
            runs.setdefault(("start-up", 1), []).append(run(folder, files["one frame"], 1, args.workers))
            for recording, path in files.items():
                if recording != "one frame":
                    for window in windows:
                        runs.setdefault((recording, window), []).append(run(folder, path, window, args.workers))
                    bare.setdefault(recording, []).append(bare_tracker_cpu_ms(tracker, path))
    startup_cpu = statistics.median(r["cpu_s"] for r in runs.pop(("start-up", 1)))
    cores = os.cpu_count() or 1
    print(f"gazepipe analyze, 640x480 at 30 FPS, {args.workers} workers, {cores} cores, load "
          f"{os.getloadavg()[0]:.1f} at the end, {args.rounds} interleaved rounds (medians); start-up "
          f"(model, workers, a one-frame file) {startup_cpu:.2f} CPU s")
    print(f"  {'recording':<8} {'frames':>6} {'window':>6} {'frames/s':>9} {'x real time':>12} {'analysis s':>11} "
          f"{'CPU ms/frame':>13} {'x real time on idle cores':>26} {'/ bare tracker':>15}")
    for (recording, window), results in runs.items():
        frames = results[0]["frames"]
        analysis = statistics.median(r["analysis_s"] for r in results)
        cpu_ms = statistics.median((r["cpu_s"] - startup_cpu) / r["frames"] * 1000.0 for r in results)
        # CPU-bound: with a window as wide as the cores, all of them; with 1, one core (the chain of frames)
        idle = min(window, cores) * 1000.0 / cpu_ms / FPS
        speed = frames / analysis
        rounds = ", ".join(f"{r['analysis_s']:.2f}" for r in results)
        ratio = cpu_ms / statistics.median(bare[recording])
        print(f"  {recording:<8} {frames:>6.0f} {window:>6} {speed:>9.1f} {speed / FPS:>12.2f} {analysis:>11.2f} "
              f"{cpu_ms:>13.2f} {idle:>26.1f} {ratio:>15.2f}   (rounds: {rounds} s)")
    for recording, values in bare.items():
        print(f"  bare tracker, {recording}: {statistics.median(values):.2f} CPU ms/frame "
              f"(rounds: {', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
