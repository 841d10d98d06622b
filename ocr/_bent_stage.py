"""The ``fwd_bent`` stage: an out-of-focus code on crumpled paper, solved through the
forward model on a bent grid (``_bent``).

``forward`` solves a small code out of focus on the flat geometry its finders give;
on a crumpled sheet the module grid bows 0.3-0.45 px on average, 0.8-1.1 px at most,
away from the best homography (2 MP tuning combined-25, -44, -78: the generator's own
map, ``python -m ocr.synth._probe --bent``) and the solve, which needs ~0.1 px, reads
nothing. Here, for each sheet whose out-of-focus solve ``forward``
kept unread (``_fits.unread_solves``): the grid fit on its window (``_grid_model``:
the corners, then the polynomial bends) from that geometry gives a bent start
(within 0.3-0.6 px mean of the true centres on those photos); the bend refined
from the known modules alone (finders, timing, alignment: ``_bent.known_grid``),
then the module values solved under the blur ``forward`` fitted, then rounds of the
bend refined from the last round's modules (``_bent.refine``) and the modules solved
again, while the budget lasts: ~0.1-0.3 s a solve, ~0.05 s a refinement. 2 MP
combined-25 and -44 read at the first solve, -78 after one round (without the
known-module refinement -25 read at the fourth solve, ~0.9 s, mostly past the
budget after ``forward``'s ~0.9 s). On the 2 MP tuning split only photos nothing
reads reach it (``forward`` keeps an unread out-of-focus solve on no photo a later
stage reads).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import numpy as np

from ocr import _bent, _fits
from ocr import _window_memo as memo
from ocr._image import Picture

ROUNDS = 4
"""Refinement rounds (bend, then modules) after the first bent solve."""


def bent_stage(p: Picture) -> Iterable[str]:
    """Each sheet whose out-of-focus solve ``forward`` kept unread, solved on a bent
    grid (see the module's doc)."""
    read = memo.read_sheets(p)
    quads = cast("list[np.ndarray]", p.memo.get("densest_quads", []))
    full = p.full()
    for sheet, (frame, hmf0, n, _) in list(_fits.unread_solves(p).items()):
        if p.expired():
            return
        if sheet in read or frame is not full:
            continue
        window = memo.sheet_windows(p)[sheet][0]
        hmf, bend = _bent.grid_start(window, quads[sheet], hmf0, n)
        found = _fits.defocus_fits(p, frame, hmf0, n)
        if not found:
            continue
        kernels = found[0][3]
        # the known modules alone first: they move the grid fit's start ~halfway to
        # the truth (2 MP combined-25 then reads at the first solve, not the fourth)
        bend, residual = _bent.refine(frame, hmf, bend, n, _bent.known_grid(n), kernels=kernels)
        if not np.isfinite(residual):
            continue
        grids = _bent.solve_bent(frame, hmf, bend, n, kernels=kernels)
        for rnd in range(ROUNDS + 1):
            for values in grids:
                texts = _fits.read_module_grid(values)
                if texts:
                    read.add(sheet)
                    yield from texts
                    break
            else:
                if rnd == ROUNDS or not grids or p.expired():
                    break
                bend, residual = _bent.refine(frame, hmf, bend, n, grids[-1] > 0.5, kernels=kernels)
                if not np.isfinite(residual):
                    break
                grids = _bent.solve_bent(frame, hmf, bend, n, kernels=kernels)
                continue
            break
