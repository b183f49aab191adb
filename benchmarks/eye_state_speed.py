"""The eye-state classifier's cost for this code beside an earlier commit's, timed interleaved in one process on
the same real eyes, and whether both give the same scores.

    .venv/bin/python benchmarks/eye_state_speed.py [--against 03aa288] [--faces 40] [--rounds 7] [--json]

The eyes are the tracker's own: the first `--faces` faces of `faces-helen-afw` framed at 62 px between the irises
(colour, JPEG, grey as the workers get them), each tracked once after its detection, as in a session. Faces are
grouped by how many of their eyes the classifier is asked about (the others' contour is wide open), and
`closed_scores` is timed per face for each group; `closed_probabilities` on CEW patches in batches of 1 and 2
times the networks alone. Times are this thread's CPU time, medians over `--rounds` rounds (earlier commit, this
code, in turn), one OpenCV thread as the workers run. The earlier commit's package comes from git as in
`stages.py`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from types import ModuleType

import cv2
import numpy as np
import testdata
from accuracy import eye_patches, read_colour, webcam_grey
from stages import load_tracking, tracking_now

from gazepipe.model import predictor_path
from gazepipe.tracking.eye import Eye
from gazepipe.tracking.types import following


def tracked_eyes(faces: int) -> list[tuple[Eye, ...]]:
    """Both eyes of each face, as the tracker cut them on the frame after the detection."""
    tracker_module = tracking_now()
    eye_state = tracker_module.eye_state
    seen: list[tuple[Eye, ...]] = []
    original = eye_state.closed_scores

    def keep(eyes: tuple[Eye, ...]) -> list[float]:
        seen.append(eyes)
        return original(eyes)

    tracker = tracker_module.GazeTracker(predictor_path())
    pairs = []
    eye_state.closed_scores = keep
    try:
        for face in testdata.helen_afw_faces()[:faces]:
            grey = webcam_grey(read_colour(face.file), testdata.frame_transform(face.iris_left, face.iris_right))
            first = tracker.track(grey)
            seen.clear()
            tracker.track(grey, following(first))
            pairs += seen
    finally:
        eye_state.closed_scores = original
    return pairs


def cpu_ms(work: Callable[[], object], calls: int) -> float:
    start = time.thread_time()
    work()
    return (time.thread_time() - start) * 1e3 / calls


def interleaved(variants: dict[str, Callable[[], object]], calls: int, rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, work in variants.items():
            times[name].append(cpu_ms(work, calls))
    return {name: statistics.median(t) for name, t in times.items()}


def scores(eye_state: ModuleType, pairs: list[tuple[Eye, ...]]) -> None:
    for eyes in pairs:
        eye_state.closed_scores(eyes)


def probabilities(eye_state: ModuleType, batches: list[np.ndarray]) -> None:
    for patches in batches:
        eye_state.closed_probabilities(patches)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", default="03aa288")
    parser.add_argument("--faces", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    modules: dict[str, ModuleType] = {args.against: load_tracking(args.against).eye_state,
                                      "this": tracking_now().eye_state}
    pairs = tracked_eyes(args.faces)
    patches = np.array(eye_patches(testdata.data_root() / "cew-eyes", limit=25)[0])
    same = all(m.closed_scores(p) == modules["this"].closed_scores(p) for m in modules.values() for p in pairs)
    same = same and all(m.closed_probabilities(patches) == modules["this"].closed_probabilities(patches)
                        for m in modules.values())
    rows: dict[str, dict[str, float]] = {}
    threshold = modules["this"].OPEN_ASPECT_RATIO
    for asked in (0, 1, 2):
        group = [p for p in pairs if sum(e.aspect_ratio < threshold for e in p) == asked]
        if group:
            rows[f"closed_scores, {asked} of 2 eyes asked ({len(group)} faces)"] = interleaved(
                {name: partial(scores, m, group * 20) for name, m in modules.items()}, 20 * len(group), args.rounds)
    for batch in (1, 2):
        chunks = [patches[i:i + batch] for i in range(0, len(patches) - batch + 1, batch)]
        rows[f"closed_probabilities, {batch} CEW patch{'es' if batch > 1 else ''}"] = interleaved(
            {name: partial(probabilities, m, chunks) for name, m in modules.items()}, len(chunks), args.rounds)
    if args.json:
        print(json.dumps({"against": args.against, "same_scores": same, "median_ms": rows}))
        return 0
    print(f"eye state, ms per call (thread CPU, medians of {args.rounds} interleaved rounds), one OpenCV thread")
    print(f"  {'':<46}{args.against:>10}{'this':>10}{'ratio':>8}")
    for label, t in rows.items():
        print(f"  {label:<46}{t[args.against]:>10.4f}{t['this']:>10.4f}{t['this'] / t[args.against]:>8.2f}")
    print(f"  same scores on every face and patch: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
