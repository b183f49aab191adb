"""Events and statistics of one session, from its frames in the order the client sent them.

Every time is the client's timestamp in milliseconds. A frame's state (face present, eyes closed, attentive)
holds from its timestamp until the next frame's, for at most `max_gap_ms`: that is the time the statistics add up.
Episodes (blink, look_away, face absence) start at the first frame that shows them and end at the first frame
that no longer does; their event comes on the result of that ending frame.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from gazepipe.signals.attention import AttentionSettings

Event = dict[str, object]


def _round(value: float) -> float:
    return round(value, 3)


@dataclass
class FrameState:
    """What events and statistics need of one frame."""

    timestamp: float
    face_found: bool
    eyes_closed: bool
    looking: float  # head factor x gaze factor
    attentive: bool
    score: float


class EventTracker:
    """Turns frames into `blink`, `eyes_closed`, `look_away`, `face_lost`, `face_found` and `attention_changed`."""

    def __init__(self) -> None:
        self.face_seen = False
        self.missing_since: float | None = None  # first frame without the face, while it is missing
        self.last_face: float | None = None  # the latest frame with the face
        self.lost_reported = False
        self.closed_since: float | None = None
        self.away_since: float | None = None
        self.attentive = False

    def closed_ms(self, frame: FrameState) -> float | None:
        """How long the eyes have been closed as of this frame (before `update` sees it); None when open."""
        if not frame.face_found or not frame.eyes_closed:
            return None
        return 0.0 if self.closed_since is None else max(0.0, frame.timestamp - self.closed_since)

    def update(self, frame: FrameState, settings: AttentionSettings) -> list[Event]:
        events: list[Event] = []
        t = frame.timestamp
        if frame.face_found:
            if self.missing_since is not None and self.lost_reported:
                events.append({"type": "face_found", "start": self.missing_since, "end": t,
                               "duration": _round(t - self.missing_since)})
            elif not self.face_seen:
                events.append({"type": "face_found", "start": None, "end": t, "duration": None})
            self.face_seen, self.missing_since, self.lost_reported, self.last_face = True, None, False, t
            events.extend(self._eyes(frame, settings))
            events.extend(self._gaze(frame, settings))
        else:
            self.closed_since = None  # the eyes cannot be seen: a closure in progress is abandoned
            if self.away_since is not None:
                events.append(self._look_away_end(t, settings, ended_by="face_lost"))
            if self.face_seen and self.missing_since is None:
                self.missing_since = t
            if (self.missing_since is not None and not self.lost_reported
                    and t - self.missing_since >= settings.face_lost_min_ms):
                events.append({"type": "face_lost", "start": self.missing_since, "last_seen": self.last_face})
                self.lost_reported = True
        if frame.attentive != self.attentive:
            self.attentive = frame.attentive
            events.append({"type": "attention_changed", "attentive": frame.attentive,
                           "score": round(frame.score, 4)})
        return [e for e in events if e]

    def _eyes(self, frame: FrameState, settings: AttentionSettings) -> list[Event]:
        t = frame.timestamp
        if frame.eyes_closed:
            if self.closed_since is None:
                self.closed_since = t
            return []
        if self.closed_since is None:
            return []
        start, self.closed_since = self.closed_since, None
        duration = t - start
        if duration < settings.blink_min_ms:
            return []
        kind = "blink" if duration <= settings.blink_max_ms else "eyes_closed"
        return [{"type": kind, "start": start, "end": t, "duration": _round(duration)}]

    def _gaze(self, frame: FrameState, settings: AttentionSettings) -> list[Event]:
        if frame.eyes_closed:
            return []  # closed eyes say nothing about where the user looks: the look-away state holds
        away = frame.looking < settings.look_away_below
        if away and self.away_since is None:
            self.away_since = frame.timestamp
        elif not away and self.away_since is not None:
            return [self._look_away_end(frame.timestamp, settings)]
        return []

    def _look_away_end(self, t: float, settings: AttentionSettings, ended_by: str = "look_back") -> Event:
        assert self.away_since is not None
        start, self.away_since = self.away_since, None
        duration = t - start
        if duration < settings.look_away_min_ms:
            return {}
        return {"type": "look_away", "start": start, "end": t, "duration": _round(duration), "ended_by": ended_by}


class Statistics:
    """Session totals and windowed blink rate, blink duration and PERCLOS."""

    def __init__(self) -> None:
        self.previous: FrameState | None = None
        self.observed_ms = 0.0
        self.face_ms = 0.0
        self.closed_ms = 0.0
        self.attentive_ms = 0.0
        self.blinks = 0
        self.blink_ms_total = 0.0
        self.long_closures = 0
        self.look_aways = 0
        self.look_away_ms = 0.0
        self.face_losses = 0
        # (start, end, face present, eyes closed) of held frame states, and (end, duration) of blinks, in the window
        self._segments: deque[tuple[float, float, bool, bool]] = deque()
        self._blinks: deque[tuple[float, float]] = deque()

    def update(self, frame: FrameState, events: list[Event], settings: AttentionSettings) -> None:
        previous = self.previous
        if previous is not None and frame.timestamp > previous.timestamp:
            held = min(frame.timestamp - previous.timestamp, settings.max_gap_ms)
            self.observed_ms += held
            face = previous.face_found
            closed = face and previous.eyes_closed
            self.face_ms += held if face else 0.0
            self.closed_ms += held if closed else 0.0
            self.attentive_ms += held if previous.attentive else 0.0
            self._segments.append((previous.timestamp, previous.timestamp + held, face, closed))
        if previous is None or frame.timestamp >= previous.timestamp:
            self.previous = frame
        for event in events:
            kind = event["type"]
            if kind == "blink":
                duration = float(event["duration"])  # type: ignore[arg-type]
                self.blinks += 1
                self.blink_ms_total += duration
                self._blinks.append((frame.timestamp, duration))
            elif kind == "eyes_closed":
                self.long_closures += 1
            elif kind == "look_away":
                self.look_aways += 1
                self.look_away_ms += float(event["duration"])  # type: ignore[arg-type]
            elif kind == "face_lost":
                self.face_losses += 1
        self._prune(settings)

    def _prune(self, settings: AttentionSettings) -> None:
        if self.previous is None:
            return
        since = self.previous.timestamp - settings.stats_window_s * 1000.0
        while self._segments and self._segments[0][1] <= since:
            self._segments.popleft()
        while self._blinks and self._blinks[0][0] < since:
            self._blinks.popleft()

    def report(self, settings: AttentionSettings) -> dict[str, object]:
        self._prune(settings)
        since = (self.previous.timestamp if self.previous else 0.0) - settings.stats_window_s * 1000.0
        window_ms = face_ms = closed_ms = 0.0
        for start, end, face, closed in self._segments:
            held = end - max(start, since)
            window_ms += held
            face_ms += held if face else 0.0
            closed_ms += held if closed else 0.0
        blinks = len(self._blinks)
        return {
            "observed_s": _round(self.observed_ms / 1000.0),
            "face_present_s": _round(self.face_ms / 1000.0),
            "attentive_s": _round(self.attentive_ms / 1000.0),
            "attentive_share": _round(self.attentive_ms / self.observed_ms) if self.observed_ms else None,
            "eyes_closed_s": _round(self.closed_ms / 1000.0),
            "blinks_total": self.blinks,
            "mean_blink_ms_total": _round(self.blink_ms_total / self.blinks) if self.blinks else None,
            "eyes_closed_total": self.long_closures,
            "look_aways_total": self.look_aways,
            "look_away_s": _round(self.look_away_ms / 1000.0),
            "face_lost_total": self.face_losses,
            "window_s": _round(window_ms / 1000.0),
            "window_face_present_s": _round(face_ms / 1000.0),
            "blinks": blinks,
            "blinks_per_minute": _round(blinks / (face_ms / 60000.0)) if face_ms > 0 else None,
            "mean_blink_ms": _round(sum(d for _, d in self._blinks) / blinks) if blinks else None,
            "perclos": _round(closed_ms / face_ms) if face_ms > 0 else None,
        }
