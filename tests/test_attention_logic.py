"""The attention model's pure logic: filters, the score's smoothing, event state machines, statistics, the fit."""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import pytest

from gazepipe.front.jpeg import JpegPlan
from gazepipe.front.session import Frame, Session
from gazepipe.protocol import GazeResult, ReplyMessage, server_json_decoder
from gazepipe.signals.attention import AttentionModel, AttentionSettings, frame_factors
from gazepipe.signals.events import EventTracker, FrameState, Statistics
from gazepipe.signals.screen import CalibrationError, ScreenCalibration, ScreenMapping
from gazepipe.signals.session_signals import SessionSignals
from gazepipe.signals.smoothing import OneEuroFilter
from gazepipe.tracking.types import TrackOutput

SETTINGS = AttentionSettings()


def times(fps: float, seconds: float) -> list[float]:
    return [1000.0 + n * 1000.0 / fps for n in range(round(seconds * fps) + 1)]


# Smoothing ------------------------------------------------------------------------------------------------

def test_one_euro_removes_jitter_at_rest_and_follows_a_step() -> None:
    rng = np.random.default_rng(1)
    f = OneEuroFilter(min_cutoff_hz=1.0, beta=3.0)
    ts = times(30, 4)
    noisy = [0.5 + rng.normal(0, 0.02) if t < 3000 else 0.8 + rng.normal(0, 0.02) for t in ts]
    out = [f(x, t) for x, t in zip(noisy, ts, strict=True)]
    rest_in = np.std(noisy[15:58])
    rest_out = np.std(out[15:58])
    assert rest_out < rest_in / 2.5, (rest_in, rest_out)
    assert abs(out[-1] - 0.8) < 0.03  # a saccade's target is reached within a second


def test_one_euro_depends_on_time_not_frames() -> None:
    def run(fps: float) -> float:
        f = OneEuroFilter(min_cutoff_hz=1.0, beta=0.0)
        value = 0.0
        for t in times(fps, 1.0):
            value = f(0.0 if t < 1000.0 + 1 else 1.0, t)
        return value

    assert abs(run(5) - run(30)) < 0.06
    f = OneEuroFilter()
    assert f(1.0, 10.0) == 1.0 and f(5.0, 10.0) == 1.0  # no time passed: nothing moves


# The score ------------------------------------------------------------------------------------------------

def test_score_time_constant_and_frame_rate_independence() -> None:
    """A step from 1 to 0 at t = 2 s: after one time constant the score is e^-1, at 5 and at 30 FPS alike."""
    scores = {}
    for fps in (5, 30):
        model = AttentionModel(AttentionSettings(time_constant_s=1.0))
        scores[fps] = {t: model.update(1.0 if t < 3000 else 0.0, t) for t in times(fps, 6)}
    assert abs(scores[30][4000.0] - math.exp(-1)) < 1e-9
    for t, score in scores[5].items():
        assert abs(score - scores[30][t]) < 1e-9, t


def test_hysteresis() -> None:
    model = AttentionModel(AttentionSettings(time_constant_s=0.0))
    states = [(model.update(v, t), model.attentive)[1]
              for t, v in zip(range(0, 700, 100), [0.5, 0.65, 0.5, 0.41, 0.39, 0.59, 0.6], strict=True)]
    assert states == [False, True, True, True, False, False, True]


def test_factors() -> None:
    s = AttentionSettings()
    ok = frame_factors(s, face_found=True, head_pose=(0.0, 0.0), horizontal_ratio=0.5, screen=None,
                       calibrated=False, closed_ms=None)
    assert ok.value == 1.0
    turned = frame_factors(s, face_found=True, head_pose=(37.5, 0.0), horizontal_ratio=0.5, screen=None,
                           calibrated=False, closed_ms=None)
    assert turned.head == pytest.approx(0.5)
    side = frame_factors(s, face_found=True, head_pose=None, horizontal_ratio=0.95, screen=None,
                         calibrated=False, closed_ms=None)
    assert side.gaze == pytest.approx(1 / 3)
    blink = frame_factors(s, face_found=True, head_pose=None, horizontal_ratio=None, screen=None,
                          calibrated=False, closed_ms=200.0)
    asleep = frame_factors(s, face_found=True, head_pose=None, horizontal_ratio=None, screen=None,
                           calibrated=False, closed_ms=300.0)
    assert blink.value == 1.0 and asleep.value == 0.0
    off_screen = frame_factors(s, face_found=True, head_pose=(0.0, 0.0), horizontal_ratio=0.5,
                               screen=(1.175, 0.5), calibrated=True, closed_ms=None)
    assert off_screen.gaze == pytest.approx(0.5)
    assert frame_factors(s, face_found=False, head_pose=None, horizontal_ratio=None, screen=None,
                         calibrated=False, closed_ms=None).value == 0.0
    unsure = frame_factors(s, face_found=True, head_pose=None, horizontal_ratio=0.95, screen=None,
                           calibrated=False, closed_ms=None, pupil_confidence=0.25)
    assert unsure.gaze == pytest.approx(1 - (2 / 3) * 0.5)
    sure = frame_factors(s, face_found=True, head_pose=None, horizontal_ratio=0.95, screen=None,
                         calibrated=False, closed_ms=None, pupil_confidence=0.8)
    assert sure.gaze == pytest.approx(1 / 3)
    always = frame_factors(s.updated({"gaze_sure_from": 0}), face_found=True, head_pose=None,
                           horizontal_ratio=0.95, screen=None, calibrated=False, closed_ms=None,
                           pupil_confidence=0.0)
    assert always.gaze == pytest.approx(1 / 3)


def test_settings_validation() -> None:
    s = AttentionSettings().updated({"time_constant_s": 2, "calibration_min_points": 6.4})
    assert s.time_constant_s == 2.0 and s.calibration_min_points == 6
    for bad in ({"nope": 1}, {"time_constant_s": "1"}, {"time_constant_s": True}, {"blink_max_ms": -1},
                {"attentive_off": 0.9}, {"time_constant_s": float("nan")}):
        with pytest.raises(ValueError):
            AttentionSettings().updated(bad)  # type: ignore[arg-type]


# Events -----------------------------------------------------------------------------------------------------

def run_events(frames: list[tuple[float, bool, bool, float]], settings: AttentionSettings = SETTINGS,
               ) -> list[tuple[float, dict[str, object]]]:
    tracker = EventTracker()
    out = []
    for t, face, closed, looking in frames:
        for event in tracker.update(FrameState(t, face, closed, looking, False, 0.0), settings):
            out.append((t, event))
    return out


def test_blink_and_long_closure() -> None:
    frames = [(t, True, 1200 <= t < 1400 or 2000 <= t < 2800, 1.0) for t in times(30, 2.5)]
    events = run_events(frames)
    kinds = [e["type"] for _, e in events]
    assert kinds == ["face_found", "blink", "eyes_closed"]
    blink = events[1][1]
    assert blink["start"] == pytest.approx(1200.0) and blink["duration"] == pytest.approx(200.0)
    assert events[1][0] == pytest.approx(1400.0)  # on the frame where the eyes open again


def test_face_lost_and_found_with_debounce() -> None:
    frames = [(t, not (2000 <= t < 4000), False, 1.0) for t in times(30, 5)]
    events = run_events(frames)
    assert [e["type"] for _, e in events] == ["face_found", "face_lost", "face_found"]
    lost, found = events[1], events[2]
    assert lost[0] == pytest.approx(2000.0) and lost[1]["start"] == pytest.approx(2000.0)
    assert found[1]["duration"] == pytest.approx(2000.0)
    # A dropout shorter than face_lost_min_ms makes no event.
    short = [(t, not (2000 <= t < 2100), False, 1.0) for t in times(30, 3)]
    debounced = run_events(short, AttentionSettings(face_lost_min_ms=150))
    assert [e["type"] for _, e in debounced] == ["face_found"]


def test_look_away_needs_its_minimum_and_ends_on_face_loss() -> None:
    frames = [(t, t < 3500, False, 0.2 if 1500 <= t < 1700 or 2500 <= t < 3500 else 1.0)
              for t in times(10, 4)]
    events = run_events(frames)
    kinds = [e["type"] for _, e in events]
    assert kinds == ["face_found", "look_away", "face_lost"]
    assert events[1][1]["duration"] == pytest.approx(1000.0) and events[1][1]["ended_by"] == "face_lost"


def test_attention_changed_and_statistics() -> None:
    signals = SessionSignals(AttentionSettings(time_constant_s=0.5))
    face = TrackOutput(face_found=True, face_box=(0, 0, 10, 10), head_pose=(0.0, 0.0, 0.0),
                       horizontal_ratio=0.5, vertical_ratio=0.4, pupil_left=(1.0, 1.0), pupil_right=(3.0, 1.0))
    closed = TrackOutput(face_found=True, face_box=(0, 0, 10, 10), head_pose=(0.0, 0.0, 0.0), eyes_closed=True)
    none = TrackOutput()
    events = []
    for t in times(10, 30):
        offset = t - 1000.0
        out = none if 10000 <= offset < 15000 else closed if offset % 5000 < 200 and offset >= 5000 else face
        events += [(t, e["type"]) for e in signals.process(out, t).events]
    kinds = [k for _, k in events]
    assert kinds.count("blink") == 4  # at 5, 15, 20 and 25 s; the one at 30 s has not ended
    assert kinds.count("attention_changed") == 3  # on, off while the face is gone, on again
    report = signals.statistics()
    assert report["blinks_total"] == 4
    assert report["face_present_s"] == pytest.approx(25.0, abs=0.2)
    assert report["perclos"] == pytest.approx((report["blinks"] * 0.2) / report["window_face_present_s"], abs=0.01)
    assert report["blinks_per_minute"] == pytest.approx(report["blinks"] / (report["window_face_present_s"] / 60))
    assert report["mean_blink_ms"] == pytest.approx(200.0)
    assert 0.7 < report["attentive_share"] < 0.9


def test_statistics_window() -> None:
    stats = Statistics()
    s = AttentionSettings(stats_window_s=10)
    for t in times(10, 30):
        stats.update(FrameState(t, True, 1000 + 5000 <= t < 1000 + 15000, 1.0, True, 1.0), [], s)
    report = stats.report(s)
    assert report["window_s"] == pytest.approx(10.0)
    assert report["perclos"] == pytest.approx(0.0)
    assert report["eyes_closed_s"] == pytest.approx(10.0)


# Screen calibration ---------------------------------------------------------------------------------------

def synthetic_eye(x: float, y: float, yaw: float, pitch: float, rng: np.random.Generator) -> tuple[float, float]:
    """Ratios of an eye looking at (x, y) with the head at (yaw, pitch): the eye turns less when the head turns."""
    h = 0.5 + 0.18 * (x - 0.5) - 0.006 * yaw + 0.03 * (x - 0.5) ** 2 + rng.normal(0, 0.004)
    v = 0.35 + 0.10 * (y - 0.5) - 0.004 * pitch + 0.02 * (x - 0.5) * (y - 0.5) + rng.normal(0, 0.004)
    return h, v


def calibrate(screen: ScreenCalibration, rng: np.random.Generator, validate: bool = True,
              settings: AttentionSettings = SETTINGS) -> dict[str, Any]:
    reply = screen.handle("start", None, None, None, settings)
    targets = [("point", p) for p in reply["points"]] + ([("validate", p) for p in reply["validation_points"]]
                                                        if validate else [])
    for kind, (x, y) in targets:
        screen.handle(kind, x, y, None, settings)
        for n in range(25):
            yaw, pitch = rng.normal(0, 3), rng.normal(5, 3)
            screen.observe(n * 50.0, *synthetic_eye(x, y, yaw, pitch, rng), (yaw, pitch), 1000.0)
    return screen.handle("finish", None, None, None, settings)


def test_calibration_fit_validation_and_round_trip() -> None:
    rng = np.random.default_rng(3)
    screen = ScreenCalibration()
    reply = calibrate(screen, rng)
    assert reply["state"] == "calibrated"
    assert reply["error"] is not None and reply["error"] < 0.05, reply["calibration"]
    mapping = screen.mapping
    assert mapping is not None
    # Head turned, gaze on the same point: the head-pose terms keep the position.
    for x, y in ((0.2, 0.3), (0.8, 0.6)):
        for yaw in (-6.0, 6.0):
            h, v = synthetic_eye(x, y, yaw, 5.0, np.random.default_rng(0))
            px, py = mapping.map(h, v, yaw, 5.0)
            assert math.hypot(px - x, py - y) < 0.06, (x, y, yaw, px, py)
    exported = screen.handle("export", None, None, None, SETTINGS)["calibration"]
    other = ScreenCalibration()
    other.handle("import", None, None, exported, SETTINGS)
    assert other.mapping is not None and other.mapping.map(0.5, 0.35, 1.0, 4.0) == mapping.map(0.5, 0.35, 1.0, 4.0)
    assert screen.handle("reset", None, None, None, SETTINGS)["state"] == "uncalibrated"
    assert screen.mapping is None


def test_calibration_without_validation_uses_leave_one_out() -> None:
    screen = ScreenCalibration()
    reply = calibrate(screen, np.random.default_rng(4), validate=False)
    assert reply["error_source"] == "leave_one_out" and reply["error"] < 0.1


def test_calibration_errors() -> None:
    screen = ScreenCalibration()
    with pytest.raises(CalibrationError):
        screen.handle("point", 0.1, 0.1, None, SETTINGS)
    screen.handle("start", None, None, None, SETTINGS)
    with pytest.raises(CalibrationError):
        screen.handle("point", None, 0.1, None, SETTINGS)
    screen.handle("point", 0.1, 0.1, None, SETTINGS)
    screen.observe(0.0, 0.4, 0.3, (0.0, 0.0), 1000.0)
    with pytest.raises(CalibrationError) as failed:
        screen.handle("finish", None, None, None, SETTINGS)
    assert failed.value.code == "calibration_failed"
    with pytest.raises(CalibrationError):
        ScreenMapping.from_export({"version": 1, "model": "poly2+head", "coef_x": [1.0]})
    with pytest.raises(CalibrationError):
        screen.handle("import", None, None, None, SETTINGS)


def test_closed_eyes_count_from_the_grace_time_at_any_frame_rate() -> None:
    """Eyes closed from 2.0 s to 3.0 s: the eye factor drops at 2.3 s, between 5 FPS frames, and the score is
    the same at 5 and 30 FPS."""
    face = TrackOutput(face_found=True, head_pose=(0.0, 0.0, 0.0), horizontal_ratio=0.5, vertical_ratio=0.4)
    closed = TrackOutput(face_found=True, head_pose=(0.0, 0.0, 0.0), eyes_closed=True)
    scores = {}
    for fps in (5, 30):
        signals = SessionSignals()
        scores[fps] = {t: signals.process(closed if 3000 <= t < 4000 else face, t).score for t in times(fps, 6)}
    for t, score in scores[5].items():
        assert abs(score - scores[30][t]) < 1e-9, t
    assert scores[30][4000.0] == pytest.approx(math.exp(-0.7))


def test_session_builds_results_in_the_order_frames_were_sent() -> None:
    """Two workers finish a session's frames out of order: events and statistics still follow the client's
    order, and a control message takes effect in its place among the frames."""
    session = Session("test", max_outbox=1000, detect_every_s=2.0)
    face = TrackOutput(face_found=True, head_pose=(0.0, 0.0, 0.0), horizontal_ratio=0.5, vertical_ratio=0.4)
    outputs = [face, TrackOutput(), TrackOutput(), face, None, face, face]  # ordinal 4: a stats request

    def frame(ordinal: int) -> Frame:
        return Frame(ordinal=ordinal, seq=ordinal, timestamp=1000.0 + 100 * ordinal, binary=False, jpeg=b"",
                     plan=cast(JpegPlan, None))

    assert [session.next_ordinal() for _ in outputs] == list(range(7))
    for ordinal in (1, 0, 3, 5, 4, 2, 6):
        out = outputs[ordinal]
        if out is None:
            session.in_order(ordinal, lambda: session.answer_reply(4, "stats", session.stats(), False))
        else:
            session.answer_tracked(frame(ordinal), out, 1.0)
    answers = []
    while not session.outbox.empty():
        raw = session.outbox.get_nowait()
        assert isinstance(raw, str)
        answers.append(server_json_decoder.decode(raw))
    results = [a for a in answers if isinstance(a, GazeResult)]
    assert [r.seq for r in results] == [0, 1, 2, 3, 5, 6]
    events = [(r.seq, e["type"]) for r in results for e in r.events]
    assert events == [(0, "face_found"), (0, "attention_changed"), (1, "face_lost"), (3, "face_found")], events
    assert results[3].events[0]["duration"] == 200.0
    stats = answers[4]
    assert isinstance(stats, ReplyMessage) and stats.data["observed_s"] == 0.3 and stats.data["face_lost_total"] == 1


def test_frames_without_a_timestamp_use_the_time_they_arrived() -> None:
    """Text-mode clients of the original protocol may send no timestamp (0): durations come from receipt."""
    session = Session("test", max_outbox=1000, detect_every_s=2.0)
    face = TrackOutput(face_found=True, head_pose=(0.0, 0.0, 0.0), horizontal_ratio=0.5, vertical_ratio=0.4)
    outputs = [face, TrackOutput(), TrackOutput(), face]
    for n, out in enumerate(outputs):
        frame = Frame(ordinal=session.next_ordinal(), seq=n, timestamp=0.0, binary=False, jpeg=b"",
                      plan=cast(JpegPlan, None), received=500.0 + 0.25 * n)
        session.answer_tracked(frame, out, 1.0)
    results = [server_json_decoder.decode(str(session.outbox.get_nowait())) for _ in outputs]
    found = [e for result in results if isinstance(result, GazeResult) for e in result.events]
    assert [e["type"] for e in found] == ["face_found", "attention_changed", "face_lost", "face_found"]
    assert found[-1]["duration"] == 500.0
