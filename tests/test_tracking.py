import numpy as np
import pytest

from live_digits.classify import NOT_A_DIGIT
from live_digits.results import Detection
from live_digits.tracking import Tracker, iou_matrix, match_boxes, overlap_of_first


def probs_for(digit: int, confidence: float = 0.9, runner_up: int | None = None) -> np.ndarray:
    """11-class probabilities: `digit` with `confidence`, the rest on `runner_up` (or spread evenly)."""
    probs = np.zeros(11)
    if runner_up is None:
        probs[:] = (1 - confidence) / 10
    else:
        probs[runner_up] = 1 - confidence
    probs[digit] = confidence
    return probs


def seen(digit=3, box=(100, 50, 20, 30), **kw) -> Detection:
    return Detection(box=box, probs=probs_for(digit, **kw))


def labels(detections) -> list[int]:
    return [int(np.argmax(d.probs)) for d in detections]


def test_a_one_frame_candidate_never_reaches_the_output():
    tracker = Tracker()
    outputs = [tracker.update(frame) for frame in ([seen()], [], [], [], [])]
    assert all(out == [] for out in outputs)
    assert tracker.tracks == []


def test_a_very_sure_digit_shows_from_its_first_frame_and_a_sure_no_digit_never():
    tracker = Tracker(sure_at_once=0.97)
    (shown,) = tracker.update([seen(confidence=0.99)])
    assert labels([shown]) == [3]
    assert Tracker(sure_at_once=0.97).update([seen(NOT_A_DIGIT, confidence=0.99)]) == []
    assert Tracker(sure_at_once=0.97).update([seen(confidence=0.96)]) == []


def test_a_track_shows_once_seen_in_two_of_the_last_three_frames():
    tracker = Tracker()
    assert tracker.update([seen()]) == []
    assert tracker.update([]) == []
    (shown,) = tracker.update([seen()])
    assert shown.track_id is not None and labels([shown]) == [3]


def test_a_shown_digit_survives_a_few_missed_frames_then_goes():
    tracker = Tracker(max_missed=3)
    tracker.update([seen()])
    (first,) = tracker.update([seen()])
    kept = [tracker.update([]) for _ in range(3)]
    assert all([d.track_id for d in out] == [first.track_id] for out in kept)
    assert all(out[0].box == first.box for out in kept)
    assert tracker.update([]) == []


def test_a_track_carries_the_angle_of_its_writing():
    tracker = Tracker()
    turned = lambda angle: Detection(box=(100, 50, 20, 30), probs=probs_for(3), angle=angle)
    tracker.update([turned(20.0)])
    (shown,) = tracker.update([turned(22.0)])
    assert shown.angle == 22.0  # the newest: a sheet turning in the hands turns its lines with it


def test_identity_follows_a_moving_digit_and_tells_two_apart():
    tracker = Tracker()
    for step in range(6):
        out = tracker.update([seen(3, box=(100 + 6 * step, 50, 20, 30)), seen(8, box=(160 + 6 * step, 52, 20, 30))])
    by_id = {d.track_id: labels([d])[0] for d in out}
    assert sorted(by_id.values()) == [3, 8] and len(by_id) == 2
    assert len(tracker.tracks) == 2


def test_a_fast_move_with_no_overlap_keeps_the_track_by_its_centre():
    tracker = Tracker()
    tracker.update([seen(box=(100, 50, 20, 30))])
    (before,) = tracker.update([seen(box=(100, 50, 20, 30))])
    (after,) = tracker.update([seen(box=(112, 50, 20, 30))])  # IoU 0.25, centres 12 px apart on a 30 px box
    assert after.track_id == before.track_id


def test_label_holds_while_two_classes_are_close():
    """A 3 that the classifier sees as an 8 now and then stays a 3 on screen."""
    tracker = Tracker()
    shown = []
    for step in range(12):
        digit, other = (8, 3) if step % 3 == 2 else (3, 8)
        out = tracker.update([seen(digit, confidence=0.55, runner_up=other)])
        shown += labels(out)
    assert shown and set(shown) == {3}


def test_label_switches_when_another_class_leads_clearly():
    tracker = Tracker()
    for _ in range(3):
        tracker.update([seen(3)])
    shown = [labels(tracker.update([seen(5)]))[0] for _ in range(4)]
    assert shown[0] == 3  # one frame of disagreement is smoothed away
    assert shown[-1] == 5


def test_a_one_frame_glitch_does_not_change_the_label():
    tracker = Tracker()
    shown = [labels(tracker.update([seen(d)])) for d in [4, 4, 4, NOT_A_DIGIT, 4, 4]]
    assert [s for s in shown if s] == [[4]] * 5


def test_output_probabilities_stay_a_distribution_with_the_held_label_on_top():
    tracker = Tracker()
    tracker.update([seen(2, confidence=0.6, runner_up=7)])
    tracker.update([seen(2, confidence=0.6, runner_up=7)])
    (out,) = tracker.update([seen(7, confidence=0.6, runner_up=2)])
    assert labels([out]) == [2]
    assert out.probs.sum() == pytest.approx(1.0)
    assert out.probs[2] == pytest.approx(0.5)


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10], [100, 100, 5, 5]], float)
    b = np.array([[5, 0, 10, 10], [0, 0, 10, 10]], float)
    assert iou_matrix(a, b) == pytest.approx(np.array([[50 / 150, 1.0], [0.0, 0.0]]))


def test_matching_is_one_to_one_best_overlap_first():
    tracked = np.array([[0, 0, 10, 10]], float)
    detected = np.array([[2, 0, 10, 10], [0, 0, 10, 10]], float)
    assert match_boxes(tracked, detected, 0.3) == [(0, 1)]
    assert match_boxes(tracked, np.zeros((0, 4)), 0.3) == []


def test_a_digit_cut_another_way_leaves_no_ghost():
    """Two digits the segmenter suddenly joins into one box: the track that takes the joined box shows, the other
    one, now under it, does not linger as a ghost."""
    tracker = Tracker()
    left, right, joined = (100, 50, 20, 30), (122, 50, 20, 30), (100, 50, 42, 30)
    for _ in range(3):
        tracker.update([seen(1, box=left), seen(7, box=right)])
    (shown,) = tracker.update([seen(4, box=joined)])
    for _ in range(3):
        (shown,) = tracker.update([seen(4, box=joined)])
    assert shown.box == joined and labels([shown]) == [4]


def test_overlap_of_first():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[5, 0, 100, 100], [50, 50, 5, 5]], float)
    assert overlap_of_first(a, b) == pytest.approx(np.array([[0.5, 0.0]]))
