"""Sheets whose corners touch are one bright blob: the QR windows of its outline lie
at the blob's corners, not at the sheets'. ``_sheet.apart_sheets`` erodes the paper
apart and grows each piece back by a watershed, corners and all; ``cut_sheets`` cuts a
blob of sheets lying over each other's edge between its concave corners."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest


def _sheet_quad(cx: float, cy: float, width: float, degrees: float) -> np.ndarray:
    """An invoice's corners (210 x 140 mm), ``width`` px wide, turned about its centre."""
    a = np.radians(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [width / 2, width / 3]
    return (half @ rot.T + [cx, cy]).astype(np.float32)


def _code_corners(quad: np.ndarray) -> np.ndarray:
    """The corners of the sheet's code: 20 mm, 8 x 6 mm in from its first corner."""
    import cv2

    m = cv2.getPerspectiveTransform(
        np.array([[0, 0], [210, 0], [210, 140], [0, 140]], np.float32), quad
    )
    code = np.array([[[8, 6], [28, 6], [28, 26], [8, 26]]], np.float32)
    corners: np.ndarray = cv2.perspectiveTransform(code, m)[0]
    return corners


def _desk_with(quads: list[np.ndarray], shape: tuple[int, int] = (600, 800)) -> np.ndarray:
    """Grey desk, white sheets (later ones over earlier), each with its dark code."""
    import cv2

    gray = np.full(shape, 90, np.uint8)
    for quad in quads:
        cv2.fillConvexPoly(gray, np.round(quad).astype(np.int32), 235)
        cv2.fillConvexPoly(gray, np.round(_code_corners(quad)).astype(np.int32), 40)
    return gray


def _codes_in_windows(sheets: list[np.ndarray], quads: list[np.ndarray]) -> int:
    """How many of the sheets ``quads``' codes lie whole in a QR window of ``sheets``."""
    import cv2

    held = 0
    for quad in quads:
        held += any(
            all(
                cv2.pointPolygonTest(window, (float(x), float(y)), False) >= 0
                for x, y in _code_corners(quad)
            )
            for sheet in sheets
            for window in _sheet_windows(sheet)
        )
    return held


def _sheet_windows(sheet: np.ndarray) -> list[np.ndarray]:
    from ocr import _sheet

    return [w.astype(np.float32).reshape(-1, 1, 2) for w in _sheet.qr_windows(sheet)]


def test_touching_sheets_are_found_apart_with_their_codes_corners():
    """Two sheets turned 25° and 160° whose corners overlap: one blob at the
    threshold, whose windows hold one of the codes. Found apart, each code lies whole in
    a window of its own sheet (the corner where they touch is split between them)."""
    from ocr import _sheet

    sheets = [_sheet_quad(250, 250, 330, 25), _sheet_quad(592, 370, 330, 160)]
    gray = _desk_with(sheets)
    merged = _sheet.find_sheets(gray)
    assert len(merged) == 1
    assert _codes_in_windows(merged, sheets) == 1
    assert len(_sheet.apart_sheets(gray)) == 2
    assert _codes_in_windows(_sheet.find_sheets(gray, by_edges=True), sheets) == 2


def test_one_sheet_is_not_split():
    from ocr import _sheet

    assert _sheet.apart_sheets(_desk_with([_sheet_quad(400, 300, 420, 10)])) == []


def test_the_touching_sheets_code_reads_from_its_window(photos: Callable[..., Any]):
    """2 MP tuning multi-160: the bottom sheet's corner touches the right one; their
    blob's windows missed its code, so no stage read it (the cascade read the other
    two and ran to its budget). Its own sheet's window now holds it: the ``sheets``
    stage reads it."""
    from ocr._image import Picture
    from ocr._windows import sheets_stage

    photo = photos(160, "multi")
    read = set(sheets_stage(Picture(photo.data, max_pixels=60_000_000)))
    assert photo.payloads[2] in read


def test_a_sheet_over_anothers_corner_is_cut_apart():
    """A sheet lying over another's corner along its whole edge, a third sheet apart:
    too wide a contact to erode apart, and one blob whose windows hold one of its
    two codes. The blob is concave where the upper sheet's edge crosses the lower's:
    cut there, all three codes lie in windows, and three invoices are counted (two
    before: the blob is less than two whole sheets)."""
    from ocr import _sheet

    lower = _sheet_quad(555, 350, 330, 160)  # its code in the corner far from the cut
    upper = _sheet_quad(250, 250, 330, 25)
    apart = _sheet_quad(250, 680, 330, 0)
    sheets = [lower, upper, apart]
    gray = _desk_with(sheets, (800, 800))
    assert _codes_in_windows(_sheet.find_sheets(gray), sheets) == 2
    assert len(_sheet.cut_sheets(gray, 330 * 220)) == 2
    assert _codes_in_windows(_sheet.find_sheets(gray, by_edges=True), sheets) == 3
    assert _sheet.count_invoices(gray) == 3


def test_a_lone_sheet_is_not_cut():
    from ocr import _sheet

    gray = _desk_with([_sheet_quad(400, 300, 420, 10)])
    assert _sheet.cut_sheets(gray, 0.0) == []
    assert _sheet.count_invoices(gray) == 1


def test_three_sheets_one_over_anothers_corner_are_all_read(photos: Callable[..., Any]):
    """2 MP tuning multi-101: the bottom sheet lies over the left one's corner (an
    L-shaped blob), so two sheets were counted, two codes read at the first pass, and
    the cascade stopped; the bottom sheet's code was in no window. Now three are
    counted, and the bottom sheet's window is read."""
    from ocr._cascade import count_sheets, read_qr
    from ocr._image import Picture

    photo = photos(101, "multi")
    assert count_sheets(Picture(photo.data, max_pixels=60_000_000)) == 3
    found = read_qr(Picture(photo.data, max_pixels=60_000_000))
    assert sorted(found.payloads) == sorted(photo.payloads)


def test_sheets_whose_corners_lie_on_each_other_are_cut_apart():
    """Two sheets turned 30° and 150°, one's corner over the other's (a bow tie): one
    blob, not invoice-shaped, so no whole sheet measures it; too wide a contact to
    erode apart. Cut between its two concave corners into two sheets lying
    differently, both codes lie in windows and two invoices are counted (one before)."""
    from ocr import _sheet

    sheets = [_sheet_quad(230, 300, 330, 30), _sheet_quad(570, 300, 330, 150)]
    gray = _desk_with(sheets)
    assert len(_sheet.find_sheets(gray)) == 1
    assert _sheet.apart_sheets(gray) == []
    assert len(_sheet.cut_sheets(gray, None)) == 2
    assert _codes_in_windows(_sheet.find_sheets(gray, by_edges=True), sheets) == 2
    assert _sheet.count_invoices(gray) == 2


@pytest.mark.parametrize("seed", [40, 56, 57])
def test_a_creased_sheet_is_not_cut_without_a_whole_sheet(
    photos: Callable[..., Any], seed: int
) -> None:
    """2 MP tuning crumpled-40, -56, -57: crease bands make the sheet's blob concave
    and no piece is a whole sheet. Cut at its concave corners it leaves a sheet-sized
    piece and a small one (or one with the desk), not two alike sheets: left whole,
    one invoice counted."""
    import cv2

    from ocr import _sheet
    from ocr._variants import resize_long

    photo = photos(seed, "crumpled")
    gray = cv2.imdecode(np.frombuffer(photo.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    small = resize_long(gray, 800)
    assert _sheet.cut_sheets(small, None) == []
    assert _sheet.count_invoices(small) == 1


@pytest.mark.parametrize("seed", [326, 419])
def test_two_sheets_in_a_bow_tie_are_both_read(photos: Callable[..., Any], seed: int):
    """2 MP tuning multi-326, -419: two sheets whose corners lie on each other, one
    blob at every threshold and erosion. Counted one and read nothing (326) or one
    (419); cut apart, both sheets' windows are read."""
    from ocr._cascade import count_sheets, read_qr
    from ocr._image import Picture

    photo = photos(seed, "multi")
    assert count_sheets(Picture(photo.data, max_pixels=60_000_000)) == 2
    found = read_qr(Picture(photo.data, max_pixels=60_000_000))
    assert sorted(found.payloads) == sorted(photo.payloads)


def test_two_sheets_in_line_are_counted_apart(photos: Callable[..., Any]):
    """2 MP tuning multi-420: one sheet's corner lies on another's edge and the two
    make an invoice-shaped blob, 2.9 times the third sheet. Two invoices were
    counted, the cascade stopped at its first pass with two codes read; cut apart,
    three are counted and the third code is read at the next pass."""
    from ocr._cascade import count_sheets, read_qr
    from ocr._image import Picture

    photo = photos(420, "multi")
    assert count_sheets(Picture(photo.data, max_pixels=60_000_000)) == 3
    found = read_qr(Picture(photo.data, max_pixels=60_000_000))
    assert sorted(found.payloads) == sorted(photo.payloads)
