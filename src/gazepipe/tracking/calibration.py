"""Per-session thresholds: each eye's binarisation threshold, a running median of what the tracker observed on
recent frames, and the closure threshold, from the session's own recent closed scores."""

from __future__ import annotations

from collections import deque
from statistics import median

from gazepipe.tracking import eye_state
from gazepipe.tracking.types import TrackHints, TrackOutput, following

WINDOW = 30  # frames: at 15-30 FPS, a lighting change is followed within one to two seconds
MIN_OBSERVATIONS = 5
# The closure threshold looks further back (at 10 FPS, 15 s) so that a long blink or a few seconds of closed eyes
# do not move it; the classifier's threshold holds until the session has seen its eyes for a while.
CLOSED_WINDOW = 150
MIN_CLOSED_OBSERVATIONS = 20


class ThresholdCalibration:
    """Lives in the front process, one per client session. Never freezes: old frames leave the window."""

    def __init__(self, window: int = WINDOW, min_observations: int = MIN_OBSERVATIONS) -> None:
        self._observed: tuple[deque[float], deque[float]] = (deque(maxlen=window), deque(maxlen=window))
        self._min = min_observations
        self._closed_scores: deque[float] = deque(maxlen=CLOSED_WINDOW)

    def update(self, out: TrackOutput) -> None:
        """Adds one frame's observed thresholds (eyes without a pupil add nothing) and closed score."""
        for values, observed in zip(self._observed, out.threshold_observed, strict=True):
            if observed is not None:
                values.append(float(observed))
        if out.closed_score is not None:
            self._closed_scores.append(out.closed_score)

    @property
    def thresholds(self) -> tuple[float, float] | None:
        """Each eye's median over the window; one eye borrows the other's when it has too few observations."""
        left, right = (median(v) if len(v) >= self._min else None for v in self._observed)
        if left is None and right is None:
            return None
        return (left if left is not None else right, right if right is not None else left)  # type: ignore[return-value]

    @property
    def closed_above(self) -> float | None:
        """The closed score above which this session's eyes are closed; None (the classifier's own threshold)
        until MIN_CLOSED_OBSERVATIONS frames with a face were seen."""
        if len(self._closed_scores) < MIN_CLOSED_OBSERVATIONS:
            return None
        return eye_state.session_closed_above(list(self._closed_scores))

    def hints(self, previous: TrackOutput | None = None, detect: bool = False) -> TrackHints:
        """The next frame's hints: the face followed from `previous` (the stream's last tracked frame), with
        these thresholds."""
        return following(previous, self.thresholds, detect, self.closed_above)
