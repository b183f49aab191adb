#!/usr/bin/env python3
"""Active /health checks for open-source nginx, which has only passive ones.

Polls `GET /health` of every instance listed in the `upstream gazepipe` block of an nginx config file, marks an
instance `down` there after --fails failed checks in a row (not 200, or no answer), clears the mark after
--passes good ones, and reloads nginx when a mark changed. Open sessions are not touched by a reload: they stay
on their instance until they end (see `worker_shutdown_timeout` in deploy/nginx/gazepipe.conf).

Fail-open: when every instance is unhealthy none is marked down (nginx would answer 502 to everyone; better to
let the instances answer for themselves).

    python3 deploy/nginx/health_sync.py --conf /etc/nginx/conf.d/gazepipe.conf            # every 2 s, for ever
    python3 deploy/nginx/health_sync.py --conf ... --once --reload ''                    # one pass, no reload

Standard library only; run it as a systemd service next to nginx (deploy/systemd/gazepipe-health-sync.service).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

UPSTREAM = re.compile(r"upstream gazepipe \{.*?\n\}", re.S)
SERVER = re.compile(r"^(?P<indent> *)server (?P<address>\S+)(?P<params>[^;\n]*);", re.M)


def instances(config: str) -> dict[str, bool]:
    """The upstream's instances: address -> currently marked down."""
    block = UPSTREAM.search(config)
    if block is None:
        raise ValueError("no `upstream gazepipe { ... }` block")
    return {m["address"]: "down" in m["params"].split() for m in SERVER.finditer(block.group(0))}


def with_marks(config: str, down: set[str]) -> str:
    """The config with exactly the instances in `down` marked `down` in the upstream block."""
    block = UPSTREAM.search(config)
    if block is None:
        raise ValueError("no `upstream gazepipe { ... }` block")

    def mark(m: re.Match[str]) -> str:
        params = [p for p in m["params"].split() if p != "down"]
        if m["address"] in down:
            params.append("down")
        return f"{m['indent']}server {m['address']}{''.join(' ' + p for p in params)};"

    return config[:block.start()] + SERVER.sub(mark, block.group(0)) + config[block.end():]


def healthy(address: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, prefix=f".{path.name}.") as tmp:
        tmp.write(text)
    os.chmod(tmp.name, path.stat().st_mode & 0o777)
    os.replace(tmp.name, path)


class Checker:
    def __init__(self, conf: Path, fails: int, passes: int, timeout: float, reload: list[str]) -> None:
        self.conf, self.fails, self.passes, self.timeout, self.reload = conf, fails, passes, timeout, reload
        self.streak: dict[str, int] = {}  # > 0: good checks in a row, < 0: failed checks in a row

    def check_once(self) -> bool:
        """One round of checks; rewrites the config and reloads nginx when a mark changed. True if it did."""
        config = self.conf.read_text()
        marked = instances(config)
        for address in marked:
            ok = healthy(address, self.timeout)
            previous = self.streak.get(address, 0)
            self.streak[address] = max(previous, 0) + 1 if ok else min(previous, 0) - 1
        down = {a for a, was_down in marked.items()
                if (self.streak[a] <= -self.fails) or (was_down and self.streak[a] < self.passes)}
        if down == set(marked):
            down = set()  # fail open
        if down == {a for a, was_down in marked.items() if was_down}:
            return False
        write_atomically(self.conf, with_marks(config, down))
        print(f"gazepipe health: down {sorted(down) or 'none'}", flush=True)
        if self.reload:
            subprocess.run(self.reload, check=True)
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conf", type=Path, default=Path("/etc/nginx/conf.d/gazepipe.conf"))
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between rounds")
    parser.add_argument("--fails", type=int, default=2, help="failed checks in a row before marking down")
    parser.add_argument("--passes", type=int, default=2, help="good checks in a row before clearing the mark")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for /health")
    parser.add_argument("--reload", default="nginx -t -q && nginx -s reload",
                        help="shell command run after a change ('' for none)")
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    args = parser.parse_args(argv)
    reload = ["sh", "-c", args.reload] if args.reload else []
    checker = Checker(args.conf, args.fails, args.passes, args.timeout, reload)
    if args.once:
        checker.fails = checker.passes = 1
        checker.check_once()
        return 0
    while True:
        try:
            checker.check_once()
        except (OSError, ValueError, subprocess.CalledProcessError) as exc:
            print(f"gazepipe health: {exc}", file=sys.stderr, flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
