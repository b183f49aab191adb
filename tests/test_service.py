"""The service end to end: real hypercorn, real workers, real model, real faces, real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request

import cv2
import msgspec
import numpy as np
import psutil
import websockets
from testdata import encode_jpeg

from gazepipe.protocol import ErrorMessage, GazeResult, server_msgpack_decoder

from .conftest import FaceFrame
from .service import Service
from .streaming import StreamLog, stream
from .wsclient import CONTRACT_FIELDS, GazeConnection, text_frame


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: dict[str, object] = json.loads(response.read())
        return body


def read_jpeg(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    return image


def assert_pupils_on_irises(result: GazeResult, frame: FaceFrame) -> None:
    """Both pupils found, each within a quarter of the inter-iris distance of the reference iris."""
    assert result.face_found, "no face found in a frontal face"
    assert result.pupil_left is not None and result.pupil_right is not None, result
    for found, truth in ((result.pupil_left, frame.iris_left), (result.pupil_right, frame.iris_right)):
        error = float(np.linalg.norm(np.asarray(found) - truth)) / frame.iris_distance
        assert error <= 0.25, f"pupil {found} is {error:.2f} inter-iris distances from the iris {truth}"


def test_info_and_health(service: Service) -> None:
    info = get_json(service.http_url + "/")
    assert info["service"] == "gazepipe"
    assert info["workers"] == 2
    assert "json-1" in info["protocols"] and "binary-1" in info["protocols"]  # type: ignore[operator]
    status, health = service.health()
    assert status == 200 and health["status"] == "ok"
    workers = health["workers"]
    assert isinstance(workers, list) and len(workers) == 2
    for worker in workers:
        assert worker["alive"] and worker["pid"] > 0
        os.kill(worker["pid"], 0)  # the pid is a live process
    ring = health["ring"]
    assert isinstance(ring, dict) and ring["slots"] > 0 and ring["in_use"] == 0


def test_workers_run_with_huge_pages_and_one_blas_thread(service: Service) -> None:
    """The supervisor's environment reaches every worker (set before NumPy and glibc read it)."""
    workers = service.health()[1]["workers"]
    assert isinstance(workers, list) and workers
    for worker in workers:
        env = psutil.Process(worker["pid"]).environ()
        assert env.get("OPENBLAS_NUM_THREADS") == os.environ.get("OPENBLAS_NUM_THREADS", "1"), env
        assert "glibc.malloc.hugetlb=1" in env.get("GLIBC_TUNABLES", "").split(":"), env


def test_the_demo_page_and_its_script_are_served(service: Service) -> None:
    with urllib.request.urlopen(service.http_url + "/demo/", timeout=5) as page:
        assert page.status == 200 and b"gazepipe-demo.js" in page.read()
    with urllib.request.urlopen(service.http_url + "/demo/gazepipe-demo.js", timeout=5) as script:
        assert script.status == 200 and len(script.read()) > 1000


def test_text_mode_answers_the_original_contract(service: Service, face_frames: list[FaceFrame]) -> None:
    async def run() -> list[dict[str, object]]:
        async with websockets.connect(service.ws_url) as ws:
            client = GazeConnection(ws)
            answers = []
            for index, frame in enumerate(face_frames[:8]):
                await client.send_frame(frame.jpeg, timestamp=1000.0 + index)
                answers.append(await client.receive_raw_json())
            return answers

    answers = asyncio.run(run())
    for index, (answer, frame) in enumerate(zip(answers, face_frames, strict=False)):
        assert set(CONTRACT_FIELDS) <= set(answer), f"missing {set(CONTRACT_FIELDS) - set(answer)}"
        assert answer["type"] == "result" and answer["timestamp"] == 1000.0 + index
        assert answer["frame_processed"] is True and answer["face_found"] is True
        assert {"latency_ms", "seq"} <= set(answer)
        assert 0.0 <= answer["attention_score"] <= 1.0  # type: ignore[operator]
        assert_pupils_on_irises(msgspec.convert(answer, GazeResult), frame)


def test_binary_mode_gets_msgpack_results(service: Service, face_frames: list[FaceFrame]) -> None:
    async def run() -> list[GazeResult]:
        async with websockets.connect(service.ws_url) as ws:
            client = GazeConnection(ws, binary=True)
            results = []
            for frame in face_frames[:6]:
                await client.send_frame(frame.jpeg)
                raw = await asyncio.wait_for(ws.recv(), 30)
                assert isinstance(raw, bytes), "binary frames are answered in binary"
                answer = server_msgpack_decoder.decode(raw)
                assert isinstance(answer, GazeResult)
                results.append(answer)
            return results

    results = asyncio.run(run())
    assert [r.seq for r in results] == list(range(6))
    for result, frame in zip(results, face_frames, strict=False):
        assert result.frame_processed
        assert_pupils_on_irises(result, frame)


def test_compression_offered_is_declined_and_frames_are_answered(service: Service,
                                                                 face_frames: list[FaceFrame]) -> None:
    """Browsers offer permessage-deflate on every handshake; the front declines it (JPEG does not deflate) and
    the client goes on uncompressed, in both modes."""
    async def run(binary: bool) -> tuple[str | None, GazeResult]:
        async with websockets.connect(service.ws_url, compression="deflate") as ws:
            assert ws.response is not None
            return ws.response.headers.get("Sec-WebSocket-Extensions"), await GazeConnection(ws, binary).track(
                face_frames[0].jpeg)

    for binary in (False, True):
        extensions, result = asyncio.run(run(binary))
        assert extensions is None, f"the front accepted {extensions}"
        assert result.frame_processed
        assert_pupils_on_irises(result, face_frames[0])


def test_frame_without_a_face(service: Service, empty_jpeg: bytes) -> None:
    async def run() -> GazeResult:
        async with websockets.connect(service.ws_url) as ws:
            return await GazeConnection(ws).track(empty_jpeg)

    result = asyncio.run(run())
    assert result.frame_processed and not result.face_found
    assert result.pupil_left is None and result.pupil_right is None
    assert result.horizontal_ratio is None and not (result.is_left or result.is_right or result.is_center)
    assert result.pupil_left_reason == "no_face"


def test_an_empty_room_is_searched_a_few_times_a_second(service: Service, empty_jpeg: bytes,
                                                       face_frames: list[FaceFrame]) -> None:
    """After a second without a face, a session's frames are searched only every `no_face_search_every_s` (the
    rest answered `dropped: "no_face"`, undecoded); a face that comes back is found within that, and once found
    it is not answered lost again by a frame that was not searched."""
    walls, faces = 30, 10
    log = asyncio.run(stream(service.ws_url, [empty_jpeg] * walls + [face_frames[0].jpeg] * faces, fps=10.0,
                             duration_s=(walls + faces) / 10.0, binary=True))
    results = log.results
    assert [r.timestamp for r in results] == log.sent, "every frame answered once, in order"
    wall, face = results[:walls], results[walls:]
    assert all(r.frame_processed and not r.face_found for r in wall[:10]), "the first second is searched"
    paused = [r for r in wall if not r.frame_processed]
    assert {r.dropped for r in paused} == {"no_face"} and len(paused) >= 10, [r.dropped for r in wall]
    assert any(r.frame_processed for r in wall[15:]), "the search goes on"
    found = next(n for n, r in enumerate(face) if r.face_found)
    assert found <= 4, [(r.frame_processed, r.face_found) for r in face]
    assert all(r.frame_processed and r.face_found for r in face[found:])


def test_bad_input_gets_errors_and_the_connection_goes_on(service: Service, face_frames: list[FaceFrame]) -> None:
    good = face_frames[0].jpeg
    corrupt = good[:600] + bytes(1500) + good[2100:]

    async def run() -> tuple[list[object], GazeResult]:
        async with websockets.connect(service.ws_url, max_size=None) as ws, \
                websockets.connect(service.ws_url) as bystander_ws:
            client = GazeConnection(ws)
            bystander = GazeConnection(bystander_ws, binary=True)
            bad_messages: list[str | bytes] = [
                text_frame(corrupt, 1.0),
                text_frame(b"GIF89a not a jpeg at all", 2.0),
                text_frame(good[: len(good) // 3], 3.0),
                '{"type": "frame", "image": "data:image/jpeg;base64,@@@@", "timestamp": 4}',
                "this is not json",
                '{"type": "teleport"}',
                '{"type": "frame", "timestamp": 5}',
                text_frame(bytes(5 * 1024 * 1024), 6.0),
                b"\x01\x00",
            ]
            answers: list[object] = []
            for message in bad_messages:
                await ws.send(message)
                answers.append(await client.receive())
                # Another client streams all the while and is untouched.
                assert (await bystander.track(good)).frame_processed
            after = await client.track(good)
            return answers, after

    answers, after = asyncio.run(run())
    codes = [a.code if isinstance(a, ErrorMessage) else a for a in answers]
    assert codes == ["bad_jpeg", "not_jpeg", "bad_jpeg", "bad_base64", "bad_message", "bad_message",
                     "bad_message", "message_too_large", "bad_header"], codes
    errors = [a for a in answers if isinstance(a, ErrorMessage)]
    assert all(e.message for e in errors)
    # Errors about a frame name it; those about a message that is no frame cannot.
    assert [e.timestamp for e in errors] == [1.0, 2.0, 3.0, 4.0, None, None, None, None, None]
    assert after.frame_processed and after.face_found
    assert service.health()[0] == 200


def test_several_clients_each_get_their_own_results_in_order(service: Service,
                                                              face_frames: list[FaceFrame]) -> None:
    """Four clients, text and binary, each streaming its own face at 10 FPS: each gets one answer per frame,
    its own, in its order, and the pupils found are on its own face's irises."""

    async def run() -> list[StreamLog]:
        return await asyncio.gather(*(stream(service.ws_url, [face_frames[index].jpeg], fps=10, duration_s=1.2,
                                             binary=index % 2 == 1) for index in range(4)))

    for index, log in enumerate(asyncio.run(run())):
        assert log.error is None and not log.closed_early and log.unanswered == 0
        assert [r.timestamp for r in log.results] == log.sent
        assert all(r.frame_processed or r.dropped in {"superseded", "stale"} for r in log.results)
        processed = [r for r in log.results if r.frame_processed]
        assert processed, "a client at 10 FPS got none of its frames tracked"
        for result in processed:
            assert_pupils_on_irises(result, face_frames[index])


def test_ten_seconds_at_ten_fps(service: Service, face_frames: list[FaceFrame]) -> None:
    """The acceptance run: a face at 10 FPS for 10 s gets one answer per frame, in order, with pupils."""
    frame = face_frames[0]
    log = asyncio.run(stream(service.ws_url, [frame.jpeg], fps=10, duration_s=10))
    assert log.error is None and not log.closed_early
    assert len(log.sent) == 100
    assert [r.timestamp for r in log.results] == log.sent, "one answer per frame, in order"
    assert [r.seq for r in log.results] == list(range(100))
    processed = [r for r in log.results if r.frame_processed]
    assert len(processed) >= 95
    for result in processed:
        assert_pupils_on_irises(result, frame)


def test_out_of_order_workers_answer_in_order(service: Service, face_frames: list[FaceFrame]) -> None:
    """A slow frame (a large image, full detection) and a fast one go to the two workers together; the fast
    one finishes first, yet the client gets them in the order it sent them."""
    slow = encode_jpeg(cv2.resize(read_jpeg(face_frames[1].jpeg), (1280, 960)))
    fast = encode_jpeg(np.full((48, 64), 90, np.uint8))

    async def run() -> list[tuple[GazeResult, GazeResult]]:
        pairs = []
        async with websockets.connect(service.ws_url) as ws:
            client = GazeConnection(ws)
            for _ in range(5):
                await client.send_frame(slow)
                await client.send_frame(fast)
                first, second = await client.receive(), await client.receive()
                assert isinstance(first, GazeResult) and isinstance(second, GazeResult)
                pairs.append((first, second))
        return pairs

    pairs = asyncio.run(run())
    for first, second in pairs:
        assert first.seq + 1 == second.seq, "answers left the session out of order"
    # The fast frame's result was ready well before the slow one's, and still came second.
    assert any(second.frame_processed and first.frame_processed and second.latency_ms < first.latency_ms
               for first, second in pairs)


def test_burst_supersedes_and_every_frame_is_answered_once(face_frames: list[FaceFrame]) -> None:
    """One worker and a client that sends a burst far faster than it can track: a waiting frame is superseded
    by a newer one or goes stale (here after 1 ms), yet each frame is answered exactly once, and in order."""
    with Service(workers=1, stale_ms=1, max_fps=10_000) as one_worker:
        async def run() -> list[GazeResult]:
            async with websockets.connect(one_worker.ws_url) as ws:
                client = GazeConnection(ws, binary=True)
                for n in range(60):
                    await client.send_frame(face_frames[n % len(face_frames)].jpeg, timestamp=float(n))
                results = []
                for _ in range(60):
                    answer = await client.receive()
                    assert isinstance(answer, GazeResult)
                    results.append(answer)
                return results

        results = asyncio.run(run())
    assert [r.timestamp for r in results] == [float(n) for n in range(60)]
    reasons = {r.dropped for r in results if not r.frame_processed}
    assert reasons == {"superseded", "stale"}, reasons
    assert results[0].frame_processed, "the first frame found the worker idle and never waited"


def test_large_frame_is_decoded_scaled_and_answered_in_its_own_pixels(service: Service,
                                                                      face_frames: list[FaceFrame]) -> None:
    """A 1920x1440 frame does not fit a ring slot at full size: it decodes at half scale, and the pupils
    still come back in the coordinates of the frame as sent."""
    frame = face_frames[2]
    large = encode_jpeg(cv2.resize(read_jpeg(frame.jpeg), (1920, 1440), interpolation=cv2.INTER_CUBIC))
    scaled = FaceFrame(frame.face, large, frame.iris_left * 3.0, frame.iris_right * 3.0)

    async def run() -> GazeResult:
        async with websockets.connect(service.ws_url) as ws:
            return await GazeConnection(ws, binary=True).track(large)

    result = asyncio.run(run())
    assert result.frame_processed
    assert_pupils_on_irises(result, scaled)
    assert result.face_box is not None and result.face_box[2] > 300, "the face box is in the large frame's pixels"
