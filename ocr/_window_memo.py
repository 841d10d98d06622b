"""What the window stages compute once per picture (``Picture.memo``): each sheet's
candidate QR windows, the textured blobs, which sheets a stage has read or fitted,
and a window's likeliest streak deconvolution (``measured`` makes it, ``grid`` fits it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import cast

import numpy as np

from ocr import _deblur, _regions, _sheet, _streaks
from ocr import _variants as variants
from ocr._image import Picture

COARSE_JPEG_QUANT = 100.0
"""The mean step of a JPEG's luminance quantisation table from which its frame is
smoothed before the window stages (~quality 28 on the IJG scale; a phone's own
JPEGs have 9-32, a quality of 8-18 150-210)."""
DEBLOCK_SIGMA = 1.0
"""The Gaussian (px) that smooths such a frame: the 8 px blocks' edges and the
quantisation noise broke the streak and finder measurements (2 MP tuning combined-41,
-42, -51: a 5-6 px streak under quality 12-18), and the forward model fits a
Gaussian defocus anyway."""


def coarse_jpeg(p: Picture) -> bool:
    """Whether the photo is a JPEG coarsely quantised (``COARSE_JPEG_QUANT``): read
    from its header's luminance table, not guessed from the pixels."""
    if "coarse_jpeg" not in p.memo:
        import io

        from PIL import Image

        coarse = False
        data = p.data
        if data[:2] == b"\xff\xd8":
            try:
                tables = Image.open(io.BytesIO(data)).quantization  # type: ignore[attr-defined]
                coarse = bool(tables) and float(np.mean(tables[0])) >= COARSE_JPEG_QUANT
            except Exception:  # a header PIL cannot read: not coarse
                coarse = False
        p.memo["coarse_jpeg"] = coarse
    return bool(p.memo["coarse_jpeg"])


def frame(p: Picture) -> np.ndarray:
    """The full image the window stages cut from: ``p.full()``, smoothed by
    ``DEBLOCK_SIGMA`` when the JPEG is coarse (``coarse_jpeg``)."""
    if "frame" not in p.memo:
        full = p.full()
        if coarse_jpeg(p):
            import cv2

            full = cv2.GaussianBlur(full, (0, 0), DEBLOCK_SIGMA)
        p.memo["frame"] = full
    return cast("np.ndarray", p.memo["frame"])


def sheet_windows(p: Picture) -> list[list[np.ndarray]]:
    """Per sheet found, its four candidate QR windows (top-left corner, both ways up,
    both reading orders) rectified from the full image, densest first: the code is
    the densest thing on a sheet, so the first window is nearly always it. Windows
    that hold a dark-and-light patch (``looks_like_code``) come first: a shadow over
    the code makes the lit text around it the denser (2 MP combined-20). Among
    those, the windows of an unmirrored photo (the sheet's corners run clockwise
    on screen, so its top-left corner starts a long edge) before the mirrored
    reading orders: blurred text lines in the top-right corner look like a code
    too, and can be the denser (12 MP lowres-63, combined-48).

    Computed once per picture: three stages look at them.
    """
    if "windows" not in p.memo:
        g = p.work()
        small = variants.resize_long(g, 800)
        full = frame(p)
        f = full.shape[1] / small.shape[1]
        ranked = [
            sorted(
                (
                    (_sheet.rectify(full, window, out_w=400, out_h=400), window, i % 2 == 0)
                    for i, window in enumerate(_sheet.qr_windows(sheet * f))
                ),
                key=lambda w: (_deblur.looks_like_code(w[0]), w[2], texture(w[0])),
                reverse=True,
            )
            for sheet in _sheet.find_sheets(small, by_edges=True)
        ]
        p.memo["windows"] = [[crop for crop, *_ in sheet] for sheet in ranked]
        p.memo["window_quads"] = [[quad for _, quad, _ in sheet] for sheet in ranked]
        p.memo["densest_quads"] = [sheet[0][1] for sheet in ranked]
    return cast("list[list[np.ndarray]]", p.memo["windows"])


def window_quads(p: Picture) -> list[list[np.ndarray]]:
    """The frame corners of each sheet's windows, in ``sheet_windows``' order."""
    sheet_windows(p)
    return cast("list[list[np.ndarray]]", p.memo["window_quads"])


def raw_densest(p: Picture, sheet: int) -> np.ndarray:
    """``sheet``'s densest window rectified from ``p.full()`` itself, not from the
    smoothed ``frame``: the grid fit of a sharp code samples its modules' edges,
    which the smoothing blurs (2 MP tuning jpeg-33, combined-89, read at ``fit``
    from the raw window, not from the smoothed one)."""
    if not coarse_jpeg(p):
        return sheet_windows(p)[sheet][0]
    raw = cast("dict[int, np.ndarray]", p.memo.setdefault("raw_densest", {}))
    if sheet not in raw:
        quads = cast("list[np.ndarray]", p.memo["densest_quads"])
        raw[sheet] = _sheet.rectify(p.full(), quads[sheet], out_w=400, out_h=400)
    return raw[sheet]


def _core_corners_inside(p: Picture, blob: int) -> tuple[int, list[int]]:
    """The corners of the blob ``blob``'s core (``blob_windows``' order; the textured
    blob itself, without the window's margin), and how many lie in each sheet's
    densest window."""
    import cv2

    blob_windows(p)
    sheet_windows(p)
    core: np.ndarray = p.memo["blob_cores"][blob]  # type: ignore[index]
    quads: list[np.ndarray] = p.memo["densest_quads"]  # type: ignore[assignment]
    inside = [
        sum(
            cv2.pointPolygonTest(q.astype(np.float32), (float(x), float(y)), False) >= 0
            for x, y in core
        )
        for q in quads
    ]
    return len(core), inside


def covered_by_densest(p: Picture, blob: int) -> bool:
    """Whether the blob ``blob`` lies wholly in a sheet's densest window: a blob that
    window holds is its code again, already fitted there. One that sticks out is
    not: a sheet found with its corner cut off (crumpled paper folded at the corner)
    has a densest window that clips its code."""
    corners, inside = _core_corners_inside(p, blob)
    return any(n == corners for n in inside)


def cut_by_densest(p: Picture, blob: int) -> bool:
    """Whether a sheet's densest window holds part of the blob ``blob`` but not all
    of it (one to three of its core's corners): the sheet says its code is there,
    and its window cuts it (the sheet found wrong: glare merged with its corner)."""
    corners, inside = _core_corners_inside(p, blob)
    return any(0 < n < corners for n in inside)


def holding_sheets(p: Picture, blob: int) -> set[int]:
    """The sheets whose densest window holds the blob ``blob`` (its centre; the
    order of ``blob_windows``): a code read or fitted there is that blob's code."""
    import cv2

    blob_windows(p)
    sheet_windows(p)
    centre: np.ndarray = p.memo["blob_centres"][blob]  # type: ignore[index]
    quads: list[np.ndarray] = p.memo["densest_quads"]  # type: ignore[assignment]
    point = (float(centre[0]), float(centre[1]))
    return {
        sheet
        for sheet, q in enumerate(quads)
        if cv2.pointPolygonTest(q.astype(np.float32), point, False) >= 0
    }


def ranked_windows(p: Picture) -> list[tuple[int, np.ndarray]]:
    """(sheet index, window): the densest window of every sheet, then the others."""
    sheets = sheet_windows(p)
    return [(i, w[0]) for i, w in enumerate(sheets)] + [
        (i, x) for i, w in enumerate(sheets) for x in w[1:]
    ]


def read_sheets(p: Picture) -> set[int]:
    """Sheets whose window a stage has read: the later window stages skip them."""
    read: set[int] = p.memo.setdefault("read_sheets", set())  # type: ignore[assignment]
    return read


def fitted_sheets(p: Picture) -> set[int]:
    """Sheets whose densest window ``early_grid_stage`` fitted already."""
    fitted: set[int] = p.memo.setdefault("fitted_sheets", set())  # type: ignore[assignment]
    return fitted


def fitted_blobs(p: Picture) -> set[int]:
    """Blob windows (``blob_windows``' order) ``fit_blobs`` fitted already."""
    fitted: set[int] = p.memo.setdefault("fitted_blobs", set())  # type: ignore[assignment]
    return fitted


def streak_fitted(p: Picture) -> set[int]:
    """Sheets whose streak-deconvolved window ``measured`` fitted already."""
    fitted: set[int] = p.memo.setdefault("streak_fitted", set())  # type: ignore[assignment]
    return fitted


def first_streak(p: Picture, sheet: int, window: np.ndarray) -> np.ndarray | None:
    """A sheet's densest window deconvolved with its likeliest stripe streak, made
    once (``measured`` makes it first, ``grid`` fits it)."""
    memo: dict[int, np.ndarray | None] = p.memo.setdefault("first_streak", {})  # type: ignore[assignment]
    if sheet not in memo:
        memo[sheet] = next(_streaks.refined(window), None)
    return memo[sheet]


def streaked(p: Picture, sheet: int, window: np.ndarray) -> Iterable[np.ndarray]:
    """``_streaks.refined(window)``, its first candidate kept for ``grid``."""
    memo: dict[int, np.ndarray | None] = p.memo.setdefault("first_streak", {})  # type: ignore[assignment]
    for i, candidate in enumerate(_streaks.refined(window)):
        if i == 0:
            memo[sheet] = candidate
        yield candidate


STREAK_ANISOTROPY = 0.25
"""Windows more directional than this (0: isotropic) get the stripes' streaks."""


def unread_streaked(p: Picture) -> Iterator[tuple[int, np.ndarray]]:
    """(sheet, densest window) of each sheet no stage has read yet whose window's blur
    is directional, until the budget runs out; a sheet read while the caller holds
    it (``read_sheets``) is skipped from then on."""
    return _unread(p, directional=True)


def unread_focused(p: Picture) -> Iterator[tuple[int, np.ndarray]]:
    """The same for the sheets whose blur is not directional (out of focus, or only a
    little)."""
    return _unread(p, directional=False)


def _unread(p: Picture, *, directional: bool) -> Iterator[tuple[int, np.ndarray]]:
    read = read_sheets(p)
    for sheet, windows in enumerate(sheet_windows(p)):
        if p.expired():
            return
        window = windows[0]
        if sheet not in read and (_deblur.anisotropy(window) > STREAK_ANISOTROPY) == directional:
            yield sheet, window


def blob_windows(p: Picture) -> list[np.ndarray]:
    """Square textured blobs (QR candidates) cut from the full image, 400 px, upright.

    For codes whose sheet was not found or was found wrong (glare merging with a
    corner of the paper, a sheet cut by the frame): the same deblurring as the
    sheet windows, on where the code looks to be.
    """
    if "blobs" not in p.memo:
        small = variants.resize_long(p.work(), 1000)
        full = frame(p)
        f = full.shape[1] / small.shape[1]
        found = _regions.blobs(small)[:BLOB_WINDOWS]
        p.memo["blobs"] = [
            _regions.crop(full, pts * f, margin=BLOB_MARGIN, out=400) for pts in found
        ]
        p.memo["blob_centres"] = [pts.mean(axis=0) * f for pts in found]
        p.memo["blob_quads"] = [_regions.grown(pts * f, BLOB_MARGIN) for pts in found]
        p.memo["blob_cores"] = [pts * f for pts in found]
    return cast("list[np.ndarray]", p.memo["blobs"])


BLOB_WINDOWS = 3
BLOB_MARGIN = 0.3
"""A blob window's margin around the blob, a share of its side on each side."""


def blob_quads(p: Picture) -> list[np.ndarray]:
    """The frame corners of each blob window (``blob_windows``), in the window's order."""
    blob_windows(p)
    quads: list[np.ndarray] = p.memo["blob_quads"]  # type: ignore[assignment]
    return quads


def texture(crop: np.ndarray) -> float:
    """Gradient energy in the window's centre: the QR is the densest thing on the sheet."""
    import cv2

    h, w = crop.shape
    centre = crop[h // 8 : -h // 8 or None, w // 8 : -w // 8 or None]
    return float(cv2.Laplacian(centre, cv2.CV_32F).var())
