"""The one way tests and benchmarks find and read the shared real-face data.

The data lives outside the repository (`../shared/data` from the repository root, or `$GAZEPIPE_DATA`); its
licences allow testing and measurement only, so nothing here is shipped or copied.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAME_SIZE = (640, 480)


def data_root() -> Path:
    """The shared data folder; raises FileNotFoundError with a hint when it is missing."""
    root = Path(os.environ.get("GAZEPIPE_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not root.is_dir():
        raise FileNotFoundError(f"shared test data not found at {root}; set GAZEPIPE_DATA to its folder")
    return root


@dataclass(frozen=True)
class ReferenceFace:
    """One face of `faces-wild/reference_mediapipe.json`, in the photo's pixels."""

    file: Path
    index: int
    raw: dict[str, Any]

    @property
    def iris_left(self) -> np.ndarray:
        return np.asarray(self.raw["iris_left"], dtype=np.float64)

    @property
    def iris_right(self) -> np.ndarray:
        return np.asarray(self.raw["iris_right"], dtype=np.float64)

    @property
    def iris_distance(self) -> float:
        return float(np.linalg.norm(self.iris_right - self.iris_left))

    @property
    def quality_flags(self) -> list[str]:
        return list(self.raw.get("quality_flags") or [])

    @property
    def eyes_open(self) -> bool:
        return min(self.raw["openness_left"], self.raw["openness_right"]) >= 0.15


@cache
def wild_faces() -> tuple[ReferenceFace, ...]:
    """Every face of `faces-wild` with its reference labels."""
    folder = data_root() / "faces-wild"
    entries = json.loads((folder / "reference_mediapipe.json").read_text())
    return tuple(
        ReferenceFace(file=folder / entry["file"], index=i, raw=face)
        for entry in entries
        for i, face in enumerate(entry["faces"])
    )


def clean_wild_faces() -> list[ReferenceFace]:
    """The `faces-wild` faces with open eyes and no quality flag: the frontal faces tests rely on."""
    return [face for face in wild_faces() if face.eyes_open and not face.quality_flags]


def read_grey(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise FileNotFoundError(path)
    return image


def frame_transform(iris_left: np.ndarray, iris_right: np.ndarray, iris_distance_px: float = 62.0,
                    size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """The 2x3 similarity that scales a face to `iris_distance_px` between the irises and puts the eyes'
    midpoint at the frame's horizontal centre and 42 % of its height."""
    scale = iris_distance_px / float(np.linalg.norm(iris_right - iris_left))
    mid = (iris_left + iris_right) / 2.0
    target = np.array([size[0] / 2.0, size[1] * 0.42])
    return np.array([[scale, 0.0, target[0] - scale * mid[0]], [0.0, scale, target[1] - scale * mid[1]]])


def webcam_frame(image: np.ndarray, transform: np.ndarray, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """Renders `image` through `transform` into a webcam-sized frame, edges replicated like a real scene."""
    return cv2.warpAffine(image, transform, size, flags=cv2.INTER_AREA if transform[0, 0] < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def encode_jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def face_frame(face: ReferenceFace, iris_distance_px: float = 62.0, colour: bool = False) -> np.ndarray:
    """A 640x480 webcam-like frame of one reference face, framed as the accuracy benchmark frames it."""
    image = cv2.imread(str(face.file), cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise FileNotFoundError(face.file)
    return webcam_frame(image, frame_transform(face.iris_left, face.iris_right, iris_distance_px))
