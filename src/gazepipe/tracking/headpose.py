"""Head pose from the 68 landmarks: a generic 3-D face fitted with cv2.solvePnP."""

from __future__ import annotations

import cv2
import numpy as np

# A generic face in millimetres, camera-style axes (x right, y down, z away from the camera), nose tip at the
# origin; for landmarks 30 (nose tip), 8 (chin), 36 and 45 (outer eye corners), 48 and 54 (mouth corners).
MODEL_POINTS = np.array([
    (0.0, 0.0, 0.0),
    (0.0, 63.6, 12.5),
    (-43.3, -32.7, 26.0),
    (43.3, -32.7, 26.0),
    (-28.9, 28.9, 24.1),
    (28.9, 28.9, 24.1),
])
LANDMARKS = [30, 8, 36, 45, 48, 54]


def head_pose(points: np.ndarray, frame_size: tuple[int, int]) -> tuple[float, float, float] | None:
    """Yaw, pitch and roll in degrees (0, 0, 0 facing the camera), for a camera with a focal length of the
    frame width; None when the fit fails."""
    width, height = frame_size
    camera = np.array([[width, 0.0, width / 2.0], [0.0, width, height / 2.0], [0.0, 0.0, 1.0]])
    image_points = points[LANDMARKS].astype(np.float64)
    # Started from nothing, the iterative fit sometimes settles on a mirrored pose (roll near 180 degrees, pitch
    # off by 20) for a face looking straight at the camera; started facing the camera at the distance the eye
    # corners' span implies, it finds the right one.
    eye_span = max(float(np.linalg.norm(points[45] - points[36])), 1.0)
    distance = width * (MODEL_POINTS[3, 0] - MODEL_POINTS[2, 0]) / eye_span
    nose = points[30]
    guess_rvec = np.zeros((3, 1))
    guess_tvec = np.array([[(nose[0] - width / 2.0) * distance / width], [(nose[1] - height / 2.0) * distance / width],
                     [distance]])
    ok, rvec, _ = cv2.solvePnP(MODEL_POINTS, image_points, camera, np.zeros(4), rvec=guess_rvec, tvec=guess_tvec,
                               useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return None
    rotation, _ = cv2.Rodrigues(rvec)
    pitch, yaw, roll = cv2.RQDecomp3x3(rotation)[0]
    return (float(yaw), float(pitch), float(roll))
