"""Scoring against scene truth: IoU matching, tallies, the table, and the benchmark end to end."""

from __future__ import annotations

import json

import pytest

from live_digits.errors import UserError
from live_digits.evaluation import (
    OVERALL,
    Tally,
    box_iou,
    evaluate,
    folder_cases,
    format_table,
    match_boxes,
    read_truth,
    scene_cases,
    score,
)
from live_digits.results import Digit, Number, Result
from live_digits.scenes import render_scene, write_stills

SMALL = (640, 360)


def as_result(digits, numbers) -> Result:
    """What a perfect recognizer would say about a scene."""
    return Result([Digit(d.digit, 1.0, d.box) for d in digits], [Number(n.text, n.box) for n in numbers])


def test_iou_of_boxes():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (20, 0, 10, 10)) == 0.0
    assert box_iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0  # touching edges share no area
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_matching_is_one_to_one_and_greedy_by_iou():
    truth = [(0, 0, 10, 10), (4, 0, 10, 10)]
    predicted = [(3, 0, 10, 10), (0, 0, 10, 10)]
    # Best pair first: truth 0 with prediction 1 (IoU 1), then truth 1 with prediction 0 (IoU 0.82).
    assert match_boxes(truth, predicted) == [(0, 1), (1, 0)]
    # One prediction cannot serve two truths.
    assert match_boxes(truth, [(3, 0, 10, 10)]) == [(1, 0)]  # IoU 0.54 with truth 0, 0.82 with truth 1


def test_matching_needs_half_overlap():
    assert match_boxes([(0, 0, 10, 10)], [(4, 0, 10, 10)]) == []  # IoU 0.43
    assert match_boxes([(0, 0, 10, 10)], [(3, 0, 10, 10)]) == [(0, 0)]  # IoU 0.54
    assert match_boxes([], [(0, 0, 5, 5)]) == [] and match_boxes([(0, 0, 5, 5)], []) == []


def test_truth_scored_against_itself_is_perfect():
    scene = render_scene(2, "plain", SMALL)
    tally = score(scene.digits, scene.numbers, as_result(scene.digits, scene.numbers))
    assert tally.truth_digits == len(scene.digits) > 0
    assert tally.recall == tally.precision == tally.located == tally.numbers_exact == tally.in_order == 1.0
    assert tally.false_digits == 0


def test_perturbed_truth_loses_exactly_what_was_changed():
    scene = render_scene(2, "plain", SMALL)
    digits, numbers = list(scene.digits), list(scene.numbers)
    result = as_result(digits, numbers)
    x, y, w, h = result.digits[0].box
    result.digits[0] = Digit(result.digits[0].digit, 1.0, (x + 1, y + 1, w, h))  # a little off: still matched
    result.digits[1] = Digit((result.digits[1].digit + 1) % 10, 1.0, result.digits[1].box)  # misread
    del result.digits[2]  # missed
    result.digits.append(Digit(4, 0.9, (0, 0, 12, 20)))  # a false digit where nothing is written
    first = result.numbers[0]
    result.numbers[0] = Number(first.text + "7", first.box)  # a number misread
    tally = score(digits, numbers, result)
    assert tally.located_digits == len(digits) - 1
    assert tally.correct_digits == len(digits) - 2
    assert tally.false_digits == 1
    assert tally.predicted_digits == len(digits)
    assert tally.exact_numbers == len(numbers) - 1
    assert tally.order_edits == 1  # the numbers' text, not the digits': only the extra "7" is an edit


def test_reading_order_counts_edits_whatever_the_boxes():
    truth = [Number("4509", (0, 0, 40, 10)), Number("12", (0, 20, 20, 10))]
    swapped = Result([], [Number("12", (0, 0, 20, 10)), Number("4509", (0, 20, 40, 10))])
    assert score([], truth, swapped).order_edits == 4  # "124509" against "450912"
    missed = Result([], [Number("459", (5, 5, 1, 1)), Number("12", (9, 9, 1, 1))])
    tally = score([], truth, missed)
    assert tally.order_edits == 1 and tally.in_order is None  # no truth digits were given: no rate
    assert Tally(truth_digits=6, order_edits=1).in_order == pytest.approx(5 / 6)
    assert Tally(truth_digits=2, order_edits=5).in_order == 0.0


def test_f1_is_zero_when_nothing_written_is_read_and_none_when_nothing_is_written():
    assert Tally(truth_digits=4, correct_digits=3, predicted_digits=4).f1 == pytest.approx(2 * 0.75 * 0.75 / 1.5)
    assert Tally(truth_digits=4).f1 == 0.0
    assert Tally(predicted_digits=3).f1 is None


def test_tallies_add_up_and_empty_rates_are_none():
    empty = Tally(images=2, false_digits=3)
    assert empty.recall is None and empty.precision is None and empty.numbers_exact is None
    assert empty.false_per_image == 1.5
    total = Tally(images=1, truth_digits=4, correct_digits=3, predicted_digits=3) + empty
    assert (total.images, total.truth_digits, total.false_digits) == (3, 4, 3)
    assert total.recall == 0.75 and total.precision == 1.0
    assert total.to_json()["recall"] == 0.75 and "seconds" not in total.to_json()


def test_evaluate_tallies_per_kind_and_overall_and_prints_a_table(tmp_path):
    cases = list(scene_cases([10, 11, 12], kinds=["marker", "no_paper"], size=SMALL))
    truth_of = {id(c.image): as_result(c.digits, c.numbers) for c in cases}
    tallies = evaluate(cases, lambda image: truth_of[id(image)], progress=False, failures=tmp_path / "failures")
    assert list(tallies) == ["marker", "no_paper", OVERALL]
    assert tallies["marker"].images == 2 and tallies["no_paper"].images == 1
    assert tallies[OVERALL].recall == 1.0 and tallies[OVERALL].false_digits == 0
    assert not list((tmp_path / "failures").iterdir())  # nothing was misread
    table = format_table(tallies).splitlines()
    assert table[0].split()[:4] == ["kind", "images", "digits", "recall"]
    assert table[-1].startswith(OVERALL) and table[2].split()[0] == "no_paper" and "-" in table[2].split()


def test_a_recognizer_that_reads_nothing_scores_zero_and_its_failures_are_drawn(tmp_path):
    cases = scene_cases([20], kinds=["ruled"], size=SMALL)
    tallies = evaluate(cases, lambda image: Result(), progress=False, failures=tmp_path)
    assert tallies["ruled"].recall == 0.0 and tallies["ruled"].precision is None
    assert len(list(tmp_path.glob("*.jpg"))) == 1


def test_folder_with_truth_is_read_back_as_written(tmp_path):
    write_stills(tmp_path, seeds=[30, 31], kinds=["squared", "blank_paper"], size=(320, 180))
    cases = list(folder_cases(tmp_path))
    again = render_scene(30, "squared", (320, 180))
    assert [c.kind for c in cases] == ["squared", "blank_paper"]
    assert cases[0].digits == again.digits and cases[0].numbers == again.numbers
    assert cases[0].image.shape == (180, 320, 3)


def test_folder_problems_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no truth.jsonl"):
        read_truth(tmp_path)
    (tmp_path / "truth.jsonl").write_text('{"source": "a.jpg", "digits": []}\nnot json\n')
    with pytest.raises(UserError, match=":2:"):
        read_truth(tmp_path)
    (tmp_path / "truth.jsonl").write_text('{"source": "a.jpg", "digits": []}\n')
    with pytest.raises(UserError, match="missing"):
        list(folder_cases(tmp_path))


def test_scenes_command_with_the_real_model(tmp_path, model_path, capsys):
    from live_digits.cli import main

    out = tmp_path / "tallies.json"
    assert main(["scenes", "--count", "3", "--kinds", "marker", "--model", str(model_path), "--no-progress", "--json", str(out)]) == 0
    tallies = json.loads(out.read_text())
    assert tallies[OVERALL]["images"] == 3 and tallies["marker"]["truth_digits"] > 0
    printed = capsys.readouterr().out
    assert "recall" in printed and OVERALL in printed

    write_stills(tmp_path / "set", seeds=[50], kinds=["plain"], size=SMALL)
    assert main(["scenes", "--folder", str(tmp_path / "set"), "--model", str(model_path), "--no-progress"]) == 0
    assert main(["scenes", "--folder", str(tmp_path / "nothing"), "--model", str(model_path)]) == 1


def test_a_rendered_video_is_scored_frame_by_frame_through_the_video_command(tmp_path, model_path):
    from live_digits.evaluation import evaluate_video, result_from_json
    from live_digits.scenes import render_video

    truths = render_video(tmp_path / "plain.mp4", 2, "plain", frames=8, size=SMALL)
    tally = evaluate_video(tmp_path / "plain.mp4", truths, str(model_path))
    assert tally.images == 8
    assert tally.truth_digits == sum(len(t.digits) for t in truths) > 0
    # The tracker shows a digit from its second sighting on: most, not all, of the frames' digits are read.
    assert 0.5 < tally.recall < 1.0 and tally.precision > 0.8
    line = json.loads((tmp_path / "plain.jsonl").read_text().splitlines()[-1])
    assert result_from_json(line).to_json(frame=line["frame"], time_s=line["time_s"]) == line
