"""Finding digit candidates in a frame: paper, ink, lines, components, strokes joined and blobs split.

Everything here is a pure function of the image. The work happens at a reduced working resolution (the long side is
`work_side` pixels) because the live loop has a few milliseconds per frame; boxes are scaled back to the input's pixels
at the end. Sizes are relative: to the working frame, to the sheet of paper, and above all to the median digit height,
so that the same code reads a sheet held close to a webcam and a page photographed from across a desk.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from live_digits.results import Box

WORK_SIDE = 640  # working resolution for live video: enough for digits down to ~15 px tall at 720p
MIN_DIGIT_PX = 7  # below this many working pixels a digit cannot be read, whatever the scene

# A statistic per component, as cv2.connectedComponentsWithStats lays them out.
X, Y, W, H, AREA = cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT, cv2.CC_STAT_AREA


@dataclass(frozen=True)
class Segmentation:
    """What `segment` found. `boxes` are in the input's pixels; everything else is at the working resolution,
    where `work_boxes[i]` holds the pixels of label `ids[i]` of `labels` that make candidate i."""

    boxes: list[Box]
    work_boxes: np.ndarray  # (N, 4) int32 x, y, w, h at the working resolution
    ids: np.ndarray  # (N,) int32 label of each candidate's ink in `labels`
    labels: np.ndarray  # int32 label image of the ink after joining strokes
    ink: np.ndarray  # uint8 darkness of the ink against the local paper: 0 = paper, 255 = black
    mask: np.ndarray  # uint8 0/255 ink mask after removing lines and specks
    scale: float  # working pixels per input pixel
    paper: np.ndarray | None  # (K, 2) int32 outline of the sheet at the working resolution, None when not found
    digit_height: float  # median candidate height at the working resolution (0 when there is none)


# ---------------------------------------------------------------------------------------------------------------
# Pixels


def to_gray(image: np.ndarray) -> np.ndarray:
    """Any camera or file image (uint8/uint16/float, gray/BGR/BGRA, gray+alpha) -> uint8 gray.

    Transparent pixels become white paper: a PNG of dark digits on a transparent background reads as ink on paper.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (2, 3, 4)):
        raise ValueError(f"not an image: shape {image.shape}")
    alpha = None
    if image.ndim == 3 and image.shape[2] in (2, 4):
        alpha = image[:, :, -1]
        image = image[:, :, :-1] if image.shape[2] == 4 else image[:, :, 0]
    image = _to_uint8(image)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    if alpha is not None:
        a = _to_uint8(alpha).astype(np.float32) / 255.0
        gray = (gray * a + 255.0 * (1.0 - a)).astype(np.uint8)
    return np.ascontiguousarray(gray)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == bool:
        return image.astype(np.uint8) * 255
    values = image.astype(np.float32)
    if np.issubdtype(image.dtype, np.floating):
        top = 1.0 if float(np.nanmax(values, initial=0.0)) <= 1.0 else 255.0
    else:
        # 16-bit sensors often fill only 10 or 12 bits: scale by what is used, not by the type's range.
        top = max(255.0, float(values.max(initial=0.0)))
    return np.clip(np.nan_to_num(values) * (255.0 / top), 0, 255).astype(np.uint8)


def working_scale(shape: tuple[int, ...], work_side: int = WORK_SIDE) -> float:
    """Working pixels per input pixel: the long side becomes `work_side` (small images are enlarged, so that the
    morphology below always has a few pixels of stroke to work with)."""
    return work_side / max(shape[0], shape[1])


def resize_to_work(gray: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-3:
        return gray
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


# ---------------------------------------------------------------------------------------------------------------
# The sheet of paper


def find_paper(gray: np.ndarray) -> np.ndarray | None:
    """The outline (convex polygon, (K, 2) int32) of the bright sheet that holds the digits, or None when no sheet
    stands out from its surroundings (it fills the frame, or there is none): then the whole frame is read.

    A sheet is the largest bright region at a coarse scale, of a fair size, and nearly convex (fingers holding it
    and digits on it only dent it).
    """
    coarse_scale = 160.0 / max(gray.shape)
    coarse = cv2.resize(gray, None, fx=coarse_scale, fy=coarse_scale, interpolation=cv2.INTER_AREA)
    coarse = cv2.GaussianBlur(coarse, (5, 5), 0)
    level, bright = cv2.threshold(coarse, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    frame_area = coarse.shape[0] * coarse.shape[1]
    if np.count_nonzero(bright) > 0.92 * frame_area:
        return None
    # Paper is clearly brighter than what lies around it; a low-contrast split is texture, not a sheet.
    inside, outside = coarse[bright > 0], coarse[bright == 0]
    if len(inside) == 0 or len(outside) == 0 or float(np.median(inside)) - float(np.median(outside)) < 40:
        return None
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=4)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, AREA]))
    if stats[largest, AREA] < 0.08 * frame_area:
        return None
    contours = _grab_contours(cv2.findContours((labels == largest).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE))
    outline = max(contours, key=cv2.contourArea)
    if not _edge_along(coarse, outline, contrast=float(np.median(inside)) - float(np.median(outside))):
        return None
    hull = cv2.convexHull(outline)
    hull_area = cv2.contourArea(hull)
    if hull_area <= 0 or cv2.contourArea(outline) < 0.75 * hull_area:
        return None
    if hull_area > 0.97 * frame_area:
        return None
    corners = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)
    polygon = corners if len(corners) == 4 else hull
    return np.round(polygon.reshape(-1, 2) / coarse_scale).astype(np.int32)


def _edge_along(coarse: np.ndarray, outline: np.ndarray, contrast: float) -> bool:
    """True when the region's border inside the frame is a sharp step (a sheet's edge), not a place where a smooth
    gradient of light happens to cross the threshold."""
    points = outline.reshape(-1, 2)
    rows, cols = coarse.shape
    inner = points[(points[:, 0] > 2) & (points[:, 0] < cols - 3) & (points[:, 1] > 2) & (points[:, 1] < rows - 3)]
    if len(inner) < 8:
        return False  # the region's border is the frame's border: it fills the view
    image = coarse.astype(np.float32)
    # Sobel's 3x3 kernel answers 8 to a slope of one grey level per pixel.
    slope = cv2.magnitude(cv2.Sobel(image, cv2.CV_32F, 1, 0), cv2.Sobel(image, cv2.CV_32F, 0, 1)) / 8.0
    slope = cv2.dilate(slope, np.ones((3, 3), np.uint8))  # the contour runs beside the steepest pixel, not on it
    return float(np.median(slope[inner[:, 1], inner[:, 0]])) >= 0.12 * contrast


def _grab_contours(found):
    # findContours returns (contours, hierarchy) on OpenCV 4 and 5, three values on 3.
    return found[0] if len(found) == 2 else found[1]


def paper_region(shape: tuple[int, int], paper: np.ndarray | None) -> np.ndarray:
    """uint8 0/255 mask of where to read: inside the sheet, kept clear of its edge and the shadow along it."""
    if paper is None:
        return np.full(shape, 255, np.uint8)
    region = np.zeros(shape, np.uint8)
    cv2.fillPoly(region, [paper], 255)
    margin = max(2, round(0.012 * np.sqrt(cv2.contourArea(paper))))
    return cv2.erode(region, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * margin + 1, 2 * margin + 1)))


# ---------------------------------------------------------------------------------------------------------------
# Ink


def ink_darkness(gray: np.ndarray) -> np.ndarray:
    """How much darker each pixel is than the paper around it (uint8: 0 = paper, 255 = black), independent of the
    light: the paper's brightness is estimated by a morphological closing much larger than any stroke, taken on a
    coarse copy for speed, and the image is divided by it."""
    factor = 4
    small = cv2.resize(gray, (max(1, gray.shape[1] // factor), max(1, gray.shape[0] // factor)), interpolation=cv2.INTER_AREA)
    size = max(3, round(max(gray.shape) / 24 / factor) | 1)
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size)))
    paper = cv2.blur(paper, (size, size))
    paper = cv2.resize(paper, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)
    paper = np.maximum(paper, gray)  # the paper is never darker than the pixel on it
    relative = cv2.divide(gray, cv2.max(paper, 1), scale=255)  # 255 where a pixel is as bright as its paper
    return cv2.subtract(255, relative)


INK_LEVEL = 70  # darkness that counts as ink: ~27% darker than the paper, above shading and sensor noise


def threshold_ink(ink: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Binary ink mask (0/255) inside the region, with single-pixel specks removed."""
    _, mask = cv2.threshold(ink, INK_LEVEL, 255, cv2.THRESH_BINARY)
    return cv2.bitwise_and(mask, region)


# ---------------------------------------------------------------------------------------------------------------
# Ruled and grid lines


def remove_lines(mask: np.ndarray, digit_height: float) -> tuple[np.ndarray, np.ndarray]:
    """(mask without lines, the lines removed). A line is a thin structure much longer than any digit stroke:
    horizontal or vertical, also a few degrees tilted. Digit strokes cut by a line are joined again across it."""
    lines = np.zeros_like(mask)
    for horizontal in (True, False):
        lines |= _lines_along(mask, digit_height, horizontal)
    if not lines.any():
        return mask, lines
    kept = cv2.subtract(mask, lines)
    # A digit crossing a line loses the line's pixels; bridge those gaps, but only where a line was.
    thickness = max(3, round(digit_height / 8) | 1)
    bridge_v = cv2.morphologyEx(kept, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (1, thickness)))
    bridge_h = cv2.morphologyEx(kept, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (thickness, 1)))
    repaired = cv2.bitwise_or(kept, cv2.bitwise_and(cv2.bitwise_or(bridge_v, bridge_h), lines))
    return repaired, lines


def _lines_along(mask: np.ndarray, digit_height: float, horizontal: bool) -> np.ndarray:
    # Runs a little longer than a stroke survive an opening with a short kernel, and a tilted line is a staircase of
    # such runs that stay connected; what makes it a line is that the connected run is far longer than a digit.
    run = max(5, round(0.6 * digit_height))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (run, 1) if horizontal else (1, run))
    runs = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    if not runs.any():
        return np.zeros_like(mask)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(runs, connectivity=8)
    length = stats[:, W] if horizontal else stats[:, H]
    across = stats[:, H] if horizontal else stats[:, W]
    is_line = (length >= 2.5 * digit_height) & (across < 0.5 * length)
    is_line[0] = False
    if not is_line.any():
        return np.zeros_like(mask)
    return (is_line.astype(np.uint8) * 255)[labels]


# ---------------------------------------------------------------------------------------------------------------
# Components


def estimate_digit_height(stats: np.ndarray, frame_height: int) -> float:
    """The median height of the components shaped like a digit, or 0 when there is none."""
    h, w, area = stats[:, H], stats[:, W], stats[:, AREA]
    digit_like = (
        (h >= MIN_DIGIT_PX) & (h <= 0.9 * frame_height) & (w <= 1.6 * h) & (w >= 0.05 * h)
        & (area >= 0.08 * w * h) & (area <= 0.9 * w * h)
    )
    digit_like[0] = False
    return float(np.median(h[digit_like])) if digit_like.any() else 0.0


def join_strokes(boxes: np.ndarray, digit_height: float) -> np.ndarray:
    """Group index per box, joining the pieces of one digit written in separate strokes (a 5's cap, a 4 in two
    strokes, a stroke broken by a line): boxes that overlap strongly in x and touch or nearly touch in y, and whose
    union is no taller than a digit."""
    n = len(boxes)
    group = np.arange(n)
    if n < 2:
        return group
    x0, y0 = boxes[:, 0].astype(np.float64), boxes[:, 1].astype(np.float64)
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    changed = True
    while changed:  # pieces joined may join further pieces: repeat until stable (a handful of passes at most)
        changed = False
        order = np.argsort(x0)
        for a_i in range(n):
            a = order[a_i]
            if group[a] != a:
                continue
            for b in order[a_i + 1 :]:
                if x0[b] > x1[a]:
                    break
                if group[b] != b or a == b:
                    continue
                if _same_digit(x0, y0, x1, y1, a, b, digit_height):
                    x0[a], y0[a] = min(x0[a], x0[b]), min(y0[a], y0[b])
                    x1[a], y1[a] = max(x1[a], x1[b]), max(y1[a], y1[b])
                    group[group == b] = a
                    changed = True
    return group


def _same_digit(x0, y0, x1, y1, a, b, digit_height: float) -> bool:
    wa, wb = x1[a] - x0[a], x1[b] - x0[b]
    ha, hb = y1[a] - y0[a], y1[b] - y0[b]
    overlap_x = min(x1[a], x1[b]) - max(x0[a], x0[b])
    if overlap_x < 0.5 * min(wa, wb):
        return False
    height = max(digit_height, ha, hb)
    gap_y = max(y0[a], y0[b]) - min(y1[a], y1[b])  # negative when they overlap in y
    if gap_y > 0.25 * height:
        return False
    union_h = max(y1[a], y1[b]) - min(y0[a], y0[b])
    union_w = max(x1[a], x1[b]) - min(x0[a], x0[b])
    reference = digit_height if digit_height > 0 else max(ha, hb)
    if union_h > 1.35 * max(reference, ha, hb) and union_h > 1.35 * reference:
        return False
    # Side by side pieces that overlap in y are two digits unless one sits mostly inside the other's box.
    if gap_y < -0.3 * min(ha, hb):
        inter = overlap_x * -gap_y
        if inter < 0.6 * min(wa * ha, wb * hb):
            return False
    return union_w <= 1.3 * union_h


def split_points(column_ink: np.ndarray, parts: int) -> list[int]:
    """Where to cut a blob of `parts` touching digits: at the column of least ink near each even division."""
    width = len(column_ink)
    cuts = []
    for k in range(1, parts):
        centre = k * width / parts
        lo, hi = max(1, round(centre - 0.3 * width / parts)), min(width - 1, round(centre + 0.3 * width / parts))
        if hi <= lo:
            cuts.append(round(centre))
            continue
        window = column_ink[lo:hi].astype(np.float64)
        # Among the columns of least ink, the one nearest the even division.
        best = np.flatnonzero(window <= window.min() + 0.5)
        cuts.append(lo + int(best[np.argmin(np.abs(lo + best - centre))]))
    return cuts


# ---------------------------------------------------------------------------------------------------------------
# The whole step


def segment(image: np.ndarray, work_side: int = WORK_SIDE) -> Segmentation:
    """Candidate digit boxes in `image` (any dtype/channels), with the ink and masks they were cut from."""
    gray_full = to_gray(image)
    scale = working_scale(gray_full.shape, work_side)
    gray = resize_to_work(gray_full, scale)
    paper = find_paper(gray)
    region = paper_region(gray.shape, paper)
    ink = ink_darkness(gray)
    mask = threshold_ink(ink, region)

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    region_height = _region_height(paper, gray.shape)
    digit_height = estimate_digit_height(stats, region_height)
    if digit_height > 0:
        mask, _ = remove_lines(mask, digit_height)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        digit_height = estimate_digit_height(stats, region_height) or digit_height

    candidates = _candidates(labels, stats, digit_height, region_height)
    work_boxes = np.array([c[0] for c in candidates], np.int32).reshape(-1, 4)
    ids = np.array([c[1] for c in candidates], np.int32)
    heights = work_boxes[:, 3]
    boxes = [_to_input_box(b, scale, gray_full.shape) for b in work_boxes]
    return Segmentation(
        boxes=boxes,
        work_boxes=work_boxes,
        ids=ids,
        labels=labels,
        ink=ink,
        mask=mask,
        scale=scale,
        paper=paper,
        digit_height=float(np.median(heights)) if len(heights) else 0.0,
    )


def _region_height(paper: np.ndarray | None, shape: tuple[int, int]) -> int:
    if paper is None:
        return shape[0]
    return int(min(paper[:, 1].max() - paper[:, 1].min(), shape[0]))


def _candidates(labels: np.ndarray, stats: np.ndarray, digit_height: float, region_height: int) -> list[tuple[tuple, int]]:
    """(box, label) of each candidate: specks dropped, strokes joined, touching digits split, misfits dropped."""
    h, w, area = stats[:, H], stats[:, W], stats[:, AREA]
    speck = max(4.0, 0.01 * digit_height**2)
    keep = (area >= speck) & (h <= 0.95 * region_height)
    keep[0] = False
    index = np.flatnonzero(keep)
    if len(index) == 0:
        return []
    boxes = stats[index, :4]
    group = join_strokes(boxes, digit_height)

    # Relabel joined pieces to one label, so a crop takes exactly its own ink.
    lut = np.arange(len(stats), dtype=np.int32)
    joined = {}
    for i, g in enumerate(group):
        lut[index[i]] = index[g]
        joined.setdefault(index[g], []).append(index[i])
    if any(len(parts) > 1 for parts in joined.values()):
        labels[:] = lut[labels]

    result = []
    typical_width = 0.0
    for label, parts in joined.items():
        x0 = stats[parts, X].min()
        y0 = stats[parts, Y].min()
        x1 = (stats[parts, X] + stats[parts, W]).max()
        y1 = (stats[parts, Y] + stats[parts, H]).max()
        ink_area = int(stats[parts, AREA].sum())
        result.append(((int(x0), int(y0), int(x1 - x0), int(y1 - y0)), int(label), ink_area))
    singles = [b[2] for b, _, _ in result if b[3] >= 0.7 * digit_height and b[2] <= 1.0 * b[3]]
    if len(singles) >= 3:
        typical_width = float(np.median(singles))
    out = []
    for box, label, ink_area in result:
        for piece in _split_if_wide(labels, box, label, digit_height, typical_width):
            if _looks_like_digit(piece, ink_area if piece == box else None, digit_height, labels, label):
                out.append((piece, label))
    return out


def _split_if_wide(labels: np.ndarray, box: tuple, label: int, digit_height: float, typical_width: float) -> list[tuple]:
    x, y, w, h = box
    if w <= 1.1 * h:
        return [box]
    width = typical_width if typical_width > 0 else 0.7 * max(h, digit_height)
    parts = int(round(w / max(width, 1.0)))
    parts = max(2, min(parts, 4))
    own = labels[y : y + h, x : x + w] == label
    cuts = [0, *split_points(own.sum(axis=0), parts), w]
    pieces = []
    for left, right in zip(cuts[:-1], cuts[1:]):
        if right <= left:
            continue
        rows = np.flatnonzero(own[:, left:right].any(axis=1))
        cols = np.flatnonzero(own[:, left:right].any(axis=0))
        if len(rows) == 0:
            continue
        pieces.append((x + left + int(cols[0]), y + int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)))
    return pieces


def _looks_like_digit(box: tuple, ink_area: int | None, digit_height: float, labels: np.ndarray, label: int) -> bool:
    x, y, w, h = box
    if h < MIN_DIGIT_PX or h < 0.4 * digit_height:
        return False  # dots, commas, dashes, specks
    if w > 1.6 * h or h > 15 * w:
        return False
    if ink_area is None:
        ink_area = int(np.count_nonzero(labels[y : y + h, x : x + w] == label))
    density = ink_area / float(w * h)
    if density < 0.06:
        return False  # a thin curve through a big box: a loop of string, a crease, a shadow edge
    if density > 0.85 and w > 0.35 * h:
        return False  # a solid blob; a "1" is solid but narrow
    return True


def _to_input_box(box: np.ndarray, scale: float, shape: tuple[int, int]) -> Box:
    x, y, w, h = (float(v) for v in box)
    x0, y0 = int(np.floor(x / scale)), int(np.floor(y / scale))
    x1, y1 = int(np.ceil((x + w) / scale)), int(np.ceil((y + h) / scale))
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(shape[1], x1), min(shape[0], y1)
    return (x0, y0, max(1, x1 - x0), max(1, y1 - y0))
