"""Who a `faces-helen-afw` face is, for per-category accuracy: eye openness, iris darkness, face size, head yaw and
glasses, from the labels and simple image cues, and whether its eyes can be seen at all.

Cues are measured on the crop (110 px between the human eye centres, grey) with MediaPipe's eye outline and iris
and the human 68 points. The thresholds were set once, by looking at the faces sorted by each cue, before any tracker
result was read on this set."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import testdata
from gaze_moved import IRIS_CENTRES, IRIS_CONTOURS, OUTLINES, polygon_alpha

from gazepipe.tracking.headpose import head_pose

OPEN = 0.15  # MediaPipe openness (lid distance / corner distance) at and above which an eye counts as open
# A frame edge across the nose bridge (90th percentile over the rows of the strip's largest vertical Sobel
# response): of the 60 faces above 290, 52 wear glasses by eye; 250 is where that share starts to fall.
GLASSES_EDGE = 250.0
# Dark lenses: the skin under the eye (6-18 px below the human lower lid) and the eye opening's brighter pixels
# (75th percentile outside the iris) are both darker than 0.4 of the cheek (35-50 px below the lower lid), and
# there is a frame (a weaker bridge edge, 150). Both cues alone also catch closed, shaded or dark-skinned eyes.
HIDDEN_LIGHT = 0.4
HIDDEN_EDGE = 150.0


@dataclass(frozen=True)
class Looks:
    """The cues of one face (image-left and image-right eyes averaged)."""

    openness: float  # the smaller MediaPipe openness of the two eyes
    iris_sclera: float  # median grey inside 0.8 of the reference iris / the sclera's 75th percentile
    under_eye: float  # the skin under the eye / the cheek
    sclera_cheek: float  # the sclera's 75th percentile / the cheek
    bridge_edge: float  # the frame-edge cue across the nose bridge
    yaw: float | None  # degrees, the project's head pose fitted to the human 68 points
    source_iod: float  # px between the human eye centres in the original photo

    @property
    def eyes_hidden(self) -> bool:
        """Dark sunglasses: no eye to measure, left out of the figures and counted apart."""
        return (self.under_eye < HIDDEN_LIGHT and self.sclera_cheek < HIDDEN_LIGHT
                and self.bridge_edge >= HIDDEN_EDGE)

    def categories(self) -> dict[str, str]:
        """The face's band in each category (fixed bands, not quantiles, so that they do not move with the set)."""
        yaw = abs(self.yaw) if self.yaw is not None else 0.0
        return {
            "openness": _band(self.openness, (0.25, 0.35), ("0.15-0.25", "0.25-0.35", ">=0.35")),
            "iris": _band(self.iris_sclera, (0.3, 0.5), ("dark", "medium", "light")),
            "size": _band(self.source_iod, (80.0, 200.0), ("iod<80", "iod80-200", "iod>=200")),
            "yaw": _band(yaw, (15.0, 30.0), ("<15", "15-30", ">=30")),
            "glasses": "glasses" if self.bridge_edge >= GLASSES_EDGE else "none seen",
        }


def _band(value: float, edges: tuple[float, float], names: tuple[str, str, str]) -> str:
    return names[int(np.searchsorted(edges, value, side="right"))]


def looks(face: testdata.ReferenceFace, grey: np.ndarray) -> Looks:
    """The cues of a `faces-helen-afw` face from its crop `grey` (uint8)."""
    mesh, points = testdata.reference_mesh(face), face.pts68
    image = grey.astype(np.float32)
    iris, sclera, under, cheek = [], [], [], []
    for eye, human in enumerate((points[36:42], points[42:48])):
        inside, outside = _iris_and_sclera(image, mesh, eye)
        iris.append(inside)
        sclera.append(outside)
        x0, x1 = sorted((int(human[0, 0]), int(human[3, 0])))
        low = int(human[[4, 5], 1].mean())
        under.append(_median(image[low + 6:low + 18, x0:x1]))
        cheek.append(max(_median(image[low + 35:low + 50, x0:x1]), 1.0))
    pose = head_pose(points, (grey.shape[1], grey.shape[0]))
    return Looks(
        openness=min(face.raw["openness_left"], face.raw["openness_right"]),
        iris_sclera=float(np.mean(np.divide(iris, np.maximum(sclera, 1.0)))),
        under_eye=float(np.mean(np.divide(under, cheek))),
        sclera_cheek=float(np.mean(np.divide(sclera, cheek))),
        bridge_edge=_bridge_edge(image, points),
        yaw=None if pose is None else pose[0],
        source_iod=float(face.raw["crop"]["iod_src"]),
    )


def _iris_and_sclera(image: np.ndarray, mesh: np.ndarray, eye: int) -> tuple[float, float]:
    """The median grey inside 0.8 of the reference iris radius and the 75th percentile of the rest of the eye
    opening beyond 1.2 radii (the sclera, lit side and shaded side)."""
    outline = mesh[list(OUTLINES[eye])]
    centre = mesh[IRIS_CENTRES[eye]]
    radius = float(np.mean(np.linalg.norm(mesh[list(IRIS_CONTOURS[eye])] - centre, axis=1)))
    x0, y0 = np.maximum(np.floor(outline.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.ceil(outline.max(axis=0)).astype(int) + 3
    patch = image[y0:y1, x0:x1]
    opening = polygon_alpha(outline - (x0, y0), patch.shape[:2]) > 0.5
    ys, xs = np.mgrid[0:patch.shape[0], 0:patch.shape[1]]
    distance = np.hypot(xs + x0 - centre[0], ys + y0 - centre[1])
    inside, outside = patch[opening & (distance <= 0.8 * radius)], patch[opening & (distance >= 1.2 * radius)]
    return (_median(inside), float(np.percentile(outside, 75)) if outside.size > 5 else _median(inside))


def _bridge_edge(image: np.ndarray, points: np.ndarray) -> float:
    """A glasses frame's bridge: horizontal edges in the middle half between the inner eye corners (39, 42), from
    the brows' inner ends (21, 22) down to the corners' height."""
    left, right = points[39, 0], points[42, 0]
    top, bottom = int(points[[21, 22], 1].mean()), int(points[[39, 42], 1].mean())
    strip = image[top:bottom, int(left + 0.25 * (right - left)):int(right - 0.25 * (right - left))]
    if strip.shape[0] < 3 or strip.shape[1] < 3:
        return 0.0
    edges = np.abs(cv2.Sobel(strip, cv2.CV_32F, 0, 1, ksize=3))
    return float(np.percentile(edges.max(axis=1), 90))


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if values.size else 0.0
