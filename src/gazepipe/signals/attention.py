"""The attention model: what `attention_score`, `attentive` and the gaze direction flags mean.

Per frame, attention is the product of four factors in 0..1 (docs/attention.md, "What the attention score means"):
face present, head within a forward cone, gaze on the screen (calibrated) or inside the centre band
(uncalibrated), eyes open. The score is that value smoothed with a time constant in seconds of the client's clock,
so it behaves the same at 5 and at 30 frames per second; `attentive` follows the score with hysteresis.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

# Settings that are counts, not measures: given as numbers, used as integers.
_INTEGER_SETTINGS = {"calibration_min_samples", "calibration_min_points"}


@dataclass(frozen=True)
class AttentionSettings:
    """Every per-session threshold; a client may change any of them with a `config` message. Times are in
    milliseconds of the client's clock unless the name says seconds; angles in degrees."""

    # The score
    time_constant_s: float = 1.0  # of the exponential smoothing of the per-frame value
    attentive_on: float = 0.6  # `attentive` turns on when the score reaches this ...
    attentive_off: float = 0.4  # ... and off when it falls below this
    max_gap_ms: float = 1000.0  # a frame's state counts until the next frame, but for at most this long
    # Head: a forward cone
    yaw_limit_deg: float = 30.0  # |yaw - centre| beyond this fades the head factor out ...
    pitch_limit_deg: float = 25.0  # ... likewise |pitch - centre| ...
    head_falloff_deg: float = 15.0  # ... over this many more degrees
    # Gaze, uncalibrated: the horizontal ratio's centre band
    center_band: float = 0.35  # |horizontal_ratio - 0.5| beyond this fades the gaze factor out ...
    center_falloff: float = 0.15  # ... over this much more
    # Gaze, calibrated: the screen
    screen_margin: float = 0.1  # screen_x or screen_y this far outside 0..1 (screen units) still counts ...
    screen_falloff: float = 0.15  # ... and the gaze factor fades out over this much more
    # Gaze, either way: an unsure pupil is weaker evidence of looking away
    gaze_sure_from: float = 0.5  # pupil confidence (the eyes' mean) from which the gaze factor counts in full
    # Eyes
    closed_grace_ms: float = 300.0  # eyes closed for less than this (a blink) still count as open
    # Gaze direction flags (GazeTracking's convention: ratios are along the image)
    right_threshold: float = 0.35  # horizontal_ratio <= this: is_right
    left_threshold: float = 0.65  # horizontal_ratio >= this: is_left
    # Events
    blink_min_ms: float = 0.0  # closures shorter than this are ignored
    blink_max_ms: float = 500.0  # closures longer than this are reported as `eyes_closed`, not `blink`
    look_away_below: float = 0.5  # head factor x gaze factor below this is looking away ...
    look_away_min_ms: float = 300.0  # ... reported as `look_away` when it lasts at least this long
    face_lost_min_ms: float = 0.0  # `face_lost` once the face has been missing for this long (0: first frame)
    # Statistics
    stats_window_s: float = 60.0  # blinks per minute, mean blink duration and PERCLOS cover this much time
    # Smoothing (One Euro filter); beta is per unit of the value per second
    ratio_min_cutoff_hz: float = 1.0
    ratio_beta: float = 3.0
    pupil_min_cutoff_hz: float = 1.0
    pupil_beta: float = 0.1  # pupils are in pixels
    head_min_cutoff_hz: float = 1.0
    head_beta: float = 0.05  # head angles are in degrees
    d_cutoff_hz: float = 1.0  # smoothing of the speed estimate, for every filter
    # Screen calibration
    calibration_collect_ms: float = 1000.0  # a target collects the frames of this long after its message
    calibration_min_samples: float = 3  # frames a calibration point needs to be used
    calibration_min_points: float = 5  # usable points a fit needs
    calibration_ridge: float = 0.01  # ridge penalty of the fit: keeps terms the points do not determine small
    calibration_head: float = 1.0  # 1: the fit uses head yaw and pitch; 0: the gaze ratios only

    def updated(self, changes: dict[str, float | bool | str]) -> AttentionSettings:
        """A copy with `changes` applied; unknown names, non-numbers and inconsistent values raise ValueError."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)}")
        values: dict[str, float] = {}
        for name, value in changes.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"setting {name} must be a finite number")
            if value < 0:
                raise ValueError(f"setting {name} must not be negative")
            values[name] = float(round(value)) if name in _INTEGER_SETTINGS else float(value)
        new = replace(self, **values)
        new.check()
        return new

    def check(self) -> None:
        if self.attentive_off > self.attentive_on:
            raise ValueError("attentive_off must not exceed attentive_on")
        if self.right_threshold > self.left_threshold:
            raise ValueError("right_threshold must not exceed left_threshold")
        if self.stats_window_s <= 0:
            raise ValueError("stats_window_s must be positive")
        if self.calibration_min_samples < 1 or self.calibration_min_points < 3:
            raise ValueError("calibration_min_samples must be at least 1 and calibration_min_points at least 3")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def ramp(excess: float, falloff: float) -> float:
    """1 inside the limit (excess <= 0), falling linearly to 0 over `falloff` past it."""
    if excess <= 0:
        return 1.0
    return max(0.0, 1.0 - excess / falloff) if falloff > 0 else 0.0


@dataclass(frozen=True)
class Factors:
    """One frame's factors; the per-frame attention value is their product."""

    face: float
    head: float
    gaze: float
    eyes: float

    @property
    def value(self) -> float:
        return self.face * self.head * self.gaze * self.eyes

    @property
    def looking(self) -> float:
        """Head and gaze only: what `look_away` watches."""
        return self.head * self.gaze


NO_FACE = Factors(0.0, 0.0, 0.0, 0.0)


def frame_factors(
    settings: AttentionSettings,
    *,
    face_found: bool,
    head_pose: tuple[float, float] | None,
    head_centre: tuple[float, float] = (0.0, 0.0),
    horizontal_ratio: float | None,
    screen: tuple[float, float] | None,
    calibrated: bool,
    closed_ms: float | None,
    pupil_confidence: float = 1.0,
) -> Factors:
    """The factors of one frame.

    `head_pose` is (yaw, pitch) in degrees, `head_centre` the pose that counts as facing the screen (the one
    held during calibration, else 0, 0). Uncalibrated, the gaze factor watches `horizontal_ratio`; calibrated, the
    `screen` position. A factor whose input is missing on this frame (no head pose, no pupil) is 1: no evidence of
    looking away; likewise, the gaze factor's distance from 1 is scaled by `pupil_confidence` over
    `gaze_sure_from` (at most 1), so that a frame whose pupil cues disagree counts as weak evidence. `closed_ms`
    is how long the eyes have been closed as of this frame (None: open)."""
    if not face_found:
        return NO_FACE
    head = 1.0
    if head_pose is not None:
        yaw, pitch = head_pose
        head = (ramp(abs(yaw - head_centre[0]) - settings.yaw_limit_deg, settings.head_falloff_deg)
                * ramp(abs(pitch - head_centre[1]) - settings.pitch_limit_deg, settings.head_falloff_deg))
    gaze = 1.0
    if calibrated:
        if screen is not None:
            outside = max(_outside(screen[0]), _outside(screen[1]))
            gaze = ramp(outside - settings.screen_margin, settings.screen_falloff)
    elif horizontal_ratio is not None:
        gaze = ramp(abs(horizontal_ratio - 0.5) - settings.center_band, settings.center_falloff)
    if gaze < 1.0 and pupil_confidence < settings.gaze_sure_from:
        gaze = 1.0 - (1.0 - gaze) * pupil_confidence / settings.gaze_sure_from
    eyes = 0.0 if closed_ms is not None and closed_ms >= settings.closed_grace_ms else 1.0
    return Factors(1.0, head, gaze, eyes)


def _outside(position: float) -> float:
    """How far a normalised screen coordinate lies outside 0..1."""
    return max(0.0, -position, position - 1.0)


class AttentionModel:
    """One session's smoothed score and hysteresis state.

    The per-frame value holds from its frame's timestamp until the next frame's (for at most `max_gap_ms`); the
    score is that step signal through a first-order low-pass filter with time constant `time_constant_s`,
    integrated exactly, so the frame rate does not change it. A frame may say that its value changes at a known
    time before the next frame (`switch`): eyes that stay closed stop counting as open `closed_grace_ms` after
    they closed, whenever the next frame comes."""

    def __init__(self, settings: AttentionSettings | None = None) -> None:
        self.settings = settings or AttentionSettings()
        self.score = 0.0
        self.attentive = False
        self.value: float | None = None  # the latest frame's value
        self._switch: tuple[float, float] | None = None  # (time, value from then on) of the latest frame
        self._last_timestamp_ms: float | None = None

    def _decay(self, target: float, dt_ms: float) -> None:
        tau = self.settings.time_constant_s
        alpha = 1.0 - math.exp(-dt_ms / 1000.0 / tau) if tau > 0 else 1.0
        self.score += alpha * (target - self.score)

    def update(self, value: float, timestamp_ms: float, switch: tuple[float, float] | None = None) -> float:
        """Folds in one frame's value at the client's timestamp; returns the smoothed score. `switch` is (time,
        value): this frame's value gives way to another at that time if no frame comes before."""
        s = self.settings
        if self.value is None or self._last_timestamp_ms is None:
            self.score = value
        elif timestamp_ms > self._last_timestamp_ms:
            start = self._last_timestamp_ms
            end = start + min(timestamp_ms - start, s.max_gap_ms)
            held = self.value
            if self._switch is not None and self._switch[0] < end:
                at = max(start, self._switch[0])
                self._decay(held, at - start)
                start, held = at, self._switch[1]
            self._decay(held, end - start)
            if s.time_constant_s <= 0:
                self.score = value
        self.value, self._switch = value, switch
        if self._last_timestamp_ms is None or timestamp_ms > self._last_timestamp_ms:
            self._last_timestamp_ms = timestamp_ms
        if self.attentive and self.score < s.attentive_off:
            self.attentive = False
        elif not self.attentive and self.score >= s.attentive_on:
            self.attentive = True
        return self.score


def gaze_direction(horizontal_ratio: float | None, settings: AttentionSettings) -> tuple[bool, bool, bool]:
    """(is_left, is_right, is_center); all False when no pupil was found."""
    if horizontal_ratio is None:
        return (False, False, False)
    is_right = horizontal_ratio <= settings.right_threshold
    is_left = horizontal_ratio >= settings.left_threshold
    return (is_left, is_right, not (is_left or is_right))
