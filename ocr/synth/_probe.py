"""Diagnosis, not used by the cascade: can a photo's code be read at all, given the
generator's true geometry and blur?

    python -m ocr.synth._probe 2mp-motion-3 2mp-motion-8 ...

The forward model of ``ocr._forward`` (which the cascade runs on the geometry and
streak it finds): each frame pixel is the paper's light minus the ink of the modules
it covers (area shares from the code's true module -> frame homography, sampled
4 x 4 inside the pixel), blurred as the generator blurred the frame (its Gaussian,
disk and streak kernels), plus a light plane. The module values are solved for by
regularised least squares with the modules every QR has (finders, timing, quiet
zone) fixed, then a binary prior: the most confident half of the free modules is
fixed to dark or light and the rest solved again, four rounds. Each round's grid is
drawn clean and read by zxing. It prints the module errors against the code the
generator drew: what the cascade's ``forward`` stage could read with a perfect
geometry and streak. Tuning photos only: the held-out split is never probed.

    python -m ocr.synth._probe --off=1.2 2mp-motion-8

runs the stage's solve and its geometry refinement (``ocr._forward.refined``) from
the true corners moved up to 1.2 px, and prints the corner error, module errors and
reads after each.

    python -m ocr.synth._probe --bent 2mp-combined-44

a crumpled sheet: the generator moves each frame point by its crumple's waves before
the sheet's homography, so no homography is its code's truth. This solves at the
true bent map (``ocr._bent``'s solve on the samples' true module indices), at the
homography that best fits the true module centres (what the flat model can at best
do), and at that homography plus the bend ``ocr._bent`` fits to the truth (what its
polynomial can represent), and prints how far the centres bow from that homography.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ocr.synth import _photo
from ocr.synth._render import QR_AT_MM, QR_MM, SHEET_MM, qr_matrix


@dataclass
class Truth:
    """A photo and what the generator did: per sheet, its code's modules and the
    module -> frame homography (module (i, j) spans [j, j+1] x [i, i+1]); the blur."""

    photo: _photo.Photo
    codes: list[np.ndarray]
    homographies: list[np.ndarray]
    kernels: list[np.ndarray]
    crumples: list[tuple[tuple[int, int], list[tuple[float, float, float, float]]]] = field(
        default_factory=list
    )
    """Per sheet, its crumple: the frame origin the waves are drawn from and the waves
    (frequencies x and y, phase, amplitude; none on flat paper)."""


@contextmanager
def _recording() -> Iterator[dict[str, Any]]:
    """The generator's sheet placements and blur kernels, as it makes them (patches
    the module's functions for the duration: one thread only)."""
    seen: dict[str, Any] = {"places": []}
    place, motion, disk = _photo._place, _photo._motion_kernel, _photo._disk_kernel

    def rec_place(
        frame: np.ndarray, sheet: np.ndarray, quad: np.ndarray, *rest: Any, **kw: Any
    ) -> None:
        crumple, rng = rest[0], rest[1]
        seen["places"].append(
            (quad.copy(), sheet.shape[:2], _crumple(frame.shape[:2], quad, crumple, rng))
        )
        return place(frame, sheet, quad, *rest, **kw)

    def rec_motion(length: int, angle: float) -> np.ndarray:
        kernel: np.ndarray = motion(length, angle)
        seen["motion"] = kernel
        return kernel

    def rec_disk(radius: float) -> np.ndarray:
        kernel: np.ndarray = disk(radius)
        seen["disk"] = kernel
        return kernel

    _photo._place, _photo._motion_kernel, _photo._disk_kernel = rec_place, rec_motion, rec_disk
    try:
        yield seen
    finally:
        _photo._place, _photo._motion_kernel, _photo._disk_kernel = place, motion, disk


def _crumple(
    shape: tuple[int, int], quad: np.ndarray, crumple: float, rng: random.Random
) -> tuple[tuple[int, int], list[tuple[float, float, float, float]]]:
    """The waves ``_photo._place`` draws for a sheet, drawn again from a copy of its
    generator (the same draws, in the same order) and the frame origin they are
    measured from."""
    h, w = shape
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    scale = max(x1 - x0, y1 - y0)
    copy = random.Random()
    copy.setstate(rng.getstate())
    waves = []
    if crumple > 0:
        for _ in range(3):
            fx = copy.uniform(1.5, 4.0) * 2 * math.pi / scale
            fy = copy.uniform(1.5, 4.0) * 2 * math.pi / scale
            ph = copy.uniform(0, 2 * math.pi)
            waves.append((fx, fy, ph, crumple * scale * copy.uniform(0.3, 1.0) / 3))
    return (int(x0), int(y0)), waves


def flat_points(
    crumple: tuple[tuple[int, int], list[tuple[float, float, float, float]]],
    px: np.ndarray,
    py: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Frame points moved as the crumple moves them before the sheet's homography
    (``_photo._place``, in float32 as there)."""
    (x0, y0), waves = crumple
    xx = (px - x0).astype(np.float32)
    yy = (py - y0).astype(np.float32)
    for fx, fy, ph, amp in waves:
        xx = xx + amp * np.sin(yy * fy + ph).astype(np.float32) * 0.5
        yy = yy + amp * np.sin(xx * fx + ph * 1.7).astype(np.float32)
    return xx.astype(np.float64) + x0, yy.astype(np.float64) + y0


def true_centres(
    hmf: np.ndarray,
    crumple: tuple[tuple[int, int], list[tuple[float, float, float, float]]],
    n: int,
) -> np.ndarray:
    """(n, n, 2) frame points of the module centres on the crumpled sheet: the points
    the crumple moves onto the flat centres (fixed-point steps)."""
    import cv2

    c = np.arange(n) + 0.5
    u, v = np.meshgrid(c, c)
    flat = cv2.perspectiveTransform(np.stack([u.ravel(), v.ravel()], 1)[None], hmf)[0]
    px, py = flat[:, 0].copy(), flat[:, 1].copy()
    for _ in range(30):
        mx, my = flat_points(crumple, px, py)
        px, py = px - (mx - flat[:, 0]), py - (my - flat[:, 1])
    return np.stack([px, py], 1).reshape(n, n, 2)


def truth(seed: int, category: str, size: str) -> Truth:
    import cv2

    with _recording() as seen:
        photo = _photo.make_photo(seed, category, size)
    faults = _photo._Faults(random.Random(f"{seed}:{category}"), category)  # its first draws
    w, h = _photo.SIZES[size]
    kernels = []
    sigma = faults.defocus * math.hypot(w, h)
    if sigma > 0.3:
        g = cv2.getGaussianKernel(2 * math.ceil(3 * sigma) + 1, sigma)
        kernels.append((g @ g.T).astype(np.float32))
    kernels += [seen[k] for k in ("disk", "motion") if k in seen]
    codes, homographies, crumples = [], [], []
    for (quad, (sh, sw), crumple), record in zip(seen["places"], photo.records, strict=True):
        code = qr_matrix(record.qr_line)
        n = code.shape[0]
        ppm = sw / SHEET_MM[0]
        src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32)
        sheet_to_frame = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
        side = round(QR_MM * ppm)  # as render_invoice pastes it (sheet pixels)
        x, y = round(QR_AT_MM[0] * ppm), round(QR_AT_MM[1] * ppm)
        module_to_sheet = np.array([[side / n, 0, x - 0.5], [0, side / n, y - 0.5], [0, 0, 1]])
        codes.append(code)
        homographies.append(sheet_to_frame @ module_to_sheet)
        crumples.append(crumple)
    kernels = kernels or [np.ones((1, 1), np.float32)]
    return Truth(photo, codes, homographies, kernels, crumples)


def probe(seed: int, category: str, size: str) -> list[tuple[list[int], list[bool]]]:
    """Per code in the photo: module errors and whether zxing reads, per round."""
    import cv2

    from ocr._forward import solve
    from ocr._grid import draw
    from ocr._readers import read_zxing_fast

    t = truth(seed, category, size)
    gray = np.asarray(cv2.imdecode(np.frombuffer(t.photo.data, np.uint8), cv2.IMREAD_GRAYSCALE))
    out = []
    for code, hmf, text in zip(t.codes, t.homographies, t.photo.payloads, strict=True):
        grids = solve(gray, hmf, code.shape[0], t.kernels)
        errors = [int((g != code).sum()) for g in grids]
        out.append((errors, [read_zxing_fast(draw(g)) == [text] for g in grids]))
    return out


@dataclass
class BentProbe:
    """One code on a crumpled sheet (``probe_bent``): module errors by round and
    whether any round reads, at the true map, at the best homography, and at that
    homography plus ``ocr._bent``'s bend fitted to the truth; how far (frame pixels,
    mean and max) the true centres bow from that homography, and how far the fitted
    bend leaves them."""

    true_errors: list[int]
    true_reads: bool
    flat_errors: list[int]
    flat_reads: bool
    bent_errors: list[int]
    bent_reads: bool
    bow_px: tuple[float, float]
    bend_left_px: tuple[float, float]


def probe_bent(seed: int, category: str, size: str) -> list[BentProbe]:
    """Per code: ``BentProbe`` (see ``main``'s ``--bent``)."""
    import cv2

    from ocr import _bent, _forward
    from ocr._fits import read_module_grid

    t = truth(seed, category, size)
    gray = np.asarray(cv2.imdecode(np.frombuffer(t.photo.data, np.uint8), cv2.IMREAD_GRAYSCALE))
    b = sum(max(k.shape) // 2 for k in t.kernels) + 3
    out = []
    for code, hmf, crumple in zip(t.codes, t.homographies, t.crumples, strict=True):
        n = code.shape[0]
        centres = true_centres(hmf, crumple, n)
        best, bend = _bent.from_centres(centres, n)
        box = _forward._box(best, n, b + 12)
        sx, sy = _bent.sample_points(box)
        fx, fy = flat_points(crumple, sx, sy)
        mx, my = _bent.bent_coords(hmf, n, np.zeros(0), fx, fy)
        runs = [
            _bent.solve_soft(gray, _bent.module_index(mx, my, n), n, box, b=b, kernels=t.kernels),
            _forward.solve_soft(gray, best, n, t.kernels),
            _bent.solve_bent(gray, best, bend, n, kernels=t.kernels),
        ]
        flat = _bent.centres_of(best, np.zeros_like(bend), n, iterations=0)
        bow = np.hypot(*(centres - flat).reshape(-1, 2).T)
        left = np.hypot(*(centres - _bent.centres_of(best, bend, n)).reshape(-1, 2).T)
        rows = [
            (
                [int(((g > 0.5) != code).sum()) for g in grids],
                any(read_module_grid(g) for g in grids),
            )
            for grids in runs
        ]
        out.append(
            BentProbe(
                *rows[0],
                *rows[1],
                *rows[2],
                (round(float(bow.mean()), 2), round(float(bow.max()), 2)),
                (round(float(left.mean()), 2), round(float(left.max()), 2)),
            )
        )
    return out


def probe_refined(
    seed: int, category: str, size: str, off_px: float
) -> list[list[tuple[float, int, bool]]]:
    """Per code: the cascade's ``forward`` solve and its refinement (``refined``) from
    the true corners moved up to ``off_px`` (uniform, a fixed draw), with the streak
    it finds there; per solve: the largest corner error (px), the module errors of
    its last round, whether zxing read any of its rounds."""
    import cv2

    t = truth(seed, category, size)
    gray = np.asarray(cv2.imdecode(np.frombuffer(t.photo.data, np.uint8), cv2.IMREAD_GRAYSCALE))
    return [
        _refined_rows(gray, code, true, text, off_px)
        for code, true, text in zip(t.codes, t.homographies, t.photo.payloads, strict=True)
    ]


def _refined_rows(
    gray: np.ndarray, code: np.ndarray, true: np.ndarray, text: str, off_px: float
) -> list[tuple[float, int, bool]]:
    from ocr import _forward
    from ocr._grid import draw
    from ocr._readers import read_zxing_fast

    n = code.shape[0]
    truth_corners = _forward.corners_of(true, n)
    moved = truth_corners + np.random.default_rng(0).uniform(-off_px, off_px, (4, 2))
    hmf = _forward.homography(moved, n)
    found = _forward.streaks(gray, hmf, n)
    if not found:
        return []
    _, length, deg, kernel = found[0]
    grids = _forward.solve(gray, hmf, n, [kernel])
    rounds = [(hmf, grids)]
    rounds += _forward.refined(gray, hmf, n, grids[-1], (length, deg), expired=lambda: False)
    rows = []
    for h, gs in rounds:
        off = float(np.hypot(*(_forward.corners_of(h, n) - truth_corners).T).max())
        reads = any(text in read_zxing_fast(draw(g)) + read_zxing_fast(draw(g.T)) for g in gs)
        rows.append((round(off, 2), int((gs[-1] != code).sum()), reads))
    return rows


def main(argv: list[str]) -> int:
    off = None
    if argv and argv[0].startswith("--off="):
        off = float(argv.pop(0).split("=", 1)[1])
    bent = bool(argv) and argv[0] == "--bent"
    for arg in argv[1:] if bent else argv:
        size, category, seed = arg.split("-")
        if bent:
            for i, row in enumerate(probe_bent(int(seed), category, size)):
                print(f"{arg} code {i}: {row}")
            continue
        if off is not None:
            for i, rows in enumerate(probe_refined(int(seed), category, size, off)):
                print(f"{arg} code {i}, start up to {off} px off: (corner error px, module")
                print(f"  errors, zxing reads) for the first solve, then each refinement: {rows}")
            continue
        for i, (errors, reads) in enumerate(probe(int(seed), category, size)):
            print(f"{arg} code {i}: module errors by round {errors}, zxing reads {reads}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
