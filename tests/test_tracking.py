"""The tracker on real faces with the real model: pupils, largest face, frame borders, closed eyes, the
horizontal ratio, adaptive thresholds and the cost of a tracked frame's work."""

from __future__ import annotations

import cv2
import dlib
import numpy as np
import pytest
import testdata
from accuracy import PastedEyes, calibrated_track, eye_patches, read_colour, webcam_grey
from eye_state_session import jittered
from gaze_moved import IRIS_CENTRES, move_gaze

from gazepipe.model import predictor_path
from gazepipe.tracking import eye_state, pupil_net
from gazepipe.tracking.calibration import ThresholdCalibration
from gazepipe.tracking.eye import LEFT_POINTS, RIGHT_POINTS, Eye
from gazepipe.tracking.face import (
    CONFIRM_EVERY,
    SECOND_TRY_ABOVE,
    Detection,
    FaceFinder,
    centre_radius,
    parts_array,
    reduced_pass_finds,
)
from gazepipe.tracking.tracker import FULL_EVERY, LOST_FRAMES, GazeTracker
from gazepipe.tracking.types import Box, TrackHints, TrackOutput, following

CLEAN_FACES = 5


def _reference_pupils(face: testdata.ReferenceFace, size: float = 62.0) -> np.ndarray:
    transform = testdata.frame_transform(face.iris_left, face.iris_right, size)
    return np.array([face.iris_left, face.iris_right]) @ transform[:, :2].T + transform[:, 2]


def _inside(points: list[tuple[float, float]], contour: slice, pupil: tuple[float, float]) -> bool:
    polygon = np.array(points[contour], dtype=np.float32)
    return cv2.pointPolygonTest(polygon, pupil, True) >= -1.0


def test_pupils_inside_each_eye_on_clean_frontal_faces(tracker: GazeTracker) -> None:
    for face in testdata.clean_wild_faces()[:CLEAN_FACES]:
        out = tracker.track(testdata.face_frame(face))
        assert out.face_found and out.landmarks is not None, face.file
        assert out.pupil_left is not None and out.pupil_right is not None, face.file
        assert _inside(out.landmarks, slice(36, 42), out.pupil_left), face.file
        assert _inside(out.landmarks, slice(42, 48), out.pupil_right), face.file
        error = np.linalg.norm(np.array([out.pupil_left, out.pupil_right]) - _reference_pupils(face), axis=1)
        assert error.max() <= 0.10 * 62, face.file
        assert 0.0 < out.pupil_left_confidence <= 1.0 and out.pupil_left_reason is None
        assert out.head_pose is not None and all(abs(a) < 45 for a in out.head_pose)


def test_landmarks_read_in_one_call_are_dlibs_points() -> None:
    faces = FaceFinder(predictor_path())
    for face in testdata.clean_wild_faces()[:CLEAN_FACES]:
        grey = testdata.face_frame(face)
        found = faces.detect(grey)
        assert found is not None, face.file
        x, y, w, h = found.box
        parts = faces._predictor(grey, dlib.rectangle(x, y, x + w - 1, y + h - 1)).parts()
        one_by_one = np.array([(p.x, p.y) for p in parts], dtype=np.float64)
        assert np.array_equal(parts_array(parts), one_by_one) and one_by_one.shape == (68, 2)
    negative = dlib.points([dlib.point(-3, 12), dlib.point(640, -1)])
    assert parts_array(negative).tolist() == [[-3.0, 12.0], [640.0, -1.0]]


def test_an_eye_near_the_border_masks_exactly_its_pixels_from_outside_the_frame(tracker: GazeTracker) -> None:
    grey = testdata.face_frame(testdata.clean_wild_faces()[0])
    out = tracker.track(grey)
    assert out.landmarks is not None
    points = np.array(out.landmarks)[LEFT_POINTS]
    for shift in (0.0, 4.0 - points[:, 0].min(), -points[:, 0].min(), -2.0 - points[:, 0].min()):
        eye = Eye(grey, points + np.array([shift, 0.0]))
        h, w = eye.crop.shape
        ys, xs = np.mgrid[0:h, 0:w]
        frame = eye.map_to_frame(np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64))
        inside = ((frame[:, 0] >= 0) & (frame[:, 0] <= 639) & (frame[:, 1] >= 0) & (frame[:, 1] <= 479)).reshape(h, w)
        assert np.array_equal(eye.polygon_mask, eye._opening & inside)
        assert (eye.inside_frame is None) == bool(inside.all())


def test_the_largest_face_is_chosen(tracker: GazeTracker) -> None:
    face = testdata.clean_wild_faces()[0]
    frame = testdata.face_frame(face, 62.0)
    small = cv2.resize(frame, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    # the same face, smaller, to the left; the large one shifted right to make room
    scene = np.full_like(frame, int(np.median(frame)))
    scene[:, 160:] = frame[:, :480]
    scene[40:40 + small.shape[0] // 2, 0:170] = small[80:80 + small.shape[0] // 2, 110:280]
    out = tracker.track(scene)
    assert out.face_found and out.face_box is not None
    x, _, w, _ = out.face_box
    assert x + w / 2 > 320 + 100  # the large face's centre is at 480


def test_a_followed_face_gives_way_to_a_larger_one_at_the_periodic_search(tracker: GazeTracker) -> None:
    face = testdata.clean_wild_faces()[0]
    frame = testdata.face_frame(face, 62.0)
    small = cv2.resize(frame, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    alone = np.full_like(frame, int(np.median(frame)))
    alone[40:40 + small.shape[0] // 2, 0:170] = small[80:80 + small.shape[0] // 2, 110:280]
    out = tracker.track(alone)
    assert out.face_found and out.face_box is not None and out.face_box[0] < 170
    # the periodic search with no larger face: the followed face stays
    again = tracker.track(alone, following(out, detect=True))
    assert again.detector_ran and again.face_box is not None
    assert abs(again.face_box[0] - out.face_box[0]) <= 3
    # someone nearer the camera comes in: the search finds them
    scene = alone.copy()
    scene[:, 160:] = frame[:, :480]
    followed = tracker.track(scene, following(again))
    assert followed.face_box is not None and followed.face_box[0] < 170  # following alone keeps the small face
    larger = tracker.track(scene, following(followed, detect=True))
    assert larger.face_box is not None and larger.face_box[0] + larger.face_box[2] / 2 > 320 + 100


def _on_framed_face(found: Detection | Box | None) -> bool:
    """Whether the box found holds the point between the eyes of the face `testdata.face_frame` framed."""
    if found is None:
        return False
    x, y, w, h = found.box if isinstance(found, Detection) else found
    width, height = testdata.FRAME_SIZE
    return x < width / 2 < x + w and y < 0.42 * height < y + h


def test_a_face_scoring_just_under_the_detectors_threshold_is_found_and_a_weaker_box_is_not() -> None:
    faces, detector = FaceFinder(predictor_path()), dlib.get_frontal_face_detector()
    # a real face of faces-helen-afw's tune half, turned and in side light: the detector alone finds nothing
    frame = testdata.face_frame(testdata.helen_afw_face("helen/2082180458_1.jpg"))
    _, scores, _ = detector.run(frame, 0, -1.0)
    assert SECOND_TRY_ABOVE <= max(scores) < 0.0
    assert _on_framed_face(faces.detect(frame))
    assert _on_framed_face(faces.detect(frame, reduced_first=False))
    # the shared clip's frame 23 (an audience in the dark, no face MediaPipe finds): its best box is weaker
    dark = testdata.video_greys(testdata.data_root() / "video" / "short_hamilton_clip.mp4")[23]
    _, scores, _ = detector.run(dark, 0, -1.0)
    assert len(scores) and max(scores) < SECOND_TRY_ABOVE
    assert faces.detect(dark) is None and faces.detect(dark, reduced_first=False) is None


def test_of_faces_within_one_box_step_the_larger_by_its_points_is_chosen_unless_cut_by_the_frame() -> None:
    faces, detector = FaceFinder(predictor_path()), dlib.get_frontal_face_detector()
    # two faces of one photo whose boxes are the same size; the detector is surer of the smaller one
    frame = testdata.face_frame(testdata.helen_afw_face("afw/4145388945_3.jpg"))
    for image, scale in ((frame, 1.0), (cv2.resize(frame, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA), 0.5)):
        rects, scores, _ = detector.run(image, 0, 0.0)
        surest = rects[int(np.argmax(scores))]
        assert not _on_framed_face((round(surest.left() / scale), round(surest.top() / scale),
                                    round(surest.width() / scale), round(surest.height() / scale)))
    assert _on_framed_face(faces.detect(frame))
    # beside this face, a face cut by the frame's right edge, with a box of the same step, fits larger: not taken
    kit = next(face for face in testdata.wild_faces() if face.file.name == "kit_with_rose.jpg" and face.index == 1)
    frame = testdata.face_frame(kit)
    rects, _, _ = detector.run(frame, 0, 0.0)
    cut = [r for r in rects if r.right() >= frame.shape[1]]
    found = faces.detect(frame)
    assert found is not None and _on_framed_face(found)
    assert cut and all(centre_radius(faces.landmarks(frame, (r.left(), r.top(), r.width(), r.height())))[1]
                       > centre_radius(found.landmarks)[1] for r in cut)


def test_a_searched_frame_fits_no_face_twice(tracker: GazeTracker, monkeypatch: pytest.MonkeyPatch) -> None:
    # a photo with two faces of one box step: the search fits both to tell their sizes, and the tracker takes the
    # points of the one it picks from the search instead of fitting it once more
    frame = testdata.face_frame(testdata.helen_afw_face("afw/4145388945_3.jpg"))
    faces = tracker._faces
    boxes: list[tuple[int, int, int, int]] = []
    fit = faces._predictor

    def counted(grey: np.ndarray, rect: dlib.rectangle) -> dlib.full_object_detection:
        boxes.append((rect.left(), rect.top(), rect.width(), rect.height()))
        return fit(grey, rect)

    monkeypatch.setattr(faces, "_predictor", counted)
    found = faces.detect(frame)
    searched = list(boxes)
    boxes.clear()
    out = tracker.track(frame)
    assert found is not None and len(searched) >= 2 and len(set(searched)) == len(searched)
    assert boxes == searched and out.landmarks == list(map(tuple, found.landmarks.tolist()))


def test_face_partly_outside_the_frame_does_not_crash(tracker: GazeTracker) -> None:
    face = testdata.clean_wild_faces()[0]
    frame = testdata.face_frame(face, 90.0)
    eyes = _reference_pupils(face, 90.0)
    # move the frame so that the image-left eye sits on the left border, then half outside
    for border_x in (2.0, -8.0):
        shift = np.array([[1.0, 0.0, border_x - eyes[0][0]], [0.0, 1.0, 0.0]])
        moved = cv2.warpAffine(frame, shift, (640, 480), borderMode=cv2.BORDER_REPLICATE)
        moved[:, : max(0, int(border_x))] = 0
        out = tracker.track(moved)
        hinted = tracker.track(moved, TrackHints(face_box=(-60, 100, 200, 200)))
        for result in (out, hinted):
            assert isinstance(result, TrackOutput)
            if result.face_found and result.pupil_left is None:
                assert result.pupil_left_reason in {"eye_outside_frame", "no_blob", "eye_closed"}


def test_an_eye_outside_the_frame_is_not_given_to_the_pupil_network(
        tracker: GazeTracker, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = testdata.face_frame(testdata.clean_wild_faces()[1])
    left_eye = np.array(tracker.track(frame).landmarks)[LEFT_POINTS]
    # the image-left eye's centre 10 px beyond the frame's left edge: about a third of its opening inside
    shift = np.array([[1.0, 0.0, -10.0 - left_eye[:, 0].mean()], [0.0, 1.0, 0.0]])
    moved = cv2.warpAffine(frame, shift, (640, 480), borderMode=cv2.BORDER_REPLICATE)
    given: list[int] = []
    centres = pupil_net.centres

    def counted(eyes: list[Eye]) -> list[tuple[float, float]]:
        given.append(len(eyes))
        return centres(eyes)

    monkeypatch.setattr(pupil_net, "centres", counted)
    out = tracker.track(moved)
    assert out.face_found and not out.eyes_closed
    assert out.pupil_left_reason == "eye_outside_frame" and out.pupil_right is not None
    assert given == [1]


def test_a_closed_eye_is_reported_closed(tracker: GazeTracker) -> None:
    patches, closed, _ = eye_patches(testdata.data_root() / "cew-eyes", limit=6)
    pasted = PastedEyes(tracker)
    answers = [tracker.track(pasted.frame_with(p)).eyes_closed for p in patches]
    closed_answers = [a for a, c in zip(answers, closed, strict=True) if c]
    open_answers = [a for a, c in zip(answers, closed, strict=True) if not c]
    # Three of the twelve pasted closed eyes are answered open: on two, dlib fits a wide-open contour to the pasted
    # patch (the classifier is not asked), and one the classifier retrained for narrow open eyes calls open
    # (docs/accuracy.md: CEW in a face 91.7 -> 91.2 %, open eyes answered closed 3.6 -> 0.9 %).
    assert sum(closed_answers) >= len(closed_answers) - 3
    assert sum(open_answers) <= 2
    closed_out = next(tracker.track(pasted.frame_with(p)) for p, c in zip(patches, closed, strict=True) if c)
    if closed_out.eyes_closed:
        assert closed_out.pupil_left_reason == "eye_closed" and closed_out.horizontal_ratio is None


def _helen_afw_tune(low: float, high: float) -> list[testdata.ReferenceFace]:
    """The `tune` half's faces of `faces-helen-afw` with both eyes' MediaPipe openness in [low, high)."""
    return [face for face in testdata.helen_afw_faces() if testdata.helen_afw_split(face) == "tune"
            and low <= min(face.raw["openness_left"], face.raw["openness_right"])
            and max(face.raw["openness_left"], face.raw["openness_right"]) < high]


def _eyes_closed_on(tracker: GazeTracker, faces: list[testdata.ReferenceFace]) -> list[bool]:
    """`eyes_closed` for each face framed at 62 px (colour, JPEG, grey as the workers get it), on the pass that
    follows the detection as in a session, where the tracker fits the labelled face (its eyes within a quarter
    of the inter-ocular distance of the human points)."""
    answers = []
    for face in faces:
        transform = testdata.frame_transform(face.iris_left, face.iris_right)
        grey = webcam_grey(read_colour(face.file), transform)
        out = tracker.track(grey, following(tracker.track(grey)))
        if out.landmarks is not None and face.fitted_by(np.asarray(out.landmarks), transform):
            answers.append(out.eyes_closed)
    return answers


def test_narrow_open_eyes_are_answered_open(tracker: GazeTracker) -> None:
    """Narrow and smiling open eyes (openness 0.15-0.22 on both eyes, chosen by label from the tune half: 15
    faces) are open; before the classifier learnt from such eyes, several of them were answered closed."""
    faces = _helen_afw_tune(0.15, 0.22)
    answers = _eyes_closed_on(tracker, faces)
    assert len(answers) >= len(faces) - 2
    assert not any(answers)


def test_real_closed_eyes_are_answered_closed(tracker: GazeTracker) -> None:
    """The tune half's faces with both eyes shut (openness under 0.08: 4 faces) are closed."""
    faces = _helen_afw_tune(0.0, 0.08)
    answers = _eyes_closed_on(tracker, faces)
    assert len(answers) >= len(faces) - 1
    assert all(answers)


def test_the_closure_threshold_follows_the_sessions_own_open_eyes() -> None:
    calibration = ThresholdCalibration()
    for _ in range(19):
        calibration.update(TrackOutput(face_found=True, closed_score=0.5))
    assert calibration.closed_above is None  # too few frames: the classifier's own threshold
    calibration.update(TrackOutput(face_found=True, closed_score=0.5))
    assert calibration.closed_above == pytest.approx(0.8)
    wide = ThresholdCalibration()
    for score in [0.0] * 100 + [0.95] * 20:  # wide open eyes, then two seconds with the eyes shut
        wide.update(TrackOutput(face_found=True, closed_score=score))
    assert wide.closed_above == eye_state.CLOSED_ABOVE


def test_a_face_whose_open_eyes_look_closed_is_answered_open_once_its_session_knows_them(
        tracker: GazeTracker) -> None:
    """A narrow-eyed face of the test half (openness 0.24) that the classifier alone answers closed; shown as a
    still webcam would for 30 frames, then its own frame again and the face with closed CEW eyes pasted over
    its own (benchmarks/eye_state_session.py does this for every face)."""
    face = testdata.helen_afw_face("afw/4471110141_1.jpg")
    still = webcam_grey(read_colour(face.file), testdata.frame_transform(face.iris_left, face.iris_right))
    first = tracker.track(still)
    assert first.eyes_closed  # the classifier's threshold on its own
    calibration, out = ThresholdCalibration(), first
    rng = np.random.default_rng(0)
    for _ in range(30):
        out = tracker.track(jittered(still, rng), calibration.hints(out))
        calibration.update(out)
    assert not tracker.track(still, calibration.hints(out)).eyes_closed
    patches, closed, _ = eye_patches(testdata.data_root() / "cew-eyes", limit=20)
    pasted = PastedEyes(tracker, still)
    answers = [tracker.track(pasted.frame_with(p), calibration.hints(out)).eyes_closed
               for p, c in zip(patches, closed, strict=True) if c]
    assert sum(answers) >= len(answers) * 2 // 3  # 28 of 40 here (34 with the fixed threshold)


def test_a_pupil_midway_between_the_corners_reads_half(tracker: GazeTracker) -> None:
    ratios = []
    for face in testdata.clean_wild_faces()[:4]:
        mesh = testdata.reference_mesh(face)
        raw = face.raw
        # the shift, in iris radii, that puts each iris halfway between its corners
        shifts = tuple(float((0.5 - raw[f"iris_h_pos_{s}"]) * raw[f"corner_distance_{s}"] / raw[f"iris_radius_{s}"])
                       for s in ("left", "right"))
        image, _ = move_gaze(read_colour(face.file), mesh, (shifts[0], shifts[1]))
        transform = testdata.frame_transform(face.iris_left, face.iris_right, 62.0)
        out = tracker.track(cv2.cvtColor(testdata.webcam_frame(image, transform), cv2.COLOR_BGR2GRAY))
        assert out.horizontal_ratio is not None
        ratios.append(out.horizontal_ratio)
    assert abs(float(np.median(ratios)) - 0.5) < 0.06


def test_irises_moved_into_the_corners_read_within_0_and_1_and_in_order(tracker: GazeTracker) -> None:
    for face in testdata.clean_wild_faces()[:3]:
        mesh = testdata.reference_mesh(face)
        transform = testdata.frame_transform(face.iris_left, face.iris_right, 62.0)
        readings = []
        for shift in (-1.2, 1.2):  # iris radii: into the corners, the lids clipping the iris
            image, _ = move_gaze(read_colour(face.file), mesh, (shift, shift))
            out = tracker.track(cv2.cvtColor(testdata.webcam_frame(image, transform), cv2.COLOR_BGR2GRAY))
            assert out.horizontal_ratio is not None and out.vertical_ratio is not None
            assert 0.0 <= out.horizontal_ratio <= 1.0 and 0.0 <= out.vertical_ratio <= 1.0
            readings.append(out.horizontal_ratio)
        assert readings[0] < readings[1] - 0.2, (face.file, readings)


def test_the_vertical_ratio_orders_irises_moved_up_and_down_though_dlibs_upper_lid_follows_them(
        tracker: GazeTracker) -> None:
    """A `faces-helen-afw` face whose irises, moved up, left in place and moved down by 0.4 radii between lids
    left in place (as `accuracy.py`'s helen_vertical renders them), pull dlib's upper lid down with them: the
    ratio, whose upper lid is held partly to dlib's median one, still reads them in order (before
    2026-12-07 session 9: 0.262, 0.408, 0.398)."""
    face = testdata.helen_afw_face("helen/1181568002_1.jpg")
    mesh = testdata.reference_mesh(face) - 0.5  # OpenCV's pixel convention, as the benchmark takes it
    irises = mesh[list(IRIS_CENTRES)]
    transform = testdata.frame_transform(irises[0], irises[1], 62.0)
    ratios, lids = [], []
    for down in (-0.4, 0.0, 0.4):
        image, _ = move_gaze(read_colour(face.file), mesh, 0.0, down)
        grey = webcam_grey(image, transform)
        out = calibrated_track(tracker, grey)  # the benchmark's five passes
        assert out.landmarks is not None and out.vertical_ratio is not None
        points = np.array(out.landmarks)
        eyes = [Eye(grey, points[part]) for part in (LEFT_POINTS, RIGHT_POINTS)]
        lids.append([eye.lid_heights[0] - eye.crop_points[0, 1] for eye in eyes])  # below the corner axis
        ratios.append(out.vertical_ratio)
    # both eyes' upper lids dropped with the irises, by over 2 of the crop's 40 px of corner span
    assert min(np.subtract(lids[2], lids[1])) > 2.0, lids
    assert ratios[0] < ratios[1] < ratios[2], ratios


def test_thresholds_adapt_when_the_lighting_changes(tracker: GazeTracker) -> None:
    face = testdata.clean_wild_faces()[2]
    bright = testdata.face_frame(face)
    dark = (bright * 0.5).astype(np.uint8)
    calibration = ThresholdCalibration()
    out: TrackOutput | None = None
    for _ in range(12):
        out = tracker.track(bright, calibration.hints(out))
        calibration.update(out)
    before = calibration.thresholds
    assert before is not None
    for _ in range(25):  # the median of a 30-frame window turns after 15
        out = tracker.track(dark, calibration.hints(out))
        calibration.update(out)
        assert out.pupil_left is not None and out.pupil_right is not None
    after = calibration.thresholds
    assert after is not None and out is not None
    for eye, observed in enumerate(out.threshold_observed):
        assert observed is not None
        assert after[eye] < 0.7 * before[eye]
        assert abs(after[eye] - observed) < 0.1 * before[eye]


def test_a_tracked_box_skips_the_detector(tracker: GazeTracker) -> None:
    frame = testdata.face_frame(testdata.clean_wild_faces()[1])
    first = tracker.track(frame)
    assert first.detector_ran and first.face_box is not None
    second = tracker.track(frame, TrackHints(face_box=first.face_box))
    assert second.face_found and not second.detector_ran
    assert second.pupil_left == pytest.approx(first.pupil_left, abs=1.0)
    # the face is gone: tracking is lost and the detector runs (and finds nothing)
    empty = np.full_like(frame, 128)
    lost = tracker.track(empty, TrackHints(face_box=first.face_box))
    assert lost.detector_ran and not lost.face_found and lost.pupil_left_reason == "no_face"


def test_a_followed_face_is_confirmed_every_few_frames_and_when_its_image_changes(tracker: GazeTracker) -> None:
    faces = testdata.clean_wild_faces()
    frame, other_face = testdata.face_frame(faces[1]), testdata.face_frame(faces[3])
    out = tracker.track(frame)
    unconfirmed = []
    for _ in range(2 * CONFIRM_EVERY):
        out = tracker.track(frame, following(out))
        assert out.face_found and not out.detector_ran
        unconfirmed.append(out.unconfirmed)
    assert unconfirmed == [(i + 1) % CONFIRM_EVERY for i in range(2 * CONFIRM_EVERY)]
    # another face where the face was: the windowed detector confirms at once, and finds it
    swapped = tracker.track(other_face, following(out))
    assert swapped.face_found and swapped.unconfirmed == 0 and not swapped.detector_ran
    # no face any more: the detectors run on that very frame
    lost = tracker.track(np.full_like(frame, 128), following(out))
    assert lost.detector_ran and not lost.face_found


def test_after_a_frame_without_a_face_a_face_of_any_size_is_found(tracker: GazeTracker) -> None:
    face = testdata.clean_wild_faces()[1]
    nobody = tracker.track(np.full_like(testdata.face_frame(face), 128))
    assert not nobody.face_found and following(nobody).after_no_face
    for inter_iris_px in (45.0, 90.0):  # only the full-scale pass runs now: it finds small and large faces
        out = tracker.track(testdata.face_frame(face, inter_iris_px), following(nobody))
        assert out.face_found and out.detector_ran and out.pupil_left is not None


def test_a_small_followed_face_lost_gives_way_to_a_large_face_found_at_full_scale(tracker: GazeTracker) -> None:
    face = testdata.clean_wild_faces()[1]
    small = tracker.track(testdata.face_frame(face, 45.0))
    assert small.face_box is not None
    # too small for the reduced-scale pass, so the search after losing it goes straight to full scale
    assert not reduced_pass_finds(small.face_box[2], testdata.FRAME_SIZE[0])
    # a large face beside where the small one was, beyond the window the follower searches
    frame = testdata.face_frame(face, 110.0)
    shift_right = np.array([[1, 0, 180], [0, 1, 0]], dtype=np.float32)
    beside = cv2.warpAffine(frame, shift_right, (frame.shape[1], frame.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    large = tracker.track(beside, following(small))
    assert large.face_found and large.detector_ran and large.face_box is not None
    assert large.face_box[2] > 1.5 * small.face_box[2] and large.face_box[0] > small.face_box[0] + 100


def test_a_face_lost_for_a_few_frames_is_found_again_around_its_last_box_without_a_whole_frame_search(
        tracker: GazeTracker) -> None:
    frame = testdata.face_frame(testdata.clean_wild_faces()[1])
    empty = np.full_like(frame, 128)
    seen = tracker.track(frame)
    # the frame that loses the face searches the whole frame; the next ones only around the lost box
    lost = tracker.track(empty, following(seen, detect=True))
    assert lost.detector_ran and not lost.face_found
    assert lost.lost_box == seen.face_box and lost.lost_frames == 1
    still = tracker.track(empty, following(lost, detect=True))
    assert not still.detector_ran and not still.face_found
    assert still.lost_box == seen.face_box and still.lost_frames == 2
    back = tracker.track(frame, following(still))
    assert back.face_found and not back.detector_ran and back.unconfirmed == 0
    assert back.pupil_left == pytest.approx(seen.pupil_left, abs=1.0)
    # asked to detect, as the service asks after a frame without a face: only a larger face could replace it
    checked = tracker.track(frame, following(still, detect=True))
    assert checked.face_found and checked.detector_ran and checked.face_box == back.face_box


def test_a_lost_face_is_searched_for_in_the_whole_frame_every_few_frames_then_on_every_frame(
        tracker: GazeTracker) -> None:
    frame = testdata.face_frame(testdata.clean_wild_faces()[1])
    out = tracker.track(frame)
    whole, boxes = [], []
    for _ in range(LOST_FRAMES + 2):
        out = tracker.track(np.full_like(frame, 128), following(out, detect=True))
        whole.append(out.detector_ran)
        boxes.append(out.lost_box is not None)
    assert whole == [k % FULL_EVERY == 0 or k >= LOST_FRAMES for k in range(LOST_FRAMES + 2)]
    assert boxes == [k + 1 < LOST_FRAMES for k in range(LOST_FRAMES + 2)]


def test_a_larger_face_appearing_elsewhere_while_a_face_is_lost_is_found_within_full_every_frames(
        tracker: GazeTracker) -> None:
    face = testdata.clean_wild_faces()[0]
    frame = testdata.face_frame(face, 62.0)
    small = cv2.resize(frame, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    background = np.full_like(frame, int(np.median(frame)))
    alone = background.copy()
    alone[40:40 + small.shape[0] // 2, 0:170] = small[80:80 + small.shape[0] // 2, 110:280]
    seen = tracker.track(alone)
    assert seen.face_box is not None and seen.face_box[0] < 170
    out = tracker.track(background, following(seen, detect=True))
    assert not out.face_found
    # someone comes in on the right, far from the lost face's window: found at the loss's next whole-frame search
    elsewhere = background.copy()
    elsewhere[:, 160:] = frame[:, :480]
    missed = 0
    while True:
        out = tracker.track(elsewhere, following(out, detect=True))
        if out.face_found:
            break
        assert not out.detector_ran
        missed += 1
        assert missed < FULL_EVERY
    assert out.detector_ran and out.face_box is not None and out.face_box[0] + out.face_box[2] / 2 > 320 + 100


def test_a_face_that_moved_far_between_frames_is_fitted_again_where_the_first_fit_found_it(
        tracker: GazeTracker) -> None:
    frame = testdata.face_frame(testdata.clean_wild_faces()[1])
    out = tracker.track(frame)
    assert out.face_box is not None
    # the face moved by a fifth of its box (about 30 px): more than one landmark fit follows (MAX_SHIFT), so it is
    # fitted again in the box the first fit's points give, without a detector
    dx = round(0.2 * out.face_box[2])
    shift_right = np.array([[1, 0, dx], [0, 1, 0]], dtype=np.float32)
    moved = cv2.warpAffine(frame, shift_right, (frame.shape[1], frame.shape[0]),
                           borderMode=cv2.BORDER_REPLICATE)
    followed = tracker.track(moved, following(out))
    fresh = tracker.track(moved)
    assert followed.face_found and followed.unconfirmed == 1 and not followed.detector_ran
    assert followed.face_box is not None and followed.face_box[0] > out.face_box[0] + dx // 2
    assert followed.pupil_left == pytest.approx(fresh.pupil_left, abs=1.0)
    assert followed.pupil_right == pytest.approx(fresh.pupil_right, abs=1.0)


def test_the_frame_is_not_written_or_kept(tracker: GazeTracker) -> None:
    frame = testdata.face_frame(testdata.clean_wild_faces()[1])
    frame.flags.writeable = False
    copy = frame.copy()
    out = tracker.track(frame)
    assert out.face_found and np.array_equal(frame, copy)
