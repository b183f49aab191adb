"""What crosses the process boundary for the tracker: the session's hints in, the frame's measurements out."""

from __future__ import annotations

import msgspec

Point = tuple[float, float]
Box = tuple[int, int, int, int]  # x, y, width, height in frame pixels


class TrackHints(msgspec.Struct, frozen=True):
    """Per-session state the front sends with each frame, so that any worker can take any frame."""

    face_box: Box | None = None  # where the previous frame's face is followed
    face_patch: bytes | None = None  # the previous frame's thumbnail of that box (`face.thumbnail`)
    face_placement: tuple[float, float, float] | None = None  # how the detector last placed its box on the face
    head_pose: tuple[float, float, float] | None = None  # the previous frame's yaw, pitch, roll
    unconfirmed: int = 0  # frames followed since a detector last saw the face
    after_no_face: bool = False  # the stream's previous frame had no face
    lost_box: Box | None = None  # with no face followed: where the face was last seen, searched first (`tracker`)
    lost_frames: int = 0  # frames without a face since then
    thresholds: tuple[float, float] | None = None  # binarisation threshold per eye (image-left, image-right)
    closed_above: float | None = None  # the session's closure threshold (`ThresholdCalibration.closed_above`)
    detect: bool = False  # run the full-frame face detector; with a face box, only for a larger face; with a lost
    # box, only for a face larger than one found again there (the loss's own whole-frame searches: `tracker`)


class TrackOutput(msgspec.Struct):
    """One frame's measurements, in the coordinates of the frame as the client sent it."""

    face_found: bool = False
    face_box: Box | None = None  # the face's box as dlib's detector frames it, from the 68 points
    face_patch: bytes | None = None  # its thumbnail, against which the next frame checks that it is still there
    face_placement: tuple[float, float, float] | None = None  # how the detector last placed its box on the face
    unconfirmed: int = 0  # frames since a detector last saw the face (0: it saw it on this frame)
    detector_ran: bool = False  # a full-frame detector (for any face, or for a larger one)
    lost_box: Box | None = None  # no face: the last face's box, while the next frame still searches there first
    lost_frames: int = 0  # no face: frames without one since that face was seen, this one included
    landmarks: list[Point] | None = None  # the 68 points
    pupil_left: Point | None = None  # image-left eye, points 36-41
    pupil_right: Point | None = None  # image-right eye, points 42-47
    pupil_left_confidence: float = 0.0
    pupil_right_confidence: float = 0.0
    pupil_left_reason: str | None = None  # why there is no pupil: "no_face", "eye_closed", "eye_outside_frame", ...
    pupil_right_reason: str | None = None
    horizontal_ratio: float | None = None  # 0.0 pupil at the image-left corner .. 1.0 at the image-right corner
    vertical_ratio: float | None = None  # 0.0 at the upper lid .. 1.0 at the lower lid
    eye_openness_left: float | None = None
    eye_openness_right: float | None = None
    eyes_closed: bool = False
    closed_score: float | None = None  # how surely the eyes are closed, 0..1: compared with the closure threshold
    head_pose: tuple[float, float, float] | None = None  # yaw, pitch, roll in degrees
    threshold_observed: tuple[float | None, float | None] = (None, None)  # each eye's best threshold on this frame


def following(previous: TrackOutput | None, thresholds: tuple[float, float] | None = None,
              detect: bool = False, closed_above: float | None = None) -> TrackHints:
    """The hints that track the next frame of a stream whose last tracked frame gave `previous`."""
    if previous is None or not previous.face_found:
        return TrackHints(thresholds=thresholds, closed_above=closed_above, detect=detect,
                          after_no_face=previous is not None,
                          lost_box=None if previous is None else previous.lost_box,
                          lost_frames=0 if previous is None else previous.lost_frames)
    return TrackHints(face_box=previous.face_box, face_patch=previous.face_patch,
                      face_placement=previous.face_placement, head_pose=previous.head_pose,
                      unconfirmed=previous.unconfirmed,
                      thresholds=thresholds, closed_above=closed_above, detect=detect)
