"""The segmentation's steps, each on small synthetic pages: MNIST test digits as dark ink on white paper."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from live_digits import segment as S

PAPER, INK = 235, 40


def mnist_glyph(mnist, index: int, height: int) -> np.ndarray:
    """MNIST test digit `index` cropped to its ink and scaled to `height` px: float 0..1 ink coverage."""
    digit = mnist[1][0][index]
    rows, cols = np.nonzero(digit > 40)
    digit = digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    width = max(1, round(digit.shape[1] * height / digit.shape[0]))
    return cv2.resize(digit, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0


def write(page: np.ndarray, glyph: np.ndarray, x: int, y: int, ink: float = INK) -> tuple[int, int, int, int]:
    """Ink the glyph onto the page at (x, y); the box of its ink."""
    h, w = glyph.shape
    area = page[y : y + h, x : x + w].astype(np.float32)
    page[y : y + h, x : x + w] = (area * (1 - glyph) + ink * glyph).astype(np.uint8)
    rows, cols = np.nonzero(glyph > 0.25)
    return (x + int(cols.min()), y + int(rows.min()), int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1))


def blank_page(width: int = 480, height: int = 320, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(PAPER + rng.normal(0, 2.0, (height, width)), 0, 255).astype(np.uint8)


def page_with_number(mnist, indices=(0, 1, 2), height: int = 40, x: int = 120, y: int = 130, gap: int = 8):
    page = blank_page()
    boxes = []
    for index in indices:
        glyph = mnist_glyph(mnist, index, height)
        boxes.append(write(page, glyph, x, y))
        x += glyph.shape[1] + gap
    return page, boxes


def iou(a, b) -> float:
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def input_boxes(found: S.Segmentation) -> list[tuple[int, int, int, int]]:
    return [found.to_input(c.box) for c in found.candidates]


def each_found(truth, boxes, min_iou=0.6) -> bool:
    return all(any(iou(t, b) >= min_iou for b in boxes) for t in truth)


# ----------------------------------------------------------------------------------------------------------------
# Pixels


def test_to_gray_reads_every_depth_and_layout():
    gray = np.full((6, 8), 200, np.uint8)
    assert S.to_gray(gray).dtype == np.uint8
    assert S.to_gray(np.full((6, 8), 4000, np.uint16)).max() == 255  # a 12-bit image fills the 8-bit range
    assert S.to_gray(np.full((6, 8, 3), 0.5, np.float32))[0, 0] == 127
    assert S.to_gray(np.ones((6, 8), bool))[0, 0] == 255
    assert S.to_gray(gray[:, :, None]).shape == (6, 8)


def test_transparent_pixels_become_paper():
    bgra = np.zeros((10, 10, 4), np.uint8)  # transparent black everywhere...
    bgra[4:6, 2:8, 3] = 255  # ...except an opaque black stroke
    gray = S.to_gray(bgra)
    assert gray[0, 0] == 255 and gray[5, 5] == 0
    gray_alpha = np.zeros((10, 10, 2), np.uint16)
    gray_alpha[4:6, 2:8, 1] = 65535
    gray = S.to_gray(gray_alpha)
    assert gray[0, 0] == 255 and gray[5, 5] == 0


def test_not_an_image_is_a_bug():
    with pytest.raises(ValueError):
        S.to_gray(np.zeros((4, 4, 5), np.uint8))


def test_darkest_channel_sees_coloured_ink():
    bgr = np.full((4, 4, 3), 240, np.uint8)
    bgr[1, 1] = (60, 170, 70)  # green ink: bright in luminance, dark in two channels
    assert S.darkest_channel(bgr)[1, 1] == 60
    assert S.to_gray(bgr)[1, 1] > 120


@pytest.mark.parametrize("shape", [(1, 640), (2, 640), (640, 1), (5, 3000), (1, 1)])
def test_a_strip_too_thin_for_any_digit_reads_nothing(shape):
    strip = np.full(shape, 200, np.uint8)
    strip[..., ::7] = 20
    assert S.segment(strip).candidates == []


def test_working_scale_shrinks_by_whole_factors_and_enlarges_small_images():
    assert S.working_scale((720, 1280), 640) == 0.5
    assert S.working_scale((1080, 1920), 640) == pytest.approx(1 / 3)
    assert S.working_scale((60, 80), 640) == 8.0


# ----------------------------------------------------------------------------------------------------------------
# Paper


def sheet_on_desk(tilt_deg: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    image = np.full((360, 640), 50, np.uint8)
    image = np.clip(image + np.random.default_rng(1).normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    corners = cv2.boxPoints(((330, 175), (380, 250), tilt_deg)).astype(np.int32)
    cv2.fillPoly(image, [corners], 225)
    return image, corners


def test_paper_found_on_a_dark_desk():
    image, corners = sheet_on_desk()
    (paper,) = S.find_paper(image)
    found = np.zeros(image.shape, np.uint8)
    truth = np.zeros(image.shape, np.uint8)
    cv2.fillPoly(found, [paper], 1)
    cv2.fillPoly(truth, [corners], 1)
    overlap = np.count_nonzero(found & truth) / np.count_nonzero(found | truth)
    assert overlap > 0.9


def test_no_paper_when_the_sheet_fills_the_frame_or_light_merely_varies():
    assert S.find_paper(blank_page()) == []
    gradient = np.tile(np.linspace(120, 240, 640), (360, 1)).astype(np.uint8)
    assert S.find_paper(gradient) == []


def test_writing_on_the_darker_side_of_a_page_filling_the_frame_is_read(mnist):
    # A level of light cuts the page in two, and the writing beside the cut dents it: no sheet's edge for all that.
    page = (blank_page(640, 360) * np.linspace(0.8, 1.0, 640)[None, :]).astype(np.uint8)
    boxes = [write(page, mnist_glyph(mnist, index, 30), 30 + 40 * (index % 2), 30 + 60 * (index // 2))
             for index in range(10)]
    assert S.find_paper(page) == []
    assert each_found(boxes, input_boxes(S.segment(page)))


def test_writing_close_to_the_edge_of_the_sheet_is_read(mnist):
    image = np.full((360, 640), 50, np.float32)
    image[40:320, 80:560] = 230
    image = np.clip(cv2.GaussianBlur(image, (0, 0), 2.0) + np.random.default_rng(1).normal(0, 3, image.shape), 0, 255)
    image = image.astype(np.uint8)
    boxes = [write(image, mnist_glyph(mnist, index, 30), 120 + 40 * index, 282, ink=30) for index in range(8)]
    assert len(S.find_paper(image)) == 1
    assert each_found(boxes, input_boxes(S.segment(image)))  # 8 px from the sheet's edge


def test_the_part_of_a_sheet_in_a_cast_shadow_is_read(mnist):
    # An arm's shadow darkens the left of a white sheet on a brown desk to the desk's own brightness: by brightness
    # alone the sheet ends at the shadow; by its tint, the shadowed paper is the same sheet.
    image = np.empty((360, 640, 3), np.float32)
    image[:] = (60, 110, 160)  # BGR: a brown desk
    image[40:320, 120:520] = (225, 228, 230)
    image[:, :260] *= 0.55
    image = cv2.GaussianBlur(image, (0, 0), 2.0) + np.random.default_rng(1).normal(0, 2, image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    shaded = [write(image[:, :, channel], mnist_glyph(mnist, index, 30), 150 + 35 * index, 150, ink=25)
              for index in range(3) for channel in range(3)][::3]
    gray = S.to_gray(image)
    (lit,) = S.find_paper(gray)
    assert lit[:, 0].min() > 240  # the sheet by brightness alone: its lit part
    (sheet,) = S.find_paper(gray, image)
    assert abs(sheet[:, 0].min() - 120) < 10 and abs(sheet[:, 0].max() - 520) < 10
    assert each_found(shaded, input_boxes(S.segment(image)))


def test_every_sheet_in_view_is_read(mnist):
    image, _ = sheet_on_desk(tilt_deg=0)
    cv2.rectangle(image, (560, 40), (630, 120), 215, -1)  # a sticky note beside the page
    assert len(S.find_paper(image)) == 2
    note = write(image, mnist_glyph(mnist, 0, 40), 580, 60)
    assert each_found([note], input_boxes(S.segment(image)))


def test_nothing_is_read_off_the_sheet(mnist):
    image, corners = sheet_on_desk(tilt_deg=0)
    inside = write(image, mnist_glyph(mnist, 0, 40), 300, 150)
    write(image, mnist_glyph(mnist, 1, 40), 40, 20, ink=5)  # a dark mark on the desk, outside the sheet
    boxes = input_boxes(S.segment(image))
    assert each_found([inside], boxes)
    assert all(b[0] > 120 for b in boxes)


# ----------------------------------------------------------------------------------------------------------------
# Ink


def test_ink_ignores_shading_and_the_edge_of_a_shadow():
    image = np.tile(np.linspace(90, 240, 480), (320, 1)).astype(np.uint8)  # light falling off to the left
    image[:, 300:] = (image[:, 300:] * 0.55).astype(np.uint8)  # a hard shadow edge
    cv2.line(image, (100, 40), (100, 280), 20, 2)  # one real stroke
    darkness, _ = S.ink_darkness(image)
    mask = S.threshold_ink(darkness, np.full(image.shape, 255, np.uint8)).mask
    assert mask[150, 100] == 255
    mask[:, 96:105] = 0
    assert np.count_nonzero(mask) == 0


def test_a_stroke_wider_than_the_paper_closing_is_ink_through_and_through(mnist):
    page = blank_page(640, 480)
    write(page, cv2.GaussianBlur(mnist_glyph(mnist, 0, 420), (0, 0), 3), 200, 30)  # a 7 in marker, filling the frame
    darkness, _ = S.ink_darkness(page)
    mask = S.threshold_ink(darkness, np.full(page.shape, 255, np.uint8)).mask
    glyph = page < (PAPER + INK) / 2
    assert np.count_nonzero(mask & glyph) > 0.9 * np.count_nonzero(glyph)


def test_shadows_and_dark_objects_are_not_taken_for_thick_strokes():
    page = blank_page(640, 480)
    cv2.ellipse(page, (320, 300), (90, 50), 30, 0, 360, int(PAPER * 0.55), -1)  # a hand's soft shadow
    cv2.circle(page, (150, 150), 60, 20, -1)  # a cup seen from above: dark, but wider than any stroke
    _, paper = S.ink_darkness(page)
    assert paper[300, 320] < 0.6 * PAPER and paper[150, 150] < 0.2 * PAPER  # left as the surface they are


def test_faint_stroke_kept_whole_by_hysteresis():
    page = blank_page()
    cv2.line(page, (100, 100), (300, 100), 150, 2)  # dark in the middle...
    cv2.line(page, (100, 100), (160, 100), 205, 2)  # ...faint toward one end
    darkness, _ = S.ink_darkness(page)
    mask = S.threshold_ink(darkness, np.full(page.shape, 255, np.uint8)).mask
    assert mask[100, 110] == 255 and mask[100, 250] == 255
    assert np.count_nonzero(mask[:90]) == 0  # paper noise is no ink



def located(scene, found: S.Segmentation) -> int:
    """How many of a rendered scene's digits a candidate (whole or a piece of one) covers at IoU >= 0.5, its box
    fitted at the input's resolution as the recognizer reports it."""
    from live_digits.evaluation import iou_matrix

    boxes = [c.box for c in found.candidates] + [p for c in found.candidates for p in c.pieces]
    boxes = [S.tighten_box(scene.image, found.to_input(b)) for b in boxes]
    if not boxes or not scene.digits:
        return 0
    return int((iou_matrix([d.box for d in scene.digits], boxes).max(axis=1) >= 0.5).sum())


def test_sharpening_halos_do_not_bridge_the_rows_of_a_page():
    # Marker digits on yellow paper, sharpened as a webcam does: the bright halo beside every stroke once raised
    # the paper's level all round the writing, and the bare paper between rows became ink joining them all.
    from live_digits.scenes import render_scene

    scene = render_scene(3033, "marker")
    assert located(scene, S.segment(scene.image)) >= 0.9 * len(scene.digits)


def test_a_dim_noisy_frame_is_read_in_gray():
    # Thin pen in dim light, the sensor's noise as strong as the ink: the darkest channel hid all but 2 of 22.
    from live_digits.scenes import render_scene

    scene = render_scene(3113, "dim_uneven")
    assert located(scene, S.segment(scene.image)) >= 0.5 * len(scene.digits)


def test_a_dim_surround_does_not_set_the_grain_of_the_lit_spot(mnist):
    # A spot of light on a dim room, no sheet edge to be found: the dim part, most of the frame, is still bright
    # enough to be read, but the same sensor noise there is a grain twice as strong against its low brightness.
    # Measured over the whole frame, that grain put the level of ink above the lit digits' pencil-grey strokes.
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:360, 0:640]
    light = 100 + 120 * np.exp(-((cols - 560) ** 2 + (rows - 160) ** 2) / (2 * 80.0**2))
    reflectance = np.full(light.shape, 200, np.uint8)
    truth, x = [], 518
    for index in (0, 1, 2):
        glyph = mnist_glyph(mnist, index, 36)
        truth.append(write(reflectance, glyph, x, 140, ink=160))  # 20% darker than the paper
        x += glyph.shape[1] + 8
    image = np.clip(light * reflectance / 200 + rng.normal(0, 4.0, light.shape), 0, 255).astype(np.uint8)
    boxes = input_boxes(S.segment(image))
    assert each_found(truth, boxes)
    assert len(boxes) == len(truth)  # and the dim part's noise is no ink

# ----------------------------------------------------------------------------------------------------------------
# Lines


def test_ruled_lines_removed_while_digits_survive(mnist):
    page = blank_page()
    for y in range(30, 320, 45):
        cv2.line(page, (0, y), (479, y + 6), 160, 1)  # ruled lines, slightly tilted, crossing the digits
    truth = [write(page, mnist_glyph(mnist, i, 44), 100 + 45 * i, 150) for i in range(4)]
    found = S.segment(page)
    boxes = input_boxes(found)
    assert len(boxes) == 4
    assert each_found(truth, boxes)


def test_a_ruled_page_written_on_every_line_is_read(mnist):
    # Dense writing: every window of the page holds strokes. Counted as the paper's grain they raised the level of
    # ink until the faint lines under the digits survived only in pieces, which the line search missed and which
    # joined the digits sitting on them.
    page = blank_page(640, 480)
    spacing, height = 24, 20
    page[20::spacing] = np.minimum(page[20::spacing], 200)  # faint ruled lines, one pixel wide
    truth, index = [], 0
    for baseline in range(20 + 2 * spacing, 480 - spacing, spacing):
        x = 40
        while x < 560:
            for _ in range(4):  # numbers of four digits sitting on the line
                glyph = mnist_glyph(mnist, index, height)
                truth.append(write(page, glyph, x, baseline - height + 1))
                index, x = index + 1, x + glyph.shape[1] + 4
            x += 30
    boxes = input_boxes(S.segment(page))
    assert sum(any(iou(t, b) >= 0.6 for b in boxes) for t in truth) >= 0.98 * len(truth)


def test_the_flat_tops_of_a_number_of_fives_and_sevens_are_no_line(mnist):
    # The bars of 5s and 7s written side by side line up into a straight run of ink three digits long, with bare
    # paper above it: taken for a ruled line, it took the digits' tops with it.
    labels = mnist[1][1]
    flat_topped = [i for i in range(len(labels)) if labels[i] in (5, 7)][:48]
    page = blank_page(640, 480)
    truth = []
    for group in range(12):
        x, y = 40 + 200 * (group % 3), 60 + 100 * (group // 3) + 30 * (group % 3)  # each its own row
        for index in flat_topped[4 * group : 4 * group + 4]:
            glyph = mnist_glyph(mnist, index, 24)
            truth.append(write(page, glyph, x, y))
            x += glyph.shape[1] + 2
    assert each_found(truth, input_boxes(S.segment(page)))


def test_grid_lines_removed(mnist):
    page = blank_page()
    for v in range(10, 480, 22):
        cv2.line(page, (v, 0), (v, 319), 175, 1)
    for v in range(10, 320, 22):
        cv2.line(page, (0, v), (479, v), 175, 1)
    truth = [write(page, mnist_glyph(mnist, i, 40), 150 + 40 * i, 120) for i in (3, 4)]
    boxes = input_boxes(S.segment(page))
    assert each_found(truth, boxes)
    assert len(boxes) <= 3


def test_a_segment_beside_its_thin_line_is_laid_on_it():
    # A 1-px line, stepped as a slight tilt rasterizes, and a course a few pixels off it (as Hough's angle step
    # leaves one): the course is moved onto the line, however a digit crossing it pulls.
    mask = np.zeros((120, 400), np.uint8)
    cv2.line(mask, (0, 50), (399, 58), 255, 1)
    cv2.rectangle(mask, (180, 35), (190, 75), 255, -1)  # a stroke across the line
    (x0, y0, x1, y1), = S._refitted(np.array([[0, 52, 399, 57]], np.int32), mask)
    assert (x0, x1) == (0, 399)
    assert abs(y0 - 50) <= 1 and abs(y1 - 58) <= 1


def test_find_lines_ignores_digit_strokes(mnist):
    page, _ = page_with_number(mnist, indices=(2, 5, 14), height=60)  # a "1", a "1" and a "7"'s long strokes
    darkness, _ = S.ink_darkness(page)
    mask = S.threshold_ink(darkness, np.full(page.shape, 255, np.uint8)).mask
    assert len(S.find_lines(mask, 60, darkness)) == 0


# ----------------------------------------------------------------------------------------------------------------
# Components


def test_digits_found_where_they_are(mnist):
    page, truth = page_with_number(mnist)
    found = S.segment(page)
    assert len(found.candidates) == 3
    assert each_found(truth, input_boxes(found), min_iou=0.7)
    assert found.digit_height == pytest.approx(40 * found.scale, rel=0.25)


def test_boxes_come_back_in_input_pixels(mnist):
    page, truth = page_with_number(mnist)
    big = cv2.resize(page, None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR)
    boxes = input_boxes(S.segment(big))
    assert each_found([tuple(3 * v for v in t) for t in truth], boxes, min_iou=0.7)
    small = cv2.resize(page[100:200, 100:260], None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    assert S.segment(small).input_shape == small.shape


def test_broken_digit_joined():
    page = blank_page()
    # A 5 in two strokes: the cap apart from the body.
    cv2.line(page, (212, 100), (240, 100), INK, 3)
    cv2.line(page, (212, 108), (210, 124), INK, 3)
    cv2.ellipse(page, (222, 134), (13, 12), 0, -150, 150, INK, 3)
    found = S.segment(page)
    assert len(found.candidates) == 1
    x, y, w, h = found.to_input(found.candidates[0].box)
    assert y <= 100 and y + h >= 145


def test_stacked_digits_of_two_lines_stay_apart(mnist):
    page = blank_page()
    write(page, mnist_glyph(mnist, 3, 40), 200, 80)
    write(page, mnist_glyph(mnist, 4, 40), 200, 132)
    assert len(S.segment(page).candidates) == 2


def test_touching_digits_get_cuts(mnist):
    page = blank_page()
    left = mnist_glyph(mnist, 3, 44)  # a 0
    right = mnist_glyph(mnist, 10, 44)  # another 0
    a = write(page, left, 150, 120)
    b = write(page, right, 150 + left.shape[1] - 6, 120)  # overlapping: they touch
    found = S.segment(page)
    assert len(found.candidates) == 1
    ways = found.candidates[0].cuttings()
    assert ways and all(len(way) == 2 for way in ways)  # in two, at the middle first and elsewhere too
    assert each_found([a, b], [found.to_input(p) for p in ways[0]], min_iou=0.5)


def test_split_points_cut_at_the_thinnest_column():
    column_ink = np.array([5, 6, 7, 6, 5, 1, 6, 7, 6, 5])
    assert S.split_points(column_ink, 2) == [5]


def test_a_blob_of_two_is_offered_cuts_off_its_middle_too():
    # A 1 touching a wide 5: they meet at a fifth of the blob's width, where the middle's search never looks.
    column_ink = np.array([9, 9, 9, 9, 9, 2, 6, 5, 4, 4, 3, 4, 4, 4, 5, 6, 7, 6, 5, 4, 4, 5, 6, 8, 8, 7])
    cuts = S.cuts_in_two(column_ink)
    assert cuts[0] == S.split_points(column_ink, 2)[0] and 5 in cuts
    assert len(cuts) == 1 + S.OTHER_CUTS and min(np.diff(sorted(cuts))) >= 3  # apart from each other


def test_specks_dots_and_dashes_are_not_candidates(mnist):
    page, truth = page_with_number(mnist)
    cv2.circle(page, (60, 60), 2, INK, -1)  # a speck
    cv2.circle(page, (400, 168), 3, INK, -1)  # a full stop after the number
    cv2.line(page, (60, 250), (100, 250), INK, 3)  # a dash
    assert len(S.segment(page).candidates) == 3


def test_blank_and_uniform_frames_give_nothing():
    assert S.segment(blank_page()).candidates == []
    assert S.segment(np.zeros((90, 160, 3), np.uint8)).candidates == []
    assert S.segment(np.full((1, 1), 255, np.uint8)).candidates == []


def test_digits_of_two_close_lines_touching_get_cuts(mnist):
    page = blank_page()
    others = [write(page, mnist_glyph(mnist, i, 40), 40 + 50 * i, 40) for i in range(4)]  # to know digit height
    top = write(page, mnist_glyph(mnist, 3, 40), 300, 120)  # a 0...
    bottom = write(page, mnist_glyph(mnist, 1, 40), 298, 158)  # ...with a 2 right under it, touching
    found = S.segment(page)
    (stacked,) = [c for c in found.candidates if found.to_input(c.box)[3] > 60]
    assert stacked.several
    assert each_found([top, bottom], [found.to_input(p) for p in stacked.pieces], min_iou=0.5)
    assert each_found(others, input_boxes(found))


def test_several_pairs_of_two_close_lines_touching_get_cuts(mnist):
    # Three such pairs are as tall as one another, as the digits of a number written large would be: the cut is
    # still offered (and taken only where its pieces read better than the whole).
    page = blank_page()
    others = [write(page, mnist_glyph(mnist, i, 40), 40 + 50 * i, 40) for i in range(4)]
    pairs = [(write(page, mnist_glyph(mnist, 3, 40), x, 120), write(page, mnist_glyph(mnist, 1, 40), x - 2, 158))
             for x in (240, 310, 380)]
    found = S.segment(page)
    stacked = [c for c in found.candidates if found.to_input(c.box)[3] > 60]
    assert len(stacked) == 3
    for candidate, pair in zip(sorted(stacked, key=lambda c: c.box[0]), pairs):
        assert each_found(list(pair), [found.to_input(p) for p in candidate.pieces], min_iou=0.5)


def test_digits_sitting_on_thin_sloping_lines_stay_apart(mnist):
    # Lines a pixel thin, falling 4 pixels across the page, each with a row of digits standing on it: where a course
    # fitted through the writing runs a pixel off the line, the line's level read along it was the paper's, every
    # pixel of the line looked darker than the line (as a digit crossing it does), and the line stayed, joining its
    # row into long blobs.
    page, truth = blank_page(640, 360), []
    for row in range(3):
        y = 100 + 70 * row
        cv2.line(page, (0, y), (639, y + 4), 150, 1)
        x = 30
        for i in range(10):
            glyph = mnist_glyph(mnist, i + 10 * row, 30)
            truth.append(write(page, glyph, x, y + int(4 * x / 640) - glyph.shape[0] + 1))
            x += glyph.shape[1] + 8
    found = S.segment(page)
    assert len(found.candidates) == len(truth)
    assert each_found(truth, input_boxes(found), min_iou=0.4)  # a 2's foot on the line goes with it


def test_a_true_circle_is_no_candidate_but_a_hand_drawn_0_is(mnist):
    # A cup's rim or a coin seen from above reads as a 0 at full confidence; a hand's 0 wobbles off its ellipse.
    page = blank_page()
    zeros = [write(page, mnist_glyph(mnist, index, 50), 40 + 70 * k, 40) for k, index in enumerate((3, 10, 13, 25))]
    cv2.circle(page, (300, 220), 30, INK, 4)  # a rim
    cv2.circle(page, (400, 220), 22, INK, 3)
    found = S.segment(page)
    assert len(found.candidates) == len(zeros)
    assert each_found(zeros, input_boxes(found))


def test_a_mark_no_darker_than_the_grain_around_it_is_no_candidate():
    # A dark stroke on bare paper, and a streak among equally dark streaks (a wooden desk's grain).
    ink = np.zeros((120, 240), np.uint8)
    ink[40:70, 40:44] = 200
    ink[:, 140:240:3] = 60
    ink[40:70, 180:184] = 70
    mask = np.where(ink > 30, 255, 0).astype(np.uint8)
    stroke, streak = S.Candidate((40, 40, 4, 30), 1), S.Candidate((180, 40, 4, 30), 2)
    assert S.standing_out([stroke, streak], ink, mask) == [stroke]


def test_dashes_of_a_faint_line_broken_by_the_threshold_are_no_candidates():
    # A faint margin, slightly turned, of which the threshold kept one dash; a 1 on bare paper; a 1 written over
    # the same faint line, far darker than it; a 1 whose course runs on into another stroke for a little way.
    rng = np.random.default_rng(0)
    ink = rng.integers(0, 20, (300, 300)).astype(np.uint8)
    cv2.line(ink, (40, 0), (52, 299), 32, 1)
    labels = np.zeros(ink.shape, np.uint16)
    for label, (x, y, dark) in enumerate([(44, 100, 40), (150, 100, 200), (48, 200, 200)], start=1):
        stroke = np.zeros(ink.shape, np.uint8)
        cv2.line(stroke, (x, y), (x + round(20 * 12 / 299), y + 20), 1, 2)
        ink[stroke > 0] = np.maximum(ink[stroke > 0], dark)
        labels[stroke > 0] = label
    cv2.line(ink, (231, 138), (234, 160), 200, 2)  # another digit's stroke, in line with the next 1 below it
    labels[170:190, 235:237], ink[170:190, 235:237] = 4, 200
    candidates = [S.Candidate(tuple(int(v) for v in cv2.boundingRect((labels == label).astype(np.uint8))), label)
                  for label in (1, 2, 3, 4)]
    dash, alone, over_the_line, in_line = candidates
    assert S.off_broken_lines(candidates, labels, ink, digit_height=20) == [alone, over_the_line, in_line]


def test_the_darker_stretch_of_a_desks_streak_is_no_candidate_but_a_1_is_even_in_line_with_another():
    # Darkness against the paper: a soft streak of a wooden desk's grain, darker over the stretch that the threshold
    # kept; a 1 on bare paper; two 1s of two close lines, one in line with the other (past the end of each, the
    # other's ink).
    ink = np.zeros((200, 300), np.uint8)
    labels = np.zeros(ink.shape, np.uint16)
    ink[10:190, 40:45] = 55
    ink[80:110, 40:45], labels[80:110, 40:45] = 80, 1
    for label, (x, top) in enumerate([(120, 80), (205, 39), (205, 72)], start=2):
        stroke = np.zeros(ink.shape, np.uint8)
        cv2.line(stroke, (x, top), (x + 3, top + 30), 1, 4)
        ink[stroke > 0], labels[stroke > 0] = 200, label
    candidates = [S.Candidate(tuple(int(v) for v in cv2.boundingRect((labels == label).astype(np.uint8))), label)
                  for label in (1, 2, 3, 4)]
    streak, alone, upper, lower = candidates
    assert S.off_streaks(candidates, labels, ink) == [alone, upper, lower]


def test_a_row_of_solid_bars_of_one_height_is_no_digits_but_a_row_of_written_ones_is(mnist):
    # The gaps between a keyboard's keys, once its long lines are gone; then 1s written in a row (MNIST's most
    # upright ones), as tall as the bars.
    labels = np.zeros((200, 400), np.uint16)
    for label, x in enumerate(range(20, 220, 34), start=1):
        labels[30:90, x : x + 5] = label
    for label, (index, x) in enumerate(zip((14, 37, 74, 39), range(20, 300, 40)), start=10):
        glyph = mnist_glyph(mnist, index, 60) > 0.5
        labels[120 : 120 + glyph.shape[0], x : x + glyph.shape[1]][glyph] = label
    candidates = [S.Candidate(tuple(int(v) for v in cv2.boundingRect((labels == label).astype(np.uint8))), label)
                  for label in np.unique(labels)[1:]]
    kept = S.off_rows_of_bars(candidates)
    assert [c.label for c in kept] == [10, 11, 12, 13]


def test_the_dark_band_along_an_objects_edge_is_no_candidate_but_a_digit_near_a_sheets_edge_is(mnist):
    # A pale card on a purple desk, the shadow along its left edge an upright dark band between the two; on the
    # card a 1 written just under its top edge (the desk beside its top only) and a 0 in its middle.
    frame = np.full((200, 300, 3), (200, 140, 190), np.uint8)
    frame[50:, 150:] = (225, 230, 230)
    frame[60:160, 146:150] = 60
    ink = np.full(frame.shape[:2], 255, np.uint8)
    write(ink, mnist_glyph(mnist, 2, 40), 220, 54)
    write(ink, mnist_glyph(mnist, 3, 40), 180, 110)
    frame[ink < 128] = INK
    mask = np.where(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) < 128, 255, 0).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    candidates = [S.Candidate(tuple(int(v) for v in stats[label, :4]), label) for label in range(1, count)]
    one, band, zero = sorted(candidates, key=lambda c: c.box[1])
    region = np.full(mask.shape, 255, np.uint8)
    assert S.on_one_surface(candidates, frame, mask, region) == [one, zero]
    assert S.on_one_surface(candidates, frame[..., 1], mask, region) == candidates  # grey: no tint to judge by


def test_a_wide_mark_as_faint_as_a_desks_grain_is_no_candidate_but_a_marker_digit_or_a_pencil_one_is():
    # Darkness against the paper (0 = paper): a soft grain stripe 10 px wide, 40 levels dark; a 1 drawn with a
    # marker, as wide and 200 dark; a pencil 7 two pixels wide, 30 dark.
    ink = np.zeros((120, 200), np.uint8)
    ink[10:110, 20:30] = 40
    ink[10:110, 80:90] = 200
    cv2.polylines(ink, [np.array([[140, 30], [180, 30], [155, 100]], np.int32)], False, 30, 2)
    mask = np.where(ink > 0, 255, 0).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    stripe, marker, pencil = sorted((S.Candidate(tuple(int(v) for v in stats[label, :4]), label)
                                     for label in range(1, count)), key=lambda c: c.box[0])
    assert S.dark_for_their_width([stripe, marker, pencil], labels, ink, mask) == [marker, pencil]


def test_a_digit_beside_a_dark_object_still_stands_out(mnist):
    page = blank_page()
    box = write(page, mnist_glyph(mnist, 0, 40), 200, 120)
    page[100:180, 150:185] = 10  # a pen's tip, darker than the ink, in a corner of the digit's surroundings
    found = S.segment(page)
    assert each_found([box], input_boxes(found))


def test_a_mark_running_off_the_frame_is_no_candidate(mnist):
    page, truth = page_with_number(mnist)
    glyph = mnist_glyph(mnist, 3, 40)
    write(page, glyph[:, : glyph.shape[1] // 2], page.shape[1] - glyph.shape[1] // 2, 60)  # half a 0 at the right edge
    assert len(S.segment(page).candidates) == 3


def page_with_a_large_number(mnist) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Four lines of small print and a number (7 2 1) four times taller beside them, and a lone stroke as tall as
    that number (a crease, a pen); with the number's boxes."""
    page = blank_page(640, 400)
    for row in range(4):
        for col in range(14):
            write(page, mnist_glyph(mnist, 20 + row * 14 + col, 12), 20 + 20 * col, 30 + 24 * row)
    x, truth = 330, []
    for index in (0, 1, 2):
        glyph = mnist_glyph(mnist, index, 60)
        truth.append(write(page, glyph, x, 60))
        x += glyph.shape[1] + 14
    cv2.line(page, (200, 230), (203, 380), INK, 3)
    return page, truth


def test_a_number_written_large_beside_small_print_is_found(mnist):
    # Many small marks rule the median digit height; three digits four times taller are a number of their own, not
    # taken for stacked digits by their shape (their cut is only offered), while a lone mark as tall is still too tall.
    page, truth = page_with_a_large_number(mnist)
    found = S.segment(page)
    assert found.digit_height < 20 * found.scale
    boxes = input_boxes(found)
    assert each_found(truth, boxes, min_iou=0.7)
    assert not any(c.several for c in found.candidates if found.to_input(c.box)[3] > 40)
    assert not any(b[3] > 100 for b in boxes)


def test_own_digit_height_needs_peers_that_stand_out_from_the_median():
    heights = np.array([10, 11, 12, 10, 11, 30, 31, 29])
    assert S.own_digit_height(30, heights, 11.0) == 30.0
    assert S.own_digit_height(12, heights, 11.0) == 11.0
    assert S.own_digit_height(60, heights, 11.0) == 11.0  # no peers of its height
    assert S.own_digit_height(17, np.array([10, 11, 12, 10, 11, 17]), 10.5) == 10.5  # its peers are the median's


def test_a_small_calm_sheet_keeps_its_own_grain_beside_a_grainy_one():
    # A far sheet held over a dark card, next to a wooden desk bright enough to pass for a second sheet: the desk's
    # grain must not set the ink levels of the small sheet, whose faint small digits would all be lost.
    from live_digits.scenes import render_scene

    scene = render_scene(5033, "small_far")
    found = S.segment(scene.image)
    assert len(found.paper) >= 2
    # Two of them touch at a pixel: found as a blob with its cut, which the classifier takes.
    assert located(scene, found) == len(scene.digits)


def test_a_broken_stroke_on_a_turned_sheet_is_joined_along_the_writings_axes():
    """A 1 on a sheet turned 20 degrees leans; broken in the middle, its halves sit diagonally, side by side in the
    image's columns, but one above the other along the sheet's."""
    a = math.radians(20.0)
    top = (120 - 60 * math.sin(a), 160 - 60 * math.cos(a))
    middle = lambda t: (round(120 + t * (top[0] - 120)), round(160 + t * (top[1] - 160)))  # noqa: E731
    mask = np.zeros((240, 240), np.uint8)
    cv2.line(mask, middle(0.0), middle(0.45), 255, 3)
    cv2.line(mask, middle(0.55), middle(1.0), 255, 3)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    assert count == 3
    index = np.array([1, 2])
    level = S.join_strokes(stats[index, :4], 60.0)
    assert level[0] != level[1]  # read as lying level: two marks side by side
    turned = S.join_strokes(S.upright_boxes(labels, index, 20.0), 60.0)
    assert turned[0] == turned[1]


def test_writing_angles_follow_the_sheet_each_box_lies_on():
    flat = np.int32([[0, 0], [200, 0], [200, 200], [0, 200]])
    turned = cv2.transform(np.float32([[300, 0], [600, 0], [600, 300], [300, 300]])[None],
                           cv2.getRotationMatrix2D((450, 150), 20.0, 1.0))[0].astype(np.int32)
    boxes = np.array([[50, 50, 20, 30], [440, 140, 20, 30], [900, 900, 20, 30]])
    angles = S.writing_angles([flat, turned], boxes)
    assert angles[0] == 0 and angles[1] == pytest.approx(20.0, abs=1.0) and angles[2] == 0


@pytest.mark.parametrize("degrees", [25.0, -30.0, 5.0])
def test_writing_turn_is_the_largest_sheets_when_turned_enough(degrees):
    corners = np.float32([[100, 100], [500, 100], [500, 400], [100, 400]])
    turned = cv2.transform(corners[None], cv2.getRotationMatrix2D((300, 250), degrees, 1.0))[0].astype(np.int32)
    note = np.int32([[10, 10], [60, 10], [60, 50], [10, 50]])  # a small level note beside it
    expected = degrees if abs(degrees) >= S.LEAST_TURN else 0.0
    assert S.writing_turn([note, turned]) == pytest.approx(expected, abs=1.0)
    assert S.writing_turn([]) == 0.0


@pytest.mark.parametrize("degrees", [20.0, -30.0, 5.0])
def test_the_layout_of_writing_shows_its_turn(degrees):
    # Two lines of numbers, digits of slightly different sizes a little off their line, turned about the page's
    # centre; then marks strewn at random, which show no turn.
    rng = np.random.default_rng(1)
    centres, sizes = [], []
    for line in range(2):
        for position in [0, 1, 2, 4, 5, 6, 7]:
            centres.append((100 + 34 * position, 200 + 70 * line + rng.normal(0, 3)))
            sizes.append((rng.uniform(20, 30), rng.uniform(36, 44)))
    turned = cv2.transform(np.float32(centres)[None], cv2.getRotationMatrix2D((250, 235), degrees, 1.0))[0]
    boxes = np.array([(x - w / 2, y - h / 2, w, h) for (x, y), (w, h) in zip(turned, sizes)])
    expected = degrees if abs(degrees) >= S.LAYOUT_LEAST_TURN else 0.0
    assert S.layout_turn(boxes) == pytest.approx(expected, abs=3.0)
    strewn = np.column_stack([rng.uniform(0, 600, (14, 2)), np.full((14, 2), 40.0)])
    assert S.layout_turn(strewn) == 0.0
    assert S.layout_turn(boxes[:3]) == 0.0


@pytest.mark.parametrize("degrees", [25.0, -30.0, 5.0])
def test_sheet_angle_is_the_turn_of_its_edges(degrees):
    corners = np.float32([[100, 100], [500, 100], [500, 400], [100, 400]])
    turned = cv2.transform(corners[None], cv2.getRotationMatrix2D((300, 250), degrees, 1.0))[0]
    assert S.sheet_angle(turned) == pytest.approx(degrees, abs=0.5)


def clipped_to_frame(outline: np.ndarray, shape=(360, 640)) -> np.ndarray:
    """The part of a sheet's outline inside the frame, as the sheet finder would trace it."""
    inside = np.zeros(shape, np.uint8)
    cv2.fillPoly(inside, [np.round(outline).astype(np.int32)], 255)
    contour = max(cv2.findContours(inside, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0], key=cv2.contourArea)
    return cv2.approxPolyDP(contour, 3, True).reshape(-1, 2)


@pytest.mark.parametrize("degrees", [30.0, -25.0, 12.0])
def test_a_sheet_cut_by_the_frame_is_turned_as_its_own_edges_say(degrees):
    corners = np.float32([[300, 100], [900, 100], [900, 500], [300, 500]])
    turned = cv2.transform(corners[None], cv2.getRotationMatrix2D((600, 300), degrees, 1.0))[0]
    cut = clipped_to_frame(turned)
    assert S.sheet_angle(cut) == pytest.approx(0.0, abs=1.0)  # the frame's edges pull the fitted rectangle level
    assert S.cut_sheet_angle(cut, (360, 640)) == pytest.approx(degrees, abs=1.0)
    assert S.cut_sheet_angle(turned, (2000, 2000)) is None  # not cut by the frame: the fitted rectangle tells
    band = clipped_to_frame(np.float32([[200, -50], [400, -50], [700, 420], [500, 420]]))  # a shadow across it
    assert S.cut_sheet_angle(band, (360, 640)) is None  # no corner of its own


def test_closer_view_takes_a_small_sheet_at_a_finer_whole_reduction():
    sheet = np.array([[100, 60], [300, 60], [300, 180], [100, 180]], np.int32)  # working pixels at 1/3
    box = S.sheets_box([sheet], 1 / 3)
    assert box[0] < 300 and box[1] < 180 and box[0] + box[2] > 900 and box[1] + box[3] > 540  # room around
    (x, y, w, h), scale = S.closer_view((1080, 1920), box)
    assert scale == 0.5  # 1/1 would take more pixels than the whole frame's working copy
    assert (x, y, w, h) == box and w * h * scale**2 <= 1080 * 1920 / 9
    assert S.closer_view((1080, 1920), S.sheets_box([sheet // 2], 1 / 3))[1] == 1.0
    assert S.closer_view((1080, 1920), (-50, -50, 1900, 1000)) is None  # as much as the whole frame
    assert S.closer_view((360, 640), (100, 60, 200, 120)) is None  # the working copy is the input itself
    # Grown, the view takes as many pixels as the whole frame's working copy, about the box, inside the input.
    (x, y, w, h), scale = S.closer_view((720, 1280), (1000, 600, 200, 100), grow=True)
    assert scale == 1.0 and (w, h) == (640, 360) and (x, y) == (640, 360)
    assert S.closer_view((1080, 1920), (400, 200, 1000, 500), grow=True) == ((260, 90, 1280, 720), 0.5)
