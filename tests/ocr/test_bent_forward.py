"""``_bent``: the forward model on a bent module grid (crumpled paper out of focus),
and the ``fwd_bent`` stage that solves it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest

from ocr import _bent, _bent_stage, _cascade, _fits, _forward, decode_bytes
from ocr._deblur import disk_kernel
from ocr._image import Picture
from ocr.synth._record import Record
from ocr.synth._render import qr_matrix

MODULE_PX = 1.9
TEXELS = 16
"""Texels a module side of the sharp print the frame is sampled from."""
SS = 8
"""Samples a frame pixel side."""


def _bent_code(
    code: np.ndarray, bend: np.ndarray, disk: float
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(frame, module -> frame homography, blur): ``code`` printed at ``MODULE_PX``
    a module, turned 8 degrees with a little perspective, its grid bent by the
    polynomial displacement ``bend`` (``_bent.SHIFT_POWERS``, frame pixels), each
    pixel the mean of ``SS`` x ``SS`` point samples of the sharp print, then out of
    focus (a lens disk) and a little noise."""
    n = code.shape[0]
    margin = 4
    sharp = np.kron(np.pad(code, margin).astype(np.float32), np.ones((TEXELS, TEXELS), np.float32))
    side = n * MODULE_PX
    a = np.radians(8.0)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    square = np.array([[0, 0], [side, 0], [side, side], [0, side]]) @ rot.T + 40
    square[2] += (1.5, 2.0)  # a little perspective
    hmf = _forward.homography(square, n)
    size = round(side + 80)
    o = (np.arange(size * SS) + 0.5) / SS - 0.5
    px, py = np.meshgrid(o, o)
    inv = np.linalg.inv(hmf)

    def back(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        den = inv[2, 0] * x + inv[2, 1] * y + inv[2, 2]
        return (
            (inv[0, 0] * x + inv[0, 1] * y + inv[0, 2]) / den,
            (inv[1, 0] * x + inv[1, 1] * y + inv[1, 2]) / den,
        )

    mx, my = back(px, py)
    u, v = mx / n - 0.5, my / n - 0.5
    k = len(_bent.SHIFT_POWERS)
    dx = sum(bend[i] * u**p * v**q for i, (p, q) in enumerate(_bent.SHIFT_POWERS))
    dy = sum(bend[k + i] * u**p * v**q for i, (p, q) in enumerate(_bent.SHIFT_POWERS))
    mx, my = back(px + dx, py + dy)
    mapx = ((mx + margin) * TEXELS - 0.5).astype(np.float32)
    mapy = ((my + margin) * TEXELS - 0.5).astype(np.float32)
    ink = cv2.remap(sharp, mapx, mapy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    ink = cv2.resize(ink, (size, size), interpolation=cv2.INTER_AREA)
    kernels = [disk_kernel(disk)]
    ink = cv2.filter2D(ink, -1, kernels[0], borderType=cv2.BORDER_REPLICATE)
    noise = np.random.default_rng(5).normal(0, 2.0, ink.shape)
    frame = np.clip(225 - 170 * ink + noise, 0, 255).astype(np.uint8)
    return frame, hmf, kernels


BEND = np.zeros(2 * len(_bent.SHIFT_POWERS))
BEND[[3, 5, 7]] = (6.0, -5.0, 3.0)  # x: u^2, v^2, u^2 v
BEND[len(_bent.SHIFT_POWERS) + np.array([4, 8, 9])] = (-6.0, 4.0, 3.0)  # y: u v, u v^2, v^3
"""A bow of 0.67 px mean, 1.5 px at most, away from the best homography, as 2 MP
crumpled paper shows (the generator's maps: combined-25 0.39 / 1.06, combined-44
0.44 / 1.11, crumpled-41 1.08 / 2.78)."""


def _reads(grids: list[np.ndarray], text: str) -> bool:
    return any(text in _fits.read_module_grid(g) for g in grids)


def test_a_bent_code_out_of_focus_reads_through_the_bent_model_not_the_flat_one(
    records: list[Record],
) -> None:
    """A code bowed 0.67 px mean under a lens disk of 1.5 px (1.9 px modules): the
    flat forward model at the homography that best fits its module centres reads
    nothing (66 modules wrong), the bent model at the true bend reads (none wrong);
    and from that flat start the bent model's refinement (``refine``: the bend from
    the solved modules) reads."""
    text = records[0].qr_line
    code = qr_matrix(text)
    n = code.shape[0]
    frame, hmf, kernels = _bent_code(code, BEND, 1.5)

    centres = _bent.centres_of(hmf, BEND, n)
    best_flat, _ = _bent.from_centres(centres, n)
    assert not _reads(_forward.solve_soft(frame, best_flat, n, kernels), text)
    assert _reads(_bent.solve_bent(frame, hmf, BEND, n, kernels=kernels), text)

    bend = np.zeros_like(BEND)
    grids = _bent.solve_bent(frame, best_flat, bend, n, kernels=kernels)
    assert not _reads(grids, text)
    for _ in range(3):
        bend, residual = _bent.refine(frame, best_flat, bend, n, grids[-1] > 0.5, kernels=kernels)
        assert np.isfinite(residual)
        grids = _bent.solve_bent(frame, best_flat, bend, n, kernels=kernels)
        if _reads(grids, text):
            break
    assert _reads(grids, text)


def test_a_crumpled_sheet_out_of_focus_is_read_at_fwd_bent(
    photos: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 MP tuning combined-78 (crumpled paper under a lens disk, 1.5 px modules):
    ``forward``'s flat solve reads nothing; ``fwd_bent`` reads from the grid fit's
    bent start."""
    photo = photos(78, "combined")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fwd_bent"

    picture = Picture(photo.data, max_pixels=60_000_000)
    stages = _cascade.STAGES[: [s for s, _ in _cascade.STAGES].index("forward") + 1]
    assert _cascade.read_qr(picture, stages=stages).payloads == []
    assert list(_fits.unread_solves(picture))
    assert list(_bent_stage.bent_stage(picture)) == photo.payloads


def test_the_probe_knows_a_crumpled_sheets_true_map(cjk_font: None) -> None:
    """``ocr.synth._probe.probe_bent`` on 2 MP tuning combined-44: at the generator's
    true crumpled map the code's modules all come back; at the homography that best
    fits its true module centres (they bow 0.44 px mean, 1.1 px at most from it)
    the flat model reads nothing; that homography plus ``_bent``'s bend fitted to
    the truth reads."""
    from ocr.synth._probe import probe_bent

    (row,) = probe_bent(44, "combined", "2mp")
    assert row.true_reads
    assert row.true_errors[-1] == 0
    assert not row.flat_reads
    assert row.bent_reads
    assert 0.3 < row.bow_px[0] < 0.6
