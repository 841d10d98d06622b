"""The forward solve's frame with what lies past a code's margin ring set to paper
(``_fits.paper_outside``): the desk beside a code at the sheet's edge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ocr import decode_bytes


def test_a_code_turned_beside_the_sheets_edge_is_solved_without_the_desk(
    photos: Callable[..., Any],
) -> None:
    """2 MP multi-11's first code (37 modules of 1.58 px, turned ~45 degrees, a 7 px
    streak, 10 px from the sheet's edge): the solve's upright box holds the desk in
    its corners, and at the finders' geometry and streak the solve left 57-69
    modules wrong, its refinement 35; no stage read it, even with no budget. With
    the desk set to paper the first solve reads."""
    photo = photos(11, "multi")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert sorted(result.payloads) == sorted(photo.payloads)
    assert result.stage == "forward"


def test_only_pixels_past_the_ring_and_the_blur_are_set_to_paper() -> None:
    """The code, its margin ring and the blur's reach past it are left as they are;
    the dark desk past them is set to the ring's paper; the homography maps the
    modules into the crop as it mapped them into the frame."""
    from ocr._fits import paper_outside
    from ocr._forward import MARGIN, homography

    gray = np.full((200, 200), 230, np.uint8)
    gray[:, 150:] = 90  # the desk
    n = 21
    hmf = homography(np.array([[60.0, 60], [102, 60], [102, 102], [60, 102]]), n)  # 2 px
    gray[60:102, 60:102] = 20  # ink
    kernel = np.ones((5, 5), np.float32) / 25  # reach: 2 px, one module
    crop, to_crop = paper_outside(gray, hmf, n, [kernel])
    x0, y0 = (round(float(v)) for v in (hmf - to_crop)[:2, 2] / hmf[2, 2])
    edge = 102 + 2 * (MARGIN + 1)  # the ring and the blur's reach
    assert (crop[:, : edge - x0] == gray[y0 : y0 + crop.shape[0], x0:edge]).all()
    assert (crop[:, 150 - x0 :] == 230).all()
    assert np.allclose(to_crop, np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]]) @ hmf)
