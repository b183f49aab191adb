"""`gazepipe analyze` against the real service: the same frames, the same tracker outputs, frame for frame.

The shared clip's frames are JPEG-encoded as a client would send them, and a lossless (FFV1) copy of what those
JPEGs decode to is written for `analyze`: both sides then track the very same pixels. The service gets the
JPEGs one at a time (window 1: nothing is ever superseded or stale), and `analyze` runs with `--window 1`. The
periodic search for a larger face runs on the service's wall clock but on the recording's clock in `analyze`, so
both runs turn it off (GAZEPIPE_DETECT_EVERY_S), and the service searches every frame of an empty room.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np
import pytest
from testdata import REPO_ROOT, encode_jpeg

from gazepipe.client import GazeClient
from gazepipe.front.jpeg import decode_grey
from gazepipe.protocol import CalibrationMessage, GazeResult, ReplyMessage
from gazepipe.signals.screen import ScreenMapping

from .recordings import CLIP, clip_frames, write_lossless
from .service import Service

EXCERPT = range(60, 150)  # empty stage, then a face that comes, flickers and stays
TRACKER_FIELDS = ("face_found", "face_box", "pupil_left", "pupil_right", "pupil_left_confidence",
                  "pupil_right_confidence", "pupil_left_reason", "pupil_right_reason", "horizontal_ratio",
                  "vertical_ratio", "is_blinking", "eye_openness_left", "eye_openness_right", "head_pose")
SETTINGS = {"detect_every_s": 100000, "no_face_search_every_s": 0}
DOCS_REPORT = REPO_ROOT / "docs" / "report.png"
# A screen calibration as the service exports it: screen x and y linear in the two ratios around the middle.
CALIBRATION = ScreenMapping(centre=(0.5, 0.5, 0.0, 0.0), scale=(0.1, 0.1), coef_x=(0.5, 0.5, 0, 0, 0, 0, 0, 0),
                            coef_y=(0.5, 0, 0.5, 0, 0, 0, 0, 0), error=0.05, error_source="validation",
                            fit_error=0.04).export()


def analyze(folder: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **{f"GAZEPIPE_{k.upper()}": str(v) for k, v in SETTINGS.items()}}
    return subprocess.run([sys.executable, "-m", "gazepipe", "analyze", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=timeout)


@dataclass(frozen=True)
class Run:
    folder: Path
    jpegs: list[bytes]
    result: subprocess.CompletedProcess[str]
    rows: list[dict[str, object]]
    summaries: list[dict[str, object]]


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    """One `analyze` of a truncated copy of the clip (unreadable), of the first half of the lossless excerpt's file
    (readable up to where it was cut), then of the excerpt, with every output asked for."""
    with tempfile.TemporaryDirectory(prefix="gazepipe-analyze-test-") as name:
        folder = Path(name)
        jpegs = [encode_jpeg(frame, 90) for frame in clip_frames(EXCERPT)]
        excerpt = write_lossless(folder / "excerpt.mkv", [decode_grey(jpeg) for jpeg in jpegs]).read_bytes()
        (folder / "half.mkv").write_bytes(excerpt[: len(excerpt) // 2])
        data = CLIP.read_bytes()
        (folder / "truncated.mp4").write_bytes(data[: len(data) * 2 // 3])
        reply = {"type": "reply", "request": "calibration", "data": {"action": "export", "calibration": CALIBRATION}}
        (folder / "calibration.json").write_text(json.dumps(reply))  # the service's export reply, saved as is
        result = analyze(folder, "truncated.mp4", "half.mkv", "excerpt.mkv", "--out", "results.jsonl", "--report",
                         "report.html", "--csv", "results.csv", "--workers", "2", "--window", "1", "--calibration",
                         "calibration.json")
        lines = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
        yield Run(folder, jpegs, result, [r for r in lines if r.get("type") != "summary"],
                  [r for r in lines if r.get("type") == "summary"])


def rows_of(run: Run, file: str) -> list[dict[str, object]]:
    return [row for row in run.rows if row["file"] == file]


def test_truncated_files_are_reported_and_the_next_is_analysed(run: Run) -> None:
    assert run.result.returncode == 1, run.result.stderr
    assert "truncated.mp4: not a video OpenCV can open" in run.result.stderr
    truncated, half, excerpt = run.summaries
    assert truncated["file"] == "truncated.mp4" and truncated["frames"] == 0 and "truncated" in str(truncated["error"])
    # a stream cut in the middle: the frames before the cut are analysed and kept, then the error
    assert half["file"] == "half.mkv" and f"ended after {half['frames']} of {len(EXCERPT)} frames" in str(half["error"])
    assert 10 < int(half["frames"]) < len(EXCERPT)  # type: ignore[call-overload]
    assert [row["frame"] for row in rows_of(run, "half.mkv")] == list(range(int(half["frames"])))  # type: ignore[call-overload]
    assert excerpt["file"] == "excerpt.mkv" and excerpt["error"] is None
    assert excerpt["frames"] == excerpt["frames_tracked"] == len(EXCERPT)
    statistics = excerpt["statistics"]
    assert isinstance(statistics, dict) and statistics["frames_processed"] == len(EXCERPT)
    assert 0 < float(statistics["face_present_s"]) < float(statistics["observed_s"])  # the face comes mid-way


def test_every_frame_in_order_with_the_outputs_named_and_nothing_else(run: Run) -> None:
    assert sorted(p.name for p in run.folder.iterdir()) == [
        "calibration.json", "excerpt.mkv", "half.mkv", "report.html", "results.csv", "results.jsonl", "truncated.mp4"]
    rows = rows_of(run, "excerpt.mkv")
    assert [r["frame"] for r in rows] == list(range(len(EXCERPT)))
    assert all(r["frame_processed"] and r["dropped"] is None for r in run.rows)
    times = [float(r["timestamp"]) for r in rows]  # type: ignore[arg-type]
    # the container's presentation times in ms (Matroska keeps them to the millisecond)
    assert np.allclose(times, np.arange(len(EXCERPT)) * 1000 / 30, atol=0.5), times[:5]
    csv_lines = (run.folder / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("file,frame,timestamp,") and len(csv_lines) == len(run.rows) + 1


def test_analyze_gives_the_services_tracker_outputs_frame_for_frame(run: Run) -> None:
    analysed = [msgspec.convert(row, GazeResult) for row in rows_of(run, "excerpt.mkv")]

    async def stream(url: str) -> list[GazeResult]:
        answers = []
        async with GazeClient(url, max_unanswered=1) as client:
            await client.request(CalibrationMessage(action="import", data=CALIBRATION))
            assert isinstance(await client.receive(), ReplyMessage)
            for jpeg, mine in zip(run.jpegs, analysed, strict=True):
                # 1 s later on the service's clock: its first frame must not have timestamp 0 (receipt time)
                await client.send(jpeg, timestamp_ms=mine.timestamp + 1000.0)
                answer = await client.receive()
                assert isinstance(answer, GazeResult), answer
                answers.append(answer)
        return answers

    with Service(workers=2, **SETTINGS) as service:
        served = asyncio.run(stream(service.ws_url))
    assert sum(r.face_found for r in served) > len(EXCERPT) // 2, "the excerpt shows a face most of the time"
    for index, (mine, theirs) in enumerate(zip(analysed, served, strict=True)):
        assert theirs.frame_processed, (index, theirs.dropped)
        for name in TRACKER_FIELDS:
            assert getattr(mine, name) == getattr(theirs, name), (index, name)
        # the same session signals, given the same frames at the same intervals
        assert mine.attention_score == theirs.attention_score, index
        assert mine.horizontal_ratio_smoothed == theirs.horizontal_ratio_smoothed, index
        assert (mine.screen_x, mine.screen_y) == (theirs.screen_x, theirs.screen_y), index
    assert sum(r.screen_x is not None for r in analysed) > len(EXCERPT) // 2, "the calibration was applied"


def test_a_window_of_two_gives_the_same_results_on_every_run(run: Run) -> None:
    """Two workers on one file, finishing in whatever order: frame k is tracked from the state after frame k - 2."""
    def tracked(out: str) -> list[tuple[object, ...]]:
        result = analyze(run.folder, "excerpt.mkv", "--out", out, "--workers", "2", "--window", "2")
        assert result.returncode == 0, result.stderr
        rows = [json.loads(line) for line in (run.folder / out).read_text().splitlines()[:-1]]
        (run.folder / out).unlink()
        return [tuple(row[name] for name in (*TRACKER_FIELDS, "attention_score")) for row in rows]

    first, second = tracked("w2a.jsonl"), tracked("w2b.jsonl")
    assert len(first) == len(EXCERPT) and sum(bool(row[0]) for row in first) > len(EXCERPT) // 2
    assert first == second


def test_ctrl_c_stops_cleanly_and_keeps_what_was_written(tmp_path: Path) -> None:
    env = {**os.environ, **{f"GAZEPIPE_{k.upper()}": str(v) for k, v in SETTINGS.items()}}
    out = tmp_path / "r.jsonl"
    process = subprocess.Popen([sys.executable, "-m", "gazepipe", "analyze", str(CLIP), "--out", str(out),
                                "--report", str(tmp_path / "r.html"), "--workers", "1"], cwd=tmp_path, env=env,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not out.exists() or len(out.read_text().splitlines()) < 20:
        assert process.poll() is None and time.monotonic() < deadline, process.stderr
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    summary = lines.pop()
    assert summary["type"] == "summary" and summary["interrupted"] is True and summary["error"] is None
    assert 20 <= summary["frames"] < 275 and [row["frame"] for row in lines] == list(range(summary["frames"]))
    assert "data:image/png;base64," in (tmp_path / "r.html").read_text()


def render_report(chromium: str, driver: Path, report: Path, **options: object) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="gazepipe-chromium-") as profile:
        settings = {"url": report.resolve().as_uri(), "chromium": chromium, "profileDir": profile, **options}
        node = shutil.which("node")
        assert node, "Node.js is needed to drive Chromium"
        proc = subprocess.run([node, str(driver.parent / "report.mjs"), json.dumps(settings)], capture_output=True,
                              text=True, timeout=120, cwd=driver.parent)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    summary: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return summary


def test_report_opens_offline_with_its_plots(run: Run, chromium: str, driver: Path) -> None:
    summary = render_report(chromium, driver, run.folder / "report.html")
    assert summary["pageErrors"] == [] and summary["requests"] == [], summary
    images = summary["images"]
    assert isinstance(images, list)
    # attention, ratios, blink raster and (calibrated) the heat map for the cut file and for the excerpt; none for
    # the unreadable one
    plots = ["Attention over time, with events", "Gaze ratios (0 image-left / upper lid .. 1 image-right / lower lid)",
             "Blink raster", "Screen gaze heat map"]
    assert [i["alt"] for i in images] == plots * 2
    assert all(i["complete"] and i["width"] > 300 and i["height"] > 50 for i in images), images


@pytest.mark.skipif(os.environ.get("GAZEPIPE_DOCS_SCREENSHOT") != "1",
                    reason="rewrites docs/report.png; set GAZEPIPE_DOCS_SCREENSHOT=1 to run it")
def test_docs_report_screenshot(chromium: str, driver: Path) -> None:
    """docs/report.png: the report of the whole clip, its plots and statistics only (the clip's images must not be
    in the repository, and a report holds none)."""
    with tempfile.TemporaryDirectory(prefix="gazepipe-report-") as name:
        folder = Path(name)
        shutil.copyfile(CLIP, folder / CLIP.name)  # named as given: the report shows no path of this machine
        result = analyze(folder, CLIP.name, "--out", "clip.jsonl", "--report", "clip.html")
        assert result.returncode == 0, result.stderr
        summary = render_report(chromium, driver, folder / "clip.html", screenshot=str(DOCS_REPORT))
        assert summary["screenshot"] == str(DOCS_REPORT)
