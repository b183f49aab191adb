"""GazeTracker: one greyscale frame and the session's hints in, the frame's measurements out."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from gazepipe.tracking import eye_state, pupil_net
from gazepipe.tracking.eye import EYE_WIDTH, LEFT_POINTS, MEDIAN_UPPER_LID, RIGHT_POINTS, Eye
from gazepipe.tracking.face import (
    CONFIRM_EVERY,
    DEFAULT_PLACEMENT,
    FOLLOW_FITS,
    MAX_SHIFT,
    MIN_SIMILARITY,
    FaceFinder,
    Placement,
    box_from_landmarks,
    placement,
    reduced_pass_finds,
    shift,
    similarity,
    thumbnail,
)
from gazepipe.tracking.headpose import head_pose
from gazepipe.tracking.pupil import OUTSIDE_FRAME, Pupil, locate, searched
from gazepipe.tracking.types import Box, Point, TrackHints, TrackOutput

# A followed fit is trusted only while the head turned less than this between frames (degrees of yaw or
# pitch): in a box still placed for the old pose a fit lands between the old pose and the new one (with
# GAZEPIPE_MODEL=pruned, a head turned by 33 degrees, in the box of the same head facing the camera: 24), and a
# detector's box puts it right.
MAX_TURN = 10.0

# The vertical ratio is 0 at the upper lid and 1 at the lower one as the human 300-W points place them (the mean
# of 37 and 38, of 40 and 41; `Eye.lid_heights`). dlib's upper lid follows the iris: on irises moved down between
# lids left in place, its points drop onto the iris's top (as a real lid does when the eye looks down), by as much
# as the iris moved or more, which unordered up < centre < down on 21 of the 556 `tune` faces of faces-helen-afw
# (the iris moved up and down by 0.4 radii). The ratio takes it UPPER_LID_PRIOR of the way to dlib's median upper
# lid (eye.MEDIAN_UPPER_LID), then raised by UPPER_LID_RAISE of the opening, as dlib's upper-lid points sit below
# the human ones (zero bias on that half, irises moved sideways, and up and down; docs/accuracy.md, "Why faces are
# not ordered up and down").
UPPER_LID_PRIOR = 0.3
UPPER_LID_RAISE = 0.03

# A face just lost (turned beyond the frontal detector, covered, looking away) mostly comes back where it was, a few
# frames later: for LOST_FRAMES frames after it was last seen, each frame first searches a window around its last
# box, LOST_MARGIN of the box on every side (a followed face's: 0.3), and the whole frame (37 ms here at 640x480,
# the window 8.5) only on every FULL_EVERY-th of them. The cost: a face appearing elsewhere during a loss
# is found up to FULL_EVERY - 1 frames later (or, once the lost face is found again in the window, at the stream's
# next periodic search for a larger face, `detect`). Measured on the benchmarks' recordings (benchmarks/lost_face.py and
# docs/performance.md): the webcam recording loses its face 8 times, for 2 or 10 frames, and it comes back where it
# was; a window of margin 0.3 / 0.5 / 0.8 / 1.2 (3.5 / 6.0 / 8.5 / 14 ms) finds 4 / 5 / 7 / 8 of the 8 faces the
# whole frame finds during those losses (the last box of a face turning away has drifted from it). On the clip,
# faces come back elsewhere (another person): found by the whole-frame search, up to 3 frames later (FULL_EVERY 3
# and 5 cost the same within one round's noise on the webcam recording; with 5 the clip's other person is 4 late).
# LOST_FRAMES covers the 10-frame losses with room: 0.5 s at 30 FPS, 1.5 s at 10 FPS (where the service's
# empty-room pause starts at 1 s).
LOST_FRAMES = 15
LOST_MARGIN = 0.8
FULL_EVERY = 4


class GazeTracker:
    """Loads dlib's detector and predictor once; `track` keeps no reference to the frame it was given."""

    def __init__(self, predictor_path: Path | str) -> None:
        self._faces = FaceFinder(predictor_path)

    def track(self, grey: np.ndarray, hints: TrackHints | None = None) -> TrackOutput:
        """One frame (2-D uint8, read only). With `hints` from the stream's previous frame (`types.following`),
        the face is followed from there; the full-frame detector runs only when it is no longer there, or
        (`hints.detect`) at reduced scale to look for a larger face."""
        hints = hints or TrackHints()
        face = self._find_face(grey, hints)
        if face is None:
            lost_box, lost_frames = _lost(hints)
            return TrackOutput(detector_ran=not _window_only(hints), lost_box=lost_box, lost_frames=lost_frames,
                               pupil_left_reason="no_face", pupil_right_reason="no_face")
        landmarks = face.landmarks

        eyes = (Eye(grey, landmarks[LEFT_POINTS]), Eye(grey, landmarks[RIGHT_POINTS]))
        closed_scores = eye_state.closed_scores(eyes)
        # a blink closes both eyes: their evidence is pooled, so that one unsure eye does not hide it
        closed_score = float(np.mean(closed_scores))
        eyes_closed = closed_score > (hints.closed_above or eye_state.CLOSED_ABOVE)
        thresholds = hints.thresholds or (None, None)
        if eyes_closed:
            pupils = [Pupil(None, 0.0, "eye_closed", None)] * 2
        else:
            # the learned cue only for the eyes `locate` searches: one outside the frame it skips. The other eye's
            # cue then comes from a one-eye product, which OpenBLAS sums in another order than a two-eye one (as
            # `locate` alone computes it: within 0.001 px of the pair's on the frames measured)
            inside = [eye for eye in eyes if searched(eye)]
            learned = iter(pupil_net.centres(inside) if inside else ())
            pupils = [locate(e, t, next(learned)) if searched(e) else OUTSIDE_FRAME
                      for e, t in zip(eyes, thresholds, strict=True)]
        horizontal, vertical = _ratios(eyes, pupils)
        frame_points: list[Point | None] = [
            None if p.centre is None else _point(e.map_to_frame(np.array([p.centre]))[0])
            for e, p in zip(eyes, pupils, strict=True)
        ]
        return TrackOutput(
            face_found=True,
            face_box=face.box,
            face_patch=face.patch,
            face_placement=face.placement,
            unconfirmed=face.unconfirmed,
            detector_ran=face.detector_ran,
            landmarks=list(map(tuple, landmarks.tolist())),  # the same floats as float(p[0]), float(p[1])
            pupil_left=frame_points[0],
            pupil_right=frame_points[1],
            pupil_left_confidence=pupils[0].confidence,
            pupil_right_confidence=pupils[1].confidence,
            pupil_left_reason=pupils[0].reason,
            pupil_right_reason=pupils[1].reason,
            horizontal_ratio=horizontal,
            vertical_ratio=vertical,
            eye_openness_left=eye_state.openness(eyes[0], closed_scores[0]),
            eye_openness_right=eye_state.openness(eyes[1], closed_scores[1]),
            eyes_closed=eyes_closed,
            closed_score=closed_score,
            head_pose=face.pose,
            threshold_observed=(pupils[0].threshold, pupils[1].threshold),
        )

    def _find_face(self, grey: np.ndarray, hints: TrackHints) -> _Face | None:
        """The face and its landmarks: followed from the previous frame while, fitted in the previous frame's box,
        it stays in that box, its thumbnail still matches, and a detector saw it within CONFIRM_EVERY frames;
        else confirmed by the detector on a window around it; else searched for in the whole frame. A face lost
        less than LOST_FRAMES frames ago is searched for around its last box first, and in the whole frame only on
        every FULL_EVERY-th frame. A face followed or found again asked to `detect` gives way only to a larger face
        (the largest face is the one tracked)."""
        if hints.face_box is not None:
            if hints.detect:
                larger = self._faces.larger_face(grey, hints.face_box[2])
                if larger is not None:
                    return self._fit(grey, larger, True, 0)
            if hints.face_patch is not None and hints.unconfirmed + 1 < CONFIRM_EVERY:
                face = self._followed(grey, hints, hints.face_box, hints.face_patch)
                if face is not None:
                    return face
            box = self._faces.follow(grey, hints.face_box)
            if box is not None:
                return self._fit(grey, box, hints.detect, 0)
        elif hints.lost_box is not None:
            box = self._faces.follow(grey, hints.lost_box, LOST_MARGIN)
            if box is not None:
                # at the stream's periodic search (`detect`): for a face larger than this one
                if hints.detect:
                    box = self._faces.larger_face(grey, box[2]) or box
                return self._fit(grey, box, hints.detect, 0)
            if _window_only(hints):
                return None
        # A followed face just lost is searched for at reduced scale only if that pass can find a face of its size:
        # on the benchmarks' webcam recording (faces 96-151 px wide) the pass found none of 11 (10 ms each).
        reduced_first = not hints.after_no_face and (hints.face_box is None
                                                     or reduced_pass_finds(hints.face_box[2], grey.shape[1]))
        found = self._faces.detect(grey, reduced_first=reduced_first)
        return None if found is None else self._fit(grey, found.box, True, 0, landmarks=found.landmarks)

    def _followed(self, grey: np.ndarray, hints: TrackHints, box: Box, patch: bytes) -> _Face | None:
        """The face fitted in the previous frame's `box`, if it still looks like its thumbnail `patch`, stays in
        the box it was fitted in and turned little; a face that moved further than that is fitted again where the
        fit found it, up to FOLLOW_FITS fits. None when no fit passes."""
        where = hints.face_placement or DEFAULT_PLACEMENT
        for _ in range(FOLLOW_FITS):
            face = self._fit(grey, box, hints.detect, hints.unconfirmed + 1, where)
            if similarity(face.patch, patch) < MIN_SIMILARITY:
                return None
            if shift(box, face.box) <= MAX_SHIFT:
                return face if _turned_little(hints.head_pose, face.pose) else None
            box = face.box
        return None

    def _fit(self, grey: np.ndarray, box: Box, detector_ran: bool, unconfirmed: int,
             where: Placement | None = None, landmarks: np.ndarray | None = None) -> _Face:
        """The 68 points fitted in `box` (or the `landmarks` already fitted there), and the face's box and
        thumbnail as the next frame follows them. A box from the detector (`where` None) sets how the following
        boxes are placed on this face's points; a followed box keeps the placement `where` it was given."""
        if landmarks is None:
            landmarks = self._faces.landmarks(grey, box)
        where = where or placement(landmarks, box)
        followed = box_from_landmarks(landmarks, where)
        return _Face(landmarks, followed, thumbnail(grey, followed), where, (grey.shape[1], grey.shape[0]),
                     detector_ran, unconfirmed)


@dataclass(frozen=True)
class _Face:
    landmarks: np.ndarray  # (68, 2)
    box: Box  # from the landmarks, where the next frame follows the face
    patch: bytes  # the thumbnail of `box`: the next frame's face, fitted, must look like it
    placement: Placement  # how the detector last placed its box on this face's points
    frame_size: tuple[int, int]  # width, height
    detector_ran: bool  # a full-frame detector
    unconfirmed: int  # frames since a detector last saw the face

    @cached_property
    def pose(self) -> tuple[float, float, float] | None:
        """Yaw, pitch and roll, solved when first asked for: a followed fit that fails the cheaper checks never
        needs it (on the benchmarks' webcam recording, a quarter of all fits)."""
        return head_pose(self.landmarks, self.frame_size)


def _window_only(hints: TrackHints) -> bool:
    """Whether a frame with these hints searches for a lost face only in the window around its last box."""
    return hints.face_box is None and hints.lost_box is not None and hints.lost_frames % FULL_EVERY != 0


def _lost(hints: TrackHints) -> tuple[Box | None, int]:
    """For a frame without a face: the lost face's last box while the next frame still searches there first (None
    once LOST_FRAMES frames passed without it), and the frames without it so far."""
    box, frames = (hints.face_box, 1) if hints.face_box is not None else (hints.lost_box, hints.lost_frames + 1)
    if box is None:
        return None, 0
    return (box if frames < LOST_FRAMES else None), frames


def _turned_little(before: tuple[float, float, float] | None, now: tuple[float, float, float] | None) -> bool:
    """Whether yaw and pitch each changed by at most MAX_TURN degrees (unknown poses count as unchanged)."""
    if before is None or now is None:
        return True
    return abs(now[0] - before[0]) <= MAX_TURN and abs(now[1] - before[1]) <= MAX_TURN


def _point(p: np.ndarray) -> Point:
    return (float(p[0]), float(p[1]))


def _ratios(eyes: tuple[Eye, Eye], pupils: list[Pupil]) -> tuple[float | None, float | None]:
    """The pupils' mean position along the corner axis (0 at the image-left corner) and between the lids, each
    within 0..1 as the protocol promises (a contour fitted nearly shut would otherwise divide by an opening of
    nothing)."""
    horizontal: list[float] = []
    vertical: list[float] = []
    for eye, pupil in zip(eyes, pupils, strict=True):
        if pupil.centre is None:
            continue
        x, y = pupil.centre
        (left, axis), right = eye.crop_points[0], eye.crop_points[3, 0]
        horizontal.append((x - left) / max(right - left, 1e-6))
        upper, lower = eye.lid_heights
        upper += UPPER_LID_PRIOR * (axis - MEDIAN_UPPER_LID * EYE_WIDTH - upper)
        upper -= UPPER_LID_RAISE * (lower - upper)
        vertical.append((y - upper) / max(lower - upper, 1.0))  # crop pixels: 1/40 of the corner span
    if not horizontal:
        return None, None
    # np.mean's sum then division, and np.clip, in plain Python on one or two floats: the same values
    count = len(horizontal)
    return (min(max(float(sum(horizontal)) / count, 0.0), 1.0),
            min(max(float(sum(vertical)) / count, 0.0), 1.0))
