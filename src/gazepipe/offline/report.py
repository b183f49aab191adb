"""REPORT.html: one self-contained page per run, its plots embedded as PNG data (no face image, nothing fetched).

Needs matplotlib (`pip install 'gazepipe[analyze]'`), imported only when a report is asked for.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from gazepipe import __version__
from gazepipe.protocol import GazeResult, ServerMessage

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_NAN = float("nan")


def _value(value: float | None) -> float:
    return _NAN if value is None else value


@dataclass
class FileSeries:
    """What the report plots of one file, kept as plain numbers (never a frame)."""

    file: str
    time_s: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    horizontal: list[float] = field(default_factory=list)
    vertical: list[float] = field(default_factory=list)
    horizontal_smoothed: list[float] = field(default_factory=list)
    vertical_smoothed: list[float] = field(default_factory=list)
    closed: list[bool] = field(default_factory=list)
    face: list[bool] = field(default_factory=list)
    screen: list[tuple[float, float]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def add(self, message: ServerMessage) -> None:
        if not isinstance(message, GazeResult) or not message.frame_processed:
            return
        self.time_s.append(message.timestamp / 1000.0)
        self.score.append(message.attention_score)
        self.horizontal.append(_value(message.horizontal_ratio))
        self.vertical.append(_value(message.vertical_ratio))
        self.horizontal_smoothed.append(_value(message.horizontal_ratio_smoothed))
        self.vertical_smoothed.append(_value(message.vertical_ratio_smoothed))
        self.closed.append(message.face_found and message.is_blinking)
        self.face.append(message.face_found)
        if message.screen_x is not None and message.screen_y is not None:
            self.screen.append((message.screen_x, message.screen_y))
        self.events.extend(message.events)


def _spans(events: list[dict[str, Any]], kind: str) -> list[tuple[float, float]]:
    """(start, width) in seconds of the events of `kind` that have both ends."""
    return [(float(e["start"]) / 1000.0, (float(e["end"]) - float(e["start"])) / 1000.0)
            for e in events if e.get("type") == kind and e.get("start") is not None and e.get("end") is not None]


def _runs(time_s: list[float], flags: list[bool]) -> list[tuple[float, float]]:
    """(start, width) of the runs of frames where `flags` holds, each frame held until the next."""
    runs: list[tuple[float, float]] = []
    start: float | None = None
    for i, flag in enumerate(flags):
        if flag and start is None:
            start = time_s[i]
        if start is not None and (not flag or i == len(flags) - 1):
            end = time_s[i] if not flag else time_s[i] + (time_s[i] - time_s[i - 1] if i else 0.0)
            runs.append((start, max(end - start, 1e-3)))
            start = None
    return runs


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _shade_events(axes: Axes, series: FileSeries) -> None:
    for start, width in _spans(series.events, "look_away"):
        axes.axvspan(start, start + width, color="tab:orange", alpha=0.25, lw=0)
    for start, width in _runs(series.time_s, [not f for f in series.face]):
        axes.axvspan(start, start + width, color="grey", alpha=0.3, lw=0)
    for start, _width in _spans(series.events, "blink") + _spans(series.events, "eyes_closed"):
        axes.axvline(start, color="tab:purple", alpha=0.5, lw=0.8, ymax=0.08)


def _figures(series: FileSeries) -> list[tuple[str, str]]:
    """(title, base64 PNG) of each plot of one file."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    t = series.time_s
    span = (min(0.0, t[0]), t[-1])  # every plot on the same time axis, from the start of the recording
    plots: list[tuple[str, str]] = []

    figure = Figure(figsize=(10, 2.8))
    axes = figure.subplots()
    _shade_events(axes, series)
    axes.plot(t, series.score, color="tab:blue", lw=1.2, label="attention score")
    axes.set(ylim=(0, 1.02), xlim=span, xlabel="time (s)", ylabel="score")
    axes.legend(handles=[axes.lines[-1], Patch(color="tab:orange", alpha=0.25, label="look-away"),
                         Patch(color="grey", alpha=0.3, label="no face"),
                         Patch(color="tab:purple", alpha=0.5, label="blink / eyes closed")],
                loc="lower left", fontsize=8, ncols=4)
    plots.append(("Attention over time, with events", _png(figure)))

    figure = Figure(figsize=(10, 3.2))
    top, bottom = figure.subplots(2, 1, sharex=True)
    for axes, raw, smooth, name in ((top, series.horizontal, series.horizontal_smoothed, "horizontal"),
                                    (bottom, series.vertical, series.vertical_smoothed, "vertical")):
        axes.plot(t, raw, color="lightgrey", lw=0.8, label="raw")
        axes.plot(t, smooth, color="tab:green", lw=1.2, label="smoothed")
        axes.set(ylim=(0, 1), xlim=span, ylabel=f"{name} ratio")
        axes.legend(loc="upper right", fontsize=8, ncols=2)
    bottom.set_xlabel("time (s)")
    plots.append(("Gaze ratios (0 image-left / upper lid .. 1 image-right / lower lid)", _png(figure)))

    figure = Figure(figsize=(10, 1.6))
    axes = figure.subplots()
    axes.broken_barh(_runs(t, series.closed), (0.55, 0.4), color="tab:purple", label="eyes closed (frames)")
    blinks = [s for s, _ in _spans(series.events, "blink")]
    closures = [s for s, _ in _spans(series.events, "eyes_closed")]
    axes.eventplot([blinks, closures], lineoffsets=[0.25, 0.25], linelengths=0.35,
                   colors=["tab:red", "black"])
    axes.set(ylim=(0, 1), yticks=[0.25, 0.75], yticklabels=["events", "frames"], xlabel="time (s)", xlim=span)
    axes.legend(handles=[Patch(color="tab:purple", label="eyes closed"), Patch(color="tab:red", label="blink"),
                         Patch(color="black", label="long closure")], loc="upper right", fontsize=8, ncols=3)
    plots.append(("Blink raster", _png(figure)))

    if series.screen:
        figure = Figure(figsize=(5.5, 3.6))
        axes = figure.subplots()
        xs, ys = zip(*series.screen, strict=True)
        _counts, _x, _y, image = axes.hist2d(xs, ys, bins=(32, 18), range=((0, 1), (0, 1)), cmap="magma")
        axes.set(xlabel="screen x (0 left .. 1 right)", ylabel="screen y (0 top .. 1 bottom)")
        axes.invert_yaxis()
        figure.colorbar(image, ax=axes, label="frames")
        plots.append(("Screen gaze heat map", _png(figure)))
    return plots


_STATISTICS = (
    ("observed_s", "observed (s)"), ("face_present_s", "time with a face (s)"),
    ("attentive_share", "attentive share"), ("blinks_total", "blinks"), ("blinks_per_minute", "blinks per minute"),
    ("mean_blink_ms", "mean blink (ms)"), ("perclos", "PERCLOS"), ("eyes_closed_total", "long eye closures"),
    ("look_aways_total", "look-aways"), ("look_away_s", "time looking away (s)"),
    ("face_lost_total", "face lost"),
)

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1em; margin: 1.2em 0 0.3em; } img { max-width: 100%; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; border-bottom: 1px solid #eee; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } .error { color: #a00; }
"""


def _number(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def _section(series: FileSeries) -> str:
    summary = series.summary
    stats = summary.get("statistics") or {}
    parts = [f'<h2 title="{html.escape(series.file)}">{html.escape(PurePath(series.file).name)}</h2>']
    facts = f"{series.file}: {summary.get('frames', 0)} frames, {summary.get('frames_tracked', 0)} tracked"
    if summary.get("duration_s") is not None:
        facts += f", {summary['duration_s']:.1f} s of video"
    parts.append(f"<p>{html.escape(facts)}</p>")
    if summary.get("error"):
        parts.append(f'<p class="error">{html.escape(str(summary["error"]))}</p>')
    if len(series.time_s) >= 2:
        for title, png in _figures(series):
            parts.append(f'<h3>{html.escape(title)}</h3><img alt="{html.escape(title)}" '
                         f'src="data:image/png;base64,{png}">')
    rows = "".join(f'<tr><th>{label}</th><td class="num">{_number(stats.get(key))}</td></tr>'
                   for key, label in _STATISTICS)
    parts.append(f"<h3>Statistics</h3><table>{rows}</table>")
    return "\n".join(parts)


def render(files: list[FileSeries], title: str = "gazepipe analysis") -> str:
    sections = "\n".join(_section(series) for series in files)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>gazepipe {__version__}: {len(files)} file(s). Shaded: look-aways (orange), no face (grey).</p>"
            f"{sections}</body></html>\n")
