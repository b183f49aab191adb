"""Fixtures: the real service on a loopback port, the real tracker in process, webcam-like frames of real faces,
and a real browser."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from testdata import FRAME_SIZE, ReferenceFace, clean_wild_faces, encode_jpeg, face_frame, frame_transform

from gazepipe.model import predictor_path
from gazepipe.tracking.tracker import GazeTracker

from .chromium import DRIVER_DIR, find_or_install_chromium
from .service import Service


@pytest.fixture(scope="module")
def tracker() -> GazeTracker:
    """The tracker with the real model, in this process (one per test module)."""
    return GazeTracker(predictor_path())


@pytest.fixture(scope="session")
def service() -> Iterator[Service]:
    """One service with two workers shared by the tests that only talk to it."""
    with Service(workers=2) as running:
        yield running


@dataclass(frozen=True)
class FaceFrame:
    """A real face framed like a webcam would see it, with its reference irises in frame pixels."""

    face: ReferenceFace
    jpeg: bytes
    iris_left: np.ndarray
    iris_right: np.ndarray

    @property
    def iris_distance(self) -> float:
        return float(np.linalg.norm(self.iris_right - self.iris_left))


def make_face_frame(face: ReferenceFace, iris_distance_px: float = 62.0) -> FaceFrame:
    transform = frame_transform(face.iris_left, face.iris_right, iris_distance_px)

    def to_frame(point: np.ndarray) -> np.ndarray:
        return transform[:, :2] @ point + transform[:, 2]

    return FaceFrame(face, encode_jpeg(face_frame(face, iris_distance_px)), to_frame(face.iris_left),
                     to_frame(face.iris_right))


@pytest.fixture(scope="session")
def face_frames() -> list[FaceFrame]:
    """Every clean frontal face of faces-wild as a 640x480 JPEG at 62 px between the irises."""
    return [make_face_frame(face) for face in clean_wild_faces()]


@pytest.fixture(scope="session")
def empty_jpeg() -> bytes:
    """A 640x480 frame with no face in it: a textured wall."""
    rng = np.random.default_rng(7)
    wall = rng.normal(128, 20, (FRAME_SIZE[1] // 8, FRAME_SIZE[0] // 8)).clip(0, 255).astype(np.uint8)
    return encode_jpeg(np.kron(wall, np.ones((8, 8), np.uint8)))


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_or_install_chromium()
    if path is None:
        pytest.skip("Chromium is not installed and `apt-get install -y chromium` failed (no root or no apt?)")
    return path


@pytest.fixture(scope="module")
def driver() -> Path:
    """tests/browser with playwright-core installed from its lock file."""
    if not (DRIVER_DIR / "node_modules" / "playwright-core" / "package.json").is_file():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install playwright-core for the browser test"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=DRIVER_DIR, check=True, timeout=600)
    return DRIVER_DIR / "drive.mjs"
