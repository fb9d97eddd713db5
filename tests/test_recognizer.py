"""The recognizer end to end with the shipped model, and its decision rules on their own."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from live_digits.classify import NOT_A_DIGIT
from live_digits.evaluation import box_iou
from live_digits.recognizer import Recognizer, choose_cuts, crop_list, digit_score, writing
from live_digits.segment import Candidate

from test_segment import blank_page, mnist_glyph, page_with_a_large_number, write

# MNIST test digits that any decent model reads: 7 2 1 0 4 1 4 9 (indices 0-7).
EASY = {0: 7, 1: 2, 2: 1, 3: 0, 4: 4, 7: 9, 10: 0, 11: 6}


@pytest.fixture(scope="module")
def recognizer(model_path):
    return Recognizer(model_path)


def page_of(mnist, lines: list[list[list[int]]], height: int = 40) -> tuple[np.ndarray, list[str]]:
    """A page with numbers: lines of numbers, each a list of MNIST test indices. Returns the page (BGR) and the
    numbers in reading order."""
    page = blank_page(640, 360)
    texts = []
    y = 40
    for line in lines:
        x = 40
        for number in line:
            for index in number:
                glyph = mnist_glyph(mnist, index, height)
                write(page, glyph, x, y)
                x += glyph.shape[1] + 6
            texts.append("".join(str(EASY[i]) for i in number))
            x += 2 * height
        y += int(1.8 * height)
    return cv2.cvtColor(page, cv2.COLOR_GRAY2BGR), texts


def test_reads_numbers_in_reading_order(recognizer, mnist):
    page, texts = page_of(mnist, [[[0, 1], [3, 11, 4]], [[7]]])
    result = recognizer.recognize(page)
    assert [n.text for n in result.numbers] == texts == ["72", "064", "9"]
    assert len(result.digits) == 6
    assert all(d.confidence >= recognizer.confidence for d in result.digits)


def test_detect_gives_every_candidate_all_probabilities(recognizer, mnist):
    page, _ = page_of(mnist, [[[0, 1, 2]]])
    detections = recognizer.detect(page)
    assert len(detections) == 3
    for detection in detections:
        assert detection.probs.shape == (11,)
        assert detection.probs.sum() == pytest.approx(1.0, abs=1e-3)
    assert set(recognizer.last_timings) == {"segment", "normalize", "classify"}
    assert recognizer.last_mask.dtype == np.uint8 and recognizer.last_mask.max() == 255


def test_any_image_format_reads_the_same(recognizer, mnist):
    page, texts = page_of(mnist, [[[4, 10]]])
    gray = cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)
    sixteen = gray.astype(np.uint16) * 257
    bgra = cv2.cvtColor(page, cv2.COLOR_BGR2BGRA)
    for image in (page, gray, sixteen, bgra):
        assert [n.text for n in recognizer.recognize(image).numbers] == texts


def test_boxes_are_in_input_pixels(recognizer, mnist):
    page, _ = page_of(mnist, [[[0]]])
    big = cv2.resize(page, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    (small_digit,) = recognizer.recognize(page).digits
    (big_digit,) = recognizer.recognize(big).digits
    assert np.allclose(np.array(big_digit.box), 2 * np.array(small_digit.box), atol=4)


def test_blank_paper_and_dark_frames_read_nothing(recognizer):
    assert recognizer.recognize(blank_page()).numbers == []
    assert recognizer.recognize(np.zeros((240, 320, 3), np.uint8)).digits == []


def test_a_blank_ruled_sheet_held_to_the_camera_reads_nothing(recognizer, tmp_path):
    # Its faint red margin breaks, under the threshold, into dashes that each look like a 1.
    from live_digits.scenes import render_video

    render_video(tmp_path / "blank.mp4", seed=4022, kind="blank_paper", frames=30)
    capture = cv2.VideoCapture(str(tmp_path / "blank.mp4"))
    read = []
    while (frame := capture.read()[1]) is not None:
        read += recognizer.recognize(frame).digits
    assert read == []


def test_one_digit_filling_a_close_up_is_read(recognizer, mnist):
    # Its strokes are far wider than the closing that estimates the paper under the writing.
    for index, digit in ((0, 7), (3, 0), (4, 4)):
        page = blank_page(640, 480)
        write(page, cv2.GaussianBlur(mnist_glyph(mnist, index, 400), (0, 0), 3), 180, 40)
        assert [d.digit for d in recognizer.recognize(page).digits] == [digit]


def test_a_small_sheet_far_off_is_read_at_the_inputs_own_resolution(recognizer, mnist):
    # In a 1920x1080 frame the whole frame's working copy shrinks these 20 px digits below the least readable size.
    page, texts = page_of(mnist, [[[0, 1], [3, 11, 4]], [[7]]], height=20)
    frame = np.full((1080, 1920, 3), 70, np.uint8)
    frame[500:860, 900:1540] = page
    result = recognizer.recognize(frame)
    assert [n.text for n in result.numbers] == texts
    scale = recognizer.last_segmentation.scale
    assert scale > 1 / 3 and recognizer.last_mask.shape == (round(1080 * scale), round(1920 * scale))
    on_page = recognizer.recognize(page)
    for far, near in zip(result.digits, on_page.digits):
        assert np.allclose(np.array(far.box), np.array(near.box) + (900, 500, 0, 0), atol=1)


def test_small_writing_on_a_large_sheet_is_read_again_closer(recognizer, mnist):
    # The sheet is too large for a closer view of it alone; at the frame's scale these 14 px digits touch and blur.
    page = blank_page(900, 500)
    texts, y = [], 60
    for line in ([0, 1, 3, 11, 4], [7, 10, 2, 3], [4, 11, 0, 1, 7]):
        x = 60
        for index in line:
            glyph = mnist_glyph(mnist, index, 14)
            write(page, glyph, x, y)
            x += glyph.shape[1] + 4
        texts.append("".join(str(EASY[i]) for i in line))
        y += 42
    frame = np.full((720, 1280, 3), 70, np.uint8)
    frame[100:600, 200:1100] = cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)
    assert [n.text for n in recognizer.recognize(frame).numbers] == texts
    assert recognizer.last_segmentation.scale == 1.0


def test_the_closer_view_of_small_writing_takes_in_the_writing_around_the_digits_first_read(recognizer):
    # A far ruled sheet, thin pen: at the frame's scale only the lowest lines read surely, and a view of those alone
    # left the lines above out of the reading (10 of 37 digits read). The view spends a whole frame's pixels.
    from live_digits.evaluation import score
    from live_digits.scenes import render_scene

    scene = render_scene(4189, "ruled")
    assert score(scene.digits, scene.numbers, recognizer.recognize(scene.image)).correct_digits >= 18


def test_two_digits_touching_read_as_no_digit_whole_are_read_apart(recognizer, mnist):
    # Too narrow to be offered cuts, the pair reads surely as "not a digit" (the model learned merged digits so):
    # that is what two touching digits look like whole, and the halves read surely as digits.
    page = blank_page(1280, 720)
    first = write(page, mnist_glyph(mnist, 7167, 44), 600, 300)
    write(page, mnist_glyph(mnist, 2138, 44), first[0] + first[2] - 2, 300)
    labels = mnist[1][1]
    texts = [n.text for n in recognizer.recognize(cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)).numbers]
    assert texts == [f"{labels[7167]}{labels[2138]}"]


def test_a_turned_sheet_in_a_corner_of_the_frame_is_read_along_its_lines(recognizer):
    # A sheet turned about 35 degrees, only its corner in view: the rectangle fitted to what is seen lies level with
    # the frame, and its numbers were read across its lines (15 edits of 22 digits in reading order).
    from live_digits.evaluation import score
    from live_digits.scenes import render_scene

    scene = render_scene(3006, "tilted")
    tally = score(scene.digits, scene.numbers, recognizer.recognize(scene.image))
    assert tally.order_edits <= 2


def test_a_page_filling_the_frame_held_askew_is_read_along_its_lines(recognizer, mnist):
    # No sheet's edge in view to show the turn: the writing's own layout does. Unturned, the 20-degree slope of its
    # lines mixed the numbers of the two lines up.
    page = blank_page(900, 600)
    lines = [[[0, 1, 4], [7, 3]], [[11, 2], [1, 10, 4]]]
    texts = []
    for row, line in enumerate(lines):
        x = 150
        for number in line:
            for index in number:
                glyph = mnist_glyph(mnist, index, 40)
                write(page, glyph, x, 230 + 80 * row)
                x += glyph.shape[1] + 6
            texts.append("".join(str(EASY[i]) for i in number))
            x += 80
    turn = cv2.getRotationMatrix2D((450, 300), 20.0, 1.0)
    askew = cv2.warpAffine(page, turn, (900, 600), flags=cv2.INTER_LINEAR, borderValue=int(np.median(page)))
    assert [n.text for n in recognizer.recognize(cv2.cvtColor(askew, cv2.COLOR_GRAY2BGR)).numbers] == texts


@pytest.mark.parametrize("degrees", [-30.0, 30.0])
def test_touching_digits_on_a_turned_sheet_are_cut_along_its_writing(recognizer, mnist, degrees):
    # A sheet turned 30 degrees on a dark desk, two numbers on it, each of digits that touch. Turned, such a number
    # is about as tall as it is wide in the frame's axes, and cuts down the frame's columns slice across its digits:
    # turned one way, "620" was read as no digit at all.
    frame = np.full((600, 900), 50, np.uint8)
    frame[100:500, 200:700] = blank_page(500, 400)
    texts = []
    for number, y in (([11, 1, 10], 230), ([7, 3], 330)):
        x = 300
        for index in number:
            glyph = mnist_glyph(mnist, index, 40)
            write(frame, glyph, x, y)
            x += glyph.shape[1] - 2  # each digit overlaps the one before it
        texts.append("".join(str(EASY[i]) for i in number))
    turn = cv2.getRotationMatrix2D((450, 300), degrees, 1.0)
    askew = cv2.warpAffine(frame, turn, (900, 600), flags=cv2.INTER_LINEAR, borderValue=50)
    assert [n.text for n in recognizer.recognize(cv2.cvtColor(askew, cv2.COLOR_GRAY2BGR)).numbers] == texts


def test_a_sheet_too_small_to_stand_out_at_first_is_read_on_its_own(mnist):
    # A note a thirtieth of the frame, held far off over a grainy desk: too small to be taken for the sheet at first
    # sight, and read in the whole frame, its pencil is lost in the grain that the desk sets the ink's levels to.
    rng = np.random.default_rng(0)
    frame = np.clip(150 + rng.normal(0, 20, (720, 1280)), 0, 255).astype(np.uint8)
    frame[420:560, 300:520] = blank_page(220, 140)
    x, digits = 330, []
    for index in (0, 1, 4, 7):
        glyph = mnist_glyph(mnist, index, 26)
        write(frame, glyph, x, 470, ink=150)
        x += glyph.shape[1] + 8
        digits.append(str(EASY[index]))
    frame = cv2.GaussianBlur(frame, (3, 3), 0)
    stills = Recognizer.for_stills()
    assert [n.text for n in stills.recognize(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)).numbers] == ["".join(digits)]
    assert stills.last_segmentation.paper  # read on the note found, not in the whole frame


def test_numbers_running_uphill_on_a_level_sheet_are_read_along_their_lines(recognizer, mnist):
    # A level sheet on a dark desk, its edges showing no turn; the numbers climb 18 degrees, each digit upright.
    # Read along the sheet's rows, the numbers of the two lines were mixed up.
    frame = np.full((600, 900), 50, np.uint8)
    frame[60:560, 80:840] = blank_page(760, 500)
    lines = [[[0, 1, 4], [7, 3]], [[11, 2], [1, 10, 4]]]
    texts, climb = [], np.tan(np.radians(18.0))
    for row, line in enumerate(lines):
        x = 150
        for number in line:
            for index in number:
                glyph = mnist_glyph(mnist, index, 40)
                write(frame, glyph, x, round(330 + 120 * row - (x - 150) * climb))
                x += glyph.shape[1] + 6
            texts.append("".join(str(EASY[i]) for i in number))
            x += 80
    assert [n.text for n in recognizer.recognize(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)).numbers] == texts


def test_a_closer_view_that_reads_fewer_digits_surely_is_not_taken():
    # Faint pencil on yellow squared paper, small: read at the working scale, 9 of its 17 digits come out right; its
    # closer view at the input's own pixels, where the strokes drown in the paper's grain, read 4.
    from live_digits.evaluation import score
    from live_digits.scenes import render_scene

    scene = render_scene(160170, "squared")
    stills = Recognizer.for_stills()
    assert score(scene.digits, scene.numbers, stills.recognize(scene.image)).correct_digits >= 9
    assert stills.last_segmentation.origin == (0, 0)  # read in the whole frame, not the closer view


def test_writing_beside_a_wall_taken_for_the_sheet_is_read(recognizer):
    # A bright wall between a card and the frame's edges passes for the sheet, and the written sheet beside it, a
    # shade darker, is missed: nothing on the "sheet" reads as a digit, so the whole frame is read (0 -> 16 of 17).
    from live_digits.evaluation import score
    from live_digits.scenes import render_scene

    scene = render_scene(180000, "plain")
    assert score(scene.digits, scene.numbers, recognizer.recognize(scene.image)).correct_digits >= 15
    assert recognizer.last_segmentation.paper == []


def test_a_number_written_large_beside_small_print_is_read_whole(recognizer, mnist):
    # Its digits are offered the cut of stacked digits (several such pairs look alike too); the whole reads better.
    page, truth = page_with_a_large_number(mnist)
    digits = recognizer.recognize(page).digits
    for box, digit in zip(truth, (7, 2, 1)):
        assert [d.digit for d in digits if box_iou(d.box, box) >= 0.7] == [digit]


def test_confidence_is_a_setting(recognizer, mnist):
    page, _ = page_of(mnist, [[[0, 1]]])
    detections = recognizer.detect(page)
    recognizer.confidence = 1.01
    try:
        assert recognizer.read(detections).digits == []
    finally:
        recognizer.confidence = 0.5
    assert len(recognizer.read(detections).digits) == 2


def one_hot(digit: int, p: float) -> np.ndarray:
    probs = np.full(11, (1 - p) / 10, np.float32)
    probs[digit] = p
    return probs


def test_a_number_among_marks_that_are_no_digit_is_read_whole(recognizer):
    """An underline's crumbs, a "+" and a unit tight against a number are read as no digit; the number stays."""
    from live_digits.results import Detection

    marks = [Detection((0, 10, 12, 20), one_hot(NOT_A_DIGIT, 0.95)), Detection((16, 10, 12, 20), one_hot(1, 0.95)),
             Detection((32, 10, 12, 20), one_hot(2, 0.95)), Detection((48, 12, 10, 16), one_hot(NOT_A_DIGIT, 0.9)),
             Detection((62, 14, 8, 14), one_hot(NOT_A_DIGIT, 0.9))]
    assert [n.text for n in recognizer.read(marks).numbers] == ["12"]


def test_writing_in_a_shadows_band_across_the_page_is_read(recognizer, tmp_path):
    # A close-up of a page with a cast shadow's band across it: the lit parts on either side pass for two sheets,
    # the writing in the band lies in neither, and one digit of 13 was read. The whole frame holds far more writing.
    from live_digits.evaluation import score
    from live_digits.scenes import render_video

    path = tmp_path / "band.mp4"
    truth = render_video(path, 210008, "close_up", frames=1)[0]
    ok, frame = cv2.VideoCapture(str(path)).read()
    assert ok
    assert score(truth.digits, truth.numbers, recognizer.recognize(frame)).correct_digits >= 12
    assert recognizer.last_segmentation.paper == []


def test_a_frame_of_1s_holds_no_writing():
    # A desk's grain and an object's edges read as 1s: only other digits read surely tell writing.
    from types import SimpleNamespace

    found = SimpleNamespace(candidates=[None] * 5)
    ones = np.array([one_hot(1, 0.99)] * 4 + [one_hot(7, 0.9)])
    written = np.array([one_hot(d, p) for d, p in ((1, 0.99), (7, 0.9), (4, 0.8), (3, 0.95), (NOT_A_DIGIT, 0.9))])
    unsure = np.array([one_hot(d, p) for d, p in ((1, 0.99), (7, 0.4), (4, 0.8), (3, 0.95), (NOT_A_DIGIT, 0.9))])
    assert (writing(found, ones, 0.5), writing(found, written, 0.5), writing(found, unsure, 0.5)) == (1, 3, 2)


def test_digit_score():
    assert digit_score(one_hot(3, 0.9)) == pytest.approx(0.9)
    assert digit_score(one_hot(NOT_A_DIGIT, 0.9)) == 0.0


def test_wide_blob_is_cut_only_when_its_pieces_read_better():
    wide = Candidate((0, 0, 40, 20), 1, pieces=((0, 0, 20, 20), (20, 0, 20, 20)))
    single = Candidate((60, 0, 15, 20), 2)
    boxes, labels, _ = crop_list([wide, single])
    assert [tuple(b) for b in boxes] == [(0, 0, 40, 20), (60, 0, 15, 20), (0, 0, 20, 20), (20, 0, 20, 20)]
    assert list(labels) == [1, 2, 1, 1]

    pieces_win = np.stack([one_hot(NOT_A_DIGIT, 0.8), one_hot(7, 0.9), one_hot(1, 0.95), one_hot(2, 0.9)])
    chosen = choose_cuts([wide, single], boxes, pieces_win)
    assert [box for box, _ in chosen] == [(0, 0, 20, 20), (20, 0, 20, 20), (60, 0, 15, 20)]

    whole_wins = np.stack([one_hot(0, 0.97), one_hot(7, 0.9), one_hot(1, 0.95), one_hot(NOT_A_DIGIT, 0.6)])
    chosen = choose_cuts([wide, single], boxes, whole_wins)
    assert [box for box, _ in chosen] == [(0, 0, 40, 20), (60, 0, 15, 20)]


def test_blob_is_cut_the_way_whose_weakest_piece_reads_best():
    three = ((0, 0, 20, 20), (20, 0, 20, 20), (40, 0, 20, 20))
    two = ((0, 0, 30, 20), (30, 0, 30, 20))
    blob = Candidate((0, 0, 60, 20), 1, pieces=three + two, several=True, splits=(3, 2))
    assert blob.cuttings() == [three, two]
    boxes, _, _ = crop_list([blob])
    two_read_surely = np.stack([one_hot(NOT_A_DIGIT, 0.9), one_hot(1, 0.9), one_hot(1, 0.3), one_hot(1, 0.9),
                                one_hot(4, 0.8), one_hot(2, 0.85)])
    assert [box for box, _ in choose_cuts([blob], boxes, two_read_surely)] == list(two)
    # No way reads surely enough: a mark that is no digit is not made into several by cutting it.
    none_sure = np.stack([one_hot(NOT_A_DIGIT, 0.9), *[one_hot(1, 0.4)] * 5])
    assert [box for box, _ in choose_cuts([blob], boxes, none_sure)] == [(0, 0, 60, 20)]


def test_a_closer_view_counts_only_when_it_sees_the_same_writing_larger(mnist):
    from dataclasses import replace

    from live_digits.recognizer import same_writing
    from live_digits.segment import segment

    found = segment(page_of(mnist, [[[0, 1, 2]]])[0])
    assert found.digit_height > 0
    twice = replace(found, scale=2 * found.scale, digit_height=2 * found.digit_height)
    assert same_writing(found, twice)
    assert not same_writing(found, replace(twice, digit_height=4 * found.digit_height))  # a desk's grain, taken for strokes
    assert not same_writing(replace(found, digit_height=0.0), twice)
