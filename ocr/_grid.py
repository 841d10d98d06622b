"""Reading a QR module by module: codes too small or too blurred for a detector.

zxing binarises the image pixel by pixel, then samples one pixel per module. At
1.4-2 px a module, or under a blur of a module or two, a light module between
dark ones is as grey as the threshold and the finder patterns themselves break
up, so nothing is even detected. Here the geometry comes from the three finder
patterns (correlation with a finder template at a few module sizes, on the
rectified QR window of ``_sheet``); the module count is the one whose known
modules (finders, separators, timing, alignment, dark module, quiet zone) split
most cleanly into dark and light. The grid is then fitted to the modules: the
code's corners, then polynomial bends (crumpled paper curves the grid), so every
sample falls on a module centre. Last, each module's value comes from a
**module-level deconvolution**: a blurred code sampled at its module centres is
the module grid convolved with a small kernel (the blur seen at one-module
steps), so the kernel is fitted to the modules as decided and the unknown ones are
solved for by regularised least squares, alternating the two a few times. Each
decided grid is drawn as a clean code and read by zxing.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ocr._finders import affine, finder_triples, refine_alignment, to_image
from ocr._grid_deconv import deconvolve
from ocr._grid_model import fit, model_of, split


def grids(
    g: np.ndarray,
    *,
    candidates: int = 2,
    deblur: bool = True,
    soft: bool = False,
    both_starts: bool = False,
) -> Iterator[np.ndarray]:
    """Candidate module grids (bool, True = dark, no margin) for the code in window ``g``.

    The likeliest geometries (finder triple, module count, affine or through the
    alignment pattern) by how well their known modules split; each is fitted to the
    modules (a homography), then bent to them (crumpled paper), then (``deblur``)
    deconvolved at the module level (small or soft codes); each step's grid is
    yielded, so a caller stops at the first that reads. With ``soft`` the fitted
    grids are the samples before the threshold (``Model.soft``: > 0.5 dark, float),
    and the deconvolved ones (decisions only) take their confidence from the bent
    fit's samples. With ``both_starts`` each candidate's other start is fitted after
    it: the affine map where the homography through the alignment pattern split
    better, or that homography where the affine map did (on crumpled paper the
    alignment pattern lies off the plane of the finders: the fit from there drifts,
    the one from the affine map reads; 12 MP crumpled-67, -68). It is not
    deconvolved: it is for sharp bent codes, and the rounds cost 0.2-0.4 s on a
    2 MP code.
    """
    g = np.ascontiguousarray(g, dtype=np.float32)
    found: list[tuple[float, int, np.ndarray, int]] = []  # (split, count, corners, triple)
    for t, (_, tri) in enumerate(finder_triples(g)):
        side = (float(np.hypot(*(tri[1] - tri[0]))) + float(np.hypot(*(tri[2] - tri[0])))) / 2
        for n in range(21, 58, 4):
            if not 2.5 <= side / (n - 7) <= 12:
                continue
            model = model_of(n)
            for h in (affine(tri, n), refine_alignment(g, tri, n)):
                p = to_image(h, model.square).ravel().astype(np.float64)
                if any(n == f[1] and np.abs(p - f[2]).max() < 0.5 for f in found):
                    continue  # no alignment pattern found: the affine map again
                d = model.sample(g, p)
                found.append((split(d, model.known, model.value), n, p, t))
    found.sort(key=lambda f: -f[0])
    starts = []
    for _, n, p, t in found[:candidates]:
        starts.append((n, p, deblur))
        if both_starts:  # the other start is for a bent grid: fitted, not deconvolved
            starts += _other_start(found, n, p, t)
    for n, start, deconvolved in starts:
        model, p = model_of(n), start
        for bend in (False, True):
            p = fit(g, model, p, bend)
            d = model.sample(g, p)
            yield model.soft(d) if soft else model.grid(d)
        if deconvolved:
            sure = np.abs(model.soft(d) - 0.5)  # the bent fit's samples: how sure
            for grid in deconvolve(d, model):
                yield np.where(grid, 0.5 + sure, 0.5 - sure) if soft else grid


def _other_start(
    found: list[tuple[float, int, np.ndarray, int]], n: int, p: np.ndarray, triple: int
) -> list[tuple[int, np.ndarray, bool]]:
    """The other start of the same finder triple and module count, not to be
    deconvolved (none when the alignment pattern was not found: its homography was
    the affine map again)."""
    return [(n, q, False) for _, m, q, t in found if (m, t) == (n, triple) and q is not p][:1]


def draw(grid: np.ndarray, px: int = 4, quiet: int = 4) -> np.ndarray:
    """A module grid drawn as a clean code (black on white, with its quiet zone)."""
    img = np.where(np.pad(grid, quiet), 0, 255).astype(np.uint8)
    return np.kron(img, np.ones((px, px), np.uint8))
