"""The `gazepipe` command: `serve`, `analyze`, `watch` and `version`, for people who installed the package.

Only the command line lives here; each command's module is imported when it runs. `serve` runs what the
repository's Procfile runs (the front and the worker supervisor, each its own process) under honcho, the
Procfile's own runner: the same settings from `GAZEPIPE_*`, the same signals (Ctrl-C or SIGTERM stops both, and
one exiting stops the other), the same clean shutdown.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from gazepipe import __version__


def _analyze_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="+", type=Path, metavar="VIDEO",
                        help="recordings (any container and codec OpenCV's FFmpeg reads: mp4, webm, avi, mov)")
    parser.add_argument("--out", type=Path, required=True, metavar="RESULTS.jsonl",
                        help="one JSON object per frame, then a summary object per file")
    parser.add_argument("--report", type=Path, metavar="REPORT.html", help="a self-contained HTML report")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="the per-frame results as a flat table")
    parser.add_argument("--workers", type=int, help="tracker processes (GAZEPIPE_WORKERS, else one per core)")
    parser.add_argument("--window", type=int,
                        help="frames of a file in the workers at once, at most the number of workers (default: "
                             "that number, so that one file uses every core); frame k is tracked from the state "
                             "right after frame k - W, so every run gives the same results. 1: each frame from the "
                             "one before, exactly as a live client sending one frame at a time")
    parser.add_argument("--calibration", type=Path, metavar="FILE",
                        help="a screen calibration exported from the service (calibration 'export' reply), for "
                             "screen coordinates and the heat map")


def _watch_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--camera", type=int, metavar="INDEX", help="a local camera (0: the first)")
    source.add_argument("--video", metavar="FILE", help="a video file, sent at its own frame rate")
    parser.add_argument("--url", default="ws://127.0.0.1:8001/ws/gaze", help="the service's WebSocket")
    parser.add_argument("--token", help="the service's GAZEPIPE_TOKEN, if it has one")
    parser.add_argument("--max-unanswered", type=int, default=2, help="frames in flight at most (default 2)")


def _serve(args: argparse.Namespace) -> int:
    from honcho.manager import Manager

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for name in ("host", "port", "workers"):
        if getattr(args, name):
            env[f"GAZEPIPE_{name.upper()}"] = str(getattr(args, name))
    manager = Manager()
    manager.add_process("front", shlex.join([sys.executable, "-m", "gazepipe.front"]), env=env)
    manager.add_process("workers", shlex.join([sys.executable, "-m", "gazepipe.workers"]), env=env)
    manager.loop()
    return int(manager.returncode or 0)


def _analyze(args: argparse.Namespace) -> int:
    from gazepipe.offline import analyze

    return analyze.run(args)


def _watch(args: argparse.Namespace) -> int:
    from gazepipe import watch

    return watch.run(args)


def _version(_args: argparse.Namespace) -> int:
    print(f"gazepipe {__version__}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="gazepipe", description="Live gaze, blink and attention from a webcam "
                                                                "stream or a recording.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the service (the front and its tracker workers)")
    serve.add_argument("--host", help="bind address (GAZEPIPE_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (GAZEPIPE_PORT, default 8001)")
    serve.add_argument("--workers", type=int, help="tracker processes (GAZEPIPE_WORKERS, default one per core)")
    serve.set_defaults(handler=_serve)

    analyze = commands.add_parser("analyze", help="analyse recorded video files, every frame")
    _analyze_arguments(analyze)
    analyze.set_defaults(handler=_analyze)

    watch = commands.add_parser("watch", help="stream a camera or a file to a running service, print the values")
    _watch_arguments(watch)
    watch.set_defaults(handler=_watch)

    version = commands.add_parser("version", help="print the version")
    version.set_defaults(handler=_version)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sys.exit(args.handler(args))
