"""GazeTracking's method as published (antoinelame/GazeTracking), rewritten from its description for the
benchmark.

Per frame: dlib's detector on the full frame, the first face, 68 landmarks; each eye is the landmark polygon
on a white background, cropped with a 5 px margin; the pupil is the centroid of the second-largest contour of
the crop after a bilateral filter, three 3x3 erosions and a binary threshold; the threshold is calibrated over
the first 20 frames as the mean of the per-frame thresholds (5..95 in steps of 5) whose dark share of the crop
(without its 5 px border) is nearest 0.48, and then frozen. horizontal ratio = pupil.x / (2 * centre.x - 10),
vertical likewise; blinking when the mean of width / height over both eyes exceeds 3.8; no pupil, no
answer."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import dlib
import numpy as np

CALIBRATION_FRAMES = 20
IRIS_SHARE = 0.48
EYES = (range(36, 42), range(42, 48))


@dataclass
class BaselineEye:
    origin: tuple[int, int]
    centre: tuple[float, float]
    blinking: float | None
    pupil: tuple[int, int] | None


@dataclass
class BaselineOutput:
    face_found: bool = False
    eyes: list[BaselineEye] = field(default_factory=list)

    @property
    def pupils(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """Both pupils in frame pixels, or None when either is missing (the library's `pupils_located`)."""
        if len(self.eyes) != 2 or any(e.pupil is None for e in self.eyes):
            return None
        left, right = (
            (float(e.origin[0] + e.pupil[0]), float(e.origin[1] + e.pupil[1])) for e in self.eyes if e.pupil
        )
        return left, right

    def _ratio(self, axis: int) -> float | None:
        if self.pupils is None:
            return None
        return float(np.mean([e.pupil[axis] / (e.centre[axis] * 2 - 10) for e in self.eyes if e.pupil]))

    @property
    def horizontal_ratio(self) -> float | None:
        return self._ratio(0)

    @property
    def vertical_ratio(self) -> float | None:
        return self._ratio(1)

    @property
    def is_blinking(self) -> bool | None:
        ratios = [e.blinking for e in self.eyes]
        if len(ratios) != 2 or None in ratios:
            return None
        return float(np.mean(ratios)) > 3.8  # type: ignore[arg-type]


def binarise(eye: np.ndarray, threshold: int) -> np.ndarray:
    smooth = cv2.bilateralFilter(eye, 10, 15, 15)
    eroded = cv2.erode(smooth, np.ones((3, 3), np.uint8), iterations=3)
    return cv2.threshold(eroded, threshold, 255, cv2.THRESH_BINARY)[1]


def dark_share(binary: np.ndarray) -> float:
    inner = binary[5:-5, 5:-5]
    return (inner.size - cv2.countNonZero(inner)) / inner.size if inner.size else 0.0


def best_threshold(eye: np.ndarray) -> int:
    trials = {t: dark_share(binarise(eye, t)) for t in range(5, 100, 5)}
    return min(trials.items(), key=lambda item: abs(item[1] - IRIS_SHARE))[0]


def find_pupil(eye: np.ndarray, threshold: int) -> tuple[int, int] | None:
    contours, _ = cv2.findContours(binarise(eye, threshold), cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
    contours = sorted(contours, key=cv2.contourArea)
    if len(contours) < 2:
        return None
    moments = cv2.moments(contours[-2])
    if moments["m00"] == 0:
        return None
    return int(moments["m10"] / moments["m00"]), int(moments["m01"] / moments["m00"])


class GazeTrackingBaseline:
    """One instance per session: the calibration lives in it, as in the library."""

    def __init__(self, predictor_path: str) -> None:
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(predictor_path)
        self._thresholds: tuple[list[int], list[int]] = ([], [])

    def new_session(self) -> None:
        """Forgets the calibration, as a new GazeTracking instance would."""
        self._thresholds = ([], [])

    def landmarks(self, grey: np.ndarray) -> np.ndarray | None:
        """The library's face step: the detector on the full frame, the first face."""
        faces = self._detector(grey)
        if not len(faces):
            return None
        shape = self._predictor(grey, faces[0])
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.int32)

    def track(self, grey: np.ndarray, landmarks: np.ndarray | None) -> BaselineOutput:
        """One frame, given the face step's result for it (deterministic, so repeated frames may reuse it)."""
        if landmarks is None:
            return BaselineOutput()
        calibrated = all(len(t) >= CALIBRATION_FRAMES for t in self._thresholds)
        eyes = []
        for side, points in enumerate(EYES):
            region = landmarks[list(points)]
            crop, origin = _isolate(grey, region)
            if not calibrated:
                self._thresholds[side].append(best_threshold(crop))
            threshold = int(sum(self._thresholds[side]) / len(self._thresholds[side]))
            h, w = crop.shape
            pupil = find_pupil(crop, threshold)
            eyes.append(BaselineEye(origin, (w / 2, h / 2), _blinking_ratio(region), pupil))
        return BaselineOutput(True, eyes)


def _isolate(grey: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The eye polygon on white, cropped with a 5 px margin (negative starts wrap, as numpy slicing does)."""
    masked = np.full_like(grey, 255)
    polygon = np.zeros_like(grey)
    cv2.fillPoly(polygon, [region], 255)
    masked[polygon > 0] = grey[polygon > 0]
    x0, y0 = region.min(axis=0) - 5
    x1, y1 = region.max(axis=0) + 5
    return masked[y0:y1, x0:x1], (int(x0), int(y0))


def _blinking_ratio(region: np.ndarray) -> float | None:
    left, right = region[0], region[3]
    top = (region[1] + region[2]) // 2
    bottom = (region[5] + region[4]) // 2
    height = math.hypot(*(top - bottom))
    return math.hypot(*(left - right)) / height if height else None
