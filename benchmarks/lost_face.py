"""What a face just lost costs: the tracker with the lost face's window search (`tracker.LOST_FRAMES` and the rest)
against the same tracker with it off (LOST_FRAMES 0: every frame of a loss searches the whole frame, as before),
against the tracker without the whole-frame search's second try at weak boxes (`face.SECOND_TRY_ABOVE` 0), and
against hints that ask to `detect` on every frame after one without a face as well as every 2 s, as the sessions did
until 2026-12-07 ("detect after none": a face found again around its lost box is then checked for a larger one at
once, not at the periodic search).

    .venv/bin/python benchmarks/lost_face.py [--rounds 3] [--margins 0.8 ...] [--full-every 4 ...] [--frames N]
        [--json]

On analyze_speed.py's "webcam" and "clip" recordings (640x480) and the shared clip itself (640x360), each frame
followed from the one before, with the hints `gazepipe analyze` sends (`detect` every 2 s), variants interleaved in
one process (one OpenCV thread, huge pages, as a worker). Per variant: thread CPU ms per frame (median of the rounds)
and its ratio to "off", frames with a face, the detector calls (whole frame, windowed, larger face) and fits; then
the frames where a variant finds a face and "off" does not, or the other way round, and the frames where the default
variant finds another face than "detect after none" (box centres more than half a box apart) or none where it finds
one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import analyze_speed
import cv2
import numpy as np
from testdata import data_root, video_greys

from gazepipe.model import predictor_path
from gazepipe.tracking import face
from gazepipe.tracking import tracker as tracking
from gazepipe.tracking.calibration import ThresholdCalibration
from gazepipe.tracking.types import Box
from gazepipe.workers.supervisor import with_worker_environment

DETECT_EVERY_S = 2.0
FPS = 30.0
# LOST_FRAMES, LOST_MARGIN, FULL_EVERY, SECOND_TRY_ABOVE, `detect` on every frame after one without a face
Variant = tuple[int, float, int, float, bool]


def counted(calls: Counter[str], name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return method(*args, **kwargs)
    return wrapper


def run(tracker: tracking.GazeTracker, greys: list[np.ndarray], detect_after_no_face: bool = False
        ) -> tuple[float, list[Box | None]]:
    """Thread CPU ms per frame, and each frame's face box."""
    calibration, out, last_detect, boxes, spent = ThresholdCalibration(), None, -1e9, [], 0.0
    for index, grey in enumerate(greys):
        now = index / FPS
        search = out is None or not out.face_found
        detect = (search and detect_after_no_face) or now - last_detect >= DETECT_EVERY_S
        if detect:
            last_detect = now
        hints = calibration.hints(out, detect=detect)
        started = time.thread_time()
        out = tracker.track(grey, hints)
        spent += time.thread_time() - started
        calibration.update(out)
        if out.detector_ran:  # as the sessions do (`Session.follow`)
            last_detect = now
        boxes.append(out.face_box)
    return spent / len(greys) * 1000.0, boxes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--margins", type=float, nargs="+", default=[tracking.LOST_MARGIN])
    parser.add_argument("--full-every", type=int, nargs="+", default=[tracking.FULL_EVERY])
    parser.add_argument("--frames", type=int, default=None, help="only each recording's first frames")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with_worker_environment()
    cv2.setNumThreads(1)
    tracker = tracking.GazeTracker(str(predictor_path()))
    calls: Counter[str] = Counter()
    faces = tracker._faces
    for name in ("detect", "follow", "larger_face", "landmarks"):
        setattr(faces, name, counted(calls, name, getattr(faces, name)))
    with tempfile.TemporaryDirectory(prefix="gazepipe-lost-") as folder:
        files = analyze_speed.recordings(Path(folder))
        recordings = {"webcam": video_greys(files["webcam"]), "clip": video_greys(files["clip"]),
                      "clip 640x360": video_greys(data_root() / "video" / "short_hamilton_clip.mp4")}
    recordings = {name: greys[:args.frames] for name, greys in recordings.items()}
    second_try = face.SECOND_TRY_ABOVE
    today = (tracking.LOST_FRAMES, tracking.LOST_MARGIN, tracking.FULL_EVERY)
    variants: dict[str, Variant] = {"off": (0, tracking.LOST_MARGIN, tracking.FULL_EVERY, second_try, False),
                                    "no 2nd try": (*today, 0.0, False), "detect after none": (*today, second_try, True)}
    default = f"{tracking.LOST_FRAMES}/{tracking.LOST_MARGIN}/{tracking.FULL_EVERY}"
    for margin in args.margins:
        for every in args.full_every:
            variants[f"{tracking.LOST_FRAMES}/{margin}/{every}"] = (tracking.LOST_FRAMES, margin, every, second_try,
                                                                   False)
    ms: dict[tuple[str, str], list[float]] = {}
    counts: dict[tuple[str, str], Counter[str]] = {}
    boxes: dict[tuple[str, str], list[Box | None]] = {}
    for _ in range(args.rounds):
        for recording, greys in recordings.items():
            for name, (frames, margin, every, above, detect_after_no_face) in variants.items():
                tracking.LOST_FRAMES, tracking.LOST_MARGIN, tracking.FULL_EVERY = frames, margin, every
                face.SECOND_TRY_ABOVE = above
                calls.clear()
                spent, boxes[recording, name] = run(tracker, greys, detect_after_no_face)
                ms.setdefault((recording, name), []).append(spent)
                counts[recording, name] = Counter(calls)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for (recording, name), values in ms.items():
        off_boxes, theirs, c = boxes[recording, "off"], boxes[recording, name], counts[recording, name]
        pairs = list(enumerate(zip(off_boxes, theirs, strict=True)))
        results.setdefault(recording, {})[name] = {
            "ms_per_frame": statistics.median(values), "rounds": values,
            "x_off": statistics.median(values) / statistics.median(ms[recording, "off"]),
            "faces": sum(box is not None for box in theirs), "whole_frame": c["detect"], "window": c["follow"],
            "larger_face": c["larger_face"], "fits": c["landmarks"],
            "gained": [i for i, (a, b) in pairs if a is None and b is not None],
            "lost": [i for i, (a, b) in pairs if a is not None and b is None],
            "default_other": [i for i, (a, b) in enumerate(zip(theirs, boxes[recording, default], strict=True))
                              if a is not None and (b is None or _apart(a, b))]}
    if args.json:
        print(json.dumps({"benchmark": "lost_face", "rounds": args.rounds, "recordings": results}))
        return
    print(f"lost face search, LOST_FRAMES/LOST_MARGIN/FULL_EVERY, {args.rounds} interleaved rounds (medians)")
    print(f"  {'recording':<13} {'variant':<12} {'ms/frame':>8} {'x off':>6} {'faces':>6} {'whole':>6} "
          f"{'window':>6} {'larger':>6} {'fits':>6}")
    for recording, by_variant in results.items():
        for name, r in by_variant.items():
            print(f"  {recording:<13} {name:<12} {r['ms_per_frame']:>8.2f} {r['x_off']:>6.3f} {r['faces']:>6} "
                  f"{r['whole_frame']:>6} {r['window']:>6} {r['larger_face']:>6} {r['fits']:>6}   "
                  f"(rounds: {', '.join(f'{v:.2f}' for v in r['rounds'])})")
    for recording, by_variant in results.items():
        for name, r in by_variant.items():
            if name != "off":
                print(f"  {recording}, {name}: face found where off finds none on frames {r['gained']}; "
                      f"none where off finds one on frames {r['lost']}")
        print(f"  {recording}, {default}: another face or none where detect after none finds one on frames "
              f"{by_variant['detect after none']['default_other']}")


def _apart(a: Box, b: Box) -> bool:
    """Whether two face boxes' centres lie more than half the first box's width apart (another face)."""
    return max(abs(a[0] + a[2] / 2 - b[0] - b[2] / 2), abs(a[1] + a[3] / 2 - b[1] - b[3] / 2)) > a[2] / 2


if __name__ == "__main__":
    main()
