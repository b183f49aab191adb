"""Head pose on real upright faces: no mirrored solutions."""

from __future__ import annotations

from gazepipe.front.jpeg import decode_grey
from gazepipe.model import predictor_path
from gazepipe.tracking.tracker import GazeTracker
from gazepipe.tracking.types import TrackHints

from .conftest import FaceFrame


def test_upright_faces_have_small_roll_and_pitch(face_frames: list[FaceFrame]) -> None:
    """Every clean faces-wild photo is of an upright person facing the camera more or less: a roll near 180
    degrees (the fit's mirrored solution) or a pitch past 35 degrees is a wrong pose."""
    tracker = GazeTracker(predictor_path())
    for frame in face_frames:
        out = tracker.track(decode_grey(frame.jpeg), TrackHints(detect=True))
        assert out.head_pose is not None, frame.face.file.name
        yaw, pitch, roll = out.head_pose
        assert abs(roll) < 30 and abs(pitch) < 35 and abs(yaw) < 60, (frame.face.file.name, out.head_pose)
