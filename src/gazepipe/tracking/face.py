"""The face: the largest face found by dlib's HOG detector at reduced scale, tracked from the previous box, and its
68 landmarks."""

from __future__ import annotations

from pathlib import Path

import cv2
import dlib
import numpy as np

from gazepipe.tracking.types import Box

# The detector is run on a frame no wider than this: at 320x240 it costs about a quarter of 640x480.
DETECT_WIDTH = 320
# Frames at most this wide are upsampled once when nothing was found (small frames hold small faces).
UPSAMPLE_MAX_WIDTH = 320
# dlib's detector box relative to its own landmarks' extent (measured on faces-wild at 45-90 px between the
# irises): centre shifted up by 13 % of the landmark height, size 1.06 times the extent.
BOX_SHIFT = (0.011, -0.13)
BOX_SCALE = 1.06
# A tracked fit is kept when refitting in the box derived from it moves the landmarks by less than this share of
# the eye-corner span; a face that left the box gives an unstable fit.
MAX_REFIT_SHIFT = 0.06
# and when the derived box keeps the size of the hinted one within this factor.
MAX_SCALE_CHANGE = 1.5


def box_from_landmarks(points: np.ndarray) -> Box:
    """The box dlib's detector would give for a face with these landmarks."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    size = hi - lo
    centre = (lo + hi) / 2.0 + np.asarray(BOX_SHIFT) * size
    w, h = BOX_SCALE * size
    return (round(centre[0] - w / 2.0), round(centre[1] - h / 2.0), round(w), round(h))


def _area(box: Box) -> int:
    return box[2] * box[3]


class FaceFinder:
    """dlib's detector and 68-point predictor, loaded once per process."""

    def __init__(self, predictor_path: Path | str) -> None:
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(predictor_path))

    def detect(self, grey: np.ndarray) -> Box | None:
        """The largest face: first at reduced scale, then at full scale, upsampled only for small frames."""
        height, width = grey.shape
        passes: list[tuple[float, int]] = []
        if width > DETECT_WIDTH:
            passes.append((DETECT_WIDTH / width, 0))
        passes.append((1.0, 0))
        if width <= UPSAMPLE_MAX_WIDTH:
            passes.append((1.0, 1))
        for scale, upsample in passes:
            image = grey if scale == 1.0 else cv2.resize(grey, (round(width * scale), round(height * scale)),
                                                         interpolation=cv2.INTER_AREA)
            rects = self._detector(image, upsample)
            if len(rects):
                best = max(rects, key=lambda r: r.width() * r.height())
                return (round(best.left() / scale), round(best.top() / scale),
                        round(best.width() / scale), round(best.height() / scale))
        return None

    def landmarks(self, grey: np.ndarray, box: Box) -> np.ndarray:
        """The 68 points (x, y) as a (68, 2) float array, fitted inside `box`."""
        x, y, w, h = box
        shape = self._predictor(grey, dlib.rectangle(x, y, x + w - 1, y + h - 1))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    def follow(self, grey: np.ndarray, box: Box) -> tuple[np.ndarray, Box] | None:
        """Landmarks fitted in the previous frame's box, or None when the face is no longer there.

        The fit is repeated in the box derived from the first fit: on a face the two agree, while a box that lost
        its face gives landmarks that drift between fits or a box of another size."""
        first = self.landmarks(grey, box)
        derived = box_from_landmarks(first)
        if not 1.0 / MAX_SCALE_CHANGE <= (_area(derived) / max(_area(box), 1)) ** 0.5 <= MAX_SCALE_CHANGE:
            return None
        second = self.landmarks(grey, derived)
        span = float(np.linalg.norm(second[45] - second[36]))
        shift = float(np.median(np.linalg.norm(second - first, axis=1)))
        if span < 4.0 or shift > MAX_REFIT_SHIFT * span:
            return None
        return second, box_from_landmarks(second)
