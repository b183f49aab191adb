"""Runs the real service for tests: the Procfile's processes, on a free loopback port, in their own groups."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def procfile(root: Path = REPO) -> dict[str, str]:
    """The Procfile's commands by process name: the tests start exactly what `make run` starts."""
    entries = {}
    for line in (root / "Procfile").read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


class Service:
    """The front and the worker supervisor as separate processes, like honcho runs them."""

    def __init__(self, workers: int = 2, **settings: object) -> None:
        self.root = REPO  # the source tree they run from
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="gazepipe-test-"))
        self.env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "GAZEPIPE_PORT": str(self.port),
            "GAZEPIPE_WORKERS": str(workers),
            "GAZEPIPE_SOCKET": str(self.workdir / "workers.sock"),
            **{f"GAZEPIPE_{key.upper()}": str(value) for key, value in settings.items()},
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/gaze"

    def start(self, name: str | None = None) -> Service:
        for process, command in procfile(self.root).items():
            if name is None or process == name:
                log = (self.workdir / f"{process}.log").open("ab")
                self.processes[process] = subprocess.Popen(
                    ["bash", "-c", f"exec {command}"], cwd=self.root, env=self.env, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def health(self) -> tuple[int, dict[str, object]]:
        try:
            with urllib.request.urlopen(f"{self.http_url}/health", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def wait_healthy(self, workers: int | None = None, timeout: float = 90.0) -> dict[str, object]:
        """Waits until /health is 200 with `workers` workers connected (default: all)."""
        wanted = workers if workers is not None else int(self.env["GAZEPIPE_WORKERS"])
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                status, body = self.health()
                last = body
                if status == 200 and len(body["workers"]) >= wanted:  # type: ignore[arg-type]
                    return body
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log(name)}")
            time.sleep(0.2)
        raise TimeoutError(f"service not healthy after {timeout} s: {last}\n{self.log('front')}")

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def signal(self, name: str, signum: int) -> None:
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)

    def stop(self, name: str | None = None, timeout: float = 15.0) -> dict[str, int | None]:
        """SIGTERM, then SIGKILL what is still running; returns each process's exit code."""
        names = [name] if name else list(self.processes)
        for n in names:
            self.signal(n, signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for n in names:
            try:
                codes[n] = self.processes[n].wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal(n, signal.SIGKILL)
                codes[n] = self.processes[n].wait(timeout=5)
        return codes

    def __enter__(self) -> Service:
        self.start()
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
