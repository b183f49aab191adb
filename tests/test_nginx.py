"""Many instances behind nginx: deploy/nginx/gazepipe.conf in front of two real service instances, on loopback.

Debian's nginx is installed when missing (the test is skipped, saying why, only where it cannot be). nginx runs
as a child process with its own prefix, temp and log folders, from the deploy/ config with its upstream and
listen lines rewritten to loopback ports. Six clients stream real faces through it; one instance is then
stopped with SIGTERM, and its clients must get close code 1001, reconnect through nginx and go on with the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gazepipe.protocol import ErrorMessage, GazeResult

from .conftest import FaceFrame
from .service import REPO, Service, free_port
from .wsclient import GazeConnection

TEMPLATE = REPO / "deploy" / "nginx" / "gazepipe.conf"
HEALTH_SYNC = REPO / "deploy" / "nginx" / "health_sync.py"
CLIENTS = 6
FPS = 5.0
TOKEN = "s3cret-token-never-logged"


# nginx: found, or installed from Debian's packages, or the test is skipped ----------------------------------


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def ensure_nginx() -> str:
    found = nginx_binary()
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip("nginx is not installed and this system has no apt-get to install Debian's nginx")
    if os.geteuid() != 0:
        pytest.skip("nginx is not installed and installing it needs root: apt-get install nginx")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log = []
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=120", "--no-install-recommends",
                     "nginx"]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            pytest.skip(f"nginx could not be installed: {' '.join(command)} timed out")
        log.append(done.stdout[-2000:] + done.stderr[-2000:])
        if done.returncode != 0 and "install" in command:
            pytest.skip(f"nginx could not be installed (apt-get install nginx failed):\n{''.join(log)}")
    found = nginx_binary()
    if not found:
        pytest.skip(f"nginx could not be installed (no nginx binary after apt-get):\n{''.join(log)}")
    return found


# nginx's configuration: the deploy template with loopback ports -------------------------------------------


def site_config(template: str, listen_port: int, upstream_ports: list[int], access_log: Path) -> str:
    """deploy/nginx/gazepipe.conf with its instances, listen address and log path replaced, all else kept."""
    upstream = re.search(r"upstream gazepipe \{.*?\n\}", template, re.S)
    assert upstream, "deploy/nginx/gazepipe.conf has no `upstream gazepipe` block"
    servers = re.findall(r"^( *)server \S+( [^;\n]*)?;$", upstream.group(0), re.M)
    assert servers, "the upstream block lists no server"
    indent, params = servers[0]
    lines = "\n".join(f"{indent}server 127.0.0.1:{port}{params};" for port in upstream_ports)
    block = re.sub(r"^ *server \S+( [^;\n]*)?;$\n?", "", upstream.group(0), flags=re.M)
    block = block.replace("least_conn;", f"least_conn;\n{lines}", 1)
    config = template.replace(upstream.group(0), block)
    config, listens = re.subn(r"^( *)listen \S+;$", rf"\g<1>listen 127.0.0.1:{listen_port};", config, flags=re.M)
    assert listens == 1, f"expected one plain `listen` line, found {listens}"
    config, logs = re.subn(r"^( *)access_log \S+ gazepipe;$", rf"\g<1>access_log {access_log} gazepipe;", config,
                           flags=re.M)
    assert logs == 1, "expected one `access_log ... gazepipe;` line"
    return config


def main_config(prefix: Path, site: Path) -> str:
    """What nginx.conf around the site file would hold, with every path inside `prefix`."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # the workers must reach the private temp folders
    temp = "\n".join(f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                            "uwsgi", "scgi"))
    return f"""{user}daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;
worker_shutdown_timeout 5s;
events {{ worker_connections 512; }}
http {{
{temp}
    access_log off;
    include {site};
}}
"""


@dataclass
class Nginx:
    binary: str
    prefix: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> str:
        path = self.prefix / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, upstream_ports: list[int]) -> None:
        site = self.prefix / "gazepipe.conf"
        site.write_text(site_config(TEMPLATE.read_text(), self.port, upstream_ports, self.prefix / "access.log"))
        conf = self.prefix / "nginx.conf"
        conf.write_text(main_config(self.prefix, site))
        command = [self.binary, "-p", str(self.prefix), "-c", str(conf), "-e", str(self.prefix / "error.log")]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, f"nginx -t refused the config:\n{check.stderr}"
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}:\n{self.error_log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.05)
        raise TimeoutError(f"nginx did not listen on {self.port}:\n{self.error_log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


@pytest.fixture
def nginx() -> Iterator[Nginx]:
    binary = ensure_nginx()
    prefix = Path(tempfile.mkdtemp(prefix="gazepipe-nginx-"))
    running = Nginx(binary, prefix, free_port())
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(prefix, ignore_errors=True)


# What the instances say about themselves -----------------------------------------------------------------


def metric(service: Service, name: str) -> float:
    with urllib.request.urlopen(f"{service.http_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# The clients ----------------------------------------------------------------------------------------------


@dataclass
class Connection:
    """One WebSocket session as a client saw it."""

    sent: list[float] = field(default_factory=list)
    answers: list[GazeResult] = field(default_factory=list)
    errors: list[ErrorMessage] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""

    @property
    def processed(self) -> int:
        return sum(a.frame_processed for a in self.answers)


@dataclass
class Client:
    """A webcam page: streams one face, and when its socket closes it reconnects through nginx and goes on."""

    index: int
    url: str
    frame: FaceFrame
    connections: list[Connection] = field(default_factory=list)
    handshake_failures: list[str] = field(default_factory=list)

    async def run(self, done: asyncio.Event) -> None:
        while not done.is_set():
            try:
                ws = await websockets.connect(self.url, open_timeout=10)
            except (InvalidStatus, OSError, TimeoutError) as exc:
                self.handshake_failures.append(repr(exc))
                await asyncio.sleep(0.2)  # the TypeScript client backs off too; this test wants it brief
                continue
            connection = Connection()
            self.connections.append(connection)
            await self._stream(ws, connection, done)

    async def _stream(self, ws: websockets.ClientConnection, connection: Connection, done: asyncio.Event) -> None:
        client = GazeConnection(ws, binary=self.index % 2 == 1)

        async def send() -> None:
            start = time.monotonic()
            n = 0
            while not done.is_set():
                connection.sent.append(await client.send_frame(self.frame.jpeg))
                n += 1
                await asyncio.sleep(max(0.0, start + n / FPS - time.monotonic()))

        sender = asyncio.create_task(send())
        last = time.monotonic()
        try:
            while not done.is_set():
                try:
                    answer = await client.receive(timeout=0.5)
                except TimeoutError:
                    assert time.monotonic() - last < 30, f"client {self.index}: no answer for 30 s"
                    continue
                last = time.monotonic()
                if isinstance(answer, ErrorMessage):
                    connection.errors.append(answer)
                else:
                    assert isinstance(answer, GazeResult), answer
                    connection.answers.append(answer)
        except ConnectionClosed as closed:
            connection.close_code = closed.rcvd.code if closed.rcvd else None
            connection.close_reason = closed.rcvd.reason if closed.rcvd else ""
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender
            await ws.close()


def describe(clients: list[Client]) -> str:
    """Each client's sessions as (frames sent, results, tracked, close code), with errors and failed handshakes."""
    return "\n".join(
        f"client {c.index}: {[(len(s.sent), len(s.answers), s.processed, s.close_code) for s in c.connections]}"
        + "".join(f" errors: {sorted({e.message for e in s.errors})}" for s in c.connections if s.errors)
        + (f" failed handshakes: {c.handshake_failures}" if c.handshake_failures else "") for c in clients)


async def wait_until(condition: Any, timeout: float, what: str, clients: list[Client],
                     tasks: list[asyncio.Task[None]]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for task in tasks:
            if task.done():
                task.result()  # a client that died raises its exception here
                raise AssertionError(f"a client stopped while waiting for {what}\n{describe(clients)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{describe(clients)}")
        await asyncio.sleep(0.1)


def load_health_sync() -> object:
    spec = importlib.util.spec_from_file_location("health_sync", HEALTH_SYNC)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The tests ------------------------------------------------------------------------------------------------


def test_config_template_rewrites_cleanly() -> None:
    """The rewrite the test applies keeps every directive of the deploy config but ports and log path."""
    template = TEMPLATE.read_text()
    config = site_config(template, 9999, [7001, 7002, 7003], Path("/tmp/x.log"))
    upstream = re.search(r"upstream gazepipe \{.*?\n\}", config, re.S)
    assert upstream is not None
    assert re.findall(r"server (\S+) max_fails=\d+ fail_timeout=\d+s;", upstream.group(0)) == [
        "127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]
    for kept in ("least_conn;", "zone gazepipe", "proxy_set_header Upgrade $http_upgrade;",
                 "proxy_set_header Connection $connection_upgrade;", "proxy_read_timeout",
                 "client_max_body_size", "limit_conn gazepipe_per_client"):
        assert kept in config, kept
    assert "proxy_set_header Origin" not in config, "Origin must reach the instances as the browser sent it"


def test_health_sync_marks_only_the_upstream_servers() -> None:
    sync: Any = load_health_sync()
    config = site_config(TEMPLATE.read_text(), 9999, [7001, 7002], Path("/tmp/x.log"))
    assert sync.instances(config) == {"127.0.0.1:7001": False, "127.0.0.1:7002": False}
    marked = sync.with_marks(config, {"127.0.0.1:7002"})
    assert "server 127.0.0.1:7002 max_fails=1 fail_timeout=10s down;" in marked
    assert sync.instances(marked) == {"127.0.0.1:7001": False, "127.0.0.1:7002": True}
    assert sync.with_marks(marked, set()) == config
    assert marked.replace(" down;", ";") == config  # nothing else in the file changed


@pytest.mark.timeout(240)
def test_two_instances_behind_nginx_and_one_goes_away(nginx: Nginx, face_frames: list[FaceFrame]) -> None:
    with contextlib.ExitStack() as stack:
        # Two independent instances, each with its own port and worker socket (Service gives both).
        # As deployed: the per-address connection limit is nginx's (limit_conn), not the instances'.
        first, second = (Service(workers=1, max_connections_per_client=100000) for _ in range(2))
        for instance in (first, second):
            stack.callback(instance.stop)
            instance.start()
        for instance in (first, second):
            instance.wait_healthy()
        nginx.start([first.port, second.port])
        base = f"127.0.0.1:{nginx.port}"

        status, body = http_get(f"http://{base}/")
        assert status == 200 and b'"gazepipe"' in body, (status, body)
        assert http_get(f"http://{base}/health")[0] == 200

        clients = [Client(i, f"ws://{base}/ws/gaze" + (f"?token={TOKEN}" if i == 0 else ""),
                          face_frames[i % len(face_frames)]) for i in range(CLIENTS)]

        async def scenario() -> dict[str, object]:
            done = asyncio.Event()
            tasks = [asyncio.create_task(c.run(done)) for c in clients]
            try:
                # 1. Every client streams through nginx and gets tracked answers.
                await wait_until(lambda: all(c.connections and c.connections[-1].processed >= 8 for c in clients),
                                 40, "every client to get 8 tracked answers through nginx", clients, tasks)
                before = {"first": metric(first, "gazepipe_sessions_total"),
                          "second": metric(second, "gazepipe_sessions_total"),
                          "second_open": metric(second, "gazepipe_connections")}

                # Origin is passed through and checked by the instance: a foreign page is refused.
                with pytest.raises(InvalidStatus) as refused:
                    await websockets.connect(f"ws://{base}/ws/gaze", origin="https://evil.example.org",  # type: ignore[arg-type]
                                             open_timeout=10)
                assert refused.value.response.status_code == 403

                # 2. The second instance is stopped with SIGTERM, as systemd or Kubernetes would.
                tracked_before = {c.index: c.connections[-1].processed for c in clients}
                codes = await asyncio.to_thread(second.stop)
                assert codes.get("front") == 0, f"front exit code {codes}:\n{second.log('front')}"

                # 3. Its clients reconnect through nginx and get answers from the first.
                def tracked_since_stop(c: Client) -> int:
                    last = c.connections[-1]
                    return last.processed - tracked_before[c.index] if len(c.connections) == 1 else last.processed

                await wait_until(lambda: all(tracked_since_stop(c) >= 8 for c in clients), 40,
                                 "every client to get 8 tracked answers after the instance went away", clients, tasks)
                moved = [c for c in clients if len(c.connections) > 1]
                after = {"first": metric(first, "gazepipe_sessions_total")}
                return {"before": before, "after": after, "moved": moved, "tracked_before": tracked_before}
            finally:
                done.set()
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 40)

        outcome = asyncio.run(scenario())
        print(describe(clients), outcome["before"], outcome["after"], nginx.error_log()[-3000:], sep="\n")
        before, after = outcome["before"], outcome["after"]
        moved: list[Client] = outcome["moved"]  # type: ignore[assignment]
        assert isinstance(before, dict) and isinstance(after, dict)

        errors = {e.code for c in clients for s in c.connections for e in s.errors}
        assert not errors, f"the instances answered errors: {errors}\n{describe(clients)}"

        # Real faces: every tracked answer found the face.
        assert all(a.face_found for c in clients for s in c.connections for a in s.answers if a.frame_processed)

        # nginx hid the failover: a handshake that reached the stopped instance (refused while it drained, or
        # no longer listening) was retried on the other one, and no client ever saw a failed handshake.
        assert not [c.handshake_failures for c in clients if c.handshake_failures]

        # Both instances served sessions, and between them exactly the six clients' sessions.
        assert before["first"] >= 1 and before["second"] >= 1, f"least_conn left an instance idle: {before}"
        assert before["first"] + before["second"] == CLIENTS, before

        # Exactly the clients of the stopped instance lost their socket, each with a proper 1001 close ...
        assert len(moved) == before["second_open"] == before["second"], (len(moved), before)
        for client in moved:
            lost = client.connections[0]
            assert lost.close_code == 1001, (client.index, lost.close_code, lost.close_reason)
            assert lost.processed >= 8
            # ... got every answer it had, in the order it sent the frames ...
            assert [a.timestamp for a in lost.answers] == lost.sent[: len(lost.answers)]
            # ... and its new session lives on the first instance and streams on.
            assert len(client.connections) == 2, [c.close_code for c in client.connections]
            assert client.connections[1].processed >= 8
        assert after["first"] == before["first"] + len(moved), (before, after)

        # The other clients never noticed: same session, and tracked answers on after the stop.
        tracked_before: dict[int, int] = outcome["tracked_before"]  # type: ignore[assignment]
        for client in clients:
            if client not in moved:
                assert len(client.connections) == 1, (client.index, [c.close_code for c in client.connections])
                assert client.connections[0].processed >= tracked_before[client.index] + 8

        # The token a client passed in the query string never reaches nginx's access log.
        access = nginx.access_log()
        assert "/ws/gaze" in access and TOKEN not in access

        # Active checks for plain nginx: health_sync.py finds the stopped instance's /health failing, marks it
        # `down` in the config and reloads nginx, which keeps serving through the first instance.
        site = nginx.prefix / "gazepipe.conf"
        reload = f"{nginx.binary} -p {nginx.prefix} -c {nginx.prefix / 'nginx.conf'} -s reload"
        done = subprocess.run([sys.executable, str(HEALTH_SYNC), "--conf", str(site), "--once", "--reload", reload],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        sync: Any = load_health_sync()
        assert sync.instances(site.read_text()) == {f"127.0.0.1:{first.port}": False,
                                                    f"127.0.0.1:{second.port}": True}, done.stdout

        async def one_more() -> GazeResult:
            async with websockets.connect(f"ws://{base}/ws/gaze", open_timeout=10) as ws:
                return await GazeConnection(ws).track(face_frames[0].jpeg)

        assert asyncio.run(one_more()).frame_processed

        # The per-address limit, kept at the edge: 32 sessions from one address, and the 33rd is refused by nginx.
        async def up_to_the_limit() -> int:
            await asyncio.sleep(0.5)  # the connections above are gone from nginx's count
            async with contextlib.AsyncExitStack() as open_sockets:
                for _ in range(32):
                    await open_sockets.enter_async_context(websockets.connect(f"ws://{base}/ws/gaze", open_timeout=10))
                with pytest.raises(InvalidStatus) as refused:
                    await websockets.connect(f"ws://{base}/ws/gaze", open_timeout=10)
                return refused.value.response.status_code

        assert asyncio.run(up_to_the_limit()) == 429
