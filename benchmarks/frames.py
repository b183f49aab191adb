"""The benchmarks' input: real-face webcam-like frames, 640x480 colour JPEG quality 80, built once per run.

Two kinds of sequence, dealt to clients in turn:
- the real clip (`video/short_hamilton_clip.mp4`, 640x360), every frame letterboxed to 640x480;
- `faces-wild` faces framed like a webcam sees them (62 px between the irises), the face drifting a few pixels
  from frame to frame as a person in front of a laptop does.

The data is read only through `testdata.data_root()`; nothing is written or cached on disk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import testdata

FRAME_SIZE = testdata.FRAME_SIZE
JPEG_QUALITY = 80
CLIP = "video/short_hamilton_clip.mp4"
MOTION_FRAMES = 12  # frames per face sequence: one period of the drift
MOTION_PX = (5.0, 3.0)  # amplitude of the drift, x and y


@dataclass(frozen=True)
class Sequence:
    """One client's frames, sent in a loop."""

    name: str
    jpegs: tuple[bytes, ...]


def letterbox(image: np.ndarray, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """`image` scaled to fit `size` and centred on black bars."""
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    w, h = round(image.shape[1] * scale), round(image.shape[0] * scale)
    resized = image if (w, h) == (image.shape[1], image.shape[0]) else cv2.resize(image, (w, h),
                                                                                   interpolation=cv2.INTER_AREA)
    out = np.zeros((height, width, 3), np.uint8)
    top, left = (height - h) // 2, (width - w) // 2
    out[top:top + h, left:left + w] = resized
    return out


@cache
def clip_sequence(max_frames: int = 300) -> Sequence:
    """Every frame of the real clip, letterboxed to 640x480, as JPEG q80."""
    path = testdata.data_root() / CLIP
    capture = cv2.VideoCapture(str(path))
    jpegs: list[bytes] = []
    try:
        while len(jpegs) < max_frames:
            ok, image = capture.read()
            if not ok:
                break
            jpegs.append(testdata.encode_jpeg(letterbox(image), JPEG_QUALITY))
    finally:
        capture.release()
    if not jpegs:
        raise FileNotFoundError(f"no frame could be read from {path}")
    return Sequence("clip", tuple(jpegs))


def moving_face_sequence(face: testdata.ReferenceFace, frames: int = MOTION_FRAMES) -> Sequence:
    """One faces-wild face at webcam framing, drifting on a small ellipse from frame to frame."""
    image = cv2.imread(str(face.file), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(face.file)
    base = testdata.frame_transform(face.iris_left, face.iris_right)
    jpegs = []
    for k in range(frames):
        angle = 2 * math.pi * k / frames
        moved = base.copy()
        moved[0, 2] += MOTION_PX[0] * math.sin(angle)
        moved[1, 2] += MOTION_PX[1] * math.cos(angle)
        jpegs.append(testdata.encode_jpeg(testdata.webcam_frame(image, moved), JPEG_QUALITY))
    return Sequence(f"face:{face.file.name}#{face.index}", tuple(jpegs))


@cache
def sequences(faces: int = 12) -> tuple[Sequence, ...]:
    """The clip first, then up to `faces` moving faces (clean, frontal, eyes open), in a fixed order."""
    chosen = testdata.clean_wild_faces()[:faces]
    return (clip_sequence(), *(moving_face_sequence(face) for face in chosen))


def sequence_for(client: int, faces: int = 12) -> Sequence:
    """Client 0 gets the clip, client 1 the first face, and so on round the list."""
    seqs = sequences(faces)
    return seqs[client % len(seqs)]


def all_jpegs(faces: int = 12) -> list[bytes]:
    """Every frame of every sequence, for in-process measurements."""
    return [jpeg for seq in sequences(faces) for jpeg in seq.jpegs]
