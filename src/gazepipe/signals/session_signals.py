"""One session's signals over time: smoothing, screen position, attention score, events and statistics.

The session feeds it every tracked frame in the order the client sent them (`process`) and hands it the control
messages that concern it (`configure`, `calibrate`, `statistics`), in that same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gazepipe.signals.attention import AttentionModel, AttentionSettings, Factors, frame_factors
from gazepipe.signals.events import Event, EventTracker, FrameState, Statistics
from gazepipe.signals.screen import CalibrationError, ScreenCalibration
from gazepipe.signals.smoothing import VectorFilter
from gazepipe.tracking.types import Point, TrackOutput


@dataclass
class Signals:
    """What one frame adds to its result beyond the tracker's raw measurements."""

    pupil_left: Point | None = None  # smoothed
    pupil_right: Point | None = None
    horizontal_ratio: float | None = None
    vertical_ratio: float | None = None
    screen_x: float | None = None
    screen_y: float | None = None
    screen_error: float | None = None
    factors: Factors | None = None
    score: float = 0.0
    attentive: bool = False
    events: list[Event] = field(default_factory=list)


def _point(values: tuple[float, ...] | None) -> Point | None:
    return None if values is None else (round(values[0], 3), round(values[1], 3))


def _ratio(values: tuple[float, ...] | None, index: int) -> float | None:
    return None if values is None else round(values[index], 5)


def _mean_confidence(out: TrackOutput) -> float:
    """The pupils' mean confidence, over the eyes with a pupil (the ratios are their mean too)."""
    found = [confidence for pupil, confidence in ((out.pupil_left, out.pupil_left_confidence),
                                                  (out.pupil_right, out.pupil_right_confidence))
             if pupil is not None]
    return sum(found) / len(found) if found else 1.0


class SessionSignals:
    def __init__(self, settings: AttentionSettings | None = None) -> None:
        self.attention = AttentionModel(settings)
        self.events = EventTracker()
        self.stats = Statistics()
        self.screen = ScreenCalibration()
        self._pupil_left = VectorFilter(2)
        self._pupil_right = VectorFilter(2)
        self._ratios = VectorFilter(2)
        self._head = VectorFilter(2)
        self._configure_filters()

    @property
    def settings(self) -> AttentionSettings:
        return self.attention.settings

    def _configure_filters(self) -> None:
        s = self.settings
        self._pupil_left.configure(s.pupil_min_cutoff_hz, s.pupil_beta, s.d_cutoff_hz)
        self._pupil_right.configure(s.pupil_min_cutoff_hz, s.pupil_beta, s.d_cutoff_hz)
        self._ratios.configure(s.ratio_min_cutoff_hz, s.ratio_beta, s.d_cutoff_hz)
        self._head.configure(s.head_min_cutoff_hz, s.head_beta, s.d_cutoff_hz)

    # Frames --------------------------------------------------------------------------------------------

    def process(self, out: TrackOutput, timestamp_ms: float) -> Signals:
        s = self.settings
        t = timestamp_ms
        ratios = None if out.horizontal_ratio is None or out.vertical_ratio is None \
            else (out.horizontal_ratio, out.vertical_ratio)
        head_raw = None if out.head_pose is None else (out.head_pose[0], out.head_pose[1])
        smooth_ratios = self._ratios(ratios, t)
        smooth_head = self._head(head_raw, t)
        head = None if smooth_head is None else (smooth_head[0], smooth_head[1])
        signals = Signals(pupil_left=_point(self._pupil_left(out.pupil_left, t)),
                          pupil_right=_point(self._pupil_right(out.pupil_right, t)),
                          horizontal_ratio=_ratio(smooth_ratios, 0), vertical_ratio=_ratio(smooth_ratios, 1))

        mapping = self.screen.mapping
        screen_raw = None
        if mapping is not None:
            signals.screen_error = mapping.error
            if smooth_ratios is not None:
                x, y = mapping.map(smooth_ratios[0], smooth_ratios[1], *(head or (None, None)))
                signals.screen_x, signals.screen_y = round(x, 4), round(y, 4)
            if ratios is not None:
                screen_raw = mapping.map(ratios[0], ratios[1], *(head_raw or (None, None)))
        self.screen.observe(t, out.horizontal_ratio, out.vertical_ratio, head_raw, s.calibration_collect_ms)

        # The factors take this frame's raw measurements: the score's own smoothing is the only one in it.
        frame = FrameState(timestamp=t, face_found=out.face_found, eyes_closed=out.face_found and out.eyes_closed,
                           looking=0.0, attentive=False, score=0.0)
        closed_ms = self.events.closed_ms(frame)
        factors = frame_factors(
            s, face_found=out.face_found, head_pose=head_raw,
            head_centre=mapping.head_centre if mapping is not None else (0.0, 0.0),
            horizontal_ratio=out.horizontal_ratio, screen=screen_raw, calibrated=mapping is not None,
            closed_ms=closed_ms, pupil_confidence=_mean_confidence(out))
        switch = None
        if closed_ms is not None and closed_ms < s.closed_grace_ms:  # the eyes stop counting as open then
            switch = (t - closed_ms + s.closed_grace_ms, 0.0)
        score = self.attention.update(factors.value, t, switch)
        frame.looking, frame.attentive, frame.score = factors.looking, self.attention.attentive, score
        signals.factors, signals.score, signals.attentive = factors, score, self.attention.attentive
        signals.events = self.events.update(frame, s)
        self.stats.update(frame, signals.events, s)
        return signals

    # Control messages ----------------------------------------------------------------------------------

    def configure(self, changes: dict[str, float | bool | str]) -> dict[str, Any]:
        """Applies a `config` message (an empty one changes nothing) and returns every setting."""
        self.attention.settings = self.settings.updated(changes)
        self._configure_filters()
        return self.settings.as_dict()

    def calibrate(self, action: str, x: float | None, y: float | None,
                  data: dict[str, Any] | None) -> dict[str, Any]:
        """Carries out a `calibration` message; raises CalibrationError."""
        return self.screen.handle(action, x, y, data, self.settings)

    def statistics(self) -> dict[str, Any]:
        return {
            "attention_score": round(self.attention.score, 4),
            "attentive": self.attention.attentive,
            **self.stats.report(self.settings),
            "stats_window_s": self.settings.stats_window_s,
            "calibration": self.screen.state,
            "calibration_error": None if self.screen.mapping is None else self.screen.mapping.error,
        }


__all__ = ["CalibrationError", "SessionSignals", "Signals"]
