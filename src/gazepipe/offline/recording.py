"""A recording's frames, decoded by OpenCV's FFmpeg, with the container's presentation time of each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gazepipe.front.jpeg import JpegPlan, fit_slot
from gazepipe.protocol import ProtocolError


class RecordingError(Exception):
    """A file that cannot be read, or that ends before the frames its container announces."""


@dataclass(frozen=True)
class VideoFrame:
    index: int
    timestamp_ms: float  # presentation time in the container, from the first frame's
    grey: np.ndarray  # (height, width) uint8, already at the plan's scale


class Recording:
    """Opens `path` for reading; frames come out greyscale at the scale the service would decode them to."""

    def __init__(self, path: Path, slot_pixels: int) -> None:
        self.path = path
        if not path.is_file():
            raise RecordingError(f"{path}: no such file")
        # One decoding thread: the workers have every core, and FFmpeg's frame threads only add their hand-offs.
        self._capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        if not self._capture.isOpened():
            raise RecordingError(f"{path}: not a video OpenCV can open (unknown container or codec, or truncated)")
        width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS)) or 0.0
        self.frame_count = max(0, int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT)))
        self._bgr: np.ndarray | None = None
        try:
            self.plan: JpegPlan = fit_slot(width, height, slot_pixels)
        except ProtocolError as exc:
            self.close()
            raise RecordingError(f"{path}: {exc}") from None

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0

    def read(self, index: int) -> VideoFrame | None:
        """The next frame (the `index`-th), or None at the end of the stream."""
        ok, bgr = self._capture.read(self._bgr)
        if not ok:
            return None
        self._bgr = bgr  # decoded into again: a fresh 900 kB array a frame costs its page faults
        timestamp = float(self._capture.get(cv2.CAP_PROP_POS_MSEC))
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        plan = self.plan
        if plan.scale != 1:  # as the front decodes a large JPEG at a reduced scale
            grey = cv2.resize(grey, (plan.decoded_width, plan.decoded_height), interpolation=cv2.INTER_AREA)
        return VideoFrame(index, timestamp, grey)

    def check_complete(self, frames_read: int) -> None:
        """Raises RecordingError when the stream ended well short of the frames its container announces."""
        # Containers estimate their frame count from the duration: allow a frame or two of rounding.
        if self.frame_count and frames_read < self.frame_count - 2:
            raise RecordingError(f"{self.path}: truncated or corrupt: the stream ended after {frames_read} of "
                                 f"{self.frame_count} frames")

    def close(self) -> None:
        self._capture.release()
