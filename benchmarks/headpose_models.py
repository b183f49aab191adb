"""Head pose from each landmark model's points against the pose from the human 68 points, on `faces-helen-afw`.

Each face of the `--split` half is framed at 62 px between the irises as `accuracy.py` frames it (JPEG q80,
grey), found and then followed once as in a session, by one tracker per model (`GAZEPIPE_MODEL` names: full,
pruned or a file), the models in turn on the same frame. `headpose.head_pose` on the tracker's points is compared
with `headpose.head_pose` on the human 300-W points mapped into the same frame (the same camera), as
`categories.py` takes its yaw band. Frames where a tracker fits another face or none are counted apart.

    .venv/bin/python benchmarks/headpose_models.py [--split tune] [--models full pruned] [--limit N] [--json]

Reported per model: median and 95th percentile of |yaw - human yaw| and |pitch - human pitch| (degrees), the
median signed yaw shrink (|yaw| - |human yaw|: negative when turned heads are seen less turned) by the human
|yaw| band, and the two models' yaw difference from each other."""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import testdata
from accuracy import read_colour, webcam_grey

from gazepipe.model import predictor_path
from gazepipe.tracking.headpose import head_pose
from gazepipe.tracking.tracker import GazeTracker
from gazepipe.tracking.types import following

YAW_BANDS = ((0.0, 15.0), (15.0, 30.0), (30.0, 90.0))


def poses(trackers: list[GazeTracker], face: testdata.ReferenceFace) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """The human points' (yaw, pitch) and each tracker's, None where it fitted another face or none."""
    transform = testdata.frame_transform(face.iris_left, face.iris_right)
    grey = webcam_grey(read_colour(face.file), transform)
    size = (grey.shape[1], grey.shape[0])
    human = head_pose(face.pts68 @ transform[:, :2].T + transform[:, 2], size)
    assert human is not None  # solvePnP on 6 labelled points of an upright face
    found: list[np.ndarray | None] = []
    for tracker in trackers:
        out = tracker.track(grey)
        out = tracker.track(grey, following(out))
        fitted = (out.landmarks is not None and out.head_pose is not None
                  and face.fitted_by(np.asarray(out.landmarks), transform))
        found.append(np.array(out.head_pose[:2]) if fitted and out.head_pose is not None else None)
    return np.array(human[:2]), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="tune", choices=("tune", "test"))
    parser.add_argument("--models", nargs="+", default=["full", "pruned"])
    parser.add_argument("--limit", type=int, help="the first N faces")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    trackers = [GazeTracker(predictor_path(model)) for model in args.models]
    faces = [f for f in testdata.helen_afw_faces() if testdata.helen_afw_split(f) == args.split][:args.limit]
    humans, found = [], []
    for face in faces:
        human, per_model = poses(trackers, face)
        humans.append(human)
        found.append(per_model)
    both = [i for i, per_model in enumerate(found) if all(p is not None for p in per_model)]
    human = np.array([humans[i] for i in both])
    print(f"faces-helen-afw {args.split}: {len(faces)} faces, {len(both)} fitted by every model "
          f"({len(faces) - len(both)} another face or none); degrees, 62 px between the irises")
    header = " ".join(f"{'|yaw| ' + f'{lo:.0f}-{hi:.0f}':>12}" for lo, hi in YAW_BANDS)
    print(f"{'model':>10} {'yaw err med':>11} {'p95':>6} {'pitch err med':>13} {'p95':>6} | shrink: {header}")
    in_band = [(np.abs(human[:, 0]) >= lo) & (np.abs(human[:, 0]) < hi) for lo, hi in YAW_BANDS]
    counts = [int(band.sum()) for band in in_band]
    yaws = []
    rows: dict[str, dict[str, object]] = {}
    report: dict[str, object] = {"split": args.split, "faces": len(faces), "fitted": len(both), "models": rows}
    for m, model in enumerate(args.models):
        pose = np.array([found[i][m] for i in both])
        yaws.append(pose[:, 0])
        error = np.abs(pose - human)
        shrink = np.abs(pose[:, 0]) - np.abs(human[:, 0])
        bands = [float(np.median(shrink[band])) if band.any() else None for band in in_band]
        row = {"yaw_median": float(np.median(error[:, 0])), "yaw_p95": float(np.percentile(error[:, 0], 95)),
               "pitch_median": float(np.median(error[:, 1])), "pitch_p95": float(np.percentile(error[:, 1], 95)),
               "shrink_by_band": bands}
        rows[model] = row
        print(f"{model:>10} {row['yaw_median']:>11.2f} {row['yaw_p95']:>6.2f} {row['pitch_median']:>13.2f}"
              f" {row['pitch_p95']:>6.2f} | shrink: " + " ".join(f"{b:>12.2f}" if b is not None else f"{'-':>12}"
                                                                for b in bands))
    print(f"{'faces':>10} {'':>11} {'':>6} {'':>13} {'':>6} |         " + " ".join(f"{c:>12}" for c in counts))
    for m in range(1, len(args.models)):
        gap = np.abs(yaws[m] - yaws[0])
        report[f"{args.models[m]}_against_{args.models[0]}"] = float(np.median(gap))
        print(f"{args.models[m]} against {args.models[0]}: |yaw difference| median {np.median(gap):.2f}, "
              f"p95 {np.percentile(gap, 95):.2f}")
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
