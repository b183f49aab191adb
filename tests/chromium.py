"""Debian's Chromium and playwright-core for the tests that open pages in a real browser (playwright's own
browser download does not work on these machines)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from testdata import REPO_ROOT

DRIVER_DIR = REPO_ROOT / "tests" / "browser"


def find_or_install_chromium() -> str | None:
    """Path of Debian's Chromium, installing it with apt-get when missing; None when that is impossible."""
    for candidate in (os.environ.get("GAZEPIPE_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    if not shutil.which("apt-get"):
        return None
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            subprocess.run(sudo + command, check=True, env=env, capture_output=True, timeout=600)
        except (OSError, subprocess.SubprocessError):
            return None
    return shutil.which("chromium")
