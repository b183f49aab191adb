"""The accuracy benchmark runs end to end on a small subset and reports what the issue asks for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gazepipe import testdata

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
