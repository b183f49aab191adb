"""The face: the largest face found by dlib's HOG detector at reduced scale, tracked from the previous box,
and its 68 landmarks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import cv2
import dlib
import numpy as np

from gazepipe.tracking.types import Box

# The detector is run on a frame no wider than this: at 320x240 it costs about a quarter of 640x480.
DETECT_WIDTH = 320
# dlib's frontal detector finds faces at least this wide, in the pixels of the image it searches.
DETECTOR_WINDOW = 80
# Frames at most this wide are upsampled once when nothing was found (small frames hold small faces).
UPSAMPLE_MAX_WIDTH = 320
# Tracking re-finds the face in a small window around the previous box, scaled so that the face is this wide
# (the detector's smallest window is 80 px): about a tenth of the full-frame detector's cost.
TRACK_FACE_WIDTH = 96
TRACK_MARGIN = 0.3  # of the box size, on every side: how far a face may move between frames
# A followed face costs only its landmark fit: the windowed detector confirms it at least every CONFIRM_EVERY
# frames, and at once when the face, fitted, no longer looks like the last frame's. Thumbnails of the box from
# the landmarks, so aligned with the face however it moved, and of its top THUMBNAIL_TOP only (brows, eyes,
# nose): a talking mouth changes the lower part from frame to frame. benchmarks/thumbnails.py, fits the move and
# turn checks pass: the same face 1 / 2 / 3 frames later passes 0.9 in 91 / 80 / 62 % of the webcam recording's
# pairs (the whole box: 85 / 58 / 29) and 86 / 75 / 49 % of the clip's (83 / 68 / 38); another face fitted at
# the same place (90 faces, 7284 pairs) 0.841 and less (the whole box: 0.852), a background 0.56 and less.
CONFIRM_EVERY = 5
MIN_SIMILARITY = 0.9
THUMBNAIL = 16
THUMBNAIL_TOP = 0.55
# Nor is a fit trusted whose face box moved more than this share of its size from the box it was fitted in:
# the 68-point fit followed a face misplaced in its box by up to 10 % of the box and failed on most faces
# misplaced by 15-30 %, some of them with a thumbnail that still matched; the windowed detector takes up to
# TRACK_MARGIN. (Measured on the benchmarks' faces: with both checks no failed fit was accepted.)
MAX_SHIFT = 0.05
# A fit that moved further is fitted again in the box its own points give, under the same checks, before the
# windowed detector is asked (benchmarks/misplaced_boxes.py: 187 faces, the clean faces-wild ones and 150 of
# faces-helen-afw's tune half at 62 px between the eyes, in the detector's box misplaced by 2-30 % of its side):
# the second fits the checks passed had their eye points (36-47) within 1.6 / 4.7 / 8.6 % (median, p95, p99) of the
# inter-ocular distance of the detector-box fit's, 0.6 % of them beyond 10 %; the first fits they passed 2.3 / 5.9 /
# 11.6, 1.5 % beyond 10 %. (A second fit after a first whose thumbnail failed is wrong too often: 11 % beyond 10 %.)
FOLLOW_FITS = 2
# Where dlib's detector draws its box around a face: the box centre's offset from the 68 points' centroid and
# the box's side, in units of the points' RMS radius. A followed face's box is placed as the detector placed it
# at the face's last detection (`placement`): a turned face's box sits elsewhere on its points than a frontal
# one's, and the pruned model's fit is sensitive to that (in boxes placed for a frontal face, a face turned by
# 33 degrees was fitted at 24-31). DEFAULT_PLACEMENT is the mean over the benchmarks' faces (both models).
Placement = tuple[float, float, float]
DEFAULT_PLACEMENT: Placement = (0.03, -0.09, 2.89)
# While a face is followed, the periodic full-frame search looks only for a face this much wider (someone
# nearer the camera), at the scale where such a face is just detectable (the detector's window is 80 px).
LARGER = 1.2
LARGER_DETECT_SIZE = 88
# The detector's boxes come in steps of its image pyramid (a factor 1.2: 125, 150, 180 px ...), and one face's
# box changes step between scales. So of the faces whose boxes differ by less than LARGER, the detector's surest
# is taken unless another, inside the frame, is larger by its fitted points (RMS radius) by over RADIUS_MARGIN (a
# face cut by the frame's edge is fitted too large or too small: on faces-wild's `kit_with_rose`, by 1-7 %). On
# faces-helen-afw's `tune` half, 3 of the 18 photos where another face was followed had the labelled face larger
# by its points by 3-12 % and a box of the same step; in 2 more the two were within 1 %. On its frames as taken
# the rule moves 3 frames onto the labelled face and 8 onto neighbours larger by their points by 3.6-14 %.
RADIUS_MARGIN = 0.02
# When no face reaches the detector's threshold (0), the whole-frame search takes the largest of its full-scale
# pass's boxes scoring at least SECOND_TRY_ABOVE (the same pass, so no second search). On that half, 30 of the 61
# frames without a face had the face scoring -0.3..0 (turned heads, caps, shade); frames with the faces
# inpainted away gave 2 false faces in 717 (a necklace, an open mouth). The 68-point fit is no guard: fitted
# again where its own points put the box, weak true faces moved 0-10 % of the box, false ones 2-10 %.
SECOND_TRY_ABOVE = -0.3


class Detection(NamedTuple):
    """A face the whole-frame search found: the detector's box and the 68 points fitted in it (the search fits
    them anyway when it must tell the sizes of faces of one box step apart, and the tracker needs them)."""

    box: Box
    landmarks: np.ndarray  # (68, 2)


class FaceFinder:
    """dlib's detector and 68-point predictor, loaded once per process."""

    def __init__(self, predictor_path: Path | str) -> None:
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(predictor_path))

    def detect(self, grey: np.ndarray, reduced_first: bool = True) -> Detection | None:
        """The largest face, with its points: at full scale, upsampled only for small frames; with `reduced_first`,
        first at reduced scale, which finds a large face at about 40 % of the cost. Right after a frame without a
        face that pass is skipped: the full-scale pass finds faces of every size, and on frames that keep having
        none (an empty room, a stage far away) the reduced pass would only add its cost to each. When no pass
        finds a face, the full-scale pass's weaker boxes get a second try (SECOND_TRY_ABOVE)."""
        height, width = grey.shape
        passes: list[tuple[float, int]] = []
        if width > DETECT_WIDTH and reduced_first:
            passes.append((DETECT_WIDTH / width, 0))
        passes.append((1.0, 0))
        if width <= UPSAMPLE_MAX_WIDTH:
            passes.append((1.0, 1))
        weak: list[Box] = []
        for scale, upsample in passes:
            image = grey if scale == 1.0 else cv2.resize(grey, (round(width * scale), round(height * scale)),
                                                         interpolation=cv2.INTER_AREA)
            second_try = scale == 1.0 and upsample == 0
            rects, scores, _ = self._detector.run(image, upsample, SECOND_TRY_ABOVE if second_try else 0.0)
            # surest first (as dlib lists them)
            boxes = sorted(((_box(r, scale), s) for r, s in zip(rects, scores, strict=True)), key=lambda b: -b[1])
            found = [box for box, score in boxes if score >= 0.0]
            if found:
                return self._largest(grey, found)
            if second_try:
                weak = [box for box, _ in boxes]
        return self._largest(grey, weak) if weak else None

    def _largest(self, grey: np.ndarray, boxes: list[Box]) -> Detection:
        """The largest of the detector's `boxes` (surest first), with its points: by the box, unless others are
        less than LARGER narrower; then the surest of those, unless one inside the frame is larger by its fitted
        points by over RADIUS_MARGIN."""
        widest = max(box[2] for box in boxes)
        close = [box for box in boxes if box[2] * LARGER > widest]
        best = Detection(close[0], self.landmarks(grey, close[0]))
        radius = centre_radius(best.landmarks)[1]
        height, width = grey.shape
        for box in close[1:]:
            x, y, w, h = box
            if x >= 0 and y >= 0 and x + w <= width and y + h <= height:
                other = Detection(box, self.landmarks(grey, box))
                other_radius = centre_radius(other.landmarks)[1]
                if other_radius > (1 + RADIUS_MARGIN) * radius:
                    best, radius = other, other_radius
        return best

    def larger_face(self, grey: np.ndarray, width: int) -> Box | None:
        """The largest face at least LARGER times `width` pixels wide, or None. Searched at the scale that
        shrinks such a face to about the detector's window: for a webcam face about 300x225, where the search
        for any face must go on to full scale when the face is under 160 px wide (7 ms against 9 + 24 here)."""
        height, frame_width = grey.shape
        scale = min(1.0, LARGER_DETECT_SIZE / (LARGER * max(width, 1)))
        image = grey if scale == 1.0 else cv2.resize(grey, (round(frame_width * scale), round(height * scale)),
                                                     interpolation=cv2.INTER_AREA)
        rects = self._detector(image, 0)
        if not len(rects):
            return None
        best = max(rects, key=lambda r: r.width() * r.height())
        if best.width() / scale < LARGER * width:
            return None
        return _box(best, scale)

    def landmarks(self, grey: np.ndarray, box: Box) -> np.ndarray:
        """The 68 points (x, y) as a (68, 2) float array, fitted inside `box`."""
        x, y, w, h = box
        shape = self._predictor(grey, dlib.rectangle(x, y, x + w - 1, y + h - 1))
        return parts_array(shape.parts())

    def follow(self, grey: np.ndarray, box: Box, margin: float = TRACK_MARGIN) -> Box | None:
        """The face near the previous frame's box, or None when it is no longer there.

        The detector runs on a window around the box, `margin` of its size wider on every side, scaled to a face
        of TRACK_FACE_WIDTH pixels: it confirms that a face is still there (the landmark fit alone places a face
        shape in any box) and gives the box the predictor was trained with."""
        height, width = grey.shape
        x, y, w, h = box
        if w < 8 or h < 8:
            return None
        left, top = max(0, round(x - margin * w)), max(0, round(y - margin * h))
        right = min(width, round(x + w + margin * w))
        bottom = min(height, round(y + h + margin * h))
        if right - left < w // 2 or bottom - top < h // 2:
            return None
        scale = TRACK_FACE_WIDTH / w
        window = cv2.resize(grey[top:bottom, left:right], (max(1, round((right - left) * scale)),
                                                           max(1, round((bottom - top) * scale))),
                            interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        rects = self._detector(window, 0)
        if not len(rects):
            return None
        best = max(rects, key=lambda r: r.width() * r.height())
        return _box(best, scale, left, top)


def _box(rect: dlib.rectangle, scale: float, left: int = 0, top: int = 0) -> Box:
    """A detector's rectangle in an image scaled by `scale` (a window whose corner is the frame's `left`, `top`),
    in the frame's pixels."""
    return (round(left + rect.left() / scale), round(top + rect.top() / scale), round(rect.width() / scale),
            round(rect.height() / scale))


def reduced_pass_finds(face_width: int, frame_width: int) -> bool:
    """Whether `detect`'s reduced-scale pass can find a face `face_width` pixels wide."""
    return face_width * min(1.0, DETECT_WIDTH / frame_width) >= DETECTOR_WINDOW


_NO_PARENTHESES = str.maketrans("", "", "()")


def parts_array(parts: dlib.points) -> np.ndarray:
    """dlib's points as a (N, 2) float array. The binding hands them out one pybind11 object at a time (two
    attribute reads each); its repr, `points[(x, y), ...]` of integers, lists them all in one call, and the json
    module parses that: about half the time for 68 points (benchmarks/stages.py)."""
    return np.array(json.loads(repr(parts)[6:].translate(_NO_PARENTHESES)), dtype=np.float64).reshape(-1, 2)


def placement(landmarks: np.ndarray, box: Box) -> Placement:
    """How the detector's `box` lies on the landmarks fitted in it (see DEFAULT_PLACEMENT)."""
    centre, radius = centre_radius(landmarks)
    x, y, w, h = box
    return (float(x + w / 2 - centre[0]) / radius, float(y + h / 2 - centre[1]) / radius, w / radius)


def box_from_landmarks(landmarks: np.ndarray, where: Placement = DEFAULT_PLACEMENT) -> Box:
    """The box the detector would draw around a face with these 68 points, placed on them as `where` says:
    where the next frame's face is followed, without running the detector."""
    centre, radius = centre_radius(landmarks)
    dx, dy, side = where
    size = side * radius
    x, y = centre[0] + dx * radius - size / 2, centre[1] + dy * radius - size / 2
    return (round(x), round(y), round(size), round(size))


def centre_radius(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """The points' centroid and RMS distance from it."""
    # np.mean's own sum and division without its Python wrapper (the same values, a few microseconds less)
    count = len(landmarks)
    centre = np.add.reduce(landmarks, axis=0) / count
    return centre, max(math.sqrt(float(np.add.reduce(((landmarks - centre) ** 2).sum(axis=1))) / count), 1e-6)


def thumbnail(grey: np.ndarray, box: Box) -> bytes:
    """The top THUMBNAIL_TOP of `box`, the part of it inside the frame, shrunk to THUMBNAIL x THUMBNAIL pixels
    (b'' when none is inside)."""
    x, y, w, h = box
    left, top = max(0, x), max(0, y)
    right, bottom = min(grey.shape[1], x + w), min(grey.shape[0], y + round(THUMBNAIL_TOP * h))
    if right - left < 2 or bottom - top < 2:
        return b""
    return cv2.resize(grey[top:bottom, left:right], (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA).tobytes()


def shift(given: Box, fitted: Box) -> float:
    """How far the face fitted in the box `given` lies from it: the larger of its centre's move and its change
    of size, as a share of the given box's size."""
    gx, gy, gw, gh = given
    fx, fy, fw, fh = fitted
    size = max(gw, 1)
    return max(abs(fx + fw / 2 - gx - gw / 2), abs(fy + fh / 2 - gy - gh / 2), abs(fw - gw)) / size


def similarity(a: bytes, b: bytes) -> float:
    """Normalised correlation of two thumbnails, -1..1 (0 when either is empty or flat)."""
    if len(a) != THUMBNAIL * THUMBNAIL or len(b) != len(a):
        return 0.0
    u, v = (np.frombuffer(t, np.uint8).astype(np.float32) for t in (a, b))
    # what mean() and linalg.norm() compute for a float32 vector (a float32 sum divided by the count; the square
    # root of the vector's dot product with itself), without their Python wrappers
    u -= np.add.reduce(u) / u.size
    v -= np.add.reduce(v) / v.size
    norm = float(np.sqrt(u @ u) * np.sqrt(v @ v))
    return float(u @ v) / norm if norm > 0 else 0.0
