"""Where a followed face's time goes, stage by stage, for this code beside an earlier commit's, timed interleaved
in one process on the same frames; and a check that both give the same outputs.

    .venv/bin/python benchmarks/stages.py [--against ef9bfbc] [--repeats 3] [--frames 300] [--searched 300] [--json]
    .venv/bin/python benchmarks/stages.py --check [--against ef9bfbc]   # exit status 1 if any output differs

The earlier commit's `gazepipe.tracking` is taken from git (`git archive`) into a temporary folder as the package
`gazepipe_<commit>`, so that both run side by side; both trackers share one loaded dlib model (the landmark fit
reads 100 MB of trees: two copies would compete for the cache). Frames: the benchmarks' sequences (the real clip
and the faces-wild faces drifting at webcam framing), decoded as the workers decode them, each stream followed
from frame to frame by this code. A frame counts as "followed" when the face was taken from the previous frame's
box without a detector (the case that costs only the landmark fit and what this script times). Frames that
search are timed apart: faces-helen-afw's `tune` photos framed as a webcam frames a face (62 px between the eyes),
each tracked without hints (a whole-frame search; in group photos it fits several faces of one box step to tell
their sizes), with the number of landmark fits per frame.

Times are this thread's CPU time (`time.thread_time`), so that the time other programs on the machine hold the
cores is not counted (their effect on the caches still is). Stages are timed by wrapping the functions
`tracker.track` calls (so the code measured is the tracker's own, in its own order); `rest` is `track` minus the
stages (the ratios, mapping the pupils to the frame, the output struct). One OpenCV thread, as the workers run.

`--check` compares, for every frame of every stream, every field of the two trackers' outputs (each stream
followed by each tracker from its own previous output), the same for the searched photos, and every pupil search
on the followed faces' eyes with the session threshold absent, the previous frame's, and far off, and with the eye
moved partly out of the frame.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import cv2
import loadgen
import msgspec
import numpy as np
import testdata
from loadgen import frames

from gazepipe.front.jpeg import decode_into, plan_decode
from gazepipe.model import predictor_path
from gazepipe.workers.supervisor import with_worker_environment

STAGES = ("fit", "to_numpy", "box_thumbnail", "confirm", "eye_crops", "eye_state", "pupils", "head_pose", "rest")
# The stages item 2 of issue 13 is about: everything a followed face costs besides the fit and the pupils.
OTHER = ("to_numpy", "box_thumbnail", "confirm", "eye_crops", "eye_state", "head_pose", "rest")


def load_tracking(commit: str) -> ModuleType:
    """`gazepipe.tracking` as it was at `commit`, importable beside this one as `gazepipe_<commit>.tracking`."""
    package = "gazepipe_" + re.sub(r"\W", "_", commit)
    archive = subprocess.run(["git", "archive", commit, "src/gazepipe/tracking"], cwd=testdata.REPO_ROOT,
                             check=True, capture_output=True).stdout
    root = Path(tempfile.mkdtemp(prefix="stages-"))
    (root / package / "tracking").mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            target = root / package / "tracking" / Path(member.name).name
            if target.suffix == ".py":
                data = data.replace(b"gazepipe.tracking", f"{package}.tracking".encode())
            target.write_bytes(data)
    sys.path.insert(0, str(root))
    return importlib.import_module(f"{package}.tracking.tracker")


def tracking_now() -> ModuleType:
    return importlib.import_module("gazepipe.tracking.tracker")


@dataclass
class Stream:
    """One sequence decoded to grey."""

    name: str
    greys: list[np.ndarray]


def streams(max_frames: int) -> list[Stream]:
    out = []
    for sequence in frames.sequences():
        greys = []
        for jpeg in sequence.jpegs[:max_frames]:
            plan = plan_decode(jpeg, 4096, 1 << 22)
            grey = np.empty((plan.decoded_height, plan.decoded_width), np.uint8)
            decode_into(jpeg, plan, grey)
            greys.append(grey)
        out.append(Stream(sequence.name, greys))
    return out


def _differing(old_out: msgspec.Struct, new_out: msgspec.Struct) -> list[str]:
    """The fields in which two trackers' outputs differ (bit for bit)."""
    old, new = msgspec.structs.asdict(old_out), msgspec.structs.asdict(new_out)
    return [k for k, v in old.items() if new[k] != v]


@dataclass
class Followed:
    """A frame whose face the tracker followed from the previous frame's box (or searched for: `searched_frames`),
    and the hints that did it."""

    grey: np.ndarray
    hints: Any  # the version's own TrackHints
    landmarks: np.ndarray
    thresholds: tuple[float | None, float | None]


def followed_frames(module: ModuleType, tracker: Any, all_streams: list[Stream]) -> list[Followed]:
    types = importlib.import_module(module.__name__.replace(".tracker", ".types"))
    chosen = []
    for stream in all_streams:
        previous = None
        for grey in stream.greys:
            hints = types.following(previous)
            out = tracker.track(grey, hints)
            if out.face_found and not out.detector_ran and hints.face_box is not None and out.unconfirmed > 0:
                chosen.append(Followed(grey, hints, np.asarray(out.landmarks), out.threshold_observed))
            previous = out
    return chosen


def searched_frames(module: ModuleType, tracker: Any, count: int) -> list[Followed]:
    """The first `count` photos of faces-helen-afw's `tune` half, framed at 62 px between the eyes, where the
    tracker finds a face without hints (a whole-frame search)."""
    types = importlib.import_module(module.__name__.replace(".tracker", ".types"))
    tune = [face for face in testdata.helen_afw_faces() if testdata.helen_afw_split(face) == "tune"][:count]
    chosen = []
    for face in tune:
        grey = testdata.face_frame(face)
        out = tracker.track(grey, types.TrackHints())
        if out.face_found:
            chosen.append(Followed(grey, types.TrackHints(), np.asarray(out.landmarks), out.threshold_observed))
    return chosen


@dataclass
class Timer:
    """Wraps callables so that each call's time adds to its stage's total for the current frame, and counts the
    calls."""

    totals: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def wrap(self, stage: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.calls[stage] = self.calls.get(stage, 0) + 1
            started = time.thread_time()
            try:
                return call(*args, **kwargs)
            finally:
                self.totals[stage] = self.totals.get(stage, 0.0) + time.thread_time() - started
        return timed


@contextmanager
def instrumented(module: ModuleType, tracker: Any, timer: Timer) -> Iterator[None]:
    """The tracker's stages wrapped by `timer` (restored on exit)."""
    names = {"Eye": "eye_crops", "locate": "pupils", "head_pose": "head_pose", "thumbnail": "box_thumbnail",
             "box_from_landmarks": "box_thumbnail", "similarity": "confirm", "shift": "confirm"}
    saved = {name: getattr(module, name) for name in names}
    tracker_module: Any = module  # its eye_state is replaced by a namespace of the timed functions
    saved_state = tracker_module.eye_state
    faces = tracker._faces
    predictor, landmarks = faces._predictor, faces.landmarks
    for name, stage in names.items():
        setattr(module, name, timer.wrap(stage, saved[name]))
    # the module's constants as they are, its two per-frame functions timed
    tracker_module.eye_state = SimpleNamespace(**{**vars(saved_state),
                                                  "closed_scores": timer.wrap("eye_state", saved_state.closed_scores),
                                                  "openness": timer.wrap("eye_state", saved_state.openness)})
    # the learned pupil cue, which the tracker runs for both eyes before `locate` (older trackers have none)
    saved_net = getattr(tracker_module, "pupil_net", None)
    if saved_net is not None:
        tracker_module.pupil_net = SimpleNamespace(**{**vars(saved_net),
                                                      "centres": timer.wrap("pupils", saved_net.centres)})
    faces._predictor = timer.wrap("fit", predictor)
    faces.landmarks = timer.wrap("landmarks", landmarks)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)
        tracker_module.eye_state = saved_state
        if saved_net is not None:
            tracker_module.pupil_net = saved_net
        faces._predictor = predictor
        del faces.landmarks


def stage_ms(module: ModuleType, tracker: Any, frame: Followed) -> dict[str, float]:
    """Each stage's ms on `frame`, and under "fits" the number of landmark fits."""
    timer = Timer()
    with instrumented(module, tracker, timer):
        started = time.thread_time()
        tracker.track(frame.grey, frame.hints)
        total = time.thread_time() - started
    t = timer.totals
    t["to_numpy"] = t.pop("landmarks") - t["fit"]
    t["rest"] = total - sum(t.values())
    # a stage a version did not run on this frame counts 0 (an older version may lose a face this one follows)
    return {**{stage: t.get(stage, 0.0) * 1000.0 for stage in STAGES}, "fits": timer.calls.get("fit", 0)}


def track_ms(tracker: Any, frame: Followed) -> float:
    started = time.thread_time()
    tracker.track(frame.grey, frame.hints)
    return (time.thread_time() - started) * 1000.0


def timings(versions: dict[str, tuple[ModuleType, Any, list[Followed]]], repeats: int) -> dict[str, Any]:
    """Per version, stage medians over every frame and repeat, `track` alone, and the mean landmark fits per
    frame; versions in turn on each frame, the order swapped every repeat."""
    samples: dict[str, dict[str, list[float]]] = {v: {s: [] for s in (*STAGES, "fits", "track")} for v in versions}
    names = list(versions)
    count = len(next(iter(versions.values()))[2])
    for repeat in range(repeats):
        for i in range(count):
            for name in (names if (repeat + i) % 2 == 0 else names[::-1]):
                module, tracker, chosen = versions[name]
                for stage, ms in stage_ms(module, tracker, chosen[i]).items():
                    samples[name][stage].append(ms)
                samples[name]["track"].append(track_ms(tracker, chosen[i]))
    result: dict[str, Any] = {}
    for name, by_stage in samples.items():
        medians = {s: round(statistics.median(v), 4) for s, v in by_stage.items() if v and s != "fits"}
        medians["fits_per_frame"] = round(statistics.mean(by_stage["fits"]), 4)
        # the sum of the other stages, frame by frame (a median of sums, not a sum of medians)
        other = [sum(by_stage[s][k] for s in OTHER) for k in range(len(by_stage["fit"]))]
        medians["other_total"] = round(statistics.median(other), 4)
        medians["track_minus_fit"] = round(statistics.median(
            [by_stage["track"][k] - by_stage["fit"][k] for k in range(len(other))]), 4)
        result[name] = medians
    return result


def check(versions: dict[str, tuple[ModuleType, Any, list[Followed]]], all_streams: list[Stream],
          searched: list[Followed]) -> dict[str, int]:
    """Counts of outputs compared and of those that differ in any field (bit for bit), between the two versions:
    every frame of every stream, each version following the stream from its own previous output; every
    `searched` frame, tracked without hints; then every
    pupil search on the followed faces' eyes, with the session threshold absent, the frame's own and 40 grey
    levels off, and with the eye shifted so that its outer corner lies 4 px beyond the frame's edge."""
    (old_module, old_tracker, _), (new_module, new_tracker, chosen) = versions.values()
    old_types, new_types = (importlib.import_module(m.__name__.replace(".tracker", ".types"))
                            for m in (old_module, new_module))
    counts = {"frames": 0, "frames_differing": 0, "eyes": 0, "eyes_differing": 0}
    for stream in all_streams:
        old_previous = new_previous = None
        for grey in stream.greys:
            old_out = old_tracker.track(grey, old_types.following(old_previous))
            new_out = new_tracker.track(grey, new_types.following(new_previous))
            counts["frames"] += 1
            if differing := _differing(old_out, new_out):
                counts["frames_differing"] += 1
                print(f"  differs: {stream.name} frame {counts['frames']}: " + ", ".join(differing))
            old_previous, new_previous = old_out, new_out
    counts |= {"searched": 0, "searched_differing": 0}
    for frame in searched:
        old_out, new_out = old_tracker.track(frame.grey, old_types.TrackHints()), new_tracker.track(frame.grey)
        counts["searched"] += 1
        if differing := _differing(old_out, new_out):
            counts["searched_differing"] += 1
            print(f"  differs: searched photo {counts['searched']}: " + ", ".join(differing))
    old_pupil, new_pupil = (importlib.import_module(m.__name__.replace(".tracker", ".pupil"))
                            for m in (old_module, new_module))
    for frame in chosen:
        for points in (frame.landmarks[36:42], frame.landmarks[42:48]):
            for shift in (np.zeros(2), np.array([-points[:, 0].min() - 4.0, 0.0]),
                          np.array([frame.grey.shape[1] + 3.0 - points[:, 0].max(), 0.0])):
                moved = points + shift
                observed = new_pupil.locate(new_module.Eye(frame.grey, moved), None).threshold
                for threshold in (None, observed, None if observed is None else observed + 40.0):
                    old = old_pupil.locate(old_module.Eye(frame.grey, moved), threshold)
                    new = new_pupil.locate(new_module.Eye(frame.grey, moved), threshold)
                    counts["eyes"] += 1
                    reason = f"eyes_{new.reason or 'located'}"
                    counts[reason] = counts.get(reason, 0) + 1
                    if (old.centre, old.confidence, old.reason, old.threshold) != (
                            new.centre, new.confidence, new.reason, new.threshold):
                        counts["eyes_differing"] += 1
    return counts


def _print_rows(result: dict[str, Any], against: str, stages: tuple[str, ...]) -> None:
    """One row per stage: the earlier commit's median, this code's, and their ratio."""
    for stage in stages:
        a, b = result[against][stage], result["this"][stage]
        print(f"  {stage:<16} {a:>9.4f} {b:>9.4f} {b / a if a else float('nan'):>7.2f}")


def main(argv: list[str] | None = None) -> int:
    with_worker_environment()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", default="ef9bfbc", help="the earlier commit to compare with")
    parser.add_argument("--frames", type=int, default=300, help="frames per sequence at most")
    parser.add_argument("--searched", type=int, default=300, help="faces-helen-afw tune photos at most")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="compare the outputs instead of timing")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)

    old_module, new_module = load_tracking(args.against), tracking_now()
    new_tracker = new_module.GazeTracker(predictor_path())
    old_tracker = old_module.GazeTracker.__new__(old_module.GazeTracker)
    old_tracker._faces = old_module.FaceFinder.__new__(old_module.FaceFinder)
    old_tracker._faces._detector, old_tracker._faces._predictor = (new_tracker._faces._detector,
                                                                   new_tracker._faces._predictor)
    all_streams = streams(args.frames)
    chosen_new = followed_frames(new_module, new_tracker, all_streams)
    old_types = importlib.import_module(old_module.__name__.replace(".tracker", ".types"))
    chosen_old = [Followed(f.grey, old_types.TrackHints(**msgspec.structs.asdict(f.hints)), f.landmarks,
                           f.thresholds) for f in chosen_new]
    versions = {args.against: (old_module, old_tracker, chosen_old), "this": (new_module, new_tracker, chosen_new)}
    searched_new = searched_frames(new_module, new_tracker, args.searched)
    searched_old = [Followed(f.grey, old_types.TrackHints(), f.landmarks, f.thresholds) for f in searched_new]
    if args.check:
        counts = check(versions, all_streams, searched_new)
        print(f"outputs of {args.against} and this code, bit for bit: "
              + ", ".join(f"{k} {v}" for k, v in counts.items()))
        if args.json:
            print(json.dumps({"benchmark": "stages_check", "against": args.against, **counts}))
        return 1 if counts["frames_differing"] or counts["searched_differing"] or counts["eyes_differing"] else 0
    result = timings(versions, args.repeats)
    result_searched = timings({args.against: (old_module, old_tracker, searched_old),
                               "this": (new_module, new_tracker, searched_new)}, args.repeats)

    print(f"followed faces: {len(chosen_new)} frames x {args.repeats} repeats, medians in ms, one OpenCV thread, "
          f"{args.against} and this code in turn on each frame")
    print(f"  {'stage':<16} {args.against:>9} {'this':>9} {'ratio':>7}")
    _print_rows(result, args.against, (*STAGES, "other_total", "track", "track_minus_fit", "fits_per_frame"))
    print(f"searched frames (faces-helen-afw tune photos, no hints): {len(searched_new)} frames x {args.repeats} "
          "repeats, medians in ms (fits: mean per frame)")
    _print_rows(result_searched, args.against, ("fit", "track", "track_minus_fit", "fits_per_frame"))
    machine = loadgen.machine()
    print(f"commit {machine['commit']}, {machine['date']}, {machine['cpus']} cores, load {machine['load_avg_1m']}")
    if args.json:
        print(json.dumps({"benchmark": "stages", "against": args.against, **machine, "frames": len(chosen_new),
                          "repeats": args.repeats, "median_ms": result, "searched_frames": len(searched_new),
                          "searched_median_ms": result_searched}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
