"""Screen calibration: from gaze ratios and head pose to a position on the screen, normalised 0..1.

The client shows targets one after another; the session records the raw gaze ratios and head pose of every
tracked frame between a target's `point` message and the next calibration message, then fits, for each screen
axis, a second-order polynomial in the ratios plus linear head-pose terms by ridge-regularised least squares.
Targets sent with `validate` are not fitted: they measure the fit's error. Nothing is stored by the service; the
client exports and imports the calibration as JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gazepipe.signals.attention import AttentionSettings

VERSION = 1
MODEL = "poly2+head"
# Suggested targets: a 3x3 grid 10 % in from the edges, and one validation target off the grid.
DEFAULT_POINTS = [(x, y) for y in (0.1, 0.5, 0.9) for x in (0.1, 0.5, 0.9)]
DEFAULT_VALIDATION = [(0.3, 0.7)]
SETTLE_MS = 600  # suggested: show a target this long before sending its `point` message, then keep it up,
# streaming frames, for the session's `calibration_collect_ms`
ANGLE_SCALE = 10.0  # degrees per unit of a head-pose feature
LIMIT = 0.5  # reported positions are clamped to -LIMIT .. 1 + LIMIT


class CalibrationError(ValueError):
    """A calibration request that cannot be carried out; `code` goes into the error message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Target:
    kind: str  # "point" (fitted) or "validate" (measures the error)
    x: float
    y: float
    samples: list[tuple[float, float, float, float]] = field(default_factory=list)  # h, v, yaw, pitch
    first_ms: float | None = None  # the timestamp of the first frame after the target's message


@dataclass(frozen=True)
class ScreenMapping:
    """A fitted calibration: coefficients over normalised features, and how it was measured."""

    centre: tuple[float, float, float, float]  # h, v, yaw, pitch subtracted before scaling
    scale: tuple[float, float]  # h and v divided by these (the spread of the calibration points)
    coef_x: tuple[float, ...]
    coef_y: tuple[float, ...]
    error: float | None  # mean distance on the validation targets, screen units
    error_source: str  # "validation" or "leave_one_out"
    fit_error: float  # mean distance on the fitted targets themselves
    points: tuple[dict[str, float], ...] = ()
    validation: tuple[dict[str, float], ...] = ()

    @property
    def head_centre(self) -> tuple[float, float]:
        return (self.centre[2], self.centre[3])

    def features(self, h: np.ndarray, v: np.ndarray, yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
        dh = (h - self.centre[0]) / self.scale[0]
        dv = (v - self.centre[1]) / self.scale[1]
        dyaw = (yaw - self.centre[2]) / ANGLE_SCALE
        dpitch = (pitch - self.centre[3]) / ANGLE_SCALE
        return np.stack([np.ones_like(dh), dh, dv, dh * dh, dv * dv, dh * dv, dyaw, dpitch], axis=-1)

    def map(self, h: float, v: float, yaw: float | None, pitch: float | None) -> tuple[float, float]:
        """The screen position of one measurement; a missing head pose counts as the calibration's."""
        # plain floats: this runs for every frame of a calibrated session
        dh = (h - self.centre[0]) / self.scale[0]
        dv = (v - self.centre[1]) / self.scale[1]
        dyaw = 0.0 if yaw is None else (yaw - self.centre[2]) / ANGLE_SCALE
        dpitch = 0.0 if pitch is None else (pitch - self.centre[3]) / ANGLE_SCALE
        phi = (1.0, dh, dv, dh * dh, dv * dv, dh * dv, dyaw, dpitch)
        x = sum(c * f for c, f in zip(self.coef_x, phi, strict=True))
        y = sum(c * f for c, f in zip(self.coef_y, phi, strict=True))
        return (min(1 + LIMIT, max(-LIMIT, x)), min(1 + LIMIT, max(-LIMIT, y)))

    def export(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "model": MODEL,
            "centre": {"h": self.centre[0], "v": self.centre[1], "yaw": self.centre[2], "pitch": self.centre[3]},
            "scale": {"h": self.scale[0], "v": self.scale[1], "angle_deg": ANGLE_SCALE},
            "coef_x": list(self.coef_x),
            "coef_y": list(self.coef_y),
            "error": self.error,
            "error_source": self.error_source,
            "fit_error": self.fit_error,
            "points": [dict(p) for p in self.points],
            "validation": [dict(p) for p in self.validation],
        }

    @classmethod
    def from_export(cls, data: dict[str, Any]) -> ScreenMapping:
        """Rebuilds a mapping from `export()`'s JSON; raises CalibrationError when it is not one."""
        try:
            if data.get("version") != VERSION or data.get("model") != MODEL:
                raise ValueError(f"expected version {VERSION} and model {MODEL!r}")
            centre = tuple(float(data["centre"][k]) for k in ("h", "v", "yaw", "pitch"))
            scale = tuple(float(data["scale"][k]) for k in ("h", "v"))
            coef_x = tuple(float(c) for c in data["coef_x"])
            coef_y = tuple(float(c) for c in data["coef_y"])
            if len(coef_x) != 8 or len(coef_y) != 8:
                raise ValueError("coef_x and coef_y must have 8 coefficients")
            numbers = (*centre, *scale, *coef_x, *coef_y)
            if not all(math.isfinite(n) for n in numbers) or min(scale) <= 0:
                raise ValueError("coefficients must be finite and scales positive")
            error = data.get("error")
            return cls(centre=centre, scale=scale, coef_x=coef_x, coef_y=coef_y,  # type: ignore[arg-type]
                       error=None if error is None else float(error),
                       error_source=str(data.get("error_source", "imported")),
                       fit_error=float(data.get("fit_error", 0.0)),
                       points=tuple(dict(p) for p in data.get("points", [])),
                       validation=tuple(dict(p) for p in data.get("validation", [])))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CalibrationError("bad_calibration", f"not a calibration exported by this service: {exc}") from None


def _robust(samples: list[tuple[float, float, float, float]]) -> np.ndarray:
    """The samples without outliers: those farther than 3 scaled MADs (at least 0.02) from the median in h or v."""
    a = np.asarray(samples, dtype=np.float64)
    keep = np.ones(len(a), bool)
    for column in (0, 1):
        median = np.median(a[:, column])
        mad = 1.4826 * np.median(np.abs(a[:, column] - median))
        keep &= np.abs(a[:, column] - median) <= max(3.0 * mad, 0.02)
    return a[keep]


def fit(targets: list[Target], settings: AttentionSettings) -> ScreenMapping:
    """Fits the mapping on the `point` targets and measures it on the `validate` ones."""
    min_samples = int(settings.calibration_min_samples)
    points = [(t, _robust(t.samples)) for t in targets if t.kind == "point" and len(t.samples) >= min_samples]
    checks = [(t, _robust(t.samples)) for t in targets if t.kind == "validate" and len(t.samples) >= min_samples]
    if len(points) < int(settings.calibration_min_points):
        counts = [len(t.samples) for t in targets if t.kind == "point"]
        raise CalibrationError("calibration_failed",
                               f"{len(points)} usable calibration points (at least {min_samples} frames with "
                               f"pupils each), {int(settings.calibration_min_points)} needed; frames per point: "
                               f"{counts}")
    medians = np.array([np.median(s, axis=0) for _, s in points])
    centre = (float(np.mean(medians[:, 0])), float(np.mean(medians[:, 1])),
              float(np.mean(medians[:, 2])), float(np.mean(medians[:, 3])))
    scale = (max(float(np.std(medians[:, 0])), 0.01), max(float(np.std(medians[:, 1])), 0.01))
    mapping = ScreenMapping(centre=centre, scale=scale, coef_x=(), coef_y=(), error=None, error_source="",
                            fit_error=0.0)
    coef_x, coef_y = _solve(mapping, points, settings)
    mapping = _with(mapping, coef_x, coef_y)

    point_rows = [_measure(mapping, t, s) for t, s in points]
    fit_error = float(np.mean([r["error"] for r in point_rows]))
    if checks:
        validation = [_measure(mapping, t, s) for t, s in checks]
        error, source = float(np.mean([r["error"] for r in validation])), "validation"
    else:  # no validation target: each point predicted by a fit without it
        validation = []
        errors = []
        for i in range(len(points)):
            rest = points[:i] + points[i + 1:]
            loo = _with(mapping, *_solve(mapping, rest, settings))
            errors.append(_measure(loo, *points[i])["error"])
        error, source = float(np.mean(errors)), "leave_one_out"
    return ScreenMapping(centre=centre, scale=scale, coef_x=coef_x, coef_y=coef_y, error=round(error, 4),
                         error_source=source, fit_error=round(fit_error, 4), points=tuple(point_rows),
                         validation=tuple(validation))


def _with(mapping: ScreenMapping, coef_x: tuple[float, ...], coef_y: tuple[float, ...]) -> ScreenMapping:
    return ScreenMapping(centre=mapping.centre, scale=mapping.scale, coef_x=coef_x, coef_y=coef_y, error=None,
                         error_source="", fit_error=0.0)


def _solve(mapping: ScreenMapping, points: list[tuple[Target, np.ndarray]],
           settings: AttentionSettings) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Weighted ridge least squares: every target weighs the same however many frames it has; the constant
    term is not penalised; without `calibration_head` the head-pose terms are left out (zero)."""
    rows, weights, xs, ys = [], [], [], []
    for target, samples in points:
        phi = mapping.features(samples[:, 0], samples[:, 1], samples[:, 2], samples[:, 3])
        rows.append(phi)
        weights.append(np.full(len(samples), 1.0 / len(samples)))
        xs.append(np.full(len(samples), target.x))
        ys.append(np.full(len(samples), target.y))
    phi = np.concatenate(rows)
    w = np.concatenate(weights)
    used = np.ones(phi.shape[1], bool)
    if settings.calibration_head <= 0:
        used[6:] = False
    a = phi[:, used]
    penalty = np.eye(a.shape[1]) * settings.calibration_ridge
    penalty[0, 0] = 0.0
    lhs = a.T @ (a * w[:, None]) + penalty
    result = []
    for goal in (np.concatenate(xs), np.concatenate(ys)):
        coef = np.zeros(phi.shape[1])
        coef[used] = np.linalg.lstsq(lhs, a.T @ (w * goal), rcond=None)[0]
        result.append(tuple(float(c) for c in coef))
    return result[0], result[1]


def _measure(mapping: ScreenMapping, target: Target, samples: np.ndarray) -> dict[str, float]:
    """The median mapped position of a target's samples, its distance from the target and its spread."""
    mapped = np.array([mapping.map(*s) for s in samples])
    px, py = (float(v) for v in np.median(mapped, axis=0))
    spread = float(np.sqrt(np.mean(np.sum((mapped - mapped.mean(axis=0)) ** 2, axis=1))))
    h, v, yaw, pitch = (float(c) for c in np.median(samples, axis=0))
    return {"x": target.x, "y": target.y, "predicted_x": round(px, 4), "predicted_y": round(py, 4),
            "error": round(math.hypot(px - target.x, py - target.y), 4), "precision": round(spread, 4),
            "samples": len(samples), "h": round(h, 4), "v": round(v, 4), "yaw": round(yaw, 2),
            "pitch": round(pitch, 2)}


class ScreenCalibration:
    """One session's calibration: collecting targets, and the mapping in use (None until calibrated)."""

    def __init__(self) -> None:
        self.mapping: ScreenMapping | None = None
        self.collecting = False
        self.targets: list[Target] = []

    @property
    def state(self) -> str:
        return "collecting" if self.collecting else ("calibrated" if self.mapping is not None else "uncalibrated")

    def observe(self, timestamp_ms: float, h: float | None, v: float | None, head: tuple[float, float] | None,
                collect_ms: float) -> None:
        """One tracked frame's raw measurements. A target collects the frames that follow its message, for
        `collect_ms` of the client's clock from the first of them, and never past the next calibration message;
        frames without both ratios (no face, no pupil, closed eyes) add nothing."""
        if not self.collecting or not self.targets:
            return
        target = self.targets[-1]
        if target.first_ms is None:
            target.first_ms = timestamp_ms
        if h is None or v is None or timestamp_ms - target.first_ms >= collect_ms:
            return
        yaw, pitch = head if head is not None else (math.nan, math.nan)
        target.samples.append((h, v, yaw, pitch))

    def _status(self) -> dict[str, Any]:
        m = self.mapping
        return {"state": self.state, "error": None if m is None else m.error,
                "error_source": None if m is None else m.error_source}

    def handle(self, action: str, x: float | None, y: float | None, data: dict[str, Any] | None,
               settings: AttentionSettings) -> dict[str, Any]:
        """Carries out one `calibration` message and returns the reply's data."""
        if action == "start":
            self.collecting, self.targets = True, []
            return {**self._status(), "points": [list(p) for p in DEFAULT_POINTS],
                    "validation_points": [list(p) for p in DEFAULT_VALIDATION], "settle_ms": SETTLE_MS,
                    "collect_ms": settings.calibration_collect_ms}
        if action in ("point", "validate"):
            if not self.collecting:
                raise CalibrationError("bad_calibration", f"'{action}' needs a calibration started with 'start'")
            if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
                raise CalibrationError("bad_calibration", f"'{action}' needs the target's x and y (0..1)")
            previous = self._close_previous()
            self.targets.append(Target(action, float(x), float(y)))
            return {**self._status(), "target": {"kind": action, "x": x, "y": y}, "previous": previous}
        if action == "finish":
            if not self.collecting:
                raise CalibrationError("bad_calibration", "'finish' needs a calibration started with 'start'")
            previous = self._close_previous()
            targets, self.collecting, self.targets = self.targets, False, []
            self.mapping = fit(_with_pose_filled(targets), settings)
            return {**self._status(), "previous": previous, "calibration": self.mapping.export()}
        if action == "reset":
            self.mapping, self.collecting, self.targets = None, False, []
            return self._status()
        if action == "export":
            return {**self._status(), "calibration": None if self.mapping is None else self.mapping.export()}
        if action == "import":
            if not isinstance(data, dict):
                raise CalibrationError("bad_calibration", "'import' needs the exported calibration in 'data'")
            self.mapping, self.collecting, self.targets = ScreenMapping.from_export(data), False, []
            return {**self._status(), "calibration": self.mapping.export()}
        raise CalibrationError("bad_calibration", f"unknown calibration action {action!r}")

    def _close_previous(self) -> dict[str, Any] | None:
        if not self.targets:
            return None
        t = self.targets[-1]
        return {"kind": t.kind, "x": t.x, "y": t.y, "samples": len(t.samples)}


def _with_pose_filled(targets: list[Target]) -> list[Target]:
    """Frames without a head pose take the median pose of all frames (or 0, 0 when none had one)."""
    poses = np.array([(s[2], s[3]) for t in targets for s in t.samples], dtype=np.float64).reshape(-1, 2)
    fill = [float(np.nanmedian(poses[:, i])) if np.isfinite(poses[:, i]).any() else 0.0 for i in (0, 1)]
    out = []
    for t in targets:
        samples = [(h, v, fill[0] if math.isnan(yaw) else yaw, fill[1] if math.isnan(pitch) else pitch)
                   for h, v, yaw, pitch in t.samples]
        out.append(Target(t.kind, t.x, t.y, samples))
    return out
