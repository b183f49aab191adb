"""Per-session binarisation thresholds: a running median of what the tracker observed on recent frames."""

from __future__ import annotations

from collections import deque
from statistics import median

from gazepipe.tracking.types import TrackHints, TrackOutput, following

WINDOW = 30  # frames: at 15-30 FPS, a lighting change is followed within one to two seconds
MIN_OBSERVATIONS = 5


class ThresholdCalibration:
    """Lives in the front process, one per client session. Never freezes: old frames leave the window."""

    def __init__(self, window: int = WINDOW, min_observations: int = MIN_OBSERVATIONS) -> None:
        self._observed: tuple[deque[float], deque[float]] = (deque(maxlen=window), deque(maxlen=window))
        self._min = min_observations

    def update(self, out: TrackOutput) -> None:
        """Adds one frame's observed thresholds (eyes without a pupil add nothing)."""
        for values, observed in zip(self._observed, out.threshold_observed, strict=True):
            if observed is not None:
                values.append(float(observed))

    @property
    def thresholds(self) -> tuple[float, float] | None:
        """Each eye's median over the window; one eye borrows the other's when it has too few observations."""
        left, right = (median(v) if len(v) >= self._min else None for v in self._observed)
        if left is None and right is None:
            return None
        return (left if left is not None else right, right if right is not None else left)  # type: ignore[return-value]

    def hints(self, previous: TrackOutput | None = None, detect: bool = False) -> TrackHints:
        """The next frame's hints: the face followed from `previous` (the stream's last tracked frame), with
        these thresholds."""
        return following(previous, self.thresholds, detect)
