"""Finding digit candidates in a frame: paper, ink, lines, components, strokes joined and blobs split.

Everything here is a pure function of the image. The work happens at a reduced working resolution (the long side is
`work_side` pixels) because the live loop has a few milliseconds per frame; boxes are scaled back to the input's pixels
at the end. Sizes are relative: to the working frame, to the sheet of paper, and above all to the median digit height,
so that the same code reads a sheet held close to a webcam and a page photographed from across a desk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from live_digits.results import Box

WORK_SIDE = 640  # working resolution for live video: enough for digits down to ~15 px tall at 720p
MIN_DIGIT_PX = 7  # below this many working pixels a digit cannot be read, whatever the scene

# A strip of a blob cut along turned writing: (degrees, lo, hi), the pixels whose position along the axis turned by
# `degrees` (x cos - y sin, as `along_axis` measures it) lies in [lo, hi).
Band = tuple[float, float, float]

# A statistic per component, as cv2.connectedComponentsWithStats lays them out.
X, Y, W, H, AREA = cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT, cv2.CC_STAT_AREA


@dataclass(frozen=True)
class Candidate:
    """Something that may be a digit, in working pixels: the pixels labelled `label` inside `box`. A blob wide or
    tall enough to hold touching digits also says where it would be cut (`pieces`); the classifier decides."""

    box: Box
    label: int
    pieces: tuple[Box, ...] = ()
    several: bool = False  # so wide or tall for the digits around that it most likely holds several
    splits: tuple[int, ...] = ()  # how many of `pieces` each way of cutting takes, in turn; () = one way, all of them
    # Per piece, the strip of the blob it takes (its box alone would take a corner of its neighbour where the
    # writing is turned); () = each piece takes its whole box.
    bands: tuple[Band, ...] = ()

    def cuttings(self) -> list[tuple[Box, ...]]:
        """The ways of cutting the blob, each a tuple of piece boxes (consecutive runs of `pieces`)."""
        if not self.pieces:
            return []
        ways, start = [], 0
        for count in self.splits or (len(self.pieces),):
            ways.append(self.pieces[start : start + count])
            start += count
        return ways


@dataclass(frozen=True)
class Segmentation:
    """What `segment` found, at the working resolution (`scale` working pixels per input pixel)."""

    candidates: list[Candidate]
    labels: np.ndarray  # uint16 label image of the ink, the strokes of one digit under one label
    ink: np.ndarray  # uint8 darkness of the ink against the local paper: 0 = paper, 255 = black
    mask: np.ndarray  # uint8 0/255 ink mask after removing lines
    scale: float
    input_shape: tuple[int, int]  # rows, columns of the input image
    paper: list[np.ndarray]  # (K, 2) int32 outlines of the sheets found; none when the whole frame was read
    digit_height: float  # the median height of digit-like marks (0 when there is none)
    noisy: bool = False  # sensor noise ruled the frame, and it was read smoothed
    origin: tuple[int, int] = (0, 0)  # the input pixel (x, y) at the working images' corner: a closer view's
    turns: tuple[float, ...] | None = None  # per sheet, the degrees its writing is turned (None: `sheet_angle`)
    layout_turn: float = 0.0  # the degrees the writing is turned as its own layout shows, where no sheet's edges do

    def to_input(self, box: Box) -> Box:
        """A working-resolution box in the input's pixels."""
        return to_input_box(box, self.scale, self.input_shape, self.origin)

    def in_view(self, picture: np.ndarray) -> np.ndarray:
        """The part of the input `picture` that the working images show."""
        x, y = self.origin
        return picture[y : y + round(self.mask.shape[0] / self.scale), x : x + round(self.mask.shape[1] / self.scale)]

    def frame_mask(self) -> np.ndarray:
        """The ink mask placed in the whole input's frame, at the working scale."""
        if self.origin == (0, 0):
            return self.mask
        rows, cols = (max(1, round(side * self.scale)) for side in self.input_shape)
        frame = np.zeros((rows, cols), np.uint8)
        x, y = (round(v * self.scale) for v in self.origin)
        part = self.mask[: rows - y, : cols - x]
        frame[y : y + part.shape[0], x : x + part.shape[1]] = part
        return frame


# ---------------------------------------------------------------------------------------------------------------
# Pixels


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Any camera or file image (uint8/uint16/float/bool; gray, BGR, BGRA or gray+alpha) -> uint8 gray or BGR.

    Transparent pixels become white paper: a PNG of dark digits on a transparent background reads as ink on paper.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (2, 3, 4)) or min(image.shape[:2]) < 1:
        raise ValueError(f"not an image: shape {image.shape}")
    if image.ndim == 2 or image.shape[2] == 3:
        return _to_uint8(image)
    colour, alpha = _to_uint8(image[:, :, :-1]), _to_uint8(image[:, :, -1])
    if colour.ndim == 3 and colour.shape[2] == 1:
        colour = colour[:, :, 0]
    a = alpha.astype(np.float32) / 255.0
    if colour.ndim == 3:
        a = a[:, :, None]
    return (colour * a + 255.0 * (1.0 - a)).astype(np.uint8)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == bool:
        return image.astype(np.uint8) * 255
    values = np.nan_to_num(image.astype(np.float32))
    if np.issubdtype(image.dtype, np.floating):
        top = 1.0 if float(values.max(initial=0.0)) <= 1.0 else 255.0
    else:
        # 16-bit sensors often fill only 10 or 12 bits: scale by what is used, not by the type's range.
        top = max(255.0, float(values.max(initial=0.0)))
    return np.clip(values * (255.0 / top), 0, 255).astype(np.uint8)


def to_gray(image: np.ndarray) -> np.ndarray:
    """Any image -> uint8 luminance."""
    image = to_uint8(image)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def darkest_channel(image: np.ndarray) -> np.ndarray:
    """Per pixel, the darkest of the colour channels (uint8 gray or BGR in). Coloured ink (blue, red, green pens)
    is dark in at least one channel even where its luminance is close to the paper's."""
    if image.ndim == 2:
        return image
    # NumPy's strided minimum: OpenCV would first copy each interleaved channel out.
    return np.minimum(np.minimum(image[:, :, 0], image[:, :, 1]), image[:, :, 2])


def working_scale(shape: tuple[int, ...], work_side: int = WORK_SIDE) -> float:
    """Working pixels per input pixel, making the long side about `work_side`. Large inputs shrink by a whole
    factor (2x, 3x, ...), which OpenCV averages many times faster than a fractional one; small images are
    enlarged, so that the morphology below always has a few pixels of stroke to work with."""
    long_side = max(shape[0], shape[1])
    if long_side >= work_side:
        return 1.0 / max(1, round(long_side / work_side))
    return work_side / long_side


def resize_to_work(image: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-6:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


# ---------------------------------------------------------------------------------------------------------------
# The sheet of paper


LARGEST_SHEET, OTHER_SHEET = 0.08, 0.02  # least areas, as parts of the frame, of the largest sheet and of others


def find_paper(gray: np.ndarray, colour: np.ndarray | None = None, smallest: float = LARGEST_SHEET) -> list[np.ndarray]:
    """The outlines (convex polygons, (K, 2) int32) of the bright sheets that may hold digits; none when no sheet
    stands out from its surroundings (it fills the frame, or there is none): then the whole frame is read.

    A sheet is a bright region of fair size, nearly convex (fingers holding it and digits on it only dent it),
    whose border is a sharp step in brightness all round. Shading across a sheet rules out one fixed threshold, so
    several levels are tried on a coarse copy; at the level where the best sheet stands out best, every region
    that looks like a sheet counts (a note beside the page may be the one written on). Given the `colour` (BGR)
    image too, each sheet takes in the part of it that a cast shadow darkened (`with_its_shadow`). `smallest`: the
    least area, as a part of the frame, of the largest sheet.
    """
    coarse_scale = PAPER_SIDE / max(gray.shape)
    coarse = cv2.GaussianBlur(cv2.resize(gray, None, fx=coarse_scale, fy=coarse_scale, interpolation=cv2.INTER_AREA),
                              (5, 5), 0)
    image = coarse.astype(np.float32)
    # Sobel's 3x3 kernel answers 8 to a slope of one grey level per pixel; a contour runs beside the steepest pixel.
    slope = cv2.magnitude(cv2.Sobel(image, cv2.CV_32F, 1, 0), cv2.Sobel(image, cv2.CV_32F, 0, 1)) / 8.0
    slope = cv2.dilate(slope, np.ones((3, 3), np.uint8))
    low, high = np.percentile(coarse, (3, 97))
    best, best_score = [], PAPER_EDGE
    for level in np.linspace(low, high, PAPER_LEVELS + 2)[1:-1]:
        sheets = _sheets_at(coarse, slope, float(level), smallest)
        if sheets and sheets[0][1] > best_score:
            best, best_score = sheets, sheets[0][1]
    if not best:
        return []
    best = [(outline, region) for outline, _, region in best]
    if colour is not None and colour.ndim == 3:
        tint = chromaticity(cv2.GaussianBlur(cv2.resize(colour, coarse.shape[::-1], interpolation=cv2.INTER_AREA),
                                             (5, 5), 0))
        best = [with_its_shadow(coarse, tint, outline, region) for outline, region in best]
    # Reading only inside the wrong sheet would lose every digit: when something as bright as the sheets lies
    # outside them (a white desk, a sheet in shadow), it is not clear what the paper is, and the whole frame is read.
    inside = np.zeros(coarse.shape, bool)
    for _, region in best:
        inside |= region
    as_bright = coarse >= median(coarse[inside])
    if np.count_nonzero(as_bright & ~inside) > 0.03 * coarse.size:
        return []
    return [np.round(outline.reshape(-1, 2) / coarse_scale).astype(np.int32) for outline, _ in best]


SHADOW_DEPTH = 0.4  # the least share of its light that a cast shadow leaves on paper
SAME_TINT = 0.015  # chromaticity within which a darker surface is the same paper in shadow
SHADOWED_PART = 0.08  # of a sheet's area: less darkened paper beside it is no cast shadow worth the work


def chromaticity(colour: np.ndarray) -> np.ndarray:
    """(H, W, 2) float32 blue and green shares of each pixel's light: a shadow dims a surface without changing them."""
    light = colour.astype(np.float32)
    return light[..., :2] / np.maximum(light.sum(axis=2, keepdims=True), 1.0)


def with_its_shadow(coarse: np.ndarray, tint: np.ndarray, outline: np.ndarray, region: np.ndarray):
    """(outline, region) of a sheet found as the bright `region` of the `coarse` gray copy, taking in the part of
    the same sheet that a cast shadow (an arm, a lamp) darkened: the surface joined to it of the sheet's own tint
    (`tint`: `chromaticity`) and at least SHADOW_DEPTH of its brightness, where that is sheet-shaped (nearly convex,
    not the whole frame). A surface of paper's tint all round (a white sheet on a grey desk) floods the frame and
    leaves the sheet as it was."""
    own = np.median(tint[region], axis=0)
    paper_like = (np.abs(tint - own).max(axis=2) <= SAME_TINT) & (coarse >= SHADOW_DEPTH * median(coarse[region]))
    grown = _joined(paper_like | region, region)
    if np.count_nonzero(grown) < (1 + SHADOWED_PART) * np.count_nonzero(region):
        return outline, region
    hull = _sheet_shaped(grown)
    if hull is None:
        # Something of the same tint beyond the sheet joined through a narrow neck (a grey card, a white cable)?
        # Cut joins narrower than a quarter of the lit part's side, and look again.
        side = 2 * round(0.12 * np.sqrt(np.count_nonzero(region))) + 1
        opened = cv2.morphologyEx(grown.astype(np.uint8), cv2.MORPH_OPEN,
                                  cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side)))
        grown = _joined(opened.astype(bool) | region, region)
        hull = _sheet_shaped(grown)
        if hull is None:
            return outline, region
    return _outline(hull), grown


def _joined(mask: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The part of the bool `mask` joined to the connected `region` (which it holds)."""
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    return labels == labels[region][0]


def _sheet_shaped(region: np.ndarray) -> np.ndarray | None:
    """The convex hull of a region that could be one sheet (nearly convex, not the whole frame), else None."""
    _, hull = _border_and_hull(region)
    hull_area = cv2.contourArea(hull)
    return hull if 0 < hull_area <= 0.9 * region.size and np.count_nonzero(region) >= 0.85 * hull_area else None


# Sheets turned less than this are taken as level: MNIST's own writers slanted that much (and turning a small crop
# costs it some sharpness).
LEAST_TURN = 8.0


def sheet_angle(outline: np.ndarray) -> float:
    """Degrees by which a sheet's edges are turned from the image's axes (counter-clockwise as seen), in [-45, 45):
    the writing on it is turned as much."""
    (_, _), (_, _), angle = cv2.minAreaRect(np.asarray(outline, np.float32).reshape(-1, 2))
    return _as_turn(angle)


def _as_turn(edge_degrees: float) -> float:
    """The turn (as `sheet_angle`) of a rectangle one of whose edges runs at `edge_degrees` in the image's terms
    (rows growing downwards): folded into a quarter turn, and counter-clockwise as seen."""
    return float(-((edge_degrees + 45.0) % 90.0 - 45.0))


FRAME_BAND = 6  # working pixels: an outline's corner this near the frame's edge (or beyond it) lies on that edge
OWN_EDGE = 0.1  # of the frame's shorter side: the least length of a sheet's own edge that shows its turn
CORNER_SLACK = 20.0  # degrees from square that two edges meeting in perspective may be and still be a corner
EDGES_AGREE = 0.7  # the least length-weighted agreement of the edges' turns (1: all alike; 20 degrees apart: 0.77)


def cut_sheet_angle(outline: np.ndarray, shape: tuple[int, ...]) -> float | None:
    """The turn (as `sheet_angle`) of a sheet that the frame (of `shape`) cuts, from its own edges alone: the frame's
    edges pull a fitted rectangle to the image's axes, so that a sheet turned 30 degrees in a corner of the frame
    reads as level. None unless two of its own edges meet at a corner and all its own edges agree on one turn: a
    single edge may be a shadow's, and the hull of a sheet and a card beside it has edges of both."""
    points = np.asarray(outline, np.float32).reshape(-1, 2)
    ends = np.stack([points, np.roll(points, -1, axis=0)], axis=1)  # (K edges, 2 ends, x and y)
    on_frame = np.zeros(len(points), bool)
    for axis, side in ((0, shape[1]), (1, shape[0])):
        coordinate = ends[:, :, axis]
        on_frame |= (coordinate <= FRAME_BAND).all(axis=1) | (coordinate >= side - 1 - FRAME_BAND).all(axis=1)
    step = ends[~on_frame, 1] - ends[~on_frame, 0]
    length = np.hypot(step[:, 0], step[:, 1])
    long = length >= OWN_EDGE * min(shape[:2])
    if not on_frame.any() or np.count_nonzero(long) < 2:
        return None
    step, length = step[long], length[long]
    direction = np.degrees(np.arctan2(step[:, 1], step[:, 0])) % 180.0
    corner = (np.abs((direction[:, None] - direction[None, :]) % 180.0 - 90.0) <= CORNER_SLACK).any()
    turn, agreement = _folded_turn(np.radians(direction), length)
    return turn if corner and agreement >= EDGES_AGREE else None


def _folded_turn(directions: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """(turn as `sheet_angle`, agreement from 0 to 1) of lines running at `directions` (radians, in the image's
    terms), weighted: each folded into a quarter turn, 4x its angle on the circle, where a rectangle's edges (or a
    page's rows and columns) agree."""
    quarter = 4.0 * directions
    resultant = complex((weights * np.cos(quarter)).sum(), (weights * np.sin(quarter)).sum())
    turn = _as_turn(math.degrees(math.atan2(resultant.imag, resultant.real)) / 4.0)
    return turn, abs(resultant) / weights.sum()


def writing_turn(sheets: list[np.ndarray]) -> float:
    """The turn of the largest sheet's writing, in degrees; 0 when there is no sheet or it is turned less than
    LEAST_TURN."""
    if not sheets:
        return 0.0
    angle = sheet_angle(max(sheets, key=lambda outline: cv2.contourArea(outline.astype(np.float32))))
    return angle if abs(angle) >= LEAST_TURN else 0.0


def writing_angles(sheets: list[np.ndarray], boxes: np.ndarray, least: float = LEAST_TURN,
                   turns: tuple[float, ...] | None = None, layout_turn: float = 0.0) -> np.ndarray:
    """(N,) degrees each box's writing is turned: its sheet's angle (the sheet its centre lies on; `turns`, one a
    sheet, where known, else `sheet_angle`), 0 where that is less than `least`. Off any sheet, and on a sheet as good
    as level (turned less than LEAST_TURN) where the writing's own `layout_turn` (`segment.layout_turn`, 0 when it
    shows none) runs another way by LAYOUT_LEAST_TURN or more: that layout turn where it is at least `least`, else
    0."""
    boxes = np.asarray(boxes).reshape(-1, 4)
    angles = np.full(len(boxes), layout_turn if abs(layout_turn) >= least else 0.0, np.float32)
    for index, outline in enumerate(sheets):
        angle = sheet_angle(outline) if turns is None else turns[index]
        if abs(angle) < LEAST_TURN and abs(layout_turn - angle) >= LAYOUT_LEAST_TURN:
            continue  # on a sheet as good as level, the writing runs its own way (a line running uphill)
        contour = np.asarray(outline, np.float32).reshape(-1, 1, 2)
        for i, (x, y, w, h) in enumerate(boxes):
            if cv2.pointPolygonTest(contour, (float(x + w / 2), float(y + h / 2)), False) >= 0:
                angles[i] = angle if abs(angle) >= least else 0.0
    return angles


NEIGHBOURS = 1.4  # in heights: the farthest apart two marks' centres may be to be neighbours in the writing
LAYOUT_PAIRS = 4  # the fewest pairs of neighbours whose offsets show the writing's turn
LAYOUT_AGREE = 0.8  # the least agreement of their turns (as EDGES_AGREE: 1 all alike; 15 degrees apart: 0.87)
# Degrees: less turned, lines of numbers read right as they are, and turning a small crop costs it sharpness (a
# layout's turn is less sure than a sheet's edges').
LAYOUT_LEAST_TURN = 12.0


def layout_turn(boxes: np.ndarray) -> float:
    """The turn (as `sheet_angle`) of writing where no sheet's edges show one (a page filling the frame held askew,
    a line of numbers running uphill on a level sheet), from the writing itself: the digits of a number follow one
    another along its line, and lines lie one under another, so the offsets between neighbouring marks of about one
    height run along the writing or across it (a quarter turn folds the two together). 0 unless LAYOUT_PAIRS pairs
    agree on a turn of at least LAYOUT_LEAST_TURN."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(boxes) < LAYOUT_PAIRS + 1:
        return 0.0
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    heights = boxes[:, 3]
    offsets = centres[None, :, :] - centres[:, None, :]
    distance = np.hypot(offsets[..., 0], offsets[..., 1])
    taller = np.maximum(heights[:, None], heights[None, :])
    alike = (taller <= PEER_RATIO * np.minimum(heights[:, None], heights[None, :])) & (distance <= NEIGHBOURS * taller)
    np.fill_diagonal(alike, False)
    distance = np.where(alike, distance, np.inf)
    nearest = distance.argmin(axis=1)
    pairs = {tuple(sorted((i, int(j)))) for i, j in enumerate(nearest) if np.isfinite(distance[i, j])}
    if len(pairs) < LAYOUT_PAIRS:
        return 0.0
    steps = np.array([offsets[i, j] for i, j in pairs])
    turn, agreement = _folded_turn(np.arctan2(steps[:, 1], steps[:, 0]), np.ones(len(steps)))
    return turn if agreement >= LAYOUT_AGREE and abs(turn) >= LAYOUT_LEAST_TURN else 0.0


PAPER_SIDE = 160  # the coarse copy the sheet is looked for in
PAPER_LEVELS = 7  # brightness levels tried
PAPER_EDGE = 0.12  # least sharpness of a sheet's border: its slope per pixel over the contrast across it


def _sheets_at(coarse: np.ndarray, slope: np.ndarray, level: float,
               smallest: float = LARGEST_SHEET) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """(convex outline, how sheet-like: border sharpness and convexity, the region's mask) of the regions brighter
    than `level` that can be sheets, largest first; none unless the largest can."""
    bright = (coarse > level).astype(np.uint8)
    # Only the areas are needed: counted from the labels, they cost a fifth of OpenCV's full statistics.
    count, labels = cv2.connectedComponents(bright, connectivity=4, ltype=cv2.CV_16U)
    if count < 2 or not (bright == 0).any():
        return []
    areas = np.bincount(labels.ravel(), minlength=count).astype(np.int32)  # as OpenCV gives them: ties sort alike
    background = float(coarse[bright == 0].mean())
    sheets = []
    for label in 1 + np.argsort(-areas[1:]):
        area = areas[label]
        if area < (smallest if not sheets else min(smallest, OTHER_SHEET)) * coarse.size:
            break
        sheet = _sheet(coarse, slope, labels == label, background)
        if sheet is None or sheet[1] <= PAPER_EDGE:
            if not sheets:
                return []
            continue
        sheets.append(sheet)
    return sheets


SHEET_STEP = 30  # grey levels: the least step in brightness from a sheet to what surrounds it
_AROUND = np.ones((7, 7), np.uint8)  # the band (3 px of the coarse copy) where a sheet's surroundings are looked at


def _sheet(coarse: np.ndarray, slope: np.ndarray, region: np.ndarray, background: float):
    contrast = float(coarse[region].mean()) - background
    if contrast < SHEET_STEP:
        return None
    outline, hull = _border_and_hull(region)
    hull_area = cv2.contourArea(hull)
    if hull_area <= 0 or hull_area > 0.97 * coarse.size or cv2.contourArea(outline) < 0.75 * hull_area:
        return None
    # What lies just outside a sheet is darker all along it (a desk, a room); just outside a region that a level
    # of light cut out of a page filling the view (a darker side, writing beside it) is more page.
    inside = np.zeros(coarse.shape, np.uint8)
    cv2.fillConvexPoly(inside, hull, 1)
    around = cv2.dilate(inside, _AROUND) > inside
    if not around.any() or median(coarse[inside > 0]) - median(coarse[around]) < SHEET_STEP:
        return None
    points = outline.reshape(-1, 2)
    rows, cols = coarse.shape
    inner = points[(points[:, 0] > 2) & (points[:, 0] < cols - 3) & (points[:, 1] > 2) & (points[:, 1] < rows - 3)]
    if len(inner) < 0.1 * len(points) or len(inner) < 8:
        return None  # its border is the frame's border: it fills the view
    # Sharp all round, not just mostly: a region cut out of a sheet by a gradient of light has a sharp side or two
    # (the sheet's own edges) and a soft one.
    steep = slope[inner[:, 1], inner[:, 0]]
    quarter = len(steep) // 4
    sharpness = float(np.partition(steep, quarter)[quarter]) / contrast
    # A sheet is a convex quadrilateral: a region that also takes in a card or a keyboard beside it is less so.
    solidity = cv2.contourArea(outline) / hull_area
    return _outline(hull), sharpness * solidity**2, region


def _border_and_hull(region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the border of the largest part of a bool region, as OpenCV traces it; its convex hull)."""
    contours = _grab_contours(cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE))
    border = max(contours, key=cv2.contourArea)
    return border, cv2.convexHull(border)


def _outline(hull: np.ndarray) -> np.ndarray:
    """A sheet's outline: its four corners where its hull is a quadrilateral, else the hull."""
    corners = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)
    return corners if len(corners) == 4 else hull


def quantile(values: np.ndarray, q: float) -> float:
    """A quantile without interpolation, several times faster than np.quantile on the small arrays of a frame."""
    values = np.asarray(values).ravel()
    if len(values) == 0:
        return 0.0
    k = min(len(values) - 1, int(q * len(values)))
    return float(np.partition(values, k)[k])


def median(values: np.ndarray) -> float:
    return quantile(values, 0.5)


def _grab_contours(found):
    # findContours returns (contours, hierarchy) on OpenCV 4 and 5, three values on 3.
    return found[0] if len(found) == 2 else found[1]


def paper_region(shape: tuple[int, int], sheets: list[np.ndarray]) -> np.ndarray:
    """uint8 0/255 mask of where to read: inside the sheets, kept clear of their edges and the shadow along them;
    the whole frame when there are none."""
    if not sheets:
        return np.full(shape, 255, np.uint8)
    region = np.zeros(shape, np.uint8)
    for outline in sheets:
        sheet = np.zeros(shape, np.uint8)
        cv2.fillPoly(sheet, [outline], 255)
        # A thin margin: a mark that runs over the sheet's edge is dropped as a fragment anyway, and a wider one
        # cut off the writing close to the edge.
        margin = max(1, round(0.006 * np.sqrt(cv2.contourArea(outline))))
        region |= cv2.erode(sheet, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * margin + 1, 2 * margin + 1)))
    return region


# ---------------------------------------------------------------------------------------------------------------
# Ink


# The paper's brightness is taken over this fraction of the frame: wider than the stroke of a digit held close to
# the camera, narrower than the shadow of a pen or a hand. A tiny image is a crop of one digit that fills it, and
# its strokes are far wider.
PAPER_CLOSING = 1 / 24
CROP_CLOSING = 1 / 5
CROP_SIDE = 160  # inputs whose long side is at most this many pixels are such crops


def ink_darkness(gray: np.ndarray, closing: float = PAPER_CLOSING,
                 region: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(darkness, paper): how much darker each pixel is than the paper around it (uint8: 0 = paper, 255 = black),
    whatever the light, and that paper's brightness.

    The paper's brightness is a morphological closing wider than any stroke: it fills in strokes, follows shading,
    and keeps a step in brightness a step, so the edge of the sheet or of a shadow is not taken for ink (a blurred
    or coarse background estimate would smear the bright side over the dark one). Strokes wider than the closing
    are filled in from a wider one (`with_thick_strokes_filled`), inside `region` (None: the whole frame).
    """
    size = max(5, round(max(gray.shape) * closing) | 1)
    window = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    paper = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, window)
    # A camera's sharpening leaves a bright halo along each stroke: the closing carries it across its whole window,
    # a paper brighter than it is all round the writing, and the bare paper there looks like faint ink. Closed
    # again without what is narrower than 3 px (halos, and noise specks), the paper is lower everywhere by about
    # the noise's reach; that typical offset is added back so that only the halos' excess goes.
    without_halos = cv2.morphologyEx(cv2.morphologyEx(gray, cv2.MORPH_OPEN, _SPECK), cv2.MORPH_CLOSE, window)
    offset = cv2.subtract(paper, without_halos)
    counts = np.cumsum(cv2.calcHist([offset], [0], None, [256], [0, 256]).ravel())
    typical = int(np.searchsorted(counts, 0.5 * counts[-1]))
    paper = cv2.min(paper, cv2.add(without_halos, typical))
    paper = with_thick_strokes_filled(gray, paper, closing, region)
    relative = cv2.divide(gray, cv2.max(paper, 1), scale=255)  # 255 where a pixel is as bright as its paper
    return cv2.subtract(255, relative), paper


_SPECK = np.ones((3, 3), np.uint8)


# A stroke wider than the paper's closing keeps its own darkness there, and so reads as bare paper: a digit written
# large with a marker, filling a close-up. Its core shows against a closing this much wider (of the frame's long
# side), a paper estimate too coarse for shading but fine for finding what is far darker than the paper around it.
THICK_CLOSING = 1 / 6
THICK_CORE = 0.6  # a core's paper estimate is at most this bright against the wider one
THICK_INK = 0.3  # of the brightest paper: ink, not a shadow (a shadow on paper is seldom this dark)
THICK_LONG = 2.0  # a stroke's ink is at least this many squares of its width: longer than wide, where a cup is round


def with_thick_strokes_filled(gray: np.ndarray, paper: np.ndarray, closing: float,
                              region: np.ndarray | None = None) -> np.ndarray:
    """The paper's brightness `paper` (`ink_darkness`'s closing of `gray`) with the cores of strokes wider than
    the closing brought up to the paper around them, so that such strokes read as ink. A core lies inside the
    region (uint8 mask: the sheets found, or the whole frame), short of the frame's edge (the background around a
    sheet reaches it), and in ink shaped like a stroke, not a dark object's blob."""
    if closing >= THICK_CLOSING:
        return paper
    rows, cols = paper.shape
    cell = 4  # cores are looked for on a coarser grid: they are wider than the closing, and it is cheap
    small_size = (max(1, cols // cell), max(1, rows // cell))
    small = cv2.resize(paper, small_size, interpolation=cv2.INTER_AREA)
    side = max(3, round(max(small.shape) * THICK_CLOSING) | 1)
    wide = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (side, side)))
    dark = np.where(small < THICK_CORE * wide.astype(np.float32), 255, 0).astype(np.uint8)
    if region is not None:
        dark = cv2.bitwise_and(dark, cv2.resize(region, small_size, interpolation=cv2.INTER_NEAREST))
    count, labels, stats = components(dark)
    if count <= 1:
        return paper
    brightest = brightest_paper(wide, None)
    ink = np.where(cv2.resize(gray, small_size, interpolation=cv2.INTER_AREA) < THICK_INK * brightest, 255, 0)
    _, strokes, stroke_stats = components(ink.astype(np.uint8))
    cores = np.zeros(count, bool)
    for label in range(1, count):
        x, y, w, h = (int(v) for v in stats[label, :4])
        if x == 0 or y == 0 or x + w == small_size[0] or y + h == small_size[1]:
            continue
        under = strokes[y : y + h, x : x + w][labels[y : y + h, x : x + w] == label]
        under = under[under > 0]
        if len(under) == 0:
            continue  # a shadow or a dark surface: no ink under it
        stroke = int(np.bincount(under).argmax())
        sx, sy, sw, sh, area = (int(v) for v in stroke_stats[stroke])
        own = np.where(strokes[sy : sy + sh, sx : sx + sw] == stroke, 255, 0).astype(np.uint8)
        width = 2 * cv2.distanceTransform(cv2.copyMakeBorder(own, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0),
                                          cv2.DIST_L2, 3).max()
        cores[label] = area >= THICK_LONG * width**2
    if not cores.any():
        return paper
    filled = cv2.resize(cv2.dilate(np.where(cores[labels], 255, 0).astype(np.uint8), _SPECK), (cols, rows),
                        interpolation=cv2.INTER_NEAREST)
    wide = cv2.resize(wide, (cols, rows), interpolation=cv2.INTER_LINEAR)
    return np.where(filled > 0, cv2.max(paper, wide), paper)


DIM_SURFACE = 0.4  # of the brightest paper in view: surfaces darker than this are not paper (a desk, a shadowed wall)


def brightest_paper(paper: np.ndarray, region: np.ndarray | None) -> int | None:
    """The brightness of the brightest paper in the region (its 95th percentile; None: the whole image), or None
    for an empty region."""
    hist = cv2.calcHist([paper], [0], region, [256], [0, 256]).ravel()
    if hist.sum() == 0:
        return None
    return int(np.searchsorted(np.cumsum(hist), 0.95 * hist.sum()))


def bright_surfaces(paper: np.ndarray, region: np.ndarray, brightest: int | None,
                    least: float = DIM_SURFACE) -> np.ndarray:
    """The part of the region whose surface is bright enough to be paper (at least `least` of `brightest`, as
    `brightest_paper` gives it): digits are written on the brightest things in view, and a dark textured desk would
    otherwise show its grain as faint ink."""
    if brightest is None:
        return region
    _, bright = cv2.threshold(paper, least * brightest, 255, cv2.THRESH_BINARY)
    return cv2.bitwise_and(bright, region)


# Of the brightest paper in view: the surfaces whose grain is the frame's typical grain. A dim desk around an
# unfound sheet is still paper-bright enough to be read, but its darkness is its noise divided by a low brightness,
# grainier than the sheet's; measured over the whole region it would set every level, the sheet's included, above
# a pen's stroke.
CALM_SURFACE = 0.7


INK_WEAK = 18  # least darkness of a faint part of a stroke (~7% darker than the paper), where the paper is clean
INK_STRONG = 32  # least darkness a stroke must reach somewhere to count as ink at all (~12%)
NOISE_WEAK, NOISE_STRONG = 4.0, 7.0
STRONG_PART = 0.15  # the least part of a mark's pixels that must be surely ink for the mark to be ink


def _grain_cells(ink: np.ndarray, region: np.ndarray, each_sheet: bool = False, calm: np.ndarray | None = None):
    """Mean and spread of the paper's darkness in small windows (on a 4x coarser grid; the strokes in a window left
    out), and their typical values over the region, most of which is bare paper. With `each_sheet`, each separate
    part of the region (a sheet) has typical values of its own: a small sheet beside a large grainy one (a desk taken
    for a sheet, a keyboard in its hull) keeps its own calm. `calm`: the part of the region where the typical values
    are measured (None: all of it)."""
    rows, cols = ink.shape
    cell = 4
    small = (max(1, cols // cell), max(1, rows // cell))
    values = ink.astype(np.float32)
    mean, spread, _ = _window_grain(values, small)
    inside = cv2.resize(region, small, interpolation=cv2.INTER_AREA) > 127
    if not inside.any():
        return mean, spread, 0.0, 0.0
    measured = inside
    if calm is not None:
        calm_inside = inside & (cv2.resize(calm, small, interpolation=cv2.INTER_AREA) > 127)
        if np.count_nonzero(calm_inside) >= SHEET_CELLS:
            measured = calm_inside
    typical_mean, typical_spread = quantile(mean[measured], CALM_QUANTILE), quantile(spread[measured], CALM_QUANTILE)
    # A window's grain is its paper's: the strokes in it, far darker than grain, are left out. In dense writing
    # every window holds some, and counted as grain they raise the levels until faint strokes and the ruled lines
    # under the digits are lost, or survive in pieces that join the digits.
    stroke = STROKE_LEVEL * max(INK_STRONG, typical_mean + NOISE_STRONG * typical_spread)
    paper_mean, paper_spread, paper_share = _window_grain(values, small, values <= stroke)
    mostly_paper = paper_share >= 0.3  # inside a marker's stroke, the few pixels left tell nothing
    mean, spread = np.where(mostly_paper, paper_mean, mean), np.where(mostly_paper, paper_spread, spread)
    if not each_sheet:
        return mean, spread, typical_mean, typical_spread
    count, sheets = cv2.connectedComponents(inside.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mean, spread, typical_mean, typical_spread
    means, spreads = np.full(count, typical_mean, np.float32), np.full(count, typical_spread, np.float32)
    for sheet in range(1, count):
        own = sheets == sheet
        if np.count_nonzero(own & measured) >= SHEET_CELLS:
            own &= measured
        if np.count_nonzero(own) >= SHEET_CELLS:  # enough windows for their calm third to mean something
            means[sheet], spreads[sheet] = quantile(mean[own], CALM_QUANTILE), quantile(spread[own], CALM_QUANTILE)
    return mean, spread, means[sheets], spreads[sheets]


SHEET_CELLS = 100
STROKE_LEVEL = 2.0  # times the typical strong level: darker pixels are strokes, not the paper's grain


def _window_grain(values: np.ndarray, small: tuple[int, int], paper: np.ndarray | None = None):
    """(mean, spread, share) of `values` in overlapping windows of 3x3 cells of the coarse grid `small`: over the
    pixels where `paper` is true, and the share of the window that they are (None: over all pixels, no share)."""
    def windows(image):
        return cv2.blur(cv2.resize(image, small, interpolation=cv2.INTER_AREA), (3, 3))

    if paper is None:
        share = None
        mean, square = windows(values), windows(cv2.multiply(values, values))
    else:
        share = windows(paper.astype(np.float32))
        kept = np.where(paper, values, 0).astype(np.float32)
        mean = windows(kept) / np.maximum(share, 1e-3)
        square = windows(cv2.multiply(kept, kept)) / np.maximum(share, 1e-3)
    return mean, cv2.sqrt(cv2.max(square - mean * mean, 0)), share


CALM_QUANTILE = 0.35  # the calmer third of the region: bare paper, even beside a grainy desk, yet not the few
#                       windows flattened by saturation or JPEG


def ink_levels(ink: np.ndarray, region: np.ndarray, each_sheet: bool = False,
               calm: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(weak, strong) per-pixel darkness thresholds, uint8 images like `ink`.

    They rise with the grain of the frame: a clean sheet shows a faint pencil stroke, while a noisy dim frame, JPEG
    ringing or a textured desk needs a much darker mark. The grain is taken as typical over the region, and
    locally where the whole neighbourhood is grainier than that (the calmest window nearby, so that strokes do
    not count as grain)."""
    mean, spread, typical_mean, typical_spread = _grain_cells(ink, region, each_sheet, calm)
    nearby = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    spread = cv2.max(cv2.erode(spread, nearby), typical_spread)
    mean = cv2.max(cv2.erode(mean, nearby), typical_mean)
    weak = np.clip(mean + NOISE_WEAK * spread, INK_WEAK, 255).astype(np.uint8)
    strong = np.clip(mean + NOISE_STRONG * spread, INK_STRONG, 255).astype(np.uint8)
    size = (ink.shape[1], ink.shape[0])
    return cv2.resize(weak, size, interpolation=cv2.INTER_LINEAR), cv2.resize(strong, size, interpolation=cv2.INTER_LINEAR)


def components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(count, labels, stats) of the 8-connected components. 16-bit labels (a frame at the working resolution
    holds far fewer than 65536 marks) make OpenCV's labelling with statistics several times faster."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_16U)
    return count, labels, stats


@dataclass(frozen=True)
class InkMask:
    mask: np.ndarray  # uint8 0/255: the ink
    faint: np.ndarray  # uint8 0/255: every mark above the faint level, ink or not (lines show best here)
    labels: np.ndarray  # the mask's components and their stats, as cv2.connectedComponentsWithStats gives them
    stats: np.ndarray
    longest: int  # the longest side of any mark's box


# Typical difference between a pixel's darkness and its neighbours' above which the frame is ruled by sensor noise
# (a dim room): there each pixel is judged with its neighbours, which averages the noise down far more than a
# stroke's own darkness. Only noise from pixel to pixel counts: a desk's grain or a cloth's weave is coarser, and
# smoothing a frame for it would only blur small digits away.
PIXEL_NOISE = 5.0


def noisy(ink: np.ndarray, region: np.ndarray) -> bool:
    """Whether the frame's darkness (uint8, as `ink_darkness` makes it) is ruled by pixel-to-pixel (sensor) noise
    over the region (uint8 mask)."""
    difference = cv2.absdiff(ink, cv2.GaussianBlur(ink, (3, 3), 0))
    # The same median as `quantile`'s, from a histogram: several times faster than gathering the frame's pixels.
    counts = np.cumsum(cv2.calcHist([difference], [0], region, [256], [0, 256]).ravel())
    total = int(counts[-1])
    if total == 0:
        return False
    return int(np.searchsorted(counts, min(total - 1, int(0.5 * total)), side="right")) >= PIXEL_NOISE


def threshold_ink(ink: np.ndarray, region: np.ndarray, each_sheet: bool = False,
                  is_noisy: bool | None = None, calm: np.ndarray | None = None) -> InkMask:
    """The ink inside the region, by hysteresis: the faint parts of a stroke are kept when the stroke is dark
    somewhere, faint marks on their own are not. With `each_sheet`, the region's parts are sheets, each with its
    own grain. `is_noisy`: `noisy(ink, region)` when the caller already knows it (None: measured here). `calm`: where
    the frame's typical grain is measured (`_grain_cells`)."""
    if noisy(ink, region) if is_noisy is None else is_noisy:
        ink = cv2.GaussianBlur(ink, (3, 3), 0)
    weak_level, strong_level = ink_levels(ink, region, each_sheet=each_sheet, calm=calm)
    faint = cv2.bitwise_and(cv2.compare(ink, weak_level, cv2.CMP_GT), region)
    count, marks = cv2.connectedComponents(faint, connectivity=8, ltype=cv2.CV_16U)
    # A stroke is dark over a fair part of its length; a faint printed grid only where two of its lines cross.
    strong = np.bincount(marks[ink > strong_level], minlength=count)
    # Counted over the marks only: the background's count is never used, and skipping it halves the work.
    area = np.bincount(marks[faint > 0], minlength=count)
    keep = np.where(strong >= np.maximum(STRONG_PART * area, 1), 255, 0).astype(np.uint8)
    keep[0] = 0
    mask = np.take(keep, marks)  # the same lookup as keep[marks], faster
    _, labels, stats = components(mask)
    return InkMask(mask, faint, labels, stats, int(np.max(stats[1:, W:AREA], initial=0)))


# ---------------------------------------------------------------------------------------------------------------
# Ruled and grid lines


LINE_LENGTH = 3.5  # in digit heights: the shortest straight run taken for a ruled line rather than the bars of a
#                     number's 5s and 7s lined up
LINE_GAP = 0.5  # in digit heights: breaks in a faint line that are bridged


def line_length(digit_height: float, shape: tuple[int, ...]) -> float:
    """The least length of a line: far longer than a digit, and not short next to the frame."""
    return max(LINE_LENGTH * digit_height, 0.06 * max(shape[:2]))


@dataclass(frozen=True)
class Lines:
    """Straight lines found in the ink, one row each."""

    segments: np.ndarray  # (N, 4) int32 x0, y0, x1, y1
    widths: np.ndarray  # (N,) int32 thickness to remove, in pixels
    levels: np.ndarray  # (N,) float32 the line's own darkness: a digit crossing it is darker

    def __len__(self) -> int:
        return len(self.segments)


NO_LINES = Lines(np.zeros((0, 4), np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32))
LINE_SAMPLES = 48


def find_lines(mask: np.ndarray, digit_height: float, ink: np.ndarray) -> Lines:
    """The straight lines in the ink: ruled and grid lines at any angle, a margin, the edge of the sheet or a shadow
    along it. A line is straight and far longer than any digit stroke, whole along its length (though it may be
    broken where it is faint) and has bare paper on either side; a row of small digits also lines up into a long
    straight run of ink, but one full of holes and with ink beside it."""
    length = line_length(digit_height, mask.shape)
    # Hough's cost grows with the ink it votes with: it looks at a half-size copy, where no line is lost (a 2x2 block
    # is ink if any of its pixels is), and each segment is laid back on the full-size marks.
    rows, cols = mask.shape
    half = cv2.resize(mask[: rows - rows % 2, : cols - cols % 2], (cols // 2, rows // 2), interpolation=cv2.INTER_AREA)
    found = cv2.HoughLinesP(cv2.compare(half, 0, cv2.CMP_GT), 1, np.pi / 180, threshold=max(10, round(0.3 * length)),
                            minLineLength=length / 2, maxLineGap=max(1.0, LINE_GAP * digit_height / 2))
    if found is None:
        return NO_LINES
    segments = _refitted(2 * found.reshape(-1, 4), mask)
    touched = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    side = max(3.0, 0.25 * digit_height)
    points, normal = _line_samples(segments)
    along = (_across(touched, points, normal, 0) > 0).mean(axis=1)
    beside = 0.5 * ((_across(touched, points, normal, side) > 0).mean(axis=1)
                    + (_across(touched, points, normal, -side) > 0).mean(axis=1))
    real = (along >= 0.85) & (beside <= 0.45)
    if not real.any():
        return NO_LINES
    # Hough's segments stop short where a line crosses other ink (a row of digits) or fades: each is carried on
    # along its own course as far as the line goes, so that a digit a line runs through is not joined to the next.
    # Hough's course is only as true as its angle step (1 degree: pixels off at a long segment's ends), and a thin
    # line's own level, read along a course beside it, came out as faint as the paper's: each segment is laid on
    # its line's marks first, and again once it is extended.
    segments = _refitted(segments[real], mask)
    segments = _refitted(_extended(segments, touched, max(2.0, LINE_GAP * digit_height)), mask)
    points, normal = _line_samples(segments)
    # Thickness: the offsets across the line where most samples are ink.
    offsets = np.arange(-6, 7)
    profile = np.stack([(_across(mask, points, normal, float(o)) > 0).mean(axis=1) for o in offsets], axis=1)
    widths = (profile >= 0.5).sum(axis=1) + 2
    # A thin line's course is true to a pixel, not to its middle: its level is read along the course a pixel either
    # side too, and the darkest of the three taken.
    levels = np.max([np.median(_across(ink, points, normal, float(o)).astype(np.float32), axis=1) for o in (-1, 0, 1)],
                    axis=0)
    return Lines(segments, np.maximum(widths, 3).astype(np.int32), levels.astype(np.float32))


def _line_samples(segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((N, LINE_SAMPLES, 2) points along each segment, (N, 2) unit normals)."""
    start, end = segments[:, None, :2].astype(np.float32), segments[:, None, 2:].astype(np.float32)
    points = start + (end - start) * np.linspace(0.0, 1.0, LINE_SAMPLES)[None, :, None]
    direction = (end - start)[:, 0, :]
    normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1)
    normal /= np.maximum(np.linalg.norm(normal, axis=1), 1)[:, None]
    return points, normal


def _across(image: np.ndarray, points: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """(N, samples) of the image along each line, shifted `offset` pixels across it."""
    return _sample(image, points + offset * normal[:, None, :])


REFIT_REACH = 3  # pixels either side of a segment where its line's own pixels are looked for


def _refitted(segments: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(N, 4) segments moved onto their lines: across each, at points along it, the middle of the marks within
    REFIT_REACH; a straight course fitted to these by least squares, fitted again without those more than a pixel
    off it (where a digit crosses the line). A segment with too few such points is left as it was, and one on a
    mark wider than the reach stays where it is (the middle of its marks is the segment itself)."""
    points, normal = _line_samples(segments)
    offsets = np.arange(-REFIT_REACH, REFIT_REACH + 1, dtype=np.float32)
    marked = np.stack([_across(mask, points, normal, o) > 0 for o in offsets], axis=1).astype(np.float32)  # (N, O, S)
    count = marked.sum(axis=1)
    shift = (marked * offsets[None, :, None]).sum(axis=1) / np.maximum(count, 1)  # (N, samples)
    weight = (count > 0).astype(np.float32)
    along = np.linspace(0.0, 1.0, points.shape[1], dtype=np.float32)[None, :]
    for _ in range(2):
        # Weighted least squares of shift = a + b * along, per segment.
        n, t, tt = weight.sum(1), (weight * along).sum(1), (weight * along * along).sum(1)
        y, ty = (weight * shift).sum(1), (weight * along * shift).sum(1)
        det = n * tt - t * t
        usable = (n >= 0.5 * points.shape[1]) & (det > 1e-6)
        safe = np.where(usable, det, 1.0)
        b = np.where(usable, (n * ty - t * y) / safe, 0.0)
        a = np.where(usable, (y - b * t) / n.clip(1), 0.0)
        weight = weight * (np.abs(shift - (a[:, None] + b[:, None] * along)) <= 1.0)
    start = segments[:, :2] + a[:, None] * normal
    end = segments[:, 2:] + (a + b)[:, None] * normal
    return np.round(np.concatenate([start, end], axis=1)).astype(np.int32)


def _extended(segments: np.ndarray, touched: np.ndarray, gap: float) -> np.ndarray:
    """(N, 4) segments lengthened at both ends along their own direction over the marks of `touched`, bridging
    breaks up to `gap` pixels long."""
    rows, cols = touched.shape
    start, end = segments[:, :2].astype(np.float32), segments[:, 2:].astype(np.float32)
    length = np.maximum(np.linalg.norm(end - start, axis=1), 1.0)
    direction = (end - start) / length[:, None]
    reach = float(np.hypot(rows, cols))
    steps = np.arange(1.0, reach, 1.0, dtype=np.float32)  # pixels beyond an end
    result = segments.astype(np.float32).copy()
    for end_point, sign, columns in ((end, 1.0, slice(2, 4)), (start, -1.0, slice(0, 2))):
        points = end_point[:, None, :] + sign * direction[:, None, :] * steps[None, :, None]  # (N, steps, 2)
        inside = (points[..., 0] >= 0) & (points[..., 0] <= cols - 1) & (points[..., 1] >= 0) & (points[..., 1] <= rows - 1)
        on = (_sample(touched, points) > 0) & inside
        # The distance to the nearest mark behind each step; the line ends before the first break longer than gap.
        last_on = np.maximum.accumulate(np.where(on, steps[None, :], 0.0), axis=1)
        broken = (steps[None, :] - last_on > gap) | ~inside
        first_break = np.where(broken.any(axis=1), broken.argmax(axis=1), len(steps) - 1)
        travel = last_on[np.arange(len(segments)), np.maximum(first_break - 1, 0)] * (first_break > 0)
        result[:, columns] = end_point + sign * direction * travel[:, None]
    return np.round(result).astype(np.int32)


def _sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    return image[_pixels(points, image.shape)]


def _pixels(points: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the pixels nearest the (..., 2) points (x, y), clipped to an image of `shape`."""
    x = np.clip(np.round(points[..., 0]).astype(int), 0, shape[1] - 1)
    y = np.clip(np.round(points[..., 1]).astype(int), 0, shape[0] - 1)
    return y, x


def remove_lines(mask: np.ndarray, lines: Lines, ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask without the lines, the pixels removed). Where a digit crosses a line, its pixels that are clearly
    darker than that line stay, and its stroke is joined again across the line."""
    if len(lines) == 0:
        return mask, np.zeros_like(mask)
    band = np.zeros_like(mask)
    keep_above = np.zeros_like(mask)  # per pixel of a line: the darkness above which a pixel is a digit's
    for (x0, y0, x1, y1), width, level in zip(lines.segments, lines.widths, lines.levels):
        cv2.line(band, (int(x0), int(y0)), (int(x1), int(y1)), 255, int(width))
        cv2.line(keep_above, (int(x0), int(y0)), (int(x1), int(y1)), int(min(254, max(1.5 * level, level + 40))), int(width))
    darker = cv2.compare(ink, keep_above, cv2.CMP_GT)
    removed = cv2.bitwise_and(cv2.bitwise_and(band, mask), cv2.bitwise_not(darker))
    kept = cv2.subtract(mask, removed)
    # Bridge what a line took out of a stroke, but only where the line was.
    bridge = 2 * int(lines.widths.max()) + 1
    bridge_v = cv2.morphologyEx(kept, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (1, bridge)))
    bridge_h = cv2.morphologyEx(kept, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (bridge, 1)))
    repaired = cv2.bitwise_or(kept, cv2.bitwise_and(cv2.bitwise_or(bridge_v, bridge_h), removed))
    return repaired, cv2.subtract(removed, repaired)


# ---------------------------------------------------------------------------------------------------------------
# Components


def digit_like_heights(stats: np.ndarray, frame_height: int) -> np.ndarray:
    """The heights of the components shaped like a digit."""
    h, w, area = stats[:, H], stats[:, W], stats[:, AREA]
    digit_like = (
        (h >= MIN_DIGIT_PX) & (h <= 0.9 * frame_height) & (w <= 1.6 * h) & (w >= 0.05 * h)
        & (area >= 0.08 * w * h) & (area <= 0.9 * w * h)
    )
    digit_like[0] = False
    return h[digit_like]


def estimate_digit_height(stats: np.ndarray, frame_height: int) -> float:
    """The median height of the components shaped like a digit, or 0 when there is none."""
    heights = digit_like_heights(stats, frame_height)
    return float(np.median(heights)) if len(heights) else 0.0


PEERS = 3  # marks of about one height (within PEER_RATIO of each other) that make a group of digits of their own
PEER_RATIO = 1.5


def own_digit_height(height: int, heights: np.ndarray, digit_height: float) -> float:
    """The digit height a mark is judged by: the frame's median, unless the mark is far taller and has peers of its
    own height. A page may hold small print and big handwritten digits; the print's many letters rule the median,
    and a lone tall mark is an edge or a pen (or two lines' digits touching), but three marks of one height are a
    number written large."""
    if digit_height <= 0 or height < STACKED * digit_height:
        return digit_height
    # Its peers stand out from the median as it does: the digits of the median's own group are no peers.
    peers = np.count_nonzero((heights * PEER_RATIO >= height) & (heights <= PEER_RATIO * height)
                             & (heights >= STACKED * digit_height))
    return float(height) if peers >= PEERS else digit_height


def upright_boxes(labels: np.ndarray, index: np.ndarray, turn: float) -> np.ndarray:
    """(len(index), 4) boxes of the components `index` of `labels` as they lie once writing turned by `turn`
    degrees (counter-clockwise as seen) is turned level: the bounds of their own pixels, turned."""
    rows, cols = np.nonzero(labels)
    label = labels[rows, cols]
    x, y = along_axis(cols, rows, turn), along_axis(cols, rows, turn - 90.0)  # along the writing, then across it
    count = int(labels.max()) + 1
    x0, y0 = np.full(count, np.inf), np.full(count, np.inf)
    x1, y1 = np.full(count, -np.inf), np.full(count, -np.inf)
    np.minimum.at(x0, label, x)
    np.minimum.at(y0, label, y)
    np.maximum.at(x1, label, x)
    np.maximum.at(y1, label, y)
    return np.stack([x0[index], y0[index], x1[index] - x0[index] + 1, y1[index] - y0[index] + 1], axis=1)


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
    # One digit is no taller than the others (when there are others to go by).
    if union_h > 1.35 * (digit_height if digit_height > 0 else max(ha, hb)):
        return False
    # Pieces side by side that share much of their height are two digits, unless one lies within the other's
    # columns (the stem of a 6 over its loop, the upright of a 4 through its bar).
    if gap_y < -0.3 * min(ha, hb) and overlap_x < 0.8 * min(wa, wb):
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


OTHER_CUTS = 2  # places, besides the one near its middle, where a blob of two touching digits is offered a cut


def cuts_in_two(column_ink: np.ndarray) -> list[int]:
    """Where to cut a blob of two touching digits: the column of least ink near its middle (`split_points`), then
    the columns of least ink in its middle three fifths, apart from those: a 1 beside a 5 meets it off the middle."""
    width = len(column_ink)
    cuts = split_points(column_ink, 2)
    lo, hi = max(1, round(0.2 * width)), min(width - 1, round(0.8 * width))
    apart = max(2.0, 0.12 * width)
    for column in (np.argsort(column_ink[lo:hi], kind="stable") + lo).tolist():
        if len(cuts) > OTHER_CUTS:
            break
        if all(abs(column - cut) >= apart for cut in cuts):
            cuts.append(column)
    return cuts


# ---------------------------------------------------------------------------------------------------------------
# The whole step


SMALLEST_SIDE = 8  # working pixels: a strip narrower than this holds no digit (and leaves no coarse copy to look at)


def segment(image: np.ndarray, work_side: int = WORK_SIDE, view: tuple[Box, float] | None = None,
            sheets: bool = True, smallest_sheet: float = LARGEST_SHEET) -> Segmentation:
    """Candidate digits in `image` (any dtype/channels), with the ink and masks they were cut from.

    At the working resolution: find the sheets (else read the whole frame) and look closer at them when the input
    holds more detail there (`closer_view`), measure each pixel's darkness against its paper, threshold it by
    hysteresis above the frame's grain, remove ruled and grid lines, then take the components, join the strokes of
    one digit and give blobs of touching digits their cuts; drop the dashes of a faint line that the threshold
    broke, the darker stretches of streaks (a desk's grain), rows of bars alike (a keyboard's, a grid's), marks
    between surfaces of two tints (an object's edge), wide marks too faint for ink (a desk's grain) and circles
    truer than a hand draws (a cup's rim); and take the writing's turn from its layout, for where no sheet's edges
    show one. `view`: (box in input pixels, working scale), a closer view to read instead, as `closer_view` gives
    it. `sheets`: False reads the whole frame even where a sheet stands out. `smallest_sheet`: the least part of the
    frame that the largest sheet found may cover (`find_paper`)."""
    picture = to_uint8(image)
    scale = working_scale(picture.shape, work_side)
    work = resize_to_work(picture, scale)
    gray = to_gray(work)
    if min(gray.shape) < SMALLEST_SIDE:
        nothing = np.zeros(gray.shape, np.uint8)
        return Segmentation([], nothing.astype(np.uint16), nothing, nothing, scale, picture.shape[:2], [], 0.0)
    paper = find_paper(gray, work, smallest_sheet) if sheets else []
    closing = CROP_CLOSING if max(picture.shape[:2]) <= CROP_SIDE else PAPER_CLOSING
    origin = (0, 0)
    if view is None and paper:
        view = closer_view(picture.shape, sheets_box(paper, scale), work_side)
    if view is not None:
        # A part of the frame at a finer scale: no more pixels to work on, and small digits larger.
        (x, y, w, h), view_scale = view
        paper = [np.round((outline / scale - (x, y)) * view_scale).astype(np.int32) for outline in paper]
        closing *= max(picture.shape[:2]) / max(w, h)  # as wide a part of the scene as in the whole frame
        scale, origin = view_scale, (x, y)
        work = resize_to_work(picture[y : y + h, x : x + w], scale)
        gray = to_gray(work)
    region = paper_region(gray.shape, paper)
    ink, surface = ink_darkness(darkest_channel(work), closing, region)
    brightest = brightest_paper(surface, region)
    calm = bright_surfaces(surface, region, brightest, CALM_SURFACE)
    region = bright_surfaces(surface, region, brightest)
    smooth = noisy(ink, region)
    if smooth:
        # Sensor noise rules the frame: the paper's brightness, a closing, would ride on the noise's peaks. The
        # frame is smoothed first (and the ink judged on its neighbours too, in threshold_ink), and read in gray:
        # the darkest of three noisy channels takes the lowest of three noises, where their mean averages them out.
        ink, _ = ink_darkness(cv2.GaussianBlur(gray, (3, 3), 0), closing, region)
    # A quiet frame's ink is unchanged, so is its verdict; a smoothed frame's ink is measured afresh.
    found = threshold_ink(ink, region, each_sheet=bool(paper), is_noisy=None if smooth else False,
                          calm=calm)
    mask, labels, stats = found.mask, found.labels, found.stats

    region_height = _region_height(paper, gray.shape)
    digit_height = estimate_digit_height(stats, region_height)
    # No line without a long mark: a faint line breaks into pieces, but not into crumbs. (A grid holds everything
    # in one component, leaving no digit to measure: then lines are judged against the frame alone.)
    if found.longest >= 0.4 * line_length(digit_height, gray.shape):
        # Lines are looked for among the faint marks too, where a light printed line is still whole.
        lines = find_lines(found.faint, digit_height, ink)
        mask, _ = remove_lines(mask, lines, ink)
        if len(lines):
            _, labels, stats = components(mask)
            digit_height = estimate_digit_height(stats, region_height) or digit_height

    candidates = standing_out(find_candidates(labels, stats, digit_height, region_height, region, paper), ink, mask)
    candidates = off_broken_lines(candidates, labels, ink, digit_height)
    if not smooth:
        # In a frame ruled by sensor noise, the darkness sampled past a faint 1's ends is the noise's, as dark.
        candidates = off_streaks(candidates, labels, ink)
    candidates = off_rows_of_bars(candidates)
    candidates = dark_for_their_width(on_one_surface(candidates, work, mask, region), labels, ink, mask)
    candidates = not_true_circles(candidates, labels)
    turn = layout_turn(np.array([c.box for c in candidates]))
    return Segmentation(candidates, labels, ink, mask, scale, picture.shape[:2], paper, digit_height, smooth, origin,
                        layout_turn=turn)


VIEW_MARGIN = 0.03  # of the sheets' size: room around them for their edges and the shadow along them


def sheets_box(sheets: list[np.ndarray], scale: float) -> Box:
    """The box, in input pixels, around the sheets (outlines in working pixels at `scale`) with a margin."""
    points = np.concatenate(sheets) / scale
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    pad = VIEW_MARGIN * max(x1 - x0, y1 - y0)
    return (math.floor(x0 - pad), math.floor(y0 - pad), math.ceil(x1 - x0 + 2 * pad), math.ceil(y1 - y0 + 2 * pad))


def closer_view(shape: tuple[int, ...], box: Box, work_side: int = WORK_SIDE,
                grow: bool = False) -> tuple[Box, float] | None:
    """(box clipped to the input, working scale) of a view of `box` (input pixels) alone, when the input holds more
    detail there than the whole frame's working copy shows: the finest whole reduction (1/1, 1/2, ...) at which the
    view has no more pixels than that copy. None when there is no such view. With `grow`, the box grows about its
    middle to as many pixels as that copy has: more of the scene around it, at no more cost than a whole frame."""
    scale = working_scale(shape, work_side)
    if scale >= 1.0:
        return None
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(shape[1], int(box[0] + box[2])), min(shape[0], int(box[1] + box[3]))
    w, h = x1 - x0, y1 - y0
    if w <= 0 or h <= 0:
        return None
    finer = 1.0 / max(1, math.ceil(math.sqrt(w * h / (shape[0] * shape[1])) / scale - 1e-9))
    if finer <= scale * 1.01:
        return None
    if grow:
        # The frame's shape at the finer scale's budget, about the box's middle, slid back inside the input.
        w, h = (min(side, max(own, round(side * scale / finer))) for side, own in ((shape[1], w), (shape[0], h)))
        x0 = min(max(0, (x0 + x1 - w) // 2), shape[1] - w)
        y0 = min(max(0, (y0 + y1 - h) // 2), shape[0] - h)
    return (x0, y0, w, h), finer


def _region_height(sheets: list[np.ndarray], shape: tuple[int, int]) -> int:
    if not sheets:
        return shape[0]
    return int(min(max(np.ptp(outline[:, 1]) for outline in sheets), shape[0]))


def find_candidates(labels: np.ndarray, stats: np.ndarray, digit_height: float, region_height: int,
                    region: np.ndarray, sheets: list[np.ndarray] | None = None) -> list[Candidate]:
    """Digit candidates from the ink's components: specks dropped, strokes of one digit joined (relabelled in
    place in `labels`), misfits dropped, and wide blobs given the cuts that would split them. `sheets`: the outlines
    of the sheets found, whose writing may be turned: strokes are joined along the largest one's axes
    (`writing_turn`), and blobs cut along their own sheet's (`writing_angles`)."""
    turn = writing_turn(sheets or [])
    h, area = stats[:, H], stats[:, AREA]
    speck = max(4.0, 0.01 * digit_height**2)
    keep = (area >= speck) & (h <= 0.95 * region_height)
    keep[0] = False
    index = np.flatnonzero(keep)
    if len(index) == 0:
        return []
    # On a turned sheet, a stroke broken in two lies in diagonal pieces that only line up along the writing's axes.
    group = join_strokes(upright_boxes(labels, index, turn) if turn else stats[index, :4], digit_height)

    # One label for the pieces of one digit, so that its crop takes exactly its own ink.
    members: dict[int, list[int]] = {}
    for i, g in enumerate(group):
        members.setdefault(int(index[g]), []).append(int(index[i]))
    # Each joined piece is relabelled within its own box, where all its pixels lie: far less than the frame.
    for label, parts in members.items():
        for part in parts:
            if part != label:
                x, y, w, h = (int(v) for v in stats[part, :4])
                piece = labels[y : y + h, x : x + w]
                piece[piece == part] = label

    # The frame's edge bounds what was seen as a sheet's edge does: a mark running off it is a fragment.
    outside = cv2.copyMakeBorder(cv2.bitwise_not(region)[1:-1, 1:-1], 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=255)
    outside = cv2.dilate(outside, np.ones((5, 5), np.uint8))
    heights = digit_like_heights(stats, region_height)
    found, own_heights = [], []
    for label, parts in members.items():
        x0, y0 = int(stats[parts, X].min()), int(stats[parts, Y].min())
        x1, y1 = int((stats[parts, X] + stats[parts, W]).max()), int((stats[parts, Y] + stats[parts, H]).max())
        box = (x0, y0, x1 - x0, y1 - y0)
        ink_area = int(stats[parts, AREA].sum())
        own_height = own_digit_height(y1 - y0, heights, digit_height)
        if not looks_like_digit(box, ink_area, own_height):
            continue
        own = labels[y0:y1, x0:x1] == label
        if np.any(outside[y0:y1, x0:x1][own]):
            continue  # cut off by the edge of the sheet or of the frame: a fragment, or not on the paper at all
        found.append(Candidate(box, label))
        own_heights.append(own_height)
    turns = writing_angles(sheets or [], np.array([c.box for c in found]))
    return _with_cuts(found, labels, digit_height, own_heights, turns)


STAND_OUT = 2.5  # how many times darker than the marks around it a candidate's ink must be


def standing_out(candidates: list[Candidate], ink: np.ndarray, mask: np.ndarray) -> list[Candidate]:
    """The candidates that stand out from what surrounds them. A pen's stroke is far darker than the paper's grain
    beside it; a streak of a wooden desk's grain, the weave of a cloth or the crumbs of a shadow's edge are no
    darker than the other streaks around them. Around = a ring a digit's height wide, outside every candidate (a
    number's other digits are no clutter)."""
    if not candidates:
        return candidates
    taken = np.zeros(mask.shape, bool)
    for candidate in candidates:
        x, y, w, h = candidate.box
        taken[y : y + h, x : x + w] = True
    rows, cols = mask.shape
    kept = []
    for candidate in candidates:
        x, y, w, h = candidate.box
        r = max(h, 4)
        x0, y0, x1, y1 = max(0, x - r), max(0, y - r), min(cols, x + w + r), min(rows, y + h + r)
        around = ~taken[y0:y1, x0:x1]
        if not np.any(mask[y0:y1, x0:x1][around]):
            kept.append(candidate)  # bare paper all round
            continue
        own = ink[y : y + h, x : x + w][mask[y : y + h, x : x + w] > 0]
        if quantile(own, 0.9) >= STAND_OUT * max(1.0, quantile(ink[y0:y1, x0:x1][around], 0.75)):
            kept.append(candidate)
    return kept


BROKEN_LINE = 1.5  # how many times darker than the paper beside it a broken line's course is, through its breaks
# Measured on 307 1s read right on scenes and 81 streaks of a desk's grain read as 1s: past a 1, at most 0.56 of its
# darkness (all but one under 0.45); past a streak's darker stretch, at least 0.55 (all but two over 0.6).
STREAK = 0.6  # of a candidate's darkness: how dark a streak goes on past its ends
STREAK_THIN = 2.0  # a candidate this many times longer than wide may be a streak's stretch
COURSE_TURNS = np.radians([-6.0, -3.0, 0.0, 3.0, 6.0])  # a short dash's own angle is only roughly its line's


def off_broken_lines(candidates: list[Candidate], labels: np.ndarray, ink: np.ndarray,
                     digit_height: float) -> list[Candidate]:
    """The candidates that are not pieces of a faint line broken by the threshold: a margin or a grid line falls
    apart into thin dashes, each one a "1". Such a line runs on, faintly, along the dash's own course far beyond
    its ends; past the ends of a 1 lies bare paper, or a line far fainter than the 1 (written over a grid)."""
    reach = line_length(digit_height, labels.shape)
    return [c for c in candidates if not _thin(c.box) or not _runs_on_as_a_line(c, labels, ink, reach)]


def _course(ink: np.ndarray, points: np.ndarray, normal: np.ndarray, offset: float,
            left_out: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(N, samples) of the darkest ink across a course 5 px wide, `offset` pixels across each line: a 1 px line
    is seldom exactly on the sampled points. `left_out`: (labels, one bool per label) whose pixels read as paper."""
    def across(o: float) -> np.ndarray:
        pixels = _pixels(points + (offset + o) * normal[:, None, :], ink.shape)
        if left_out is None:
            return ink[pixels]
        labels, out = left_out
        return np.where(out[labels[pixels]], 0, ink[pixels])

    return np.max([across(o) for o in range(-2, 3)], axis=0)


def _thin(box: Box, ratio: float = 3.0) -> bool:
    """Whether the box is at least `ratio` times longer than wide, either way."""
    return min(box[2:]) * ratio <= max(box[2:])


def off_streaks(candidates: list[Candidate], labels: np.ndarray, ink: np.ndarray) -> list[Candidate]:
    """The candidates that are not the darker stretch of a streak read as a 1, as in a wooden desk's grain. Past
    the ends of a pen's 1 lies paper, or the next digit; a streak goes on along its course, nearly as dark, for a
    digit's height and more."""
    if not any(_thin(c.box, STREAK_THIN) for c in candidates):
        return candidates
    # Other candidates' ink is no streak: a 1 in line with the 1 of the line above runs on into it.
    taken = np.zeros(int(labels.max()) + 1, bool)
    taken[[c.label for c in candidates]] = True
    return [c for c in candidates if not _thin(c.box, STREAK_THIN) or not _a_streak(c, labels, ink, taken)]


def _a_streak(candidate: Candidate, labels: np.ndarray, ink: np.ndarray, taken: np.ndarray) -> bool:
    """Whether the ink runs on past either end of the candidate, along its course, for its own height, at least
    STREAK times as dark as the candidate; the ink of the labels `taken` (one bool per label) left out."""
    points, normal = _courses_past_the_ends(candidate, labels, float(candidate.box[3]))
    along = np.quantile(_course(ink, points, normal, 0, (labels, taken)), 0.25, axis=1)
    return bool(np.any(along >= STREAK * _own_darkness(candidate, labels, ink)))


def _runs_on_as_a_line(candidate: Candidate, labels: np.ndarray, ink: np.ndarray, reach: float) -> bool:
    """Whether the ink goes on past either end of a thin candidate, along its course, for `reach` pixels (past
    the other end, a line may run off its sheet)."""
    points, normal = _courses_past_the_ends(candidate, labels, reach)
    along = np.quantile(_course(ink, points, normal, 0), 0.25, axis=1)
    beside = np.median(np.concatenate([_course(ink, points, normal, offset) for offset in (-6, 6)], axis=1), axis=1)
    darkness = _own_darkness(candidate, labels, ink)
    return bool(np.any(along >= np.maximum(BROKEN_LINE * np.maximum(beside, 1.0), 0.5 * darkness)))


def _courses_past_the_ends(candidate: Candidate, labels: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """(points, normals) as `_line_samples` gives them, of the courses `reach` pixels long past each end of the
    candidate, along its own axis and COURSE_TURNS about it."""
    x, y, w, h = candidate.box
    own = labels[y : y + h, x : x + w] == candidate.label
    moments = cv2.moments(own.astype(np.uint8), binaryImage=True)  # never empty: the label's own box
    angles = 0.5 * math.atan2(2 * moments["mu11"], moments["mu20"] - moments["mu02"]) + COURSE_TURNS
    centre = np.array([x + moments["m10"] / moments["m00"], y + moments["m01"] / moments["m00"]])
    half = 0.5 * math.hypot(w, h)
    ends = []
    for angle in angles:
        direction = np.array([math.cos(angle), math.sin(angle)])
        for sign in (1.0, -1.0):
            ends.append([*(centre + sign * half * direction), *(centre + sign * (half + reach) * direction)])
    return _line_samples(np.array(ends))


def _own_darkness(candidate: Candidate, labels: np.ndarray, ink: np.ndarray) -> float:
    x, y, w, h = candidate.box
    return median(ink[y : y + h, x : x + w][labels[y : y + h, x : x + w] == candidate.label])


BARS_IN_A_ROW = 4  # upright bars alike side by side: the gaps of a keyboard's keys, a grid, a shelf


def off_rows_of_bars(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates that are not bars of a row of them, all of one width and height, their tops on one straight
    course: what is left of a keyboard's or a grid's frame once its long lines are taken out. Handwritten 1s
    differ in their width (their slant, their pen) as much as in anything."""
    bars = sorted((c for c in candidates if _thin(c.box)), key=lambda c: c.box[0])
    rows: list[list[Candidate]] = []
    for bar in bars:
        x, y, w, h = bar.box
        level = max(2.0, 0.05 * h)
        for row in rows:
            lx, ly, lw, lh = row[-1].box
            if abs(ly - y) <= level and abs(lh - h) <= level and abs(lw - w) <= 1 and x - lx <= 3 * h:
                row.append(bar)
                break
        else:
            rows.append([bar])
    dropped = set()
    for row in (r for r in rows if len(r) >= BARS_IN_A_ROW):
        # With the row, the ends of the frame it stands in: bars as tall and level, of any width.
        (x0, y0, _, h0), (x1, y1, w1, _) = row[0].box, row[-1].box
        level = max(2.0, 0.05 * h0)
        ends = [c for c in bars if x0 - 3 * h0 <= c.box[0] <= x1 + w1 + 3 * h0 and abs(c.box[3] - h0) <= 2 * level
                and min(abs(c.box[1] - y0), abs(c.box[1] - y1)) <= 2 * level]
        dropped |= {id(c) for c in row + ends}
    return [c for c in candidates if id(c) not in dropped]


ONE_TINT = 0.035  # chromaticity: the most the paper on a digit's sides may differ in tint (digits on scenes: < 0.02)
SIDE_BAND = 0.4  # of a candidate's height: the width of the band beside each of its sides where its surface is seen
THIN = 1.5  # a mark this many times taller than wide (or wider than tall) is judged across its length alone
SEEN_SIDE = 0.3  # of a band: the least part of it that must be bare surface in the region for it to tell anything


def on_one_surface(candidates: list[Candidate], colour: np.ndarray, mask: np.ndarray,
                   region: np.ndarray) -> list[Candidate]:
    """The candidates that lie on one surface. A digit is written on a sheet, of one tint all round it; the dark
    band along an object's edge (a box's, a mug's rim, a card's shadow) lies between two surfaces of different
    tints, and with no sheet in view it is as upright as a 1. Judged across the mark: a thin one's two long sides
    differ, a wider one's sides differ both ways (a card's corner), while a digit written near the sheet's edge
    has the background beside one side only. Tint, not brightness: a shadow's edge may cross a digit. A grey
    frame (`colour` of two dimensions) shows no tint, and keeps all."""
    if not candidates or colour.ndim < 3:
        return candidates
    bare = cv2.bitwise_and(region, cv2.bitwise_not(cv2.dilate(mask, _SPECK)))
    sums = cv2.integral(cv2.bitwise_and(colour, colour, mask=bare))  # per channel, summed over the bare surface
    counts = cv2.integral(bare // 255)
    boxes = np.array([c.box for c in candidates])
    tints, seen = _band_tints(sums, counts, _side_bands(boxes, mask.shape))  # (N, 4 bands, 3), (N, 4)
    left, right, top, bottom = range(4)

    def differ(one, other):
        apart = np.abs(tints[:, one] - tints[:, other]).max(axis=1) > ONE_TINT
        return apart & seen[:, one] & seen[:, other]

    across, along = differ(left, right), differ(top, bottom)
    w, h = boxes[:, W], boxes[:, H]
    off = across & along | across & (h >= THIN * w) | along & (w >= THIN * h)
    return [candidate for candidate, between in zip(candidates, off) if not between]


# A pen's or a marker's stroke a few pixels wide is as dark as its ink (only a thin one is paled by the lens's blur); a
# wide mark that stays faint is a soft shade: a desk's grain, a fold, the band of a shadow. On 2,059 digits found on
# tuning scenes, none was fainter than 6 levels a pixel of its width.
WIDE_STROKE = 6.0  # working pixels: a stroke this wide must be dark for its width
INK_PER_WIDTH = 6.0  # the least darkness (of its darkest tenth) a pixel of such a stroke's width
FULL_INK = 100  # ... up to this: a marker's broad stroke need be no darker


def dark_for_their_width(candidates: list[Candidate], labels: np.ndarray, ink: np.ndarray,
                         mask: np.ndarray) -> list[Candidate]:
    """The candidates whose strokes are as dark as their width says a stroke of ink is."""
    if not candidates:
        return candidates
    depth = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    kept = []
    for candidate in candidates:
        x, y, w, h = candidate.box
        own = labels[y : y + h, x : x + w] == candidate.label
        width = 2.0 * float(depth[y : y + h, x : x + w][own].max(initial=0.0))
        if width < WIDE_STROKE or quantile(ink[y : y + h, x : x + w][own], 0.9) >= min(INK_PER_WIDTH * width, FULL_INK):
            kept.append(candidate)
    return kept


# A hand's 0 is an oval that wobbles; a cup's rim, a coin or a sticker seen from above is a true circle. On 153 zeros
# read right on tuning scenes the outline strayed at least 0.026 of its radius from its fitted ellipse on average
# (and only two were as round as 0.93); a rim read as 0 through a whole video strayed 0.007.
ROUND = 0.93  # the least ratio of a ring's axes
TRUE_CIRCLE = 0.02  # the outline's mean distance from its fitted ellipse, in radii, below which no hand drew it


def not_true_circles(candidates: list[Candidate], labels: np.ndarray) -> list[Candidate]:
    """The candidates but those whose outline is a circle truer than a hand draws."""
    return [candidate for candidate in candidates if not true_circle(candidate, labels)]


def true_circle(candidate: Candidate, labels: np.ndarray) -> bool:
    """Whether the candidate's outline is a circle (its axes within ROUND) it strays from by less than TRUE_CIRCLE."""
    x, y, w, h = candidate.box
    if candidate.pieces or not ROUND * h <= w <= h / ROUND:
        return False
    own = (labels[y : y + h, x : x + w] == candidate.label).astype(np.uint8)
    contours, _ = cv2.findContours(own, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=len).reshape(-1, 2).astype(np.float32)
    if len(outline) < 5:
        return False
    (cx, cy), axes, angle = cv2.fitEllipse(outline)
    if not min(axes) >= ROUND * max(axes) > 0:  # an oval, or a degenerate fit
        return False
    # Each outline point's distance from the middle, in the ellipse's radii along its own direction.
    turn = math.radians(angle)
    dx, dy = outline[:, 0] - cx, outline[:, 1] - cy
    along = (dx * math.cos(turn) + dy * math.sin(turn)) / (axes[0] / 2)
    across = (dy * math.cos(turn) - dx * math.sin(turn)) / (axes[1] / 2)
    return float(np.mean(np.abs(np.hypot(along, across) - 1.0))) <= TRUE_CIRCLE


def _side_bands(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(N, 4, 4) x0, y0, x1, y1 of the bands beside each box's left, right, top and bottom sides, in the frame."""
    x, y, w, h = boxes.T
    reach = np.maximum(3, np.round(SIDE_BAND * h)).astype(int)
    bands = np.stack([np.stack(band, axis=1) for band in (
        (x - reach, y, x, y + h), (x + w, y, x + w + reach, y + h),
        (x, y - reach, x + w, y), (x, y + h, x + w, y + h + reach))], axis=1)
    rows, cols = shape
    return np.clip(bands, 0, [cols, rows, cols, rows])


def _band_tints(sums: np.ndarray, counts: np.ndarray, bands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean chromaticity, seen enough) of the bare surface in each band, from integral images."""
    x0, y0, x1, y1 = (bands[..., i] for i in range(4))

    def total(table):
        return table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]

    area = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    seen = (area > 0) & (total(counts) >= np.maximum(1.0, SEEN_SIDE * area))
    colour = total(sums).astype(np.float64)
    return colour / np.maximum(colour.sum(axis=-1, keepdims=True), 1.0), seen


TALLEST = 2.5  # in digit heights: the tallest a digit may be


def looks_like_digit(box: Box, ink_area: int, digit_height: float) -> bool:
    x, y, w, h = box
    if h < MIN_DIGIT_PX or h < 0.4 * digit_height:
        return False  # dots, commas, dashes, specks
    if digit_height > 0 and h > TALLEST * digit_height:
        return False  # far taller than the digits around: an edge, a crease, a pen lying on the paper
    if w > 4 * h or h > 15 * w:
        return False
    density = ink_area / float(w * h)
    if density < 0.06:
        return False  # a thin curve through a big box: a loop of string, a crease, a shadow edge
    if density > 0.85 and w > 0.35 * h:
        return False  # a solid blob; a "1" is solid but narrow
    return True


def _with_cuts(found: list[Candidate], labels: np.ndarray, digit_height: float, own_heights: list[float],
               turns: np.ndarray | None = None) -> list[Candidate]:
    """Give the candidates that may hold two or more touching digits the cuts that would part them: side by side
    when wide for the digits around, one above the other when tall (digits of two close lines, touching). Each is
    judged by its own digit height (`own_digit_height`): a number written large is not cut to the small print's size.
    Where the writing is turned (`turns`, degrees per candidate), sizes are measured and cuts made along its own
    axes: a turned number is about as tall as wide in the frame's."""
    if not found:
        return found
    turns = np.zeros(len(found)) if turns is None else np.asarray(turns, np.float64)
    sizes = np.array([c.box[2:] for c in found], np.float64)
    heights = np.array(own_heights, np.float64)
    usual = np.full(len(found), digit_height)  # the frame's digit height, as tall as it stands in each one's writing
    for turn in np.unique(turns[turns != 0]):
        on = np.flatnonzero(turns == turn)
        upright = upright_boxes(labels, np.array([found[i].label for i in on]), float(turn))[:, 2:]
        # In the frame's axes a turned digit is taller, and a turned number taller still: judged again, upright.
        shrink = float(np.median(upright[:, 1] / np.maximum(sizes[on, 1], 1.0)))
        sizes[on], usual[on] = upright, digit_height * shrink
        heights[on] = [own_digit_height(h, upright[:, 1], digit_height * shrink) for h in upright[:, 1]]
    narrow = [w for (w, h), d in zip(sizes, usual) if w <= h and h >= 0.7 * d]
    typical_width = float(np.median(narrow)) if len(narrow) >= 3 else 0.0
    result = []
    for candidate, (w, h), own_height, usual_height, turn in zip(found, sizes, heights, usual, turns.tolist()):
        if own_height != usual_height:
            width, digit_height_here = 0.7 * own_height, own_height
        else:
            width, digit_height_here = typical_width or 0.7 * (usual_height or h), usual_height
        across = min(4, int(round(w / max(width, 1.0))))
        down = min(3, int(round(h / digit_height_here))) if digit_height_here > 0 else 1
        if across >= 2 and w > 0.9 * h:
            counts, columns, several = _near(across, 4), True, w >= 1.3 * h
        elif down >= 2 and h >= STACKED * digit_height_here:
            counts, columns, several = _near(down, 3), False, True
        elif own_height != usual_height and h >= STACKED * usual_height:
            # Tall among peers as tall: a number written large, or two lines' digits touching in several places.
            # The cut is offered, and taken only where its pieces read more surely than the whole.
            counts, columns, several = _near(min(3, int(round(h / usual_height))), 3), False, False
        else:
            counts, columns, several = [], True, False
        # The width of one digit only guesses how many a blob holds, and the middle only guesses where two meet:
        # each count near it is offered, two side by side cut in a few places, and the classifier picks.
        blob = BlobAxis.of(labels, candidate.box, candidate.label, columns, turn) if counts else None
        ways = []
        for n in counts if blob is not None else ():
            places = [[cut] for cut in cuts_in_two(blob.ink)] if columns and n == 2 else [split_points(blob.ink, n)]
            ways += [blob.cut(cuts) for cuts in places]
        ways = [way for way in ways if len(way) >= 2]
        if ways:
            pieces = tuple(piece for way in ways for piece in way)
            candidate = Candidate(candidate.box, candidate.label, tuple(box for box, _ in pieces), several,
                                  tuple(len(way) for way in ways), tuple(band for _, band in pieces))
        result.append(candidate)
    return result


STACKED = 1.6  # in digit heights: a blob this tall may be digits of two lines, touching


def _near(count: int, most: int) -> list[int]:
    return [n for n in (count, count - 1) if 2 <= n <= most]


@dataclass(frozen=True)
class BlobAxis:
    """A blob's pixels seen along the axis its touching digits follow: the rows of its writing, turned by `turn`
    degrees (`writing_turn`), for digits side by side (`columns`), else down its columns, for digits one above the
    other."""

    cols: np.ndarray
    rows: np.ndarray
    steps: np.ndarray  # each pixel's whole step along the axis from the blob's start
    start: int  # the blob's start along the axis
    degrees: float
    ink: np.ndarray  # how many of its pixels lie at each step

    @classmethod
    def of(cls, labels: np.ndarray, box: Box, label: int, columns: bool = True, turn: float = 0.0) -> BlobAxis | None:
        x, y, w, h = box
        rows, cols = np.nonzero(labels[y : y + h, x : x + w] == label)
        if len(rows) == 0:
            return None
        rows, cols = rows + y, cols + x
        degrees = turn if columns else turn - 90.0
        along = along_axis(cols, rows, degrees)
        start = math.floor(float(along.min()))
        steps = (along - start).astype(np.int64)
        return cls(cols, rows, steps, start, degrees, np.bincount(steps))

    @property
    def breadth(self) -> int:
        """The blob's extent across the axis, in whole steps (the length of its `ink` seen along the other axis)."""
        across = along_axis(self.cols, self.rows, self.degrees - 90.0)
        return int((across - math.floor(float(across.min()))).astype(np.int64).max()) + 1

    def cut(self, cuts: list[int]) -> list[tuple[Box, Band]]:
        """The pieces between `cuts` (steps from the blob's start): each its box, tight around its ink, and the band
        of the blob it takes."""
        bounds = [0, *cuts, len(self.ink)]
        pieces = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            inside = (self.steps >= lo) & (self.steps < hi)
            if not inside.any():
                continue
            px, py = self.cols[inside], self.rows[inside]
            x0, y0 = int(px.min()), int(py.min())
            box = (x0, y0, int(px.max()) + 1 - x0, int(py.max()) + 1 - y0)
            pieces.append((box, (self.degrees, float(self.start + lo), float(self.start + hi))))
        return pieces


def along_axis(cols: np.ndarray, rows: np.ndarray, degrees: float) -> np.ndarray:
    """Positions of pixels along the axis turned `degrees` counter-clockwise (as seen) from the image's rows."""
    if degrees % 90.0 == 0.0:  # exactly, where a float's cosine of a right angle is not quite 0
        cos, sin = {0: (1, 0), 1: (0, 1), 2: (-1, 0), 3: (0, -1)}[int(degrees // 90.0) % 4]
    else:
        cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return cols * float(cos) - rows * float(sin)


def tighten_box(image: np.ndarray, box: Box) -> Box:
    """The box (input pixels) shrunk to where the mark inside it is at least half as dark as its core: a box found
    at the working resolution is up to a working pixel loose on each side, and the blur of the lens spreads a thin
    stroke further; the middle of a blurred edge is where the pen's edge was. `image` is the input, uint8."""
    x, y, w, h = box
    margin = max(2, round(0.25 * max(w, h)))
    rows, cols = image.shape[:2]
    x0, y0, x1, y1 = max(0, x - margin), max(0, y - margin), min(cols, x + w + margin), min(rows, y + h + margin)
    around = darkest_channel(image[y0:y1, x0:x1])
    if around.shape[0] < 3 or around.shape[1] < 3:
        return box
    around = cv2.GaussianBlur(around, (3, 3), 0)
    inside = around[y - y0 : y - y0 + h, x - x0 : x - x0 + w]
    paper, core = quantile(around, 0.9), quantile(inside, 0.02)
    if paper - core < 8:
        return box  # no clear mark: keep what segmentation saw
    # The pixels darker than halfway (uint8 levels below it: at most its ceiling less one), and their bounds.
    halfway = 0.5 * (paper + core)
    _, dark = cv2.threshold(inside, float(math.ceil(halfway) - 1), 255, cv2.THRESH_BINARY_INV)
    dx, dy, dw, dh = cv2.boundingRect(dark)
    return (x + dx, y + dy, dw, dh)


def to_input_box(box: Box, scale: float, shape: tuple[int, int], origin: tuple[int, int] = (0, 0)) -> Box:
    """A working-resolution box in input pixels, clipped to the input. `origin`: the input pixel at the working
    image's corner."""
    x, y, w, h = (float(v) for v in box)
    # math's floor and ceil of a float are NumPy's, without the cost of a NumPy scalar.
    x0, y0 = math.floor(x / scale) + origin[0], math.floor(y / scale) + origin[1]
    x1, y1 = math.ceil((x + w) / scale) + origin[0], math.ceil((y + h) / scale) + origin[1]
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(shape[1], x1), min(shape[0], y1)
    return (x0, y0, max(1, x1 - x0), max(1, y1 - y0))
