"""A code with one finder hidden (``_finders.pair_geometries``, the cascade's ``pairs``):
another sheet lying on its top-left corner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ocr import decode_bytes


def test_a_code_whose_top_left_finder_another_sheet_covers_is_read(
    photos: Callable[..., Any],
) -> None:
    """2 MP multi-13's second sheet (33 modules of 1.8 px, no blur): the sheet beside
    it covers the code's top-left finder, so no stage found a finder triple on it
    and no stage read it, even with no budget (its other two codes read). Its two
    other finders and its alignment pattern place it, and with the hidden finder
    drawn back zxing reads it."""
    photo = photos(13, "multi")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert sorted(result.payloads) == sorted(photo.payloads)
    assert result.stage == "pairs"


def test_two_finders_and_the_alignment_pattern_place_the_code() -> None:
    """``pair_geometries`` on a drawn code (33 modules at 4.4 px, turned 20 degrees)
    whose top-left finder is painted over, which zxing then cannot read: one of its
    geometries lies within half a module of the drawn one, and the code ``painted``
    there reads."""
    import cv2

    from ocr._finders import painted, pair_geometries
    from ocr._forward import corners_of
    from ocr._readers import read_zxing_fast
    from ocr.synth._render import qr_matrix

    text = "01,32,,26449819579748322475,14223.40,20260818,,F860,"
    code = qr_matrix(text)
    n = code.shape[0]
    assert n == 33
    s, q = 4.4, 6
    turn = np.radians(20.0)
    rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]]) * s
    h = np.eye(3)  # module -> window
    h[:2, :2] = rot
    h[:2, 2] = 180.0 - rot @ np.array([n / 2, n / 2])
    big = np.kron(np.pad(~code, q, constant_values=True), np.ones((8, 8), bool))
    to_big = np.array([[8.0, 0, 8 * q], [0, 8, 8 * q], [0, 0, 1]]) @ np.linalg.inv(h)
    window = cv2.warpPerspective(
        big.astype(np.float32) * 255,
        to_big,
        (360, 360),
        flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP,
        borderValue=255.0,
    )
    square = np.array([[[-1, -1], [8, -1], [8, 8], [-1, 8]]], np.float64)
    cv2.fillConvexPoly(window, cv2.perspectiveTransform(square, h)[0].astype(np.int32), 255.0)
    assert read_zxing_fast(window.astype(np.uint8)) == []

    def off(got: np.ndarray) -> float:
        return float(np.hypot(*(corners_of(got, n) - corners_of(h, n)).T).max())

    near = [got for m, got in pair_geometries(window) if m == n and off(got) < s / 2]
    assert near
    assert read_zxing_fast(painted(window, near[0], n)) == [text]
