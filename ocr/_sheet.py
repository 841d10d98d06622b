"""Invoice sheets in a photo, and where their QR must be.

Every Chinese invoice prints its QR in the top-left corner, 20 mm wide, on a
sheet of known proportions (210 x 140 mm for VAT and 数电 invoices, ±). Finding the
paper (a bright quadrilateral) therefore tells where the QR is even when it is too
blurred for any detector to find it: that crop is then deblurred and read.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np

SHEET_ASPECT = 1.5
# QR window in sheet-relative units (x0, y0, x1, y1): the code with its quiet zone,
# generous enough for the layouts of different issuers
_QR_WINDOW = (0.0, 0.0, 0.2, 0.3)


def count_invoices(gray: np.ndarray, *, max_sheets: int = 4) -> int:
    """How many invoices the photo seems to show (at least 1): when to stop looking.

    The invoice-shaped sheets, plus sheets lying on each other: a bright blob that is
    not invoice-shaped but at least 1.5 times the largest invoice-shaped sheet counts
    as the whole number of such sheets it holds (touching sheets merge into one blob;
    stopping after the other sheets' codes would drop theirs). The unit must be a
    plausible whole sheet, at least ``MIN_UNIT`` of the frame: creases split crumpled
    paper into pieces, and a small piece that happens to be invoice-shaped next to
    larger ones counted one sheet as six on the tuning split (a photo already read
    then runs on to the budget); such pieces are not counted as sheets either. With
    no whole sheet found, the paper eroded apart is counted (``count_apart``); a
    blob of sheets lying over each other's edge, by its pieces (``cut_sheets``); with
    none, or with one invoice-shaped blob 1.5 times another (two sheets in line),
    by the alike sheets lying differently that its cuts leave (``cut_blobs``).
    """
    found = _find(gray, max_sheets)
    shaped = [area for _, is_shaped, area in found if is_shaped]
    whole = [area for area in shaped if area >= MIN_UNIT * gray.size]  # no crease's piece
    count = len(whole)
    if whole:
        unit = max(whole)
        lying = [area for _, is_shaped, area in found if not is_shaped and area >= 1.5 * unit]
        count += sum(int(area / unit) for area in lying)
        if lying or unit >= 1.5 * min(whole):
            # the unit is the largest sheet: two smaller ones may hold < 2 units; and
            # two touching sheets can outline an invoice-shaped blob, 1.5 times or
            # more the other sheets of the photo (12 MP multi-62: counted 2 for 3)
            count = max(count, count_apart(gray))
        if lying:  # or lying over each other's edge: the blob cut apart
            count = max(count, len(whole) + len(cut_sheets(gray, unit)))
        elif unit >= 1.5 * min(whole):  # touching too widely to erode apart
            count = max(count, len(whole) + sum(len(p) - 1 for p in cut_blobs(gray, None)))
    else:  # no whole sheet to measure by: sheets whose corners touch come apart
        # eroded, or cut where they lie on each other's corners
        count = max(count, count_apart(gray), len(cut_sheets(gray, None)))
    return max(1, count)


def count_apart(gray: np.ndarray) -> int:
    """The invoice-shaped sheets (``MIN_UNIT`` or more) left once the bright paper is
    eroded by 4, 8 and 12 px (the most at any of them): sheets whose corners nearly
    touch merge into one blob at the threshold and come apart. On the tuning split it
    never counted a creased sheet as more than one."""
    import cv2

    most = 0
    for _, eroded in _eroded(gray):
        contours, _ = cv2.findContours(eroded, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        shaped = 0
        for c in contours:
            area = cv2.contourArea(c)
            if area < MIN_UNIT * gray.size:
                continue
            quad = _four_corners(cv2.convexHull(c))
            shaped += quad is not None and _invoice_shaped(quad, area)
        most = max(most, shaped)
    return most


def _paper(gray: np.ndarray) -> np.ndarray:
    """The bright paper: Otsu's threshold of the image smoothed by 2 px."""
    import cv2

    blur = cv2.GaussianBlur(gray, (0, 0), 2)
    _, bright = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return bright


def _eroded(gray: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The paper (``_paper``), and it eroded by 4, 8 and 12 px (``count_apart``)."""
    import cv2

    bright = _paper(gray)
    for radius in (4, 8, 12):
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        yield bright, cv2.erode(bright, k)


def apart_sheets(gray: np.ndarray) -> list[np.ndarray]:
    """Corners of the sheets that touching sheets' one blob holds: the paper eroded
    apart (``_eroded``, the radius leaving the most invoice-shaped pieces), each
    piece grown back over the paper by a watershed on the distance to the desk, so
    that the neck between two sheets is split and each sheet gets its corners back
    (grown back by the erosion's own disk, the corner holding the dark code stays
    cut off: its margin is narrower than the disk). Two or more pieces only.

    Two touching sheets are one bright blob, and the QR windows of its outline lie
    at the blob's corners, not at the sheets' (2 MP tuning multi-160: the third code
    in no window; multi-144: two of three)."""
    import cv2

    best: list[np.ndarray] = []
    for bright, eroded in _eroded(gray):
        n, labels = cv2.connectedComponents(eroded)
        sizes = np.bincount(labels.ravel(), minlength=n)
        pieces = [i for i in range(1, n) if sizes[i] >= APART_PIECE * gray.size]
        if len(pieces) < 2:
            continue
        markers = np.where(bright > 0, 0, 1).astype(np.int32)  # 0: paper to share out
        for label, i in enumerate(pieces, start=2):
            markers[labels == i] = label
        dist = cv2.distanceTransform(bright, cv2.DIST_L2, 3)
        depth = np.clip(255 - 4 * dist, 0, 255).astype(np.uint8)
        cv2.watershed(cv2.cvtColor(depth, cv2.COLOR_GRAY2BGR), markers)
        quads = []
        for label in range(2, len(pieces) + 2):
            contours, _ = cv2.findContours(
                (markers == label).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
            )
            if not contours:
                continue
            hull = cv2.convexHull(max(contours, key=cv2.contourArea))
            area = cv2.contourArea(hull)
            quad = _four_corners(hull)
            if area >= MIN_UNIT * gray.size and quad is not None and _invoice_shaped(quad, area):
                quads.append(quad)
        if len(quads) > len(best):
            best = quads
    return best


APART_PIECE = 0.03
"""Smallest eroded piece (share of the frame) grown back into a sheet: half of
``MIN_UNIT``, what 12 px of erosion leaves of the smallest sheets at 800 px."""


def cut_sheets(gray: np.ndarray, unit: float | None) -> list[np.ndarray]:
    """Corners of the sheets in a blob of sheets lying over each other's edge, too
    wide a contact for ``apart_sheets``' erosion (``cut_blobs``' pieces)."""
    return [quad for pieces in cut_blobs(gray, unit) for quad in pieces]


def cut_blobs(gray: np.ndarray, unit: float | None) -> list[list[np.ndarray]]:
    """Per blob of sheets lying over each other's edge, the corners of its sheets: the
    blob is concave where one sheet's edge crosses the other's, and a straight cut
    between two such corners (the ``CUT_DEFECTS`` deepest) leaves invoice-shaped
    pieces (2 MP tuning multi-101: a sheet over another's corner, an L-shaped blob,
    the third code in no window). Only blobs not invoice-shaped and 1.5 times
    ``unit`` (the area of a whole sheet found, px) or more, as ``count_invoices``
    counts sheets lying on each other: a crumpled sheet's crease bands make concave
    blobs too (2 MP tuning crumpled-40, -56, -57 cut in two without that bound).

    With ``unit`` None (no whole sheet to measure by, or ``count_invoices``' largest
    whole sheet 1.5 times another) every blob of twice ``MIN_UNIT`` or more,
    invoice-shaped or not, is cut, but only into alike sheets lying differently
    (``_distinct``), a piece that is two sheets itself cut once more (three sheets in
    one blob): a creased sheet's pieces are not. Sheets whose corners lie on each
    other make such blobs (2 MP tuning multi-326, -419: a bow tie; multi-409: three
    sheets in one blob; multi-420: two sheets in line, an invoice-shaped blob)."""
    import cv2

    h, w = gray.shape
    smallest = 1.5 * unit if unit is not None else 2 * MIN_UNIT * h * w
    contours, _ = cv2.findContours(_paper(gray), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        area = cv2.contourArea(c)
        if area < smallest:
            continue  # too small for two sheets (and the specks: no hull for them)
        if unit is not None:
            quad = _four_corners(cv2.convexHull(c))
            if quad is not None and _invoice_shaped(quad, area):
                continue  # one sheet
        pieces = _cut(c, (h, w), depth=1 if unit is None else 0, distinct=unit is None)
        if pieces:
            out.append(pieces)
    return out


def _cut(c: np.ndarray, shape: tuple[int, int], *, depth: int, distinct: bool) -> list[np.ndarray]:
    """The invoice-shaped pieces (two or more) of the first straight cut of contour
    ``c`` between two of its deepest concave corners that leaves such pieces; a
    shapeless piece of twice ``MIN_UNIT`` or more cut again while ``depth`` lasts;
    with ``distinct``, only pieces that are ``_distinct``."""
    import cv2

    h, w = shape
    area = cv2.contourArea(c)
    defects = cv2.convexityDefects(c, cv2.convexHull(c, returnPoints=False))
    if defects is None:
        return []
    deepest = sorted(defects.reshape(-1, 4).tolist(), key=lambda d: -d[3])[:CUT_DEFECTS]
    points = [
        (int(c[int(f)][0][0]), int(c[int(f)][0][1]))
        for _, _, f, depth_fixed in deepest
        if depth_fixed / 256 >= CUT_DEPTH * np.sqrt(area)  # fixed point, 8 bits
    ]
    whole = np.zeros((h, w), np.uint8)
    cv2.drawContours(whole, [c], -1, 255, cv2.FILLED)
    for a, b in itertools.combinations(points, 2):
        blob = whole.copy()
        cv2.line(blob, a, b, 0, 3)
        pieces, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        quads = []
        for piece in pieces:
            hull = cv2.convexHull(piece)
            size = cv2.contourArea(hull)
            quad = _four_corners(hull) if size >= MIN_UNIT * h * w else None
            if quad is not None and _invoice_shaped(quad, size):
                quads.append(quad)
            elif depth and cv2.contourArea(piece) >= 2 * MIN_UNIT * h * w:
                quads += _cut(piece, shape, depth=depth - 1, distinct=distinct)
        if len(quads) >= 2 and (not distinct or _distinct(quads, h * w)):
            return quads
    return []


def _distinct(quads: list[np.ndarray], frame_area: float) -> bool:
    """Whole sheets of one photo lying differently: each at least ``DISTINCT_SHEET``
    of the frame, its opposite sides within ``DISTINCT_SIDES`` of each other (a
    sheet, not a crease band or the desk cut along with it), every two alike in size
    (within ``DISTINCT_SIZE``) and turned ``DISTINCT_DEG`` or more apart (the halves
    of one creased sheet lie alike)."""
    import cv2

    def angle(q: np.ndarray) -> float:
        dx, dy = q[1] - q[0]  # a long edge (``_clockwise``)
        return float(np.degrees(np.arctan2(dy, dx))) % 180

    for q in quads:
        sides = np.linalg.norm(q - np.roll(q, -1, axis=0), axis=1)
        if cv2.contourArea(q) < DISTINCT_SHEET * frame_area:
            return False
        for a, b in ((sides[0], sides[2]), (sides[1], sides[3])):
            if max(a, b) > DISTINCT_SIDES * min(a, b):
                return False
    for a, b in itertools.combinations(quads, 2):
        turn = abs(angle(a) - angle(b))
        sizes = sorted((cv2.contourArea(a), cv2.contourArea(b)))
        if min(turn, 180 - turn) < DISTINCT_DEG or sizes[1] > DISTINCT_SIZE * sizes[0]:
            return False
    return True


DISTINCT_SHEET = 0.08
"""Smallest share of the frame a sheet cut from a blob with no whole sheet beside it
may have (the multi photos' sheets: 0.11-0.13 at 800 px)."""
DISTINCT_SIDES = 1.5
"""Most a cut sheet's opposite sides may differ (ratio): perspective, not a crease."""
DISTINCT_SIZE = 1.6
"""Most two sheets cut from one blob may differ in area (ratio)."""
DISTINCT_DEG = 10.0
"""Least two sheets cut from one blob must be turned apart."""


CUT_DEPTH = 0.05
"""A concave corner ``cut_sheets`` cuts from is at least this deep (a share of the
square root of the blob's area: ~20 px for two sheets at 800 px)."""
CUT_DEFECTS = 4
"""The deepest concave corners ``cut_sheets`` pairs up (six cuts at most a blob)."""


MIN_UNIT = 0.06
"""Smallest invoice-shaped sheet (share of the frame) that measures touching sheets:
the smallest sheets of the photo set are ~0.09 (a third of the frame's width)."""


def find_sheets(
    gray: np.ndarray, *, max_sheets: int = 4, invoice_shaped: bool = False, by_edges: bool = False
) -> list[np.ndarray]:
    """Corner points (tl, tr, br, bl order along the long edge) of paper sheets.

    Paper is the brightest large thing in the photo: Otsu's threshold first; when
    a bright blob there is not invoice-shaped (a pale desk merged with the paper),
    also a threshold halfway between Otsu's and the brightest pixels, and the level
    showing more invoice-shaped sheets wins (``_find``). ``by_edges`` adds the
    sheets only their edges show (a hard shadow: ``_with_edge_sheets``), then a
    crumpled or desk-merged sheet's closed outline (``_outline``), then the sheets
    that touching sheets' one blob holds (``_apart``).
    """
    found = _find(gray, max_sheets)
    if by_edges:
        edges = _edges(gray)
        found = _with_edge_sheets(edges, found)
        found = found + _outline(edges, found)
        found = found + _apart(gray, found)
    return [quad for quad, shaped, _ in found if shaped or not invoice_shaped]


def _apart(
    gray: np.ndarray, found: list[tuple[np.ndarray, bool, float]]
) -> list[tuple[np.ndarray, bool, float]]:
    """``apart_sheets`` and ``cut_sheets`` (measured by the largest whole sheet
    found) not found already (by ``SAME_SHEET``): last, so the photos the other
    sheets read are read as before."""
    import cv2

    extra: list[tuple[np.ndarray, bool, float]] = []
    apart = apart_sheets(gray)
    whole = [area for _, shaped, area in found if shaped and area >= MIN_UNIT * gray.size]
    cut = cut_sheets(gray, max(whole) if whole else None)
    for quad in apart + cut:
        if not any(_same(quad, q) for q, _, _ in found + extra):
            extra.append((quad, True, float(cv2.contourArea(quad))))
    return extra


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """The two quadrilaterals overlap by more than ``SAME_SHEET`` of their union."""
    import cv2

    both = _common(a, b)
    return both > SAME_SHEET * (cv2.contourArea(a) + cv2.contourArea(b) - both)


INSIDE = 0.85
"""A found sheet smaller than this share of the outline, lying in it, is something
printed inside the sheet (its table frame), not the sheet."""
OUTLINE_GAP = 9
"""The edge map closed with a square this wide (px at 800 px) for ``_outline``:
``edge_sheets``' 5 px leaves a crumpled sheet's outline in pieces."""


def _outline(
    edges: np.ndarray, found: list[tuple[np.ndarray, bool, float]]
) -> list[tuple[np.ndarray, bool, float]]:
    """The sheet a broken outline shows, when none of ``found`` is it: last, so the
    photos the other sheets read are read as before.

    Creases split crumpled paper at any threshold into bright and dark bands (pieces
    taken as sheets, none holding the code whole), and break its outline where a dark
    band meets the desk's grey: the outline's pieces are separate open lines, which
    enclose no area of their own, so ``edge_sheets`` finds the table frame printed
    inside the sheet instead (12 MP crumpled-35, -84). Closed with a
    wider square (``OUTLINE_GAP``) the pieces make one contour; the largest convex
    hull, invoice-shaped and at least ``MIN_UNIT`` of the frame, is the sheet, when
    two or more shapeless pieces found lie in it (the crease bands), or when the
    paper merged with a pale desk (``_merged``): only then, as every sheet added
    costs the window stages time on the photos they read late.
    """
    import cv2

    h, w = edges.shape
    contours = _contours(edges, OUTLINE_GAP)
    if not contours:
        return []
    hull = max((cv2.convexHull(c) for c in contours), key=cv2.contourArea)
    area = cv2.contourArea(hull)
    quad = _four_corners(hull)
    if (
        quad is None
        or not MIN_UNIT * h * w <= area < 0.97 * h * w
        or not _invoice_shaped(quad, area)
    ):
        return []
    pieces = sum(not shaped and _common(quad, q) >= 0.7 * size for q, shaped, size in found)
    if pieces < 2 and not _merged(quad, area, found):  # no crease bands, no pale desk
        return []
    for q, _, _ in found:  # a sheet found already, not one inside it (the frame)
        size = float(cv2.contourArea(q))
        both = _common(quad, q)
        if both > SAME_SHEET * (area + size - both) and size > INSIDE * area:
            return []
    return [(quad, True, area)]


MERGED_BLOB = 1.5
"""A shapeless blob at least this many times the outline's area, ..."""
MERGED_SHARE = 0.3
"""... covering at least this share of it, is the paper merged with a pale desk."""
SHEET_COVERS = 0.5
"""An invoice-shaped sheet found covering this share of the outline is its sheet."""


def _merged(quad: np.ndarray, area: float, found: list[tuple[np.ndarray, bool, float]]) -> bool:
    """The outlined paper merged with a pale desk at the thresholds, and no
    invoice-shaped sheet found for it: a shapeless blob ``MERGED_BLOB`` times the
    outline or more covers ``MERGED_SHARE`` of it, and no invoice-shaped sheet covers
    ``SHEET_COVERS`` of it (12 MP combined-84: the desk and the paper one blob of 0.48
    of the frame, the outline 0.15, the only invoice-shaped sheet a 0.04 crease piece
    covering 0.2 of it; the paper's code is in no window but the outline's). Where
    an edge sheet covers most of the outline already (2 MP and 12 MP crumpled-23: the
    paper with its folded corner cut off, 0.78 of it), that sheet is the paper: a
    second one only costs the window stages time."""
    return any(
        not shaped and size >= MERGED_BLOB * area and _common(quad, q) >= MERGED_SHARE * area
        for q, shaped, size in found
    ) and not any(shaped and _common(quad, q) >= SHEET_COVERS * area for q, shaped, _ in found)


def _with_edge_sheets(
    edges: np.ndarray, found: list[tuple[np.ndarray, bool, float]]
) -> list[tuple[np.ndarray, bool, float]]:
    """``found`` with the invoice-shaped sheets that only the paper's edges show:
    after the invoice-shaped ones, before the others; a blob holding such a sheet
    (the lit desk merged with part of the paper), or a blob inside one (the lit part
    of the paper: shapeless, or invoice-shaped and at most 0.8 of it), is dropped
    for it.

    A hard shadow across the photo defeats a global threshold: the lit desk is
    brighter than the shaded paper. The paper's edge is sharp and the shadow's soft,
    so the edges (Canny) still outline the sheet. A sheet found both ways (the
    two quadrilaterals overlap by more than ``SAME_SHEET`` of their union) is kept
    once.
    """

    def part(blob: tuple[np.ndarray, bool, float], sheet: tuple[np.ndarray, bool, float]) -> bool:
        """The blob is the lit part of the sheet (a shadow cuts the rest off)."""
        return blob[2] <= 0.8 * sheet[2] and _common(blob[0], sheet[0]) >= 0.9 * blob[2]

    shaped = [blob for blob in found if blob[1]]
    extra = [
        s
        for s in edge_sheets(edges)
        if not any(_same(s[0], b[0]) and not part(b, s) for b in shaped)
    ]
    extra = extra[:MAX_EDGE_SHEETS]
    if not extra:
        return found

    def holds(blob: tuple[np.ndarray, bool, float]) -> bool:
        """The blob holds an edge sheet, or is a lit part of one."""
        quad, is_shaped, size = blob
        return any(
            (size >= 1.5 * area and _common(quad, q) >= 0.7 * area)
            or (not is_shaped and _common(quad, q) >= 0.7 * size)
            or part(blob, (q, True, area))
            for q, _, area in extra
        )

    kept = [blob for blob in found if not holds(blob)]
    return [b for b in kept if b[1]] + extra + [b for b in kept if not b[1]]


MAX_EDGE_SHEETS = 2
"""Sheets added from the edges at most (each costs the window stages a sheet)."""
SAME_SHEET = 0.5
"""Two quadrilaterals overlapping by more than this share of their union are one sheet."""


def edge_sheets(edges: np.ndarray) -> list[tuple[np.ndarray, bool, float]]:
    """Invoice-shaped quadrilaterals outlined by sharp edges (``_edges``; corners,
    True, area)."""
    import cv2

    h, w = edges.shape
    out = []
    for c in sorted(_contours(edges, 5), key=cv2.contourArea, reverse=True)[:4]:
        hull = cv2.convexHull(c)
        area = cv2.contourArea(hull)
        if area < 0.03 * h * w:
            break
        quad = _four_corners(hull)
        if quad is not None and _invoice_shaped(quad, area) and area < 0.97 * h * w:
            out.append((quad, True, area))
    return out


def _edges(gray: np.ndarray) -> np.ndarray:
    """The paper's sharp edges (Canny), for ``edge_sheets`` and ``_outline``."""
    import cv2

    return cv2.Canny(cv2.GaussianBlur(gray, (0, 0), 2), 20, 50)


def _contours(edges: np.ndarray, gap: int) -> Sequence[np.ndarray]:
    """The outer contours of ``edges`` closed (twice) with a square ``gap`` px wide."""
    import cv2

    k = cv2.getStructuringElement(cv2.MORPH_RECT, (gap, gap))
    closed = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, k, iterations=2)
    contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return contours


def _common(a: np.ndarray, b: np.ndarray) -> float:
    """The area two convex quadrilaterals share."""
    import cv2

    return float(cv2.intersectConvexConvex(a, b)[0])


def _find(gray: np.ndarray, max_sheets: int) -> list[tuple[np.ndarray, bool, float]]:
    """(corners, invoice-shaped, blob area) of the bright blobs, largest first."""
    import cv2

    blur = cv2.GaussianBlur(gray, (0, 0), 2)
    otsu, _ = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    high = (otsu + float(np.percentile(blur, 99.5))) / 2
    first = _sheets_at(blur, otsu, max_sheets)
    found = first
    # A pale desk merged with (some of) the paper: a large bright blob that is not
    # invoice-shaped. The higher threshold separates them; keep whichever level
    # shows more invoices (several sheets on a bright desk: one may merge, one not).
    if high - otsu >= 8 and any(not shaped for _, shaped, _ in first):
        second = _sheets_at(blur, high, max_sheets)
        if sum(s for _, s, _ in second) > sum(s for _, s, _ in first):
            found = second
    return found


def _sheets_at(
    blur: np.ndarray, level: float, max_sheets: int
) -> list[tuple[np.ndarray, bool, float]]:
    """Bright quadrilaterals above ``level``: corners, invoice-shaped, blob area."""
    import cv2

    h, w = blur.shape
    _, bright = cv2.threshold(blur, level, 255, cv2.THRESH_BINARY)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, k, iterations=2)
    contours, _ = cv2.findContours(bright, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    sheets = []
    for c in sorted(contours, key=cv2.contourArea, reverse=True)[:max_sheets]:
        area = cv2.contourArea(c)
        if area < 0.03 * h * w:
            break
        quad = _four_corners(cv2.convexHull(c))
        if quad is None:
            quad = _clockwise(cv2.boxPoints(cv2.minAreaRect(c)).astype(np.float32))
        sheets.append((quad, _invoice_shaped(quad, area) and area < 0.97 * h * w, area))
    return sheets


def _four_corners(hull: np.ndarray) -> np.ndarray | None:
    """The hull simplified to four corners (clockwise), or None when it is no
    quadrilateral at any of three tolerances."""
    import cv2

    for eps in (0.02, 0.04, 0.06):
        approx = cv2.approxPolyDP(hull, eps * cv2.arcLength(hull, True), True)
        if len(approx) == 4:
            return _clockwise(approx.reshape(4, 2).astype(np.float32))
    return None


def _invoice_shaped(quad: np.ndarray, area: float) -> bool:
    """A filled quadrilateral with an invoice's proportions (perspective allowed)."""
    import cv2

    sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
    long_side, short_side = (sides[0] + sides[2]) / 2, (sides[1] + sides[3]) / 2
    aspect = long_side / max(1.0, short_side)
    fill = area / max(1.0, cv2.contourArea(quad))
    return 1.1 <= aspect <= 2.2 and fill >= 0.8


def _clockwise(quad: np.ndarray) -> np.ndarray:
    centre = quad.mean(axis=0)
    angles = np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0])
    quad = quad[np.argsort(angles)]
    # start at a corner whose next edge is a long edge
    d01 = np.linalg.norm(quad[1] - quad[0])
    d12 = np.linalg.norm(quad[2] - quad[1])
    return quad if d01 >= d12 else np.roll(quad, -1, axis=0)


def qr_windows(sheet: np.ndarray) -> list[np.ndarray]:
    """The QR window's corners for both ends of the sheet (it may be upside down):
    the sheet as seen, its mirrored reading order, turned by 180°, that mirrored."""
    import cv2

    out = []
    sheet = _long_first(sheet)
    for start in (0, 2):  # the sheet as seen, and turned by 180°
        quad = np.roll(sheet, -start, axis=0)
        src = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
        m = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
        x0, y0, x1, y1 = _QR_WINDOW
        pts = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float32)
        out.append(cv2.perspectiveTransform(pts, m)[0])
        # a mirrored reading order (the contour started at the other long edge)
        pts_m = np.array([[[1 - x0, y0], [1 - x1, y0], [1 - x1, y1], [1 - x0, y1]]], np.float32)
        out.append(cv2.perspectiveTransform(pts_m, m)[0])
    return out


def _long_first(quad: np.ndarray) -> np.ndarray:
    """The clockwise corners starting where a long edge starts, the long edges told by
    the sum of opposite edges: under a strong perspective the far long edge alone is
    shorter than a short one (12 MP perspective-11: its far edge shrunk 44 %), and a
    QR window laid along the short edges is a strip that cuts the code apart."""
    sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
    return quad if sides[0] + sides[2] >= sides[1] + sides[3] else np.roll(quad, -1, axis=0)


def rectify(gray: np.ndarray, window: np.ndarray, *, out_w: int, out_h: int) -> np.ndarray:
    """The window's content, perspective-corrected to ``out_w`` x ``out_h``."""
    import cv2

    dst = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, out_h - 1], [0, out_h - 1]], np.float32)
    m = cv2.getPerspectiveTransform(window.astype(np.float32), dst)
    return cv2.warpPerspective(
        gray, m, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
