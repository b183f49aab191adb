"""The accuracy benchmark runs end to end on a small subset and reports what the issue asks for."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import testdata

ROOT = Path(__file__).resolve().parents[1]


def test_accuracy_benchmark_json_on_a_subset() -> None:
    data = testdata.data_root()
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "accuracy.py"),
         "--faces", str(data / "faces-wild"), "--faces", str(data / "faces"), "--eyes", str(data / "cew-eyes"),
         "--baseline", "--json", "--limit", "1", "--sizes", "62", "--split", "all"],
        capture_output=True, text=True, timeout=240, cwd=ROOT, check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"faces", "eyes", "baseline"} <= report.keys()
    moved = report["faces"]["wild_moved_62"]
    assert moved["n"] == 4 and 0.0 <= moved["e05"] <= moved["e10"] <= moved["e25"] <= 1.0
    assert "slope" in moved and "h_error" in moved and "v_error" in moved
    assert report["faces"]["annotated_62"]["n"] == 1
    assert set(report["baseline"]["faces"]) == set(report["faces"])
    for eyes in (report["eyes"], report["eyes"]["in_face"], report["baseline"]["eyes"]):
        assert eyes["n"] == 4 and 0.0 <= eyes["accuracy"] <= 1.0
    assert "wild_moved_62" in result.stdout and "baseline" in result.stdout


def test_accuracy_benchmark_on_helen_afw_and_columbia() -> None:
    data = testdata.data_root()
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "accuracy.py"),
         "--faces", str(data / "faces-helen-afw"), "--columbia", str(data / "columbia-eyes"),
         "--json", "--limit", "3", "--sizes", "62", "--split", "all"],
        capture_output=True, text=True, timeout=240, cwd=ROOT, check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    counts = report["helen_faces"]
    assert counts["measured"] == 3
    assert counts["faces"] == counts["measured"] + counts["eyes_hidden"] + counts["eye_not_open"]
    faces = report["faces"]
    assert faces["helen_62"]["n"] == 3 and faces["helen_moved_62"]["n"] == 12 and faces["helen_vertical_62"]["n"] == 9
    for key in ("helen_62", "helen_moved_62", "helen_vertical_62"):
        assert 0.0 <= faces[key]["false_closed"] <= 1.0 and 0.0 <= faces[key]["lr_agree"] <= 1.0
        for bands in report["categories"][key].values():  # every frame falls in one band of each category
            assert sum(summary["n"] for summary in bands.values()) == faces[key]["n"]
    vertical = faces["helen_vertical_62"]
    assert vertical["slope_y"] is not None and 0.0 <= vertical["v_order"] <= 1.0
    # over the faces none of whose frames followed a larger face: the same share when there are none
    assert 0.0 <= vertical["v_order_largest"] <= 1.0
    if vertical["other_larger"] == 0.0:
        assert vertical["v_order_largest"] == vertical["v_order"]
    columbia = report["columbia"]
    assert columbia["split"] == "all" and columbia["people"] == 3
    assert columbia["pairs"] > 0 and 0.0 <= columbia["y_pairs_right"] <= 1.0
    # the pupil's x follows the real eyes' sideways gaze (about 0.96 at ef9bfbc)
    assert columbia["x_rank_median"] > 0.8
    assert "helen_vertical_62 by category" in result.stdout and "columbia-eyes" in result.stdout
    assert not any("session" in key for key in faces)  # the sessions only when named


def test_accuracy_benchmark_plays_faces_as_sessions() -> None:
    """The session sets: each face's moved renders tracked as the frame after its centre render, shown as a still
    webcam shows it, with the same measures as the still frames."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "accuracy.py"),
         "--faces", str(testdata.data_root() / "faces-helen-afw"),
         "--set", "helen_vertical", "helen_vertical_session", "helen_moved_session",
         "--json", "--limit", "2", "--sizes", "62", "--split", "all"],
        capture_output=True, text=True, timeout=240, cwd=ROOT, check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    faces = report["faces"]
    assert set(faces) == {"helen_vertical_62", "helen_vertical_session_62", "helen_moved_session_62"}
    session = faces["helen_vertical_session_62"]
    assert session["n"] == faces["helen_vertical_62"]["n"] == 6 and faces["helen_moved_session_62"]["n"] == 8
    assert session["slope_y"] is not None and 0.0 <= session["v_order"] <= 1.0
    assert faces["helen_moved_session_62"]["slope"] is not None
    assert set(report["categories"]) == set(faces)


def test_helen_afw_split_keeps_each_photo_on_one_side() -> None:
    faces = testdata.helen_afw_faces()
    photos = Counter(testdata.photo_of(face) for face in faces)
    sides = {(testdata.photo_of(face), testdata.helen_afw_split(face)) for face in faces}
    assert len(sides) == len(photos) < len(faces)  # one side per photo, and photos with several faces
    halves = Counter(testdata.helen_afw_split(face) for face in faces)
    assert (halves["tune"], halves["test"]) == (605, 587)


def test_columbia_split_keeps_each_person_on_one_side() -> None:
    eyes = testdata.columbia_eyes()
    sides = {(eye.subject, testdata.columbia_split(eye)) for eye in eyes}
    people = Counter(side for _, side in sides)
    assert len(sides) == 25 and (people["tune"], people["test"]) == (12, 13)
    assert Counter(testdata.columbia_split(eye) for eye in eyes) == {"tune": 2445, "test": 2711}
