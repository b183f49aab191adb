"""Eye state in a session: open eyes answered closed, and closed eyes answered closed, with the classifier's fixed
threshold beside the session's own (`ThresholdCalibration.closed_above`), on the same frames.

Each open face of `faces-helen-afw` (both eyes' MediaPipe openness >= 0.15, the `--split` half, the eyes seen)
becomes a session: the face framed at 62 px between the irises is shown `--warm` times, each frame shifted by up
to a pixel and re-encoded as JPEG (q80), as a still person's webcam frames differ, every frame followed from the
one before; then the face's next frames are itself (`open` frames) and the face with CEW closed eyes pasted over
its own (`closed` frames: every `--closed-every`-th closed patch of the same split, mirrored for the other eye),
each tracked as that session's next frame. "fixed" takes CLOSED_ABOVE on every frame; "session" the threshold the
session learnt from its own frames. Reported per category (`categories.py`); faces behind dark sunglasses are
left out and counted apart.

    .venv/bin/python benchmarks/eye_state_session.py [--split test] [--warm 30] [--closed-every 12] [--limit N]
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import cv2
import numpy as np
import testdata
from accuracy import PastedEyes, eye_patches, jittered, read_colour, webcam_grey
from categories import OPEN, looks

from gazepipe.model import predictor_path
from gazepipe.tracking.calibration import ThresholdCalibration
from gazepipe.tracking.eye_state import CLOSED_ABOVE
from gazepipe.tracking.tracker import GazeTracker

OPEN_FRAMES = 5  # open frames measured after the warm-up


def session(tracker: GazeTracker, face: testdata.ReferenceFace, closed_patches: list[np.ndarray], warm: int,
            rng: np.random.Generator) -> dict[str, int] | None:
    """One face's session: counts of frames answered closed with the fixed and the session's threshold."""
    transform = testdata.frame_transform(face.iris_left, face.iris_right)
    still = webcam_grey(read_colour(face.file), transform)
    calibration, out = ThresholdCalibration(), None
    counts: dict[str, int] = defaultdict(int)
    for index in range(warm + OPEN_FRAMES):
        out = tracker.track(jittered(still, rng), calibration.hints(out))
        if out.landmarks is None or not face.fitted_by(np.asarray(out.landmarks), transform):
            return None
        calibration.update(out)
        if index >= warm:
            counts["open"] += 1
            counts["open_fixed"] += (out.closed_score or 0.0) > CLOSED_ABOVE
            counts["open_session"] += out.eyes_closed
    pasted = PastedEyes(tracker, still)
    for patch in closed_patches:
        closed = tracker.track(pasted.frame_with(patch), calibration.hints(out))
        if closed.closed_score is None:
            continue
        counts["closed"] += 1
        counts["closed_fixed"] += closed.closed_score > CLOSED_ABOVE
        counts["closed_session"] += closed.eyes_closed
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", choices=("tune", "test"))
    parser.add_argument("--warm", type=int, default=30, help="frames of the face before it is measured")
    parser.add_argument("--closed-every", type=int, default=12, help="take every N-th closed CEW patch")
    parser.add_argument("--limit", type=int, help="the first N faces")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    tracker = GazeTracker(predictor_path())
    patches, closed, sources = eye_patches(testdata.data_root() / "cew-eyes")
    closed_patches = [p for p, c, s in zip(patches, closed, sources, strict=True)
                      if c and testdata.patch_split(s) == args.split][::args.closed_every]
    faces = [f for f in testdata.helen_afw_faces() if testdata.helen_afw_split(f) == args.split
             and min(f.raw["openness_left"], f.raw["openness_right"]) >= OPEN][:args.limit]
    rng = np.random.default_rng(0)
    totals: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    skipped = hidden = 0
    for face in faces:
        cues = looks(face, testdata.read_grey(face.file))
        if cues.eyes_hidden:
            hidden += 1
            continue
        counts = session(tracker, face, closed_patches, args.warm, rng)
        if counts is None:
            skipped += 1
            continue
        for group in [("all", ""), *cues.categories().items()]:
            totals[group]["faces"] += 1
            for key, value in counts.items():
                totals[group][key] += value
    print(f"faces-helen-afw {args.split}: {len(faces)} open faces, {hidden} behind dark glasses and {skipped} where "
          f"the tracker fitted another face or none left out; {len(closed_patches)} closed CEW patches pasted into "
          f"each; warm-up {args.warm} frames")
    print(f"{'category':>22} {'faces':>6} {'open frames':>12} {'closed: fixed':>14} {'session':>8}"
          f" {'closed frames':>14} {'closed: fixed':>14} {'session':>8}")
    for (category, band), t in sorted(totals.items()):
        closed_frames = max(t["closed"], 1)
        print(f"{(category + ' ' + band):>22} {t['faces']:>6} {t['open']:>12} {t['open_fixed'] / t['open']:>13.2%}"
              f" {t['open_session'] / t['open']:>8.2%} {t['closed']:>14} {t['closed_fixed'] / closed_frames:>13.1%}"
              f" {t['closed_session'] / closed_frames:>8.1%}")


if __name__ == "__main__":
    main()
