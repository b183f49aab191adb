"""The wheel, as a pip user gets it: built from the repository, installed into a fresh venv outside it (no
system site-packages, so a missing dependency fails here), `gazepipe serve` answering /health and the demo page,
and `gazepipe analyze` on a part of the shared clip."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import cv2
import pytest
from testdata import REPO_ROOT

from .recordings import clip_frames, write_lossless
from .service import free_port

pytestmark = pytest.mark.timeout(900)


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def test_wheel_serves_and_analyses_from_a_fresh_venv(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # From a copy of the files git knows (as a fresh clone has them): the working tree's build/ may hold modules
    # that no longer exist, which setuptools would put into the wheel.
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO_ROOT, check=True,
                            capture_output=True, text=True).stdout.splitlines()
    tree = tmp_path / "tree"
    for name in listed:
        if (REPO_ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, tree / name)
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(tree)], check=True, env=env,
                   timeout=300, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("gazepipe-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("gazepipe/static/demo/index.html", "gazepipe/static/demo/gazepipe-demo.js",
                   "gazepipe/tracking/eye_state.npz", "gazepipe/tracking/pupil_net.npz", "gazepipe/py.typed"):
        assert needed in names, f"{needed} is not in {wheel.name}"

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q", "install",
                    f"{wheel}[analyze]", "-c", str(REPO_ROOT / "constraints.txt")], check=True, env=env,
                   timeout=600, cwd=tmp_path)
    gazepipe = str(venv / "bin" / "gazepipe")
    version = subprocess.run([gazepipe, "version"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert version.stdout.startswith("gazepipe "), version

    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen([gazepipe, "serve", "--port", str(port), "--workers", "1"], cwd=tmp_path, env=env,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while http_status(f"http://127.0.0.1:{port}/health") != 200:
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        assert http_status(f"http://127.0.0.1:{port}/demo/") == 200, "the demo page is in the wheel"
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=30)
    served = (tmp_path / "serve.log").read_text()
    assert "shutting down: draining sessions" in served, served  # the front's own clean shutdown, as under honcho

    excerpt = [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) for frame in clip_frames(range(90, 150))]
    write_lossless(tmp_path / "excerpt.mkv", excerpt)
    result = subprocess.run([gazepipe, "analyze", "excerpt.mkv", "--out", "r.jsonl", "--report", "r.html",
                             "--workers", "2"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [line["frame"] for line in lines[:-1]] == list(range(60))
    assert lines[-1]["type"] == "summary" and lines[-1]["frames_tracked"] == 60
    assert sum(line["face_found"] for line in lines[:-1]) >= 50
    assert "data:image/png;base64," in (tmp_path / "r.html").read_text()
