"""The landmark model's cost-accuracy curve: dlib's 68-point predictor pruned to its first STAGES x TREES,
each candidate measured side by side with the full model (15 x 500) in one run.

    .venv/bin/python benchmarks/model_curve.py [--candidates 15x500 10x250 8x200 ...] [--json]

- cost: ms per fit, one thread, the candidates taking turns on blocks of different faces (faces-helen-afw at
  62 px between the eye centres, boxes from dlib's detector), and the ratio to the full model;
- eye points 36-47 against the human 300-W points of faces-helen-afw, mean and p95 of the point errors in % of
  the inter-ocular distance (between the human eye centres); and against the full model's points;
- stability on the real clip (video/): the face followed from its own previous landmarks as a session follows
  it, the box's size against MediaPipe's inter-iris distance of the same face (its spread, and its largest
  excursion from the median) and the eye points' frame-to-frame jitter beyond the reference irises' motion;
- pupils: the accuracy benchmark's gaze-moved frames of faces-wild's tune half at 62 px (e05, e10, ratio
  error, slope).

The 68-point model was trained on 300-W, whose training set holds these AFW and Helen photos: the errors against
the human points are on the model's own training faces (the differences between candidates are what count)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np
import testdata
from accuracy import _wild_split, read_colour, run_ours, summarise, webcam_grey, wild_frames

from gazepipe.model import full_model_path
from gazepipe.tracking import predictor_file
from gazepipe.tracking.calibration import ThresholdCalibration
from gazepipe.tracking.face import FaceFinder, box_from_landmarks
from gazepipe.tracking.tracker import GazeTracker
from gazepipe.tracking.types import Box, TrackOutput

CANDIDATES = ("15x500", "10x500", "10x250", "8x200", "6x200", "15x100", "10x200", "9x200", "9x250", "8x250", "7x250")
SIZE = 62.0
EYES = slice(36, 48)
BLOCK = 25  # faces a candidate fits in turn
WARM_UP = 5  # of which fitted once untimed first
DETECT_EVERY = 60  # frames: the service's detect_every_s (2 s) at the clip's 30 FPS
FOLLOW, FOLLOW_EVERY = 30, 10  # frames followed on the fit alone, from every 10th frame


@dataclass
class Candidate:
    name: str
    path: Path
    megabytes: float
    predictor: Callable[..., dlib.full_object_detection]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), help="STAGESxTREES, full first")
    parser.add_argument("--extra", type=Path, nargs="*", default=[], help="other model files, as candidates")
    parser.add_argument("--split", choices=("tune", "test", "all"), default="all",
                        help="faces-helen-afw faces by photo (testdata.helen_afw_split)")
    parser.add_argument("--faces", type=int, help="only the first N faces of faces-helen-afw")
    parser.add_argument("--wild", type=int, help="only the first N faces of the tune half for the pupils")
    parser.add_argument("--clip", type=int, help="only the first N frames of the clip")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)

    with tempfile.TemporaryDirectory() as folder:
        candidates = make_candidates(args.candidates, Path(folder)) + [
            Candidate(p.stem.rsplit("_", 2)[-2] + "*", p, p.stat().st_size / 1e6, dlib.shape_predictor(str(p)))
            for p in args.extra]
        report: dict[str, dict[str, float | int | None]] = {c.name: {"MB": c.megabytes} for c in candidates}
        faces = helen_afw_frames(args.split, args.faces)
        print(f"{len(faces)} faces of faces-helen-afw with a detected face", file=sys.stderr)
        for name, row in landmarks(candidates, faces).items():
            report[name].update(row)
        clip = clip_frames()[: args.clip]
        starts = follow_starts(clip)
        for candidate in candidates:
            report[candidate.name].update(stability(GazeTracker(candidate.path), clip))
            report[candidate.name].update(drift(FaceFinder(candidate.path), clip, starts))
        wild = list(wild_frames(_wild_split("tune")[: args.wild], SIZE, moved=True))
        for candidate in candidates:
            tracker = GazeTracker(candidate.path)
            pupils = summarise([run_ours(tracker, f) for f in wild], slope=True)
            report[candidate.name].update({f"pupil_{k}": pupils[k] for k in ("n", "e05", "e10", "h_error", "slope")})
    print_table(report)
    if args.json:
        print(json.dumps(report))
    return 0


def make_candidates(names: list[str], folder: Path) -> list[Candidate]:
    """Each STAGESxTREES pruned from the full model and written to `folder` (the full model is used as is)."""
    full = predictor_file.read(full_model_path())
    candidates = []
    for name in names:
        stages, trees = (int(v) for v in name.split("x"))
        if (stages, trees) == (len(full.stages), full.stages[0].trees):
            path = full_model_path()
        else:
            path = folder / f"{name}.dat"
            predictor_file.write(full.pruned(stages, trees), path)
        candidates.append(Candidate(name, path, path.stat().st_size / 1e6, dlib.shape_predictor(str(path))))
    return candidates


@dataclass
class Face:
    grey: np.ndarray
    box: dlib.rectangle
    truth: np.ndarray  # (68, 2) human points in the frame


def helen_afw_frames(split: str, limit: int | None) -> list[Face]:
    """The faces of `split` as webcam frames (62 px between the human eye centres, JPEG as the workers get it),
    each with dlib's detector box; faces the detector misses, or finds elsewhere, are left out."""
    finder = FaceFinder(full_model_path())
    faces = []
    for face in testdata.helen_afw_faces()[:limit]:
        if split != "all" and testdata.helen_afw_split(face) != split:
            continue
        centres = np.array([face.pts68[36:42].mean(axis=0), face.pts68[42:48].mean(axis=0)])
        transform = testdata.frame_transform(centres[0], centres[1], SIZE)
        grey = webcam_grey(read_colour(face.file), transform)
        truth = face.pts68 @ transform[:, :2].T + transform[:, 2]
        found = finder.detect(grey)
        if found is None:
            continue
        x, y, w, h = found.box
        if not (x < truth[EYES, 0].mean() < x + w and y < truth[EYES, 1].mean() < y + h):
            continue
        faces.append(Face(grey, dlib.rectangle(x, y, x + w - 1, y + h - 1), truth))
    return faces


def landmarks(candidates: list[Candidate], faces: list[Face]) -> dict[str, dict[str, float | int | None]]:
    """Cost per fit and eye-point errors of each candidate. The candidates take turns on blocks of BLOCK faces
    (the order rotated from block to block), so that each is timed as a worker runs it, its own trees in
    cache, and all share the machine's drift; every candidate fits every face."""
    times: dict[str, list[float]] = {c.name: [] for c in candidates}
    points: dict[str, list[list[tuple[int, int]]]] = {c.name: [] for c in candidates}
    for block, first in enumerate(range(0, len(faces), BLOCK)):
        for j in range(len(candidates)):
            candidate = candidates[(block + j) % len(candidates)]
            for face in faces[first:first + BLOCK][:WARM_UP]:
                candidate.predictor(face.grey, face.box)
            for face in faces[first:first + BLOCK]:
                start = time.perf_counter()
                shape = candidate.predictor(face.grey, face.box)
                times[candidate.name].append(time.perf_counter() - start)
                points[candidate.name].append([(p.x, p.y) for p in shape.parts()])
    truth = np.array([f.truth for f in faces])
    iod = np.linalg.norm(truth[:, 36:42].mean(axis=1) - truth[:, 42:48].mean(axis=1), axis=1)[:, None]
    full = np.array(points[candidates[0].name], dtype=np.float64)
    rows: dict[str, dict[str, float | int | None]] = {}
    for candidate in candidates:
        fitted = np.array(points[candidate.name], dtype=np.float64)
        human = 100 * np.linalg.norm(fitted[:, EYES] - truth[:, EYES], axis=2) / iod
        to_full = 100 * np.linalg.norm(fitted[:, EYES] - full[:, EYES], axis=2) / iod
        ms = 1000 * np.array(times[candidate.name])
        rows[candidate.name] = {
            "faces": len(faces), "ms_median": float(np.median(ms)), "ms_mean": float(ms.mean()),
            "human_mean": float(human.mean()), "human_p95": float(np.percentile(human, 95)),
            "full_mean": float(to_full.mean()), "full_p95": float(np.percentile(to_full, 95)),
        }
    full_ms = float(np.median(times[candidates[0].name]))
    for candidate in candidates:
        rows[candidate.name]["ratio"] = float(np.median(times[candidate.name])) / full_ms
    return rows


@dataclass
class ClipFrame:
    grey: np.ndarray
    faces: list[dict]  # MediaPipe's faces of the frame


def clip_frames() -> list[ClipFrame]:
    folder = testdata.data_root() / "video"
    reference = json.loads((folder / "reference_mediapipe.json").read_text())[0]["frames"]
    capture = cv2.VideoCapture(str(folder / "short_hamilton_clip.mp4"))
    frames = []
    for entry in reference:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(ClipFrame(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), entry["faces"]))
    capture.release()
    return frames


def stability(tracker: GazeTracker, clip: list[ClipFrame]) -> dict[str, float | int | None]:
    """The clip tracked as a session tracks it: hints from the last frame, a full detection every
    DETECT_EVERY frames. Per frame, the followed box's size over MediaPipe's box of the face it lies on; per
    pair of frames followed without the full-frame detector, the eye points' motion beyond the irises'."""
    calibration = ThresholdCalibration()
    previous: TrackOutput | None = None
    previous_ref: dict | None = None
    sizes: list[float] = []
    jitter: list[float] = []
    detector_runs = found = fit_only = 0
    for index, frame in enumerate(clip):
        out = tracker.track(frame.grey, calibration.hints(previous, detect=index % DETECT_EVERY == 0))
        calibration.update(out)
        ref = _reference_face(out.face_box, frame.faces)
        detector_runs += out.detector_ran
        found += out.face_found
        fit_only += out.unconfirmed > 0
        if ref is not None and out.face_box is not None:
            irises = np.array([ref["iris_left"], ref["iris_right"]])
            iod = float(np.linalg.norm(irises[1] - irises[0]))
            sizes.append(out.face_box[2] / float(np.sqrt(ref["box"][2] * ref["box"][3])))
            if (previous is not None and previous.landmarks is not None and previous_ref is not None
                    and not out.detector_ran):
                before = np.array([previous_ref["iris_left"], previous_ref["iris_right"]]).mean(axis=0)
                moved = np.array(out.landmarks)[EYES] - np.array(previous.landmarks)[EYES]
                jitter.append(100 * float(np.linalg.norm(moved - (irises.mean(axis=0) - before), axis=1).mean()) / iod)
        previous, previous_ref = out, ref
    size = np.log(np.array(sizes))
    spread = 100 * (np.exp(np.abs(size - np.median(size))) - 1) if sizes else None
    return {
        "clip_found": found, "clip_detector_runs": detector_runs, "clip_fit_only": fit_only,
        "box_p95_pct": None if spread is None else float(np.percentile(spread, 95)),
        "box_max_pct": None if spread is None else float(spread.max()),
        "jitter_median": float(np.median(jitter)) if jitter else None,
        "jitter_p95": float(np.percentile(jitter, 95)) if jitter else None,
    }


def follow_starts(clip: list[ClipFrame]) -> list[tuple[int, Box]]:
    """Every FOLLOW_EVERY-th frame where dlib's detector finds a face that MediaPipe found too, with its box."""
    finder = FaceFinder(full_model_path())
    starts = []
    for index in range(0, len(clip) - FOLLOW, FOLLOW_EVERY):
        found = finder.detect(clip[index].grey)
        if found is not None and _reference_face(found.box, clip[index].faces) is not None:
            starts.append((index, found.box))
    return starts


def drift(finder: FaceFinder, clip: list[ClipFrame], starts: list[tuple[int, Box]]) -> dict[str, float | int | None]:
    """The face followed from its own landmarks alone (each frame fitted in the box of the last frame's points,
    no detector, no checks) for FOLLOW frames from each start: how far the box's size strays from MediaPipe's
    box of the same face, relative to where it started (the largest excursion of each run; %)."""
    excursions = []
    for index, box in starts:
        base = None
        largest = 0.0
        for frame in clip[index:index + FOLLOW]:
            ref = _reference_face(box, frame.faces)
            if ref is None:
                break
            box = box_from_landmarks(finder.landmarks(frame.grey, box))
            ratio = box[2] / float(np.sqrt(ref["box"][2] * ref["box"][3]))
            base = base or ratio  # the first fit's box: the detector's box is drawn differently
            largest = max(largest, abs(np.log(ratio / base)))
        excursions.append(100 * (np.exp(largest) - 1))
    return {"follow_runs": len(excursions),
            "drift_median": float(np.median(excursions)) if excursions else None,
            "drift_max": float(np.max(excursions)) if excursions else None}


def _reference_face(box: Box | None, faces: list[dict]) -> dict | None:
    """MediaPipe's face whose eyes lie inside `box`, the nearest to its centre."""
    if box is None:
        return None
    x, y, w, h = box
    centre = np.array([x + w / 2, y + h / 2])
    inside = [f for f in faces
              if x <= np.mean([f["iris_left"][0], f["iris_right"][0]]) <= x + w
              and y <= np.mean([f["iris_left"][1], f["iris_right"][1]]) <= y + h]
    return min(inside, key=lambda f: float(np.linalg.norm(np.mean([f["iris_left"], f["iris_right"]], axis=0)
                                                            - centre)), default=None)


COLUMNS = (("MB", "MB", 1), ("ms_median", "ms/fit", 3), ("ratio", "x full", 2), ("human_mean", "human mean", 2),
           ("human_p95", "human p95", 2), ("full_mean", "full mean", 2), ("full_p95", "full p95", 2),
           ("clip_detector_runs", "clip det", 0), ("clip_fit_only", "fit only", 0),
           ("box_p95_pct", "box p95 %", 1), ("box_max_pct", "box max %", 1),
           ("drift_median", "drift med", 1), ("drift_max", "drift max", 1),
           ("jitter_median", "jit med", 2), ("jitter_p95", "jit p95", 2), ("pupil_e05", "e05", 3),
           ("pupil_e10", "e10", 3), ("pupil_h_error", "ratio err", 3), ("pupil_slope", "slope", 3))


def print_table(report: dict[str, dict[str, float | int | None]]) -> None:
    """Eye-point errors and jitter in % of the inter-ocular distance; box: spread of the followed box's size
    on the clip around its median (p95 and largest), %; pupils: faces-wild tune half, gaze moved, 62 px."""
    print("model".ljust(8) + "".join(f"{title:>11}" for _, title, _ in COLUMNS))
    for name, row in report.items():
        cells = []
        for key, _, digits in COLUMNS:
            value = row.get(key)
            cells.append("-" if value is None else f"{value:.{digits}f}")
        print(name.ljust(8) + "".join(f"{c:>11}" for c in cells))


if __name__ == "__main__":
    sys.exit(main())
