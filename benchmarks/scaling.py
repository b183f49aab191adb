"""Frames per second against the number of tracker workers, and where a frame's time goes.

    .venv/bin/python benchmarks/scaling.py [--json]

1. For 1 .. cores workers, the service (started as `make run` does) is offered more frames than it can track
   (`--clients` x `--fps`, binary); the processed frames/s is its capacity with that many workers. Clients
   hold back while `--window` frames are unanswered (the project's client does, with 2), so that the excess
   offered does not spend the same cores on receiving and answering frames that are then dropped.
2. With one worker, the per-frame cost split by stage (the results' `stages_ms` medians) and the CPU each
   process spent per processed frame (psutil), next to the cost of the stages alone measured in this process
   on one core: JPEG decode to grey, 68 landmarks given the face box, both pupils; their sum is the floor.
   This process runs, like the workers, with glibc's malloc on huge pages and one BLAS thread
   (`supervisor.with_worker_environment`). The landmark fit is also timed on one frame fitted over and over:
   the figure a micro-benchmark gives, with the model's trees in the cache.
3. The tracker's own cost per frame in this process (decode to result, face box followed from frame to frame
   as a session does), next to MediaPipe Face Mesh with iris at 2.2 ms per frame on this kind of machine
   (quoted from the field notes, not measured here: MediaPipe is not installed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import cv2
import loadgen
import numpy as np
from loadgen import frames

from gazepipe.workers.supervisor import with_worker_environment

MEDIAPIPE_FACE_MESH_MS = 2.2  # field notes: Face Mesh with iris, video mode, this kind of machine


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples), 3) if samples else 0.0


def stages_alone(max_frames: int) -> dict[str, Any]:
    """Each stage timed on its own over the benchmark frames, one core, medians in ms."""
    from gazepipe.front.jpeg import decode_into, plan_decode
    from gazepipe.model import predictor_path
    from gazepipe.tracking.eye import LEFT_POINTS, RIGHT_POINTS, Eye
    from gazepipe.tracking.pupil import locate
    from gazepipe.tracking.tracker import GazeTracker
    from gazepipe.tracking.types import following

    cv2.setNumThreads(1)  # one core, as each worker runs OpenCV (worker.py)
    tracker = GazeTracker(str(predictor_path()))
    faces = tracker._faces  # the tracker's own dlib models, timed step by step
    times: dict[str, list[float]] = {k: [] for k in ("decode", "landmarks", "landmarks_same_frame", "pupils",
                                                     "follow", "detect_full",
                                                     "tracker", "tracker_with_decode", "detect_frames",
                                                     "tracker_with_decode_faces", "tracker_with_decode_clip")}

    def both_pupils(grey: np.ndarray, landmarks: np.ndarray) -> list[object]:
        return [locate(Eye(grey, landmarks[LEFT_POINTS]), None), locate(Eye(grey, landmarks[RIGHT_POINTS]), None)]

    def timed(name: str, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = call()
        times[name].append((time.perf_counter() - started) * 1000.0)
        return value

    detections = 0
    count = 0
    sequences = frames.sequences()
    per_sequence = max(1, max_frames // len(sequences))  # every sequence gets its share, the clip too
    for sequence in sequences:
        previous = None
        for jpeg in sequence.jpegs[:per_sequence]:
            count += 1
            plan = plan_decode(jpeg, 4096, 1 << 22)
            grey = np.empty((plan.decoded_height, plan.decoded_width), np.uint8)
            timed("decode", partial(decode_into, jpeg, plan, grey))
            started = time.perf_counter()
            out = tracker.track(grey, following(previous))
            elapsed = (time.perf_counter() - started) * 1000.0
            times["tracker"].append(elapsed)
            times["tracker_with_decode"].append(elapsed + times["decode"][-1])
            kind = "clip" if sequence.name == "clip" else "faces"
            times[f"tracker_with_decode_{kind}"].append(elapsed + times["decode"][-1])
            if out.detector_ran:
                detections += 1
                times["detect_frames"].append(elapsed)
            previous = out
            box = out.face_box
            if box is None:
                continue
            landmarks = timed("landmarks", partial(faces.landmarks, grey, box))
            timed("pupils", partial(both_pupils, grey, landmarks))
            timed("follow", partial(faces.follow, grey, box))
            if len(times["detect_full"]) < 20:
                timed("detect_full", partial(faces.detect, grey))
                # the same fit over and over, as a micro-benchmark times it: after a few rounds the trees it
                # reads are in the cache
                for repeat in range(20):
                    if repeat < 10:
                        faces.landmarks(grey, box)
                    else:
                        timed("landmarks_same_frame", partial(faces.landmarks, grey, box))
    medians = {name: _median_ms(values) for name, values in times.items()}
    # The best of many runs of a step is the figure least disturbed by other programs on the machine.
    best = {name: round(min(values), 3) if values else 0.0 for name, values in times.items()}
    return {
        "frames": count,
        "stage_median_ms": medians,
        "stage_min_ms": best,
        "floor_min_ms": round(best["decode"] + best["landmarks"] + best["pupils"], 3),
        "floor_ms": round(medians["decode"] + medians["landmarks"] + medians["pupils"], 3),
        "tracker_mean_ms": round(float(np.mean(times["tracker_with_decode"])), 3) if count else 0.0,
        "tracker_p95_ms": round(float(np.percentile(times["tracker_with_decode"], 95)), 3) if count else 0.0,
        "detector_ran_share": round(detections / count, 3) if count else 0.0,
        "mediapipe_face_mesh_ms": MEDIAPIPE_FACE_MESH_MS,
    }


def capacity(workers: int, clients: int, fps: float, duration: float, warmup: float,
             client_processes: int, window: int) -> dict[str, Any]:
    with loadgen.service_under_test(None, workers, max_connections_per_client=64) as (ws, launched):
        pids = loadgen.service_pids(ws, launched)
        before = loadgen.stage_sums(ws)
        logs, usage, wall = loadgen.drive(ws, clients, fps, duration, "binary", warmup=warmup, grace=3.0,
                                          processes=client_processes, window=window, monitor_pids=pids)
        means = loadgen.sample_stage_means(ws, before)
    result = loadgen.summarise(logs, usage, wall, {"workers": workers, "clients": clients, "fps": fps},
                               {k: v for k, v in means.items() if k == "encode"})
    return {"workers": workers, "offered_fps": result["offered_fps"], "processed_fps": result["processed_fps"],
            "latency_ms": result["latency_ms"], "stages_ms_median": result["stages_ms_median"],
            "cpu_ms_per_processed_frame": result["cpu_ms_per_processed_frame"],
            "service_cpu_ms_per_frame": result["service_cpu_ms_per_frame"],
            "cpu_bound_capacity_fps": result["cpu_bound_capacity_fps"],
            "dropped_by_reason": result["dropped_by_reason"], "out_of_order": result["out_of_order"]}


def main(argv: list[str] | None = None) -> int:
    with_worker_environment()  # the in-process timings run the tracker as the workers do
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--fps", type=float, default=10.0, help="per client: offer more than the workers can do")
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--max-workers", type=int, default=loadgen.os.cpu_count() or 1)
    parser.add_argument("--frames", type=int, default=1000, help="frames for the in-process stage timings")
    parser.add_argument("--client-processes", type=int, default=1)
    parser.add_argument("--window", type=int, default=2,
                        help="clients skip a tick while this many frames are unanswered, as the project's client "
                             "does, so that the offered excess does not spend the cores on frames that are dropped "
                             "(0: send every tick)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    runs = [capacity(w, args.clients, args.fps, args.duration, args.warmup, args.client_processes, args.window)
            for w in range(1, args.max_workers + 1)]
    alone = stages_alone(args.frames)
    result = {"benchmark": "scaling", **loadgen.machine(), "runs": runs, "in_process": alone}

    print(f"frames/s against workers ({args.clients} clients x {args.fps:g} FPS, binary, client window "
          f"{args.window})")
    print(f"  {'workers':>7} {'offered':>8} {'processed':>9} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms/frame':>12}")
    for run in runs:
        print(f"  {run['workers']:>7} {run['offered_fps']:>8} {run['processed_fps']:>9} "
              f"{run['latency_ms']['p50']!s:>8} {run['latency_ms']['p95']!s:>8} "
              f"{run['service_cpu_ms_per_frame']!s:>12}")
    one = runs[0]
    print("per-frame cost with one worker, service (stage medians, ms): "
          + "  ".join(f"{k} {v}" for k, v in one["stages_ms_median"].items()))
    cpu = one["cpu_ms_per_processed_frame"]
    print("  CPU ms per processed frame: " + "  ".join(f"{k} {v}" for k, v in cpu.items()))
    s = alone["stage_median_ms"]
    print(f"stages alone, in process, one core ({alone['frames']} frames, medians ms): decode {s['decode']}  "
          f"landmarks {s['landmarks']}  pupils {s['pupils']}  = floor {alone['floor_ms']}")
    b = alone["stage_min_ms"]
    print(f"  best of {alone['frames']}: decode {b['decode']}  landmarks {b['landmarks']}  pupils {b['pupils']}  "
          f"= floor {alone['floor_min_ms']}  follow {b['follow']}  "
          f"tracker on a webcam face {b['tracker_with_decode_faces']}")
    print(f"  face box follow {s['follow']}  full-frame detection {s['detect_full']}  "
          f"(the detector ran on {alone['detector_ran_share']:.0%} of frames)")
    print(f"  68 landmarks on one frame fitted over and over (cached trees, as a micro-benchmark times it): "
          f"{s['landmarks_same_frame']}, against {s['landmarks']} frame after frame")
    print(f"tracker's own cost per frame, decode to result: median {s['tracker_with_decode']}  mean "
          f"{alone['tracker_mean_ms']}  p95 {alone['tracker_p95_ms']} ms  "
          f"(webcam faces {s['tracker_with_decode_faces']}, "
          f"stage clip {s['tracker_with_decode_clip']})  |  MediaPipe Face Mesh {MEDIAPIPE_FACE_MESH_MS} ms "
          "(field notes)")
    print(f"commit {result['commit']}, {result['date']}, {result['cpus']} cores, load {result['load_avg_1m']}")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
