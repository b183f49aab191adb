"""One eye: its six contour points, a crop aligned to the corner axis at a fixed scale, and its openness."""

from __future__ import annotations

from functools import cached_property

import cv2
import numpy as np

LEFT_POINTS = slice(36, 42)  # image-left eye (the subject's right eye)
RIGHT_POINTS = slice(42, 48)
# the lower lid's contour points, corner to corner (an index array: a list is converted on every use)
_LOWER_LID = np.array([0, 5, 4, 3])

# The crop maps the corner-to-corner span onto EYE_WIDTH pixels: small faces are upsampled, near faces
# shrunk, so that the pupil search works at one scale.
EYE_WIDTH = 40
MARGIN_X = 0.25  # of the corner span, beside each corner
HALF_HEIGHT = 0.75  # of the corner span, above and below the corner axis (room for the eye-state patch)
# Pixels outside the frame are painted this bright so that they never look like an iris.
OUTSIDE_VALUE = 255
# dlib's upper lid (the mean of its two points) above the corner axis, in corner spans: the median over the 9,856
# eyes of the `tune` renders that trained `pupil_net` until session 8, in their crops.
MEDIAN_UPPER_LID = 0.21


class Eye:
    """An eye in a frame, with its crop in eye coordinates: x along the corner axis from the image-left corner
    (at x = MARGIN_X * EYE_WIDTH), y across it, downwards in the image."""

    def __init__(self, grey: np.ndarray, points: np.ndarray) -> None:
        # (6, 2): the image-left corner, two upper-lid points, the other corner, two lower-lid points
        self.points = points
        left, right = points[0], points[3]
        axis = right - left
        self.span = float(np.hypot(*axis))
        scale = EYE_WIDTH / max(self.span, 1e-6)
        cos, sin = axis / max(self.span, 1e-6)
        width = round(EYE_WIDTH * (1 + 2 * MARGIN_X))
        height = round(2 * HALF_HEIGHT * EYE_WIDTH)
        origin = np.array([MARGIN_X * EYE_WIDTH, height / 2.0])
        rotation = scale * np.array([[cos, sin], [-sin, cos]])
        # frame -> crop: rotate the corner axis onto x, scale, and put the image-left corner at `origin`
        self.to_crop = np.empty((2, 3))
        self.to_crop[:, :2] = rotation
        self.to_crop[:, 2] = origin - rotation @ left
        self.to_frame = cv2.invertAffineTransform(self.to_crop)
        self.crop = cv2.warpAffine(grey, self.to_crop, (width, height), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=OUTSIDE_VALUE)
        self.crop_points = self.map_to_crop(points)
        self._frame_shape = grey.shape

    def map_to_crop(self, points: np.ndarray) -> np.ndarray:
        return points @ self.to_crop[:, :2].T + self.to_crop[:, 2]

    def map_to_frame(self, points: np.ndarray) -> np.ndarray:
        return points @ self.to_frame[:, :2].T + self.to_frame[:, 2]

    @cached_property
    def inside_frame(self) -> np.ndarray | None:
        """Which crop pixels come from inside the frame (the rest is border fill); None when all do, the usual
        case."""
        h, w = self.crop.shape
        if self._well_inside():
            return None
        corners = self.map_to_frame(np.array([[0.0, 0.0], [w - 1.0, 0.0], [0.0, h - 1.0], [w - 1.0, h - 1.0]]))
        if _within(corners, self._frame_shape).all():
            return None
        ys, xs = np.mgrid[0:h, 0:w]
        frame = self.map_to_frame(np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64))
        return _within(frame, self._frame_shape).reshape(h, w)

    def _well_inside(self) -> bool:
        """The crop's corners lie inside the frame by more than the last bits in which plain Python's arithmetic
        may differ from map_to_frame's matrix product: several times cheaper on four points."""
        (a, b, c), (d, e, f) = self.to_frame.tolist()
        h, w = self.crop.shape
        frame_h, frame_w = self._frame_shape
        for x, y in ((0.0, 0.0), (w - 1.0, 0.0), (0.0, h - 1.0), (w - 1.0, h - 1.0)):
            fx, fy = a * x + b * y + c, d * x + e * y + f
            if not (1e-6 <= fx <= frame_w - 1 - 1e-6 and 1e-6 <= fy <= frame_h - 1 - 1e-6):
                return False
        return True

    @cached_property
    def _opening(self) -> np.ndarray:
        """The eye opening (dlib's contour) in crop pixels, inside the frame or not."""
        mask = np.zeros(self.crop.shape, np.uint8)
        cv2.fillPoly(mask, [self.crop_points.round().astype(np.int32)], 1)
        return mask.view(bool)  # 0 and 1: a bool array as it is

    @cached_property
    def polygon_mask(self) -> np.ndarray:
        """The eye opening in crop pixels that come from inside the frame (computed once per eye: do not
        modify it)."""
        return self._opening if self.inside_frame is None else self._opening & self.inside_frame

    @property
    def lid_heights(self) -> tuple[float, float]:
        """The upper and lower lid's heights across the corner axis (crop y): the mean of each lid's two contour
        points, as the human 300-W points (37/38 and 40/41) define the lids of the vertical ratio."""
        y = self.crop_points[:, 1]
        return float(y[1] + y[2]) / 2.0, float(y[4] + y[5]) / 2.0

    @cached_property
    def lid_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """`lid_lines` at every crop column (computed once per eye: do not modify them)."""
        return self.lid_lines(np.arange(self.crop.shape[1], dtype=np.float64))

    def lid_lines(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The upper and lower lid heights (crop y) at each crop abscissa of `xs`."""
        upper_x, upper_y, lower_x, lower_y = self._lids
        return np.interp(xs, upper_x, upper_y), np.interp(xs, lower_x, lower_y)

    @cached_property
    def _lids(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The upper and lower lid polylines' x and y, corner to corner (taken once per eye)."""
        upper = self.crop_points[:4]
        lower = self.crop_points[_LOWER_LID]
        return upper[:, 0], upper[:, 1], lower[:, 0], lower[:, 1]

    @cached_property
    def aspect_ratio(self) -> float:
        """The landmark eye aspect ratio: mean lid distance over the corner span (open: about 0.25-0.35)."""
        p = self.points
        upper, lower = p[1] - p[5], p[2] - p[4]
        # what np.linalg.norm computes for a vector, without its Python wrapper
        lids = np.sqrt(upper.dot(upper)) + np.sqrt(lower.dot(lower))
        return float(lids / (2.0 * max(self.span, 1e-6)))

    @cached_property
    def visible_share(self) -> float:
        """The share of the eye opening that lies inside the frame."""
        if self.inside_frame is None:
            return 1.0 if np.count_nonzero(self._opening) else 0.0
        total = np.count_nonzero(self._opening)  # several times cheaper than a bool array's sum()
        return np.count_nonzero(self.polygon_mask) / total if total else 0.0


def _within(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return ((points[:, 0] >= 0) & (points[:, 0] <= shape[1] - 1)
            & (points[:, 1] >= 0) & (points[:, 1] <= shape[0] - 1))
