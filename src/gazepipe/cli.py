"""The `gazepipe` command: `serve`, `analyze`, `watch` and `version`, for people who installed the package.

`serve` runs what the repository's Procfile runs (the front and the worker supervisor, each its own process)
under honcho, the Procfile's own runner: the same settings from `GAZEPIPE_*`, the same signals (Ctrl-C or
SIGTERM stops both, and one exiting stops the other), the same clean shutdown.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from gazepipe import __version__


def _serve(args: argparse.Namespace) -> int:
    from honcho.manager import Manager

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for name in ("host", "port", "workers"):
        if getattr(args, name):
            env[f"GAZEPIPE_{name.upper()}"] = str(getattr(args, name))
    manager = Manager()
    manager.add_process("front", shlex.join([sys.executable, "-m", "gazepipe.front"]), env=env)
    manager.add_process("workers", shlex.join([sys.executable, "-m", "gazepipe.supervisor"]), env=env)
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

    from gazepipe.offline.analyze import add_arguments as analyze_arguments

    analyze = commands.add_parser("analyze", help="analyse recorded video files, every frame")
    analyze_arguments(analyze)
    analyze.set_defaults(handler=_analyze)

    from gazepipe.watch import add_arguments as watch_arguments

    watch = commands.add_parser("watch", help="stream a camera or a file to a running service, print the values")
    watch_arguments(watch)
    watch.set_defaults(handler=_watch)

    version = commands.add_parser("version", help="print the version")
    version.set_defaults(handler=_version)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sys.exit(args.handler(args))
