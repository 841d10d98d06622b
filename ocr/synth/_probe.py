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
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@contextmanager
def _recording() -> Iterator[dict[str, Any]]:
    """The generator's sheet placements and blur kernels, as it makes them (patches
    the module's functions for the duration: one thread only)."""
    seen: dict[str, Any] = {"places": []}
    place, motion, disk = _photo._place, _photo._motion_kernel, _photo._disk_kernel

    def rec_place(  # noqa: PLR0917
        frame: np.ndarray,
        sheet: np.ndarray,
        quad: np.ndarray,
        crumple: float,
        rng: random.Random,
        ss: int = 1,
    ) -> None:
        seen["places"].append((quad.copy(), sheet.shape[:2]))
        return place(frame, sheet, quad, crumple, rng, ss)

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
    codes, homographies = [], []
    for (quad, (sh, sw)), record in zip(seen["places"], photo.records, strict=True):
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
    return Truth(photo, codes, homographies, kernels or [np.ones((1, 1), np.float32)])


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


def main(argv: list[str]) -> int:
    for arg in argv:
        size, category, seed = arg.split("-")
        for i, (errors, reads) in enumerate(probe(int(seed), category, size)):
            print(f"{arg} code {i}: module errors by round {errors}, zxing reads {reads}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
