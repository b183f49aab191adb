"""Frames of the shared clip, and lossless video files of given frames, for the tests of recorded video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from testdata import data_root

CLIP = data_root() / "video" / "short_hamilton_clip.mp4"


def clip_frames(frames: range) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(CLIP))
    out = []
    for index in range(frames.stop):
        ok, frame = capture.read()
        assert ok, f"the clip ended at frame {index}"
        if index in frames:
            out.append(frame)
    capture.release()
    return out


def write_lossless(path: Path, greys: list[np.ndarray], fps: float = 30.0) -> Path:
    height, width = greys[0].shape
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"FFV1"), fps, (width, height))
    assert writer.isOpened(), "OpenCV's FFmpeg cannot write FFV1"
    for grey in greys:
        writer.write(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path
