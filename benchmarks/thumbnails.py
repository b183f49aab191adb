"""How well a followed face's thumbnail tells the same face from another face or the background: the measurement
behind `face.thumbnail` and `face.MIN_SIMILARITY`.

    .venv/bin/python benchmarks/thumbnails.py [--faces 90] [--frames 275] [--json]

Pairs, each a reference face fitted in the detector's box (its thumbnail from the box its points give, as the
tracker keeps it) and a face fitted, as the tracker follows it, in that box on another frame:
- same face, gap 1-3: the benchmarks' "webcam" recording (analyze_speed.py's stretch of the shared clip with one
  frontal face, 640x480), frame k followed on frame k+gap; and the shared clip itself (640x360), frames where the
  detector finds a face its MediaPipe labels place at the same eyes on both frames (a cut to another person is not
  a pair). A followed fit whose eye points (36-47) lie more than WRONG % of the inter-ocular distance from the fit in
  the windowed detector's box is "wrong": the checks should reject it whatever the thumbnail says.
- another face: the first `--faces` faces of the clean faces-wild faces and faces-helen-afw's tune half, each framed
  as the tests frame them (62 px between the irises, eyes at the same place), fitted in every other face's box.
- background: the clip's frames with nobody in them (its first seconds), in the webcam faces' boxes.
Every candidate thumbnail is scored by the same normalised correlation. The table gives the same-face pairs'
low percentiles and the share passing at the threshold, and the highest other-face and background values.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass

import analyze_speed
import cv2
import numpy as np
import testdata

from gazepipe.model import predictor_path
from gazepipe.tracking.face import (
    FOLLOW_FITS,
    MAX_SHIFT,
    MIN_SIMILARITY,
    Detection,
    FaceFinder,
    Placement,
    box_from_landmarks,
    placement,
    shift,
    thumbnail,
)
from gazepipe.tracking.headpose import head_pose
from gazepipe.tracking.tracker import MAX_TURN
from gazepipe.tracking.types import Box
from gazepipe.workers.supervisor import with_worker_environment

WRONG = 10.0  # % of the inter-ocular distance (as misplaced_boxes.py)
GAPS = (1, 2, 3)
THRESHOLDS = (0.8, 0.85, MIN_SIMILARITY)
# faces-wild's two_people.jpg is the photo biden.jpg and obama3.jpg were cut from
TWO_PEOPLE = {"two": "obama"}


def _inside(grey: np.ndarray, box: Box, top: float = 0.0, bottom: float = 1.0) -> np.ndarray | None:
    """The rows `top`..`bottom` (shares of the box's height) of the part of `box` inside the frame."""
    x, y, w, h = box
    y0, y1 = y + round(top * h), y + round(bottom * h)
    left, upper = max(0, x), max(0, y0)
    right, lower = min(grey.shape[1], x + w), min(grey.shape[0], y1)
    if right - left < 2 or lower - upper < 2:
        return None
    return grey[upper:lower, left:right]


def shrunk(size: int, top: float = 0.0, bottom: float = 1.0) -> Callable[[np.ndarray, Box], np.ndarray | None]:
    def thumb(grey: np.ndarray, box: Box) -> np.ndarray | None:
        part = _inside(grey, box, top, bottom)
        return None if part is None else cv2.resize(part, (size, size), interpolation=cv2.INTER_AREA)
    return thumb


def gradients(size: int, top: float = 0.0, bottom: float = 1.0) -> Callable[[np.ndarray, Box], np.ndarray | None]:
    """Horizontal and vertical differences of a (size+1)-pixel thumbnail: edges, not shading."""
    def thumb(grey: np.ndarray, box: Box) -> np.ndarray | None:
        part = _inside(grey, box, top, bottom)
        if part is None:
            return None
        t = cv2.resize(part, (size + 1, size + 1), interpolation=cv2.INTER_AREA).astype(np.float32)
        return np.concatenate([np.diff(t, axis=0)[:, :size].ravel(), np.diff(t, axis=1)[:size].ravel()])
    return thumb


def correlation(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None or a.size != b.size:
        return 0.0
    u, v = (t.astype(np.float64).ravel() for t in (a, b))
    u, v = u - u.mean(), v - v.mean()
    norm = float(np.linalg.norm(u) * np.linalg.norm(v))
    return float(u @ v) / norm if norm > 0 else 0.0


Thumb = Callable[[np.ndarray, Box], np.ndarray | None]
# name: the thumbnails compared ("min": several, the lowest similarity counts); face.thumbnail is the tracker's own
CANDIDATES: dict[str, list[Thumb]] = {
    "face.thumbnail": [lambda grey, box: np.frombuffer(thumbnail(grey, box), np.uint8)],
    "whole 16": [shrunk(16)],
    "whole 12": [shrunk(12)],
    "whole 24": [shrunk(24)],
    **{f"upper {top}, 16": [shrunk(16, 0.0, top)] for top in (0.65, 0.6, 0.55, 0.5, 0.45)},
    "upper 0.55, 12": [shrunk(12, 0.0, 0.55)],
    "upper 0.55, 20": [shrunk(20, 0.0, 0.55)],
    "upper 0.6, 8": [shrunk(8, 0.0, 0.6)],
    "edges 16": [gradients(16)],
    "edges upper 0.6, 16": [gradients(16, 0.0, 0.6)],
    "min(upper 0.6, lower 0.4), 16": [shrunk(16, 0.0, 0.6), shrunk(16, 0.6, 1.0)],
}


def scores(reference: np.ndarray, ref_box: Box, grey: np.ndarray, fits: list[Fitted]) -> dict[str, float]:
    """Per candidate, the lowest similarity of the fits' thumbnails to the reference's: every fit the tracker
    makes must pass the check."""
    return {name: min(correlation(t(reference, ref_box), t(grey, fit.box)) for t in thumbs for fit in fits)
            for name, thumbs in CANDIDATES.items()}


@dataclass
class Fitted:
    points: np.ndarray
    box: Box  # the box from the points, where the thumbnail is taken
    where: Placement
    pose: tuple[float, float, float] | None


@dataclass
class Pair:
    kind: str  # "webcam gap 1", "clip gap 2", "other face", "background"
    scores: dict[str, float]
    other_checks: bool = True  # the move and turn checks passed
    wrong: bool = False  # same face, but the fit is off


class Fitter:
    def __init__(self) -> None:
        self.finder = FaceFinder(predictor_path())

    def detected(self, grey: np.ndarray, found: Detection) -> Fitted:
        box, points = found
        where = placement(points, box)
        return Fitted(points, box_from_landmarks(points, where), where, head_pose(points, _size(grey)))

    def followed(self, grey: np.ndarray, ref: Fitted) -> tuple[list[Fitted], bool]:
        """The fits the tracker makes in the reference's box (a second one where the first moved further than
        MAX_SHIFT), and whether the last one passes the move and turn checks."""
        fits: list[Fitted] = []
        box = ref.box
        for _ in range(FOLLOW_FITS):
            points = self.finder.landmarks(grey, box)
            fits.append(Fitted(points, box_from_landmarks(points, ref.where), ref.where,
                               head_pose(points, _size(grey))))
            if shift(box, fits[-1].box) <= MAX_SHIFT:
                now = fits[-1].pose
                return fits, ref.pose is None or now is None or max(
                    abs(now[0] - ref.pose[0]), abs(now[1] - ref.pose[1])) <= MAX_TURN
            box = fits[-1].box
        return fits, False


def _size(grey: np.ndarray) -> tuple[int, int]:
    return grey.shape[1], grey.shape[0]


def _iod(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[36:42].mean(0) - points[42:48].mean(0)))


def same_face_pairs(fitter: Fitter, greys: list[np.ndarray], kind: str,
                    labels: list[list[dict[str, object]]] | None = None) -> list[Pair]:
    """Frame k's face followed on frame k+gap, for every gap; with `labels`, only where MediaPipe sees the face the
    detector found on frame k at the same eyes on frame k+gap."""
    detected: list[Fitted | None] = []
    for grey in greys:
        found = fitter.finder.detect(grey)
        detected.append(None if found is None else fitter.detected(grey, found))
    pairs = []
    for gap in GAPS:
        for k in range(len(greys) - gap):
            ref = detected[k]
            if ref is None or (labels is not None and not _labelled_same(ref.points, labels[k], labels[k + gap])):
                continue
            grey = greys[k + gap]
            fitted, checks = fitter.followed(grey, ref)
            confirmed = fitter.finder.follow(grey, ref.box)
            wrong = True
            if confirmed is not None:
                truth = fitter.finder.landmarks(grey, confirmed)
                error = np.linalg.norm(fitted[-1].points[36:48] - truth[36:48], axis=1).max() / _iod(truth) * 100
                wrong = bool(error > WRONG)
            pairs.append(Pair(f"{kind} gap {gap}", scores(greys[k], ref.box, grey, fitted), checks, wrong))
    return pairs


def _labelled_same(points: np.ndarray, before: list[dict[str, object]], after: list[dict[str, object]]) -> bool:
    eyes = np.array([points[36:42].mean(0), points[42:48].mean(0)])
    iod = float(np.linalg.norm(eyes[1] - eyes[0]))

    def near(face: dict[str, object], target: np.ndarray, tolerance: float) -> bool:
        irises = np.array([face["iris_left"], face["iris_right"]], dtype=np.float64)
        return bool(np.linalg.norm(irises - target, axis=1).max() <= tolerance * iod)

    matches = [f for f in before if near(f, eyes, 0.3)]
    if len(matches) != 1:
        return False
    irises = np.array([matches[0]["iris_left"], matches[0]["iris_right"]], dtype=np.float64)
    return any(near(f, irises, 0.3) for f in after)


def other_face_pairs(fitter: Fitter, count: int) -> list[Pair]:
    tune = [f for f in testdata.helen_afw_faces() if testdata.helen_afw_split(f) == "tune"]
    faces = [*testdata.clean_wild_faces(), *tune][:count]
    greys = [testdata.face_frame(f) for f in faces]
    # one person's or photo's faces are never paired
    groups = [testdata.photo_of(f) if f.file.is_relative_to(testdata.data_root() / testdata.HELEN_AFW)
              else TWO_PEOPLE.get(testdata.source_group(f), testdata.source_group(f)) for f in faces]
    refs = []
    for grey in greys:
        found = fitter.finder.detect(grey)
        refs.append(None if found is None else fitter.detected(grey, found))
    pairs = []
    for i, ref in enumerate(refs):
        if ref is None:
            continue
        for j, grey in enumerate(greys):
            if groups[j] == groups[i]:
                continue
            fitted, checks = fitter.followed(grey, ref)
            pairs.append(Pair("other face", scores(greys[i], ref.box, grey, fitted), checks))
    return pairs


def background_pairs(fitter: Fitter, faces: list[np.ndarray], empty: list[np.ndarray]) -> list[Pair]:
    pairs = []
    for face in faces[::5]:
        found = fitter.finder.detect(face)
        if found is None:
            continue
        ref = fitter.detected(face, found)
        for grey in empty[::4]:
            fitted, checks = fitter.followed(grey, ref)
            pairs.append(Pair("background", scores(face, ref.box, grey, fitted), checks))
    return pairs


def clip() -> tuple[list[np.ndarray], list[list[dict[str, object]]]]:
    greys = testdata.video_greys(testdata.data_root() / "video" / "short_hamilton_clip.mp4")
    reference = json.loads((testdata.data_root() / "video" / "reference_mediapipe.json").read_text())[0]
    return greys, [frame["faces"] for frame in reference["frames"]]


def main(argv: list[str] | None = None) -> int:
    with_worker_environment()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=90, help="faces for the other-face pairs")
    parser.add_argument("--frames", type=int, default=275, help="at most this many frames of each recording")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    fitter = Fitter()
    scaled = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in analyze_speed.clip_frames()]
    clip_greys, labels = clip()
    webcam = scaled[90:216][:args.frames]
    pairs = [*same_face_pairs(fitter, webcam, "webcam"),
             *same_face_pairs(fitter, clip_greys[:args.frames], "clip", labels[:args.frames]),
             *other_face_pairs(fitter, args.faces), *background_pairs(fitter, webcam, scaled[30:81])]
    # same-face kinds with right fits to show (a short run may have none on the clip)
    kinds = [k for k in dict.fromkeys(p.kind for p in pairs) if k not in ("other face", "background")
             and any(p.kind == k and p.other_checks and not p.wrong for p in pairs)]
    results: dict[str, dict[str, object]] = {}
    for name in CANDIDATES:
        others = np.array([p.scores[name] for p in pairs if p.kind == "other face"])
        walls = np.array([p.scores[name] for p in pairs if p.kind == "background"])
        row: dict[str, object] = {"other max": round(float(others.max()), 3),
                                  "other p99": round(float(np.percentile(others, 99)), 3),
                                  "other passing all checks max": round(float(max(
                                      (p.scores[name] for p in pairs if p.kind == "other face" and p.other_checks),
                                      default=-1.0)), 3),
                                  "background max": round(float(walls.max()), 3)}
        for kind in kinds:
            right = np.array([p.scores[name] for p in pairs if p.kind == kind and p.other_checks and not p.wrong])
            wrong = [p.scores[name] for p in pairs if p.kind == kind and p.other_checks and p.wrong]
            row[kind] = {"pairs": len(right), "p5": round(float(np.percentile(right, 5)), 3),
                         "p20": round(float(np.percentile(right, 20)), 3),
                         "median": round(float(np.median(right)), 3),
                         "passing": [round(float(np.mean(right >= t)), 4) for t in THRESHOLDS],
                         "wrong fits": len(wrong), "wrong max": round(max(wrong, default=-1.0), 3)}
        results[name] = row
    counts = {k: sum(p.kind == k for p in pairs) for k in dict.fromkeys(p.kind for p in pairs)}
    print(f"pairs: {', '.join(f'{k} {n}' for k, n in counts.items())}; same-face pairs below: "
          f"fits that passed the move and turn checks and lie within {WRONG:.0f} % IOD of the windowed detector's; "
          f"the share of them passing at {', '.join(map(str, THRESHOLDS))}")
    for name, row in results.items():
        print(f"{name}: other face max {row['other max']} (p99 {row['other p99']}; of fits passing the move and turn "
              f"checks {row['other passing all checks max']}), background max {row['background max']}")
        for kind in kinds:
            stats = row[kind]
            assert isinstance(stats, dict)
            print(f"    {kind:<13} {stats['pairs']:>4} pairs, p5 {stats['p5']:.3f} p20 {stats['p20']:.3f} "
                  f"median {stats['median']:.3f}, passing {' '.join(f'{v:6.1%}' for v in stats['passing'])}; "
                  f"wrong fits {stats['wrong fits']} (max {stats['wrong max']:.3f})")
    if args.json:
        print(json.dumps({"benchmark": "thumbnails", "pairs": counts, "candidates": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
