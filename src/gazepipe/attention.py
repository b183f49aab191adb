"""The attention model: what `attention_score`, `attentive` and the gaze direction flags mean.

Per frame, attention is the product of four factors in 0..1 (README, "What the attention score means"):
face present, head facing the screen, gaze inside the centre band, eyes open. The score is that value smoothed
with a time constant in seconds, so it behaves the same at 5 and at 30 frames per second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from gazepipe.tracking.types import TrackOutput


@dataclass(frozen=True)
class AttentionSettings:
    """Per-session thresholds; a client may change any of them with a `config` message."""

    time_constant_s: float = 1.0  # smoothing of the score
    yaw_limit_deg: float = 30.0  # head turned further than this counts as looking away
    pitch_limit_deg: float = 25.0
    center_band: float = 0.35  # |horizontal_ratio - 0.5| beyond this fades attention out ...
    center_falloff: float = 0.15  # ... over this much more
    right_threshold: float = 0.35  # horizontal_ratio <= this: is_right (GazeTracking's convention)
    left_threshold: float = 0.65  # horizontal_ratio >= this: is_left
    attentive_on: float = 0.6  # hysteresis of the boolean `attentive`
    attentive_off: float = 0.4

    def updated(self, changes: dict[str, float | bool | str]) -> AttentionSettings:
        """A copy with `changes` applied; unknown names or non-numbers raise ValueError."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)}")
        values: dict[str, float] = {}
        for name, value in changes.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"setting {name} must be a finite number")
            values[name] = float(value)
        return replace(self, **values)


def _ramp(excess: float, falloff: float) -> float:
    """1 inside the limit, falling linearly to 0 over `falloff` past it."""
    if excess <= 0:
        return 1.0
    return max(0.0, 1.0 - excess / falloff) if falloff > 0 else 0.0


def frame_attention(out: TrackOutput, settings: AttentionSettings) -> float:
    """This frame's attention in 0..1, before smoothing."""
    if not out.face_found:
        return 0.0
    head = 1.0
    if out.head_pose is not None:
        yaw, pitch, _roll = out.head_pose
        head = _ramp(abs(yaw) - settings.yaw_limit_deg, 15.0) * _ramp(abs(pitch) - settings.pitch_limit_deg, 15.0)
    gaze = 1.0
    if out.horizontal_ratio is not None:
        gaze = _ramp(abs(out.horizontal_ratio - 0.5) - settings.center_band, settings.center_falloff)
    eyes = 0.0 if out.eyes_closed else 1.0
    return head * gaze * eyes


class AttentionModel:
    """One session's smoothed score and hysteresis state."""

    def __init__(self, settings: AttentionSettings | None = None) -> None:
        self.settings = settings or AttentionSettings()
        self.score = 0.0
        self.attentive = False
        self._last_timestamp_ms: float | None = None

    def update(self, out: TrackOutput, timestamp_ms: float) -> float:
        """Folds in one frame at the client's timestamp; returns the smoothed score."""
        value = frame_attention(out, self.settings)
        if self._last_timestamp_ms is None:
            self.score = value
        else:
            dt = max(0.0, (timestamp_ms - self._last_timestamp_ms) / 1000.0)
            alpha = 1.0 - math.exp(-dt / self.settings.time_constant_s) if self.settings.time_constant_s > 0 else 1.0
            self.score += alpha * (value - self.score)
        self._last_timestamp_ms = timestamp_ms
        if self.attentive and self.score < self.settings.attentive_off:
            self.attentive = False
        elif not self.attentive and self.score >= self.settings.attentive_on:
            self.attentive = True
        return self.score


def gaze_direction(horizontal_ratio: float | None, settings: AttentionSettings) -> tuple[bool, bool, bool]:
    """(is_left, is_right, is_center); all False when no pupil was found."""
    if horizontal_ratio is None:
        return (False, False, False)
    is_right = horizontal_ratio <= settings.right_threshold
    is_left = horizontal_ratio >= settings.left_threshold
    return (is_left, is_right, not (is_left or is_right))
