"""A sheet whose paper merged with a pale desk at every threshold: its outline is the sheet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ocr import _sheet, _window_memo, decode_bytes
from ocr._image import Picture
from ocr._variants import resize_long


def _sheets(photo: Any) -> tuple[Picture, list[np.ndarray], list[np.ndarray]]:
    """The picture, its sheets, and the sheets found without ``_outline``."""
    picture = Picture(photo.data, max_pixels=60_000_000)
    small = resize_long(picture.work(), 800)  # as ``sheet_windows`` finds the sheets
    found = _sheet._with_edge_sheets(_sheet._edges(small), _sheet._find(small, 4))
    return picture, _sheet.find_sheets(small, by_edges=True), [q for q, _, _ in found]


def _holds_code(quad: np.ndarray, seed: int, category: str, size: str) -> bool:
    """The frame quadrilateral ``quad`` holds the photo's (one) code whole."""
    import cv2

    from ocr.synth import _probe

    truth = _probe.truth(seed, category, size)
    ((code, h),) = zip(truth.codes, truth.homographies, strict=True)
    n = code.shape[0]
    square = np.array([[[0, 0], [n, 0], [n, n], [0, n]]], np.float64)
    corners = cv2.perspectiveTransform(square, h)[0]
    q = quad.astype(np.float32)
    return all(cv2.pointPolygonTest(q, (float(x), float(y)), False) >= 0 for x, y in corners)


def test_paper_merged_with_a_pale_desk_is_outlined(photos: Callable[..., Any]) -> None:
    """12 MP combined-84: the paper and a pale desk are one bright blob at both
    threshold levels (shapeless, 0.48 of the frame), and the only invoice-shaped sheet
    is a crease's piece; no QR window of them holds the code. The paper's edges,
    closed (``_sheet._outline``), outline it (0.15 of the frame): added as the last
    sheet, its densest window holds the code whole and `measured` reads it. Without
    the outline no stage read it (6 s)."""
    photo = photos(84, "combined", "12mp")
    picture, sheets, found = _sheets(photo)
    assert len(sheets) == len(found) + 1  # the outline, last
    _window_memo.sheet_windows(picture)
    quads = picture.memo["densest_quads"]
    holds = [_holds_code(q, 84, "combined", "12mp") for q in quads]  # type: ignore[union-attr]
    assert holds[-1]
    assert not any(holds[:-1])
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None, max_pixels=60_000_000)
    assert result.payloads == photo.payloads
    assert result.stage == "measured"


def test_an_edge_sheet_covering_the_outline_is_the_paper(photos: Callable[..., Any]) -> None:
    """12 MP crumpled-23: the paper merged with the desk too, but an edge sheet (the
    paper, its folded corner cut off) covers most of the outline: no second sheet for
    the same paper (it cost the window stages time: 2 MP crumpled-23 fell from `grid`
    at 1.3 s to unread within the budget when one was added)."""
    photo = photos(23, "crumpled", "12mp")
    picture, sheets, found = _sheets(photo)
    assert len(sheets) == len(found)
    small = resize_long(picture.work(), 800)
    blobs = _sheet._find(small, 4)
    # the gate's first half holds (a shapeless blob twice the outline); the edge sheet closes it
    assert any(not shaped and size > 0.4 * small.size for _, shaped, size in blobs)
