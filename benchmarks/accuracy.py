"""Tracking accuracy on real labelled faces and eye patches, for the tracker the workers run and for
GazeTracking's method (`--baseline`).

    .venv/bin/python benchmarks/accuracy.py --faces ../shared/data/faces-wild --faces ../shared/data/faces \\
        --eyes ../shared/data/cew-eyes --baseline [--json]
    .venv/bin/python benchmarks/accuracy.py --faces ../shared/data/faces-helen-afw \\
        --columbia ../shared/data/columbia-eyes --sizes 62 45 [--set helen helen_moved helen_vertical]

Each face becomes a 640x480 webcam-like frame (inter-iris distance 62 px, also 45 and 90 px; eyes' midpoint at
the horizontal centre and 42 % of the height), encoded as JPEG quality 80 and decoded to grey as the workers
do. Our tracker gets a fresh ThresholdCalibration per frame and sees the frame CALIBRATION_FRAMES times (the
box and thresholds of each pass are the next pass's hints, as in a session); the baseline sees it 20 times so
that its calibration completes. Parameters were tuned on the `tune` half of a split of `faces-wild` by source
person; the table reports the other half (`--split test`, the default). `faces-helen-afw` has its own split by
photo (`testdata.helen_afw_split`) and adds per-category figures (`categories.py`), open eyes answered closed,
the vertical ratio against the human lids and irises moved up and down; `--columbia` runs the pupil stage on
real eyes with a known gaze (`columbia.py`), on the people of `--split` (split once by person,
`testdata.columbia_split`). The session sets (`--set helen_moved_session helen_vertical_session`) play each face
as a webcam session instead: its centre render, as a still webcam shows it, for WARM_FRAMES frames, then each moved
render as the next frame (`run_session`); the still frames' figures stay the headline."""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import multiprocessing
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import columbia
import cv2
import numpy as np
import testdata
from categories import OPEN, Looks, looks
from gaze_moved import IRIS_CENTRES, SHIFTS, VERTICAL_SHIFTS, move_gaze
from gazetracking_baseline import CALIBRATION_FRAMES as BASELINE_FRAMES
from gazetracking_baseline import GazeTrackingBaseline

from gazepipe.front.jpeg import decode_grey
from gazepipe.model import predictor_path
from gazepipe.signals.attention import AttentionSettings, gaze_direction
from gazepipe.tracking import eye_state
from gazepipe.tracking.calibration import ThresholdCalibration
from gazepipe.tracking.face import centre_radius
from gazepipe.tracking.tracker import GazeTracker
from gazepipe.tracking.types import TrackOutput

SIZES = (62.0, 45.0, 90.0)
CALIBRATION_FRAMES = 5
JPEG_QUALITY = 80
# a session's still frames before its measured ones: its thresholds (from 5 frames) and closure threshold (from 20,
# `calibration`) in force
WARM_FRAMES = 25

SIDEWAYS = tuple((x, 0.0) for x in SHIFTS)  # faces-helen-afw's moves (sideways, down) in iris radii
VERTICAL = tuple((0.0, y) for y in VERTICAL_SHIFTS)

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Result:
    """One tracked frame against its reference. Pupils and references in frame pixels, image-left eye first."""

    face: str
    face_found: bool
    pupils: np.ndarray | None  # (2, 2) or None unless both were found
    truth: np.ndarray  # (2, 2)
    distance: float  # reference inter-iris distance
    h_pred: float | None
    h_true: float | None
    v_pred: float | None
    v_true: float | None
    inside_eyes: bool | None = None  # both pupils inside the annotated eye contours
    eyes_closed: bool = False  # the tracker's answer (every reference eye here is open, unless said otherwise)
    other_face: bool = False  # the tracked eyes lie over half the inter-iris distance from the reference ones
    other_larger: bool = False  # another face followed, larger by its 68 points than the labelled face by its own
    categories: dict[str, str] | None = None
    down: float = 0.0  # the iris moved down by this many radii (vertical moves)


@dataclass
class Frame:
    """A rendered frame and what it should give."""

    face: str
    grey: np.ndarray
    truth: np.ndarray
    distance: float
    h_true: float | None
    v_true: float | None
    contours: np.ndarray | None = None  # (2, 6, 2) annotated eye contours in the frame
    categories: dict[str, str] | None = None
    down: float = 0.0
    radius: float | None = None  # the labelled face's human 68 points' RMS radius in the frame (faces-helen-afw)


def read_colour(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(path)
    return np.asarray(image)


def webcam_grey(image: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """The frame as a worker receives it: rendered, JPEG-encoded at quality 80 and decoded to grey."""
    return decode_grey(testdata.encode_jpeg(testdata.webcam_frame(image, transform), JPEG_QUALITY))


def jittered(grey: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The frame moved by up to a pixel each way and through JPEG again, as a still person's webcam frames
    differ."""
    dx, dy = rng.uniform(-1.0, 1.0, 2)
    moved = cv2.warpAffine(grey, np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]]), grey.shape[::-1],
                           borderMode=cv2.BORDER_REPLICATE)
    decoded = cv2.imdecode(np.frombuffer(testdata.encode_jpeg(moved), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert decoded is not None  # our own encoder's JPEG
    return decoded


def _apply(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) @ transform[:, :2].T + transform[:, 2]


def _along(point: np.ndarray, start: np.ndarray, end: np.ndarray) -> float:
    axis = end - start
    return float((point - start) @ axis / (axis @ axis))


def _across(point: np.ndarray, corners: tuple[np.ndarray, np.ndarray], lids: tuple[np.ndarray, np.ndarray]) -> float:
    """Where `point` lies between the upper (0) and lower (1) lid, perpendicular to the corner axis."""
    axis = corners[1] - corners[0]
    normal = np.array([-axis[1], axis[0]]) / np.linalg.norm(axis)
    return float((point - lids[0]) @ normal / ((lids[1] - lids[0]) @ normal))


def _opening(corners: tuple[np.ndarray, np.ndarray], lids: tuple[np.ndarray, np.ndarray]) -> float:
    """The lids' distance (upper to lower) perpendicular to the corner axis."""
    axis = corners[1] - corners[0]
    return float((lids[1] - lids[0]) @ np.array([-axis[1], axis[0]]) / np.linalg.norm(axis))


def wild_frames(faces: list[testdata.ReferenceFace], size: float, moved: bool) -> Iterable[Frame]:
    """`faces-wild` faces as taken, or with the gaze moved by each of SHIFTS."""
    for face in faces:
        image = read_colour(face.file)
        transform = testdata.frame_transform(face.iris_left, face.iris_right, size)
        raw = face.raw
        corners = [(np.array(raw[f"corners_{s}"][a]), np.array(raw[f"corners_{s}"][b]))
                   for s, (a, b) in (("left", ("outer", "inner")), ("right", ("inner", "outer")))]
        lids = [(np.array(raw[f"lids_{s}"]["upper"]), np.array(raw[f"lids_{s}"]["lower"]))
                for s in ("left", "right")]
        variants = [(s, *move_gaze(image, testdata.reference_mesh(face), s)) for s in SHIFTS] if moved else [
            (0.0, image, np.array([face.iris_left, face.iris_right]))]
        for shift, picture, irises in variants:
            h = np.mean([_along(irises[i], *corners[i]) for i in range(2)])
            v = np.mean([_across(irises[i], corners[i], lids[i]) for i in range(2)])
            yield Frame(f"{face.file.name}#{face.index}", webcam_grey(picture, transform),
                        _apply(transform, irises), size, float(h), float(v))
            del shift


@dataclass(frozen=True)
class HelenFace:
    """A `faces-helen-afw` face with its cues; `mesh` in OpenCV's pixel convention (MediaPipe's is 0.5 px off)."""

    face: testdata.ReferenceFace
    mesh: np.ndarray
    looks: Looks


def helen_faces(split: str, limit: int | None) -> tuple[list[HelenFace], dict[str, int]]:
    """The faces of `split` whose eyes can be seen and are both open (MediaPipe openness >= 0.15), and the
    counts of those left out."""
    kept: list[HelenFace] = []
    counts = {"faces": 0, "eyes_hidden": 0, "eye_not_open": 0}
    for face in testdata.helen_afw_faces():
        if split != "all" and testdata.helen_afw_split(face) != split:
            continue
        if limit is not None and len(kept) >= limit:
            break
        counts["faces"] += 1
        image = read_colour(face.file)
        cues = looks(face, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        if cues.eyes_hidden:
            counts["eyes_hidden"] += 1
        elif cues.openness < OPEN:
            counts["eye_not_open"] += 1
        else:
            kept.append(HelenFace(face, testdata.reference_mesh(face) - 0.5, cues))
    counts["measured"] = len(kept)
    return kept, counts


def helen_frames(faces: list[HelenFace], size: float, moves: tuple[tuple[float, float], ...]) -> Iterable[Frame]:
    """`faces-helen-afw` faces with the irises moved by each (sideways, down) of `moves` (none: as taken). The
    ratios' references come from the human points: along the corners 36-39 and 42-45, across from the upper lid
    (mean of 37, 38 or 43, 44) to the lower one (40, 41 or 46, 47)."""
    for helen in faces:
        points = helen.face.pts68
        corners = [(points[36], points[39]), (points[42], points[45])]
        lids = [(points[[37, 38]].mean(axis=0), points[[40, 41]].mean(axis=0)),
                (points[[43, 44]].mean(axis=0), points[[46, 47]].mean(axis=0))]
        irises = helen.mesh[list(IRIS_CENTRES)]
        transform = testdata.frame_transform(irises[0], irises[1], size)
        image = read_colour(helen.face.file)
        variants = [(0.0, image, irises)] if not moves else [
            (down, *move_gaze(image, helen.mesh, sideways, down)) for sideways, down in moves]
        radius = centre_radius(_apply(transform, points))[1]
        # a few human contours close an eye MediaPipe calls open: no vertical reference there
        shut = min(_opening(corners[i], lids[i]) for i in range(2))
        for down, picture, truth in variants:
            h = np.mean([_along(truth[i], *corners[i]) for i in range(2)])
            v = None if abs(shut) < 1.0 else float(np.mean([_across(truth[i], corners[i], lids[i]) for i in range(2)]))
            yield Frame(str(helen.face.file.relative_to(testdata.data_root())), webcam_grey(picture, transform),
                        _apply(transform, truth), size, float(h), v,
                        categories=helen.looks.categories(), down=down, radius=radius)


@dataclass
class Session:
    """A face played as one webcam session: `still` shown WARM_FRAMES times, jittered, then `frames`."""

    still: np.ndarray
    frames: list[Frame]


def helen_sessions(faces: list[HelenFace], size: float,
                   moves: tuple[tuple[float, float], ...]) -> Iterable[Session]:
    """`helen_frames` per face, after the face's centre render (the irises rendered in place) as a still webcam
    shows it."""
    for helen in faces:
        centre = next(iter(helen_frames([helen], size, ((0.0, 0.0),))))
        yield Session(centre.grey, list(helen_frames([helen], size, moves)))


def annotated_frames(size: float) -> Iterable[Frame]:
    """`faces/` faces framed by their annotated eye centres; lenna's human-labelled pupils as truth, the
    centres of the eye contours elsewhere (a rough reference for faces that look at the camera)."""
    for face in testdata.annotated_faces():
        image = read_colour(face.file)
        centres = np.array([face.points[36:42].mean(axis=0), face.points[42:48].mean(axis=0)])
        transform = testdata.frame_transform(centres[0], centres[1], size)
        truth = face.pupils if face.pupils is not None else centres
        contours = np.array([_apply(transform, face.points[36:42]), _apply(transform, face.points[42:48])])
        yield Frame(face.file.name, webcam_grey(image, transform), _apply(transform, truth), size,
                    None, None, contours)


def calibrated_track(tracker: GazeTracker, grey: np.ndarray) -> TrackOutput:
    """The tracker's answer on its CALIBRATION_FRAMES-th pass over one frame, with a fresh ThresholdCalibration."""
    calibration = ThresholdCalibration()
    out = tracker.track(grey, calibration.hints())
    for _ in range(CALIBRATION_FRAMES - 1):
        calibration.update(out)
        out = tracker.track(grey, calibration.hints(out))
    return out


def run_ours(tracker: GazeTracker, frame: Frame) -> Result:
    return _ours(frame, calibrated_track(tracker, frame.grey))


def run_session(tracker: GazeTracker, session: Session) -> list[Result]:
    """Each of the session's frames tracked as the frame after its still ones, from the calibration (thresholds,
    closure threshold) and face those left: from one state, so that the renders are compared and not the state's
    drift (three frames alike, another face of the photo followed, would otherwise read a session state that moves
    with each and could order by chance). The jitter is seeded by the face."""
    rng = np.random.default_rng(zlib.crc32(session.frames[0].face.encode()))
    calibration, out = ThresholdCalibration(), None
    for _ in range(WARM_FRAMES):
        out = tracker.track(jittered(session.still, rng), calibration.hints(out))
        calibration.update(out)
    hints = calibration.hints(out)
    return [_ours(frame, tracker.track(frame.grey, hints)) for frame in session.frames]


def _ours(frame: Frame, out: TrackOutput) -> Result:
    pupils = (np.array([out.pupil_left, out.pupil_right])
              if out.pupil_left is not None and out.pupil_right is not None else None)
    result = _result(frame, out.face_found, pupils, out.horizontal_ratio, out.vertical_ratio)
    result.eyes_closed = out.eyes_closed
    if out.landmarks is not None:
        points = np.array(out.landmarks)
        eyes = np.array([points[36:42].mean(axis=0), points[42:48].mean(axis=0)])
        result.other_face = bool(np.max(np.linalg.norm(eyes - frame.truth, axis=1)) > 0.5 * frame.distance)
        result.other_larger = (result.other_face and frame.radius is not None
                               and centre_radius(points)[1] > frame.radius)
    return result


_forked_tracker: GazeTracker | None = None  # the parent's tracker, inherited by the forked workers of `_map`


def track_all(tracker: GazeTracker, frames: Iterable[Frame], jobs: int) -> list[Result]:
    """`run_ours` over `frames`, in order; with `jobs` > 1 in forked workers that share the parent's model."""
    return _map(tracker, run_ours, frames, jobs, 4)


def track_sessions(tracker: GazeTracker, sessions: Iterable[Session], jobs: int) -> list[Result]:
    """`run_session` over `sessions`, their results in order, as `track_all`."""
    return [r for results in _map(tracker, run_session, sessions, jobs, 1) for r in results]


def _map(tracker: GazeTracker, run: Callable[[GazeTracker, T], R], items: Iterable[T], jobs: int,
         chunksize: int) -> list[R]:
    if jobs <= 1:
        return [run(tracker, item) for item in items]
    global _forked_tracker
    _forked_tracker = tracker
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        return list(pool.imap(functools.partial(_run_forked, run), items, chunksize=chunksize))


def _run_forked(run: Callable[[GazeTracker, T], R], item: T) -> R:
    assert _forked_tracker is not None
    return run(_forked_tracker, item)


def run_baseline(baseline: GazeTrackingBaseline, frame: Frame) -> Result:
    # the face step is deterministic, so the 20 identical frames share one detection
    landmarks = baseline.landmarks(frame.grey)
    baseline.new_session()
    out = baseline.track(frame.grey, landmarks)
    for _ in range(BASELINE_FRAMES - 1):
        out = baseline.track(frame.grey, landmarks)
    pupils = None if out.pupils is None else np.array(out.pupils)
    return _result(frame, out.face_found, pupils, out.horizontal_ratio, out.vertical_ratio)


def _result(frame: Frame, found: bool, pupils: np.ndarray | None, h: float | None,
            v: float | None) -> Result:
    inside = None
    if frame.contours is not None:
        inside = pupils is not None and all(
            cv2.pointPolygonTest(frame.contours[i].astype(np.float32), (float(pupils[i][0]), float(pupils[i][1])),
                                 False) >= 0 for i in range(2))
    return Result(frame.face, found, pupils, frame.truth, frame.distance, h, frame.h_true, v, frame.v_true,
                  inside, categories=frame.categories, down=frame.down)


def summarise(results: list[Result], slope: bool) -> dict[str, float | int | None]:
    """Shares over all frames (a frame without both pupils is a miss), mean ratio errors over frames with an
    answer, and the slope with which predicted pupils follow the true ones (per face, centred)."""
    n = len(results)
    errors = np.array([_error(r) for r in results])
    h_err = [abs(r.h_pred - r.h_true) for r in results if r.h_pred is not None and r.h_true is not None]
    v_err = [abs(r.v_pred - r.v_true) for r in results if r.v_pred is not None and r.v_true is not None]
    summary: dict[str, float | int | None] = {
        "n": n,
        "face_found": _share(r.face_found for r in results),
        "both_pupils": _share(r.pupils is not None for r in results),
        "e05": float(np.mean(errors <= 0.05)) if n else None,
        "e10": float(np.mean(errors <= 0.10)) if n else None,
        "e25": float(np.mean(errors <= 0.25)) if n else None,
        "h_error": float(np.mean(h_err)) if h_err else None,
        "v_error": float(np.mean(v_err)) if v_err else None,
    }
    if any(r.inside_eyes is not None for r in results):
        summary["inside_eyes"] = _share(bool(r.inside_eyes) for r in results)
    if slope:
        summary["slope"] = _slope(results)
    if any(r.categories is not None for r in results):
        summary.update(_helen_measures(results))
    return summary


def _error(result: Result) -> float:
    """The larger pupil error of the two eyes over the reference inter-iris distance (inf: no pupils)."""
    if result.pupils is None:
        return float("inf")
    return float(np.max(np.linalg.norm(result.pupils - result.truth, axis=1)) / result.distance)


def _helen_measures(results: list[Result]) -> dict[str, float | int | None]:
    """What `faces-helen-afw` adds: open eyes answered closed, frames tracking another face (and those where it is
    larger than the labelled face, with e05/e10 over the other frames), the vertical ratio's
    bias, its error against a constant's and its correlation, `is_left`/`is_right` against the reference, and for
    vertical moves the slope of the pupils' y and the faces whose vertical ratio orders up < centre < down (also over
    the faces none of whose frames followed a larger face)."""
    pairs = np.array([(r.v_pred, r.v_true) for r in results if r.v_pred is not None and r.v_true is not None])
    errors = [_error(r) for r in results]
    settings = AttentionSettings()
    direction = [gaze_direction(r.h_pred, settings)[:2] == gaze_direction(r.h_true, settings)[:2]
                 for r in results if r.h_pred is not None and r.h_true is not None]
    measures: dict[str, float | int | None] = {
        "false_closed": _share(r.eyes_closed for r in results),
        "other_face": _share(r.other_face for r in results),
        "other_larger": _share(r.other_larger for r in results),
        "e05_largest": _share(e <= 0.05 for e, r in zip(errors, results, strict=True) if not r.other_larger),
        "e10_largest": _share(e <= 0.10 for e, r in zip(errors, results, strict=True) if not r.other_larger),
        "v_bias": float(np.mean(pairs[:, 0] - pairs[:, 1])) if len(pairs) else None,
        "v_const_error": float(np.mean(np.abs(pairs[:, 1] - pairs[:, 1].mean()))) if len(pairs) else None,
        "v_corr": float(np.corrcoef(pairs.T)[0, 1]) if len(pairs) > 2 and pairs.std(axis=0).min() > 0 else None,
        "lr_agree": _share(direction),
    }
    if any(r.down for r in results):
        measures["slope_y"] = _slope(results, axis=1)
        by_face: dict[str, dict[float, float | None]] = {}
        larger: set[str] = set()
        for r in results:
            by_face.setdefault(r.face, {})[r.down] = r.v_pred
            if r.other_larger:
                larger.add(r.face)
        ordered = {face: None not in (v.get(-0.4), v.get(0.0), v.get(0.4))
                   and v[-0.4] < v[0.0] < v[0.4] for face, v in by_face.items()}  # type: ignore[operator]
        measures["v_order"] = _share(ordered.values())
        measures["v_order_largest"] = _share(ok for face, ok in ordered.items() if face not in larger)
    return measures


def _share(flags: Iterable[bool]) -> float | None:
    values = list(flags)
    return float(np.mean(values)) if values else None


def _slope(results: list[Result], axis: int = 0) -> float | None:
    """Least-squares slope through the origin of centred predicted x (or y: `axis` 1) against the centred true
    one, per face (mean of both eyes; faces need two or more frames with both pupils)."""
    by_face: dict[str, list[tuple[float, float]]] = {}
    for r in results:
        if r.pupils is not None:
            by_face.setdefault(r.face, []).append((float(r.pupils[:, axis].mean()), float(r.truth[:, axis].mean())))
    num = den = 0.0
    for pairs in by_face.values():
        if len(pairs) < 2:
            continue
        pred, true = np.array(pairs).T
        num += float((pred - pred.mean()) @ (true - true.mean()))
        den += float((true - true.mean()) @ (true - true.mean()))
    return num / den if den else None


def eye_patches(folder: Path, limit: int | None = None) -> tuple[list[np.ndarray], list[bool], list[str]]:
    """CEW-style patches (the first `limit` of each folder): label from the folder name (`closed*` / `open*`),
    source image from the file name."""
    patches, closed, sources = [], [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(sub.glob("*.jpg"))[:limit]:
            patches.append(testdata.read_grey(path))
            closed.append(sub.name.lower().startswith("closed"))
            sources.append(path.name.split("_face_")[0])
    return patches, closed, sources


def eye_scores(predict: Callable[[np.ndarray], bool], folder: Path, split: str,
               limit: int | None = None) -> dict[str, float | int]:
    """Accuracy, precision and recall of "closed" over the patches of `split`."""
    patches, closed, sources = eye_patches(folder, limit)
    keep = [i for i, s in enumerate(sources) if split == "all" or testdata.patch_split(s) == split]
    pred = np.array([predict(patches[i]) for i in keep])
    true = np.array([closed[i] for i in keep])
    tp = int((pred & true).sum())
    return {
        "n": len(keep),
        "accuracy": float((pred == true).mean()),
        "precision": tp / max(int(pred.sum()), 1),
        "recall": tp / max(int(true.sum()), 1),
    }


class PastedEyes:
    """Puts a patch over both eyes of a real face (mirrored for the image-right eye), framed as the tracker
    frames its eye patches, so that measures which need landmarks (the aspect ratio, GazeTracking's blink
    rule) can be applied to CEW patches."""

    def __init__(self, tracker: GazeTracker, frame: np.ndarray | None = None) -> None:
        """`frame`: the host face (default: the first clean faces-wild face at 62 px)."""
        if frame is None:
            face = testdata.clean_wild_faces()[0]
            frame = webcam_grey(read_colour(face.file), testdata.frame_transform(face.iris_left, face.iris_right, 62.0))
        self.frame = frame
        out = tracker.track(self.frame)
        if out.landmarks is None:
            raise RuntimeError("the host face for pasted eyes was not found")
        points = np.array(out.landmarks)
        self.eyes = [points[36:42], points[42:48]]

    def frame_with(self, patch: np.ndarray) -> np.ndarray:
        frame = self.frame.copy()
        for side, points in enumerate(self.eyes):
            left, right = points[0], points[3]
            side_px = eye_state.PATCH_SPAN * float(np.linalg.norm(right - left))
            angle = float(np.degrees(np.arctan2(*(right - left)[::-1])))
            scale = side_px / eye_state.PATCH
            source = patch if side == 0 else patch[:, ::-1]
            m = cv2.getRotationMatrix2D((eye_state.PATCH / 2, eye_state.PATCH / 2), -angle, scale)
            m = np.asarray(m) + np.hstack([np.zeros((2, 2)),
                                           ((left + right) / 2 - np.array([eye_state.PATCH / 2] * 2))[:, None]])
            warped = cv2.warpAffine(np.ascontiguousarray(source), m, frame.shape[::-1], flags=cv2.INTER_LINEAR)
            cover = cv2.warpAffine(np.full_like(source, 255), m, frame.shape[::-1], flags=cv2.INTER_LINEAR)
            alpha = cover.astype(np.float32) / 255.0
            frame = np.rint(frame * (1 - alpha) + warped * alpha).astype(np.uint8)
        return frame


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


SETS = ("wild", "wild_moved", "annotated", "helen", "helen_moved", "helen_vertical", "helen_moved_session",
        "helen_vertical_session")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=Path, action="append", default=[],
                        help="faces-wild or faces-helen-afw (MediaPipe references) or faces (68-point annotations)")
    parser.add_argument("--eyes", type=Path, help="eye patches in closed*/open* folders (CEW)")
    parser.add_argument("--columbia", type=Path, help="columbia-eyes: the pupil stage on real eyes that move")
    parser.add_argument("--baseline", action="store_true", help="also run GazeTracking's method")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    parser.add_argument("--split", choices=("test", "tune", "all"), default="test",
                        help="which half of the split by source (Columbia: by person) to report (default: the "
                             "untuned half)")
    parser.add_argument("--sizes", type=float, nargs="+", default=list(SIZES), help="inter-iris distances")
    parser.add_argument("--set", choices=SETS, nargs="+", dest="sets",
                        help="only these face sets (default: every set of the folders given but the sessions, "
                             "which play each face as a webcam session: its centre render as a still webcam shows "
                             "it, then its moved renders)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="track face sets in this many forked processes (the results do not change)")
    parser.add_argument("--limit", type=int,
                        help="only the first N faces of each set, N patches per eye folder, N Columbia people")
    args = parser.parse_args(argv)

    tracker = GazeTracker(predictor_path())
    baseline = GazeTrackingBaseline(str(predictor_path())) if args.baseline else None
    report: dict[str, dict] = {"faces": {}, "eyes": {}, "baseline": {"faces": {}, "eyes": {}}, "categories": {}}
    for folder in args.faces:
        sets: list[tuple[str, Callable[[float], Iterable[Frame]], bool]] = []
        sessions: list[tuple[str, Callable[[float], Iterable[Session]], bool]] = []
        if folder.name == testdata.HELEN_AFW:
            helen, report["helen_faces"] = helen_faces(args.split, args.limit)
            sets += [("helen", lambda s, h=helen: helen_frames(h, s, ()), False),  # type: ignore[misc]
                     ("helen_moved", lambda s, h=helen: helen_frames(h, s, SIDEWAYS), True),  # type: ignore[misc]
                     ("helen_vertical", lambda s, h=helen: helen_frames(h, s, VERTICAL), False)]  # type: ignore[misc]
            sessions += [("helen_moved_session",
                          lambda s, h=helen: helen_sessions(h, s, SIDEWAYS), True),  # type: ignore[misc]
                         ("helen_vertical_session",
                          lambda s, h=helen: helen_sessions(h, s, VERTICAL), False)]  # type: ignore[misc]
        elif (folder / "reference_mediapipe.json").is_file():
            wild = _wild_split(args.split)[: args.limit]
            sets += [("wild", lambda s, w=wild: wild_frames(w, s, moved=False), False),  # type: ignore[misc]
                     ("wild_moved", lambda s, w=wild: wild_frames(w, s, moved=True), True)]  # type: ignore[misc]
        else:
            sets.append(("annotated",
                         lambda s, n=args.limit: list(annotated_frames(s))[:n], False))  # type: ignore[misc]
        for name, frames_of, with_slope in sets:
            if args.sets and name not in args.sets:
                continue
            for size in args.sizes:
                key = f"{name}_{size:g}"
                _add(report, key, track_all(tracker, frames_of(size), args.jobs), with_slope)
                if baseline is not None:
                    report["baseline"]["faces"][key] = summarise(
                        [run_baseline(baseline, f) for f in frames_of(size)], with_slope)
        for name, sessions_of, with_slope in sessions:
            if name in (args.sets or ()):
                for size in args.sizes:
                    _add(report, f"{name}_{size:g}", track_sessions(tracker, sessions_of(size), args.jobs), with_slope)
    if args.eyes:
        # our appearance classifier on the patches as they are, and the whole tracker (aspect ratio and
        # appearance) on a face wearing them; GazeTracking's rule needs landmarks, so only the latter
        report["eyes"] = eye_scores(eye_state.patch_is_closed, args.eyes, args.split, args.limit)
        pasted = PastedEyes(tracker)

        def ours_in_face(patch: np.ndarray) -> bool:
            return tracker.track(pasted.frame_with(patch)).eyes_closed

        report["eyes"]["in_face"] = eye_scores(ours_in_face, args.eyes, args.split, args.limit)
        if baseline is not None:
            def baseline_in_face(patch: np.ndarray) -> bool:
                frame = pasted.frame_with(patch)
                return bool(baseline.track(frame, baseline.landmarks(frame)).is_blinking)

            report["baseline"]["eyes"] = eye_scores(baseline_in_face, args.eyes, args.split, args.limit)
    if args.columbia:
        # its people split once (`testdata.columbia_split`): 1-12 tune (`train_pupil.py --pairs`), 13-25 test
        eyes = [e for e in testdata.columbia_eyes() if args.split in ("all", testdata.columbia_split(e))]
        people = sorted({e.subject for e in eyes})[: args.limit]
        report["columbia"] = {"split": args.split, **columbia.summarise(
            columbia.measure(e for e in eyes if e.subject in people))}
    report["meta"] = {"split": args.split, "commit": _commit(),
                      "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                      "calibration_frames": CALIBRATION_FRAMES}
    print_table(report)
    if args.json:
        print(json.dumps(report))
    return 0


def _add(report: dict[str, dict], key: str, results: list[Result], slope: bool) -> None:
    """One set's summary, and its categories' where it has them."""
    report["faces"][key] = summarise(results, slope)
    if results and results[0].categories is not None:
        report["categories"][key] = by_category(results, slope)


def by_category(results: list[Result], slope: bool) -> dict[str, dict[str, dict[str, float | int | None]]]:
    """`summarise` over the frames of each band of each category."""
    bands: dict[str, dict[str, list[Result]]] = {}
    for r in results:
        for category, band in (r.categories or {}).items():
            bands.setdefault(category, {}).setdefault(band, []).append(r)
    return {category: {band: summarise(subset, slope) for band, subset in sorted(groups.items())}
            for category, groups in bands.items()}


def _wild_split(split: str) -> list[testdata.ReferenceFace]:
    faces = testdata.clean_wild_faces()
    tune, test = testdata.split_by_source(faces)
    return {"tune": tune, "test": test, "all": faces}[split]


COLUMNS = ("n", "face_found", "both_pupils", "e05", "e10", "e25", "h_error", "v_error", "slope", "inside_eyes")
HELEN_COLUMNS = ("n", "e05", "e10", "h_error", "slope", "false_closed", "other_face", "v_bias", "v_error",
                 "v_const_error", "v_corr", "lr_agree", "slope_y", "v_order", "v_order_largest", "other_larger",
                 "e05_largest", "e10_largest")


def print_table(report: dict[str, dict]) -> None:
    meta = report["meta"]
    print(f"gazepipe accuracy, {meta['date']}, commit {meta['commit']}, split {meta['split']}")
    print(f"{'set':<26}{'tracker':<10}" + "".join(f"{c:>12}" for c in COLUMNS))
    for key, ours in report["faces"].items():
        rows = [("ours", ours)]
        if key in report["baseline"]["faces"]:
            rows.append(("baseline", report["baseline"]["faces"][key]))
        for who, summary in rows:
            print(f"{key:<26}{who:<10}" + "".join(f"{_fmt(summary.get(c)):>12}" for c in COLUMNS))
    eye_rows = [("eyes (patch)", "ours", report["eyes"]),
                ("eyes (in face)", "ours", report["eyes"].get("in_face")),
                ("eyes (in face)", "baseline", report["baseline"]["eyes"])]
    for name, who, eyes in eye_rows:
        if eyes:
            values = "".join(f"  {k} {_fmt(v)}" for k, v in eyes.items() if not isinstance(v, dict))
            print(f"{name:<26}{who:<10}{values}")
    if "helen_faces" in report:
        counts = report["helen_faces"]
        print(f"faces-helen-afw, split {meta['split']}: {counts['faces']} faces, {counts['eyes_hidden']} left out "
              f"(eyes hidden: dark glasses), {counts['eye_not_open']} left out (an eye under {OPEN} open), "
              f"{counts['measured']} measured")
    for key, categories in report["categories"].items():
        print(f"{key + ' by category':<28}" + "".join(f"{c:>16}" for c in HELEN_COLUMNS))
        rows = [("all", report["faces"][key])] + [(f"{category} {band}", summary)
                                                   for category, bands in categories.items()
                                                   for band, summary in bands.items()]
        for name, summary in rows:
            print(f"  {name:<26}" + "".join(f"{_fmt(summary.get(c)):>16}" for c in HELEN_COLUMNS))
    if "columbia" in report:
        values = "".join(f"  {k} {_fmt(v)}" for k, v in report["columbia"].items() if k != "per_group")
        print(f"{'columbia-eyes':<26}{'ours':<10}{values}")


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
