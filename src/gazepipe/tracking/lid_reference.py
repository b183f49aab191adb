"""The session's lid reference: each eye's lids against its corners, a running median over recent frames, so that
one frame's lid that follows the iris (dlib's upper lid drops onto an iris that looks down) does not move the
vertical ratio's reference.

The lids are heights across the corner axis in fractions of the corner span (`Eye.lid_offsets`): a change of
distance leaves them as they are, and a roll turns the corner axis with the face. A yaw shortens the corner span
by its cosine while the lids' heights stay (at 20 degrees the reference's lids read 6 % nearer the axis than the
frame's), and a pitch shortens the heights: the window follows a new pose within LID_WINDOW / 2 frames."""

from __future__ import annotations

from collections import deque
from statistics import median

from gazepipe.tracking.types import Lids, TrackOutput

LID_WINDOW = 30  # frames: at 15-30 FPS, one to two seconds
# A session's reference only after this many frames with the eye open: a still photo tracked a few times (the
# benchmarks' five passes) keeps the frame's own lids.
MIN_LID_OBSERVATIONS = 10


class LidReference:
    """Each eye's upper and lower lid, the median of the last LID_WINDOW frames that observed it."""

    def __init__(self, window: int = LID_WINDOW, min_observations: int = MIN_LID_OBSERVATIONS) -> None:
        self._observed: tuple[deque[tuple[float, float]], deque[tuple[float, float]]] = (
            deque(maxlen=window), deque(maxlen=window))
        self._min = min_observations

    def update(self, out: TrackOutput) -> None:
        """Adds one frame's lids (an eye answered closed or without a pupil adds nothing)."""
        for values, observed in zip(self._observed, out.lids_observed, strict=True):
            if observed is not None:
                values.append(observed)

    @property
    def lids(self) -> tuple[Lids | None, Lids | None]:
        """Each eye's median upper and lower lid; None for an eye seen on too few frames."""
        return tuple(  # type: ignore[return-value]
            (median(u for u, _ in v), median(lo for _, lo in v)) if len(v) >= self._min else None
            for v in self._observed)
