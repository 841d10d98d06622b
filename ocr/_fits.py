"""The window stages that read a code module by module (``_grid``): a grid fitted to
the finder patterns, bent to the modules, deconvolved, drawn clean and read by zxing,
else by the soft decoder (``_qr_soft``); and the forward model's solves (``_forward``).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

import numpy as np

from ocr import _deblur, _forward, _grid, _qr_soft, _streaks
from ocr import _readers as readers
from ocr import _window_memo as memo
from ocr._image import Picture


def grid_stage(p: Picture) -> Iterable[str]:
    """Read module by module (``_grid``: a grid fitted to the finders, bent to the
    modules, deconvolved, drawn clean): the densest window of every sheet not fitted
    by ``fit``; then, where its blur is directional and ``measured`` did not fit it,
    that window deconvolved with its likeliest stripe streak (``_streaks``: a streak
    of 3-4 modules breaks the finders up); then the textured blobs (sheets lying on
    each other are one blob of paper)."""
    read = memo.read_sheets(p)
    found = memo.sheet_windows(p)
    sheets = [(sheet, w[0]) for sheet, w in enumerate(found) if sheet not in read]
    blobs = [  # not one a densest window holds whole, nor one ``fit_blobs`` fitted:
        # fitted already (~0.1-0.3 s a fit)
        b
        for i, b in enumerate(memo.blob_windows(p))
        if not memo.covered_by_densest(p, i) and i not in memo.fitted_blobs(p)
    ]
    fitted = memo.fitted_sheets(p)
    for sheet, window in sheets:
        if p.expired():
            return
        if sheet in fitted:
            continue
        yield from _marked(p, sheet, read_grid(p, window))
    for sheet, window in sheets:  # a streak of 3-4 modules breaks the finders up
        if sheet in read or sheet in memo.streak_fitted(p):
            continue
        if _deblur.anisotropy(window) <= memo.STREAK_ANISOTROPY:
            continue
        sharp = memo.first_streak(p, sheet, window)
        if p.expired():
            return
        if sharp is not None:
            yield from _marked(p, sheet, read_grid(p, sharp))
    for window in blobs:
        if p.expired() or (found and len(read) == len(found)):
            return  # every sheet read: the blobs are those codes again
        yield from read_grid(p, window)


def early_grid_stage(p: Picture) -> Iterable[str]:
    """The module-by-module fit of each unread sheet's densest window when its blur
    is not directional (crumpled paper's bent grid reads so), before the deblurring
    stages: those read directional blur, and a fit costs 0.1-0.3 s."""
    read = memo.read_sheets(p)
    fitted = memo.fitted_sheets(p)
    for sheet, windows in enumerate(memo.sheet_windows(p)):
        if p.expired():
            return
        window = windows[0]
        if sheet in read or _deblur.anisotropy(window) > memo.STREAK_ANISOTROPY:
            continue
        if too_blurred_to_fit(p, sheet):  # left to ``forward`` (and ``grid`` after it)
            continue
        fitted.add(sheet)
        raw = memo.raw_densest(p, sheet)  # a coarse JPEG's window unsmoothed
        texts = read_grid(p, raw, both_starts=True)
        if not texts and _noise(p, p.full()) >= NOISY and not p.expired():
            texts = read_grid(p, smoothed(raw), both_starts=True)
        yield from _marked(p, sheet, texts)


NOISY_SMOOTHING = 1.2
"""The Gaussian (window px, ~0.2 of a module) ``fit`` smooths a noisy photo's window
with before fitting the grid again."""


def smoothed(window: np.ndarray) -> np.ndarray:
    """``window`` under a Gaussian of ``NOISY_SMOOTHING``: the grid fit samples each
    module at its centre, and under noise of sigma ~20 (a shadow halving the ink's
    contrast) one sample is as likely wrong as right; smoothed, each sample averages
    the module's middle. 2 MP tuning combined-312, -401, -415 (noise 18-24, a hard
    shadow) read so, none unsmoothed (each ~0.03 s more)."""
    import cv2

    return cv2.GaussianBlur(window.astype(np.float32), (0, 0), NOISY_SMOOTHING)


BLUR_MODULES = 0.45
"""The blur (the spread of the lens disk and Gaussian the known modules fit, in
modules) from which ``fit`` leaves a small code to ``forward``."""


def too_blurred_to_fit(p: Picture, sheet: int) -> bool:
    """Whether ``sheet``'s code is small (``_forward.MAX_MODULE_PX`` or less) and so far
    out of focus that the grid fit, which samples module centres, cannot read it:
    its known modules fit (within ``_forward.MAX_RESIDUAL``) a lens disk of radius r
    and a Gaussian of sigma whose spread, sqrt(sigma^2 + r^2 / 4), is
    ``BLUR_MODULES`` of a module or more. On the 2 MP tuning split the codes ``fit``
    reads spread 0.28-0.33 of a module (sharp: crumpled-4, combined-20, -59, jpeg-33);
    the codes of a lens disk about a module wide 0.51-0.88, which ``fit`` never read
    and ``forward`` reads: on a photo of three such codes (multi-72, multi-4) ``fit``
    spent ~0.6 s of the 1.5 s budget for nothing, and the last code's solve came
    after the budget. ~0.05 s a sheet (the finders and the known-module fit, as
    ``forward`` does them)."""
    import math

    window = memo.sheet_windows(p)[sheet][0]
    quad = cast("list[np.ndarray]", p.memo["densest_quads"])[sheet]
    best = None
    for n, hmf in _geometries(p, window, quad):
        px = _forward.module_px(hmf, n)
        if px > _forward.MAX_MODULE_PX:
            continue
        solvable = _solve_frame(p, p.full(), hmf, n)
        if solvable is None:
            continue
        found = defocus_fits(p, *solvable, n)
        if found and (best is None or found[0][0] < best[0]):
            residual, sigma, radius, _ = found[0]
            best = (residual, math.hypot(sigma, radius / 2) / px)
    return best is not None and best[0] <= _forward.MAX_RESIDUAL and best[1] >= BLUR_MODULES


def _once(p: Picture, name: str, key: tuple[object, ...], keep: object, make: Any) -> Any:
    """``make()``, made once per picture for ``key`` in the memo ``name``; ``keep`` (the
    array whose ``id`` the key holds) is kept with it, so that id is not reused."""
    made = cast("dict[tuple[object, ...], Any]", p.memo.setdefault(name, {}))
    if key not in made:
        made[key] = (keep, make())
    return made[key][1]


def _geometries(
    p: Picture,
    window: np.ndarray,
    quad: np.ndarray,
    *,
    alignment: bool = False,
    min_quality: float = -np.inf,
) -> list[tuple[int, np.ndarray]]:
    """``_forward.geometries``, made once per picture for a window (``fit``'s blur
    check and ``forward`` both look at each sheet's densest window)."""
    key = (id(window), quad.tobytes(), alignment, min_quality)
    return cast(
        "list[tuple[int, np.ndarray]]",
        _once(
            p,
            "fwd_geometries",
            key,
            window,
            lambda: _forward.geometries(window, quad, alignment=alignment, min_quality=min_quality),
        ),
    )


def defocus_fits(
    p: Picture, frame: np.ndarray, hmf: np.ndarray, n: int
) -> list[tuple[float, float, float, list[np.ndarray]]]:
    """``_forward.defocus``, made once per picture for a frame and geometry."""
    key = (id(frame), hmf.tobytes(), n)
    return cast(
        "list[tuple[float, float, float, list[np.ndarray]]]",
        _once(p, "fwd_defocus", key, frame, lambda: _forward.defocus(frame, hmf, n)),
    )


def _streaks_defocused(
    p: Picture, frame: np.ndarray, hmf: np.ndarray, n: int
) -> list[tuple[float, tuple[float, float, float], list[np.ndarray]]]:
    """``_forward.streaks_defocused``, made once per picture for a frame and geometry
    (``forward``, ``fwd_streak`` and ``fwd_wide`` fit the same geometries: ~0.05 s
    each time)."""
    key = (id(frame), hmf.tobytes(), n)
    return cast(
        "list[tuple[float, tuple[float, float, float], list[np.ndarray]]]",
        _once(p, "fwd_streaks", key, frame, lambda: _forward.streaks_defocused(frame, hmf, n)),
    )


def _noise(p: Picture, frame: np.ndarray) -> float:
    """``_forward.noise_sigma`` of a frame (the photo's, or the crop a solve runs on),
    made once per picture."""
    return cast(
        "float", _once(p, "noise", (id(frame),), frame, lambda: _forward.noise_sigma(frame))
    )


NOISY = 8.0
"""A frame noise (grey levels, ``_forward.noise_sigma``) from which the blurs are ranked
with the noise taken out (``_noise_ranked``); clean photos measure 0-1."""


def _noise_ranked(
    frame: np.ndarray,
    hmf: np.ndarray,
    n: int,
    found: list[tuple[float, tuple[float, ...] | None, list[np.ndarray]]],
    noise: float,
) -> list[tuple[float, tuple[float, ...] | None, list[np.ndarray]]]:
    """``found`` (residual, blur, kernels) with each residual the known modules' fit with
    the frame's noise taken out (``_forward.less_noise``), best first. On a noisy frame
    (over ``NOISY``) every blur is ranked so: the plain fit divides the RMS by the
    ink's contrast, which an over-blurred kernel fits smaller, so it favours it; 2 MP
    tuning combined-61 (noise 24.7) at its true geometry: a 3 px streak under sigma
    1.0 first, 0.108 with the noise out (over ``MAX_RESIDUAL``), and its solve 51
    modules wrong; ranked with the noise out its own disk of radius 1 fits 0.000 and
    solves 4 wrong, 0.4 px off 0.06-0.07 and 3-6 wrong. Below ``NOISY`` only the first
    blur's residual is replaced."""
    if noise < NOISY:
        first = _forward.less_noise(frame, hmf, n, found[0][2], noise)
        return [(first, *found[0][1:]), *found[1:]]
    fits = _forward.known_fits(frame, hmf, n, [k for _, _, k in found], noise=noise)
    return [(r, *found[i][1:]) for r, i in fits]


def _solve_frame(
    p: Picture, gray: np.ndarray, hmf: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """The frame a geometry's solve runs on and the module -> that frame homography,
    made once per picture (``fit``'s blur check and ``forward`` share it, and so the
    blur fit ``defocus_fits`` keeps for it): ``gray`` itself; for a code over
    ``_forward.MAX_MODULE_PX`` a module or ``_forward.MAX_CELLS``, the frame shrunk
    (``_forward.shrunk``), else, for a small one, turned upright (``upright``); None
    when neither brings the solve within bounds."""

    def make() -> tuple[np.ndarray, np.ndarray] | None:
        px = _forward.module_px(hmf, n)
        if _forward.cells(hmf, n) <= _forward.MAX_CELLS and px <= _forward.MAX_MODULE_PX:
            return gray, hmf
        small = _forward.shrunk(gray, hmf, n)
        if small is None and px <= _forward.MAX_MODULE_PX:
            small = upright(gray, hmf, n)
        return small

    key = (id(gray), hmf.tobytes(), n)
    return cast("tuple[np.ndarray, np.ndarray] | None", _once(p, "solve_frame", key, gray, make))


def _marked(p: Picture, sheet: int, texts: list[str]) -> list[str]:
    """``texts`` read on ``sheet``'s window; a sheet that gave any is marked read, so
    the later window stages skip it."""
    if texts:
        memo.read_sheets(p).add(sheet)
    return texts


def read_grid(p: Picture, window: np.ndarray, *, both_starts: bool = False) -> list[str]:
    """The texts read from the grids fitted to ``window`` (``read_module_grid``);
    ``both_starts``: the likeliest geometry fitted from both its starts (``_grid.grids``)."""
    for grid in _grid.grids(window, candidates=1, soft=True, both_starts=both_starts):
        if p.expired():
            return []
        texts = read_module_grid(grid)
        if texts:
            return texts
    return []


def read_module_grid(values: np.ndarray) -> list[str]:
    """The texts of a soft module grid (float, > 0.5 dark): zxing on the grid drawn
    clean (or its transpose: a mirrored window), which is fast; else ``_qr_soft``,
    Reed-Solomon with the least sure codewords erased, whose text must also be an
    invoice payload (erasures leave less margin to tell a wrong decode)."""
    grid = values > 0.5
    texts = readers.read_zxing_fast(_grid.draw(grid)) or readers.read_zxing_fast(_grid.draw(grid.T))
    if texts:
        return texts
    text = _qr_soft.decode(values)
    return [text] if text is not None and _is_invoice(text) else []


def _is_invoice(text: str) -> bool:
    from verify import PayloadError, parse_qr

    try:
        parse_qr(text)
    except PayloadError:
        return False
    return True


def forward_stage(p: Picture) -> Iterable[str]:
    """Each unread sheet whose modules are small, its code read through a forward
    model of the blurred frame (``_forward``): where the blur is directional, on the
    geometry the finders give on its stripes-deconvolved window (``measured`` made
    it) under the streak the known modules fit best; then, on the others (out of
    focus: a lens disk of about a module at 2 MP), on the geometry the finders give
    on the window itself under the disk and Gaussian that fit best; last, the
    directional ones again for a code of larger modules (over ``MAX_MODULE_PX``)
    under a streak the filters did not undo, solved on the frame shrunk (12 MP
    combined-16: a 3.5-module streak on 4.6 px modules, noise sigma 24), and the
    unread out-of-focus ones likewise under a disk (12 MP combined-48, -88: 4.5 px
    modules under a lens disk and noise, unread by every other stage)."""
    quads: list[np.ndarray] = p.memo["densest_quads"]  # type: ignore[assignment]
    for sheet, window in memo.unread_streaked(p):
        sharp = memo.first_streak(p, sheet, window)
        yield from _marked(
            p, sheet, read_forward(p, window if sharp is None else sharp, quads[sheet])
        )
    for sheet, window in memo.unread_focused(p):
        yield from _marked(
            p, sheet, read_forward(p, window, quads[sheet], defocused=True, sheet=sheet)
        )
    yield from _defocus_refits(p, rounds=1)
    for sheet, window in memo.unread_streaked(p):  # a long streak on a large code
        sharp = memo.first_streak(p, sheet, window)
        if sharp is None:
            continue
        yield from _marked(p, sheet, read_forward(p, sharp, quads[sheet], large=True))
    for sheet, window in memo.unread_focused(p):  # a large code out of focus
        yield from _marked(
            p, sheet, read_forward(p, window, quads[sheet], defocused=True, large=True)
        )


def forward_streak_stage(p: Picture) -> Iterable[str]:
    """Each sheet still unread whose blur is not directional, solved under a streak
    after all (``read_forward`` as for a directional one, on the window itself): the
    out-of-focus solve read nothing, and a streak of two modules on a code seen in
    strong perspective can look isotropic (12 MP perspective-11: a 4.9 px streak on
    2.1 px modules, window anisotropy 0.09; the disk fits its known modules better,
    0.030 against 0.039, yet only the streak's solve reads). Then the codes of more
    than ``MAX_MODULE_PX`` a module likewise, on the frame shrunk (``large``): 2 MP
    tuning combined-2 (3.6 px modules, a 1.6-module streak, noise sigma 21 under a
    shadow, window anisotropy 0.06) fits a 3 px streak at 66 deg on the shrunk frame
    at 0.051 with the noise out against 0.103 for the best disk, and reads at ~0.5 s
    CPU; no stage read it before."""
    quads: list[np.ndarray] = p.memo["densest_quads"]  # type: ignore[assignment]
    for sheet, window in memo.unread_focused(p):
        yield from _marked(p, sheet, read_forward(p, window, quads[sheet], isotropic=True))
    for sheet, window in memo.unread_focused(p):  # a large code, on the frame shrunk
        yield from _marked(
            p, sheet, read_forward(p, window, quads[sheet], isotropic=True, large=True)
        )


MAX_ISOTROPIC_STREAK_MODULES = 5.0
"""The longest streak (in modules of the code) ``fwd_streak`` solves on a window that
is not directional: a streak over many modules makes the window's structure tensor
directional, so a long streak fitting an isotropic window's known modules best is
the search's edge, not the blur. The codes ``fwd_streak`` reads fit 2.2 modules (2 MP
tuning combined-51: 4 px on 1.8 px modules) and 3.3 (12 MP perspective-11: 6 px on
1.8); on the 2 MP tuning photos it read nothing on, the best streak was the longest
tried (10 px) on 0.9-1.5 px modules, 6.9-11.5 modules (perspective-11, -13, lowres-63,
multi-46, combined-14, -30, -32), and their solves and refinement rounds cost
0.8-1.2 s CPU each out of the 1.5 s budget (combined-30 then read at ``fwd_wide`` at
1.49 s)."""


def forward_blobs_stage(p: Picture) -> Iterable[str]:
    """The forward model (``read_forward``) on the textured blobs that no sheet
    explains: a code outside every sheet found, or one its sheet's window misses
    (2 MP combined-12: the sheet found wrong under a strong perspective, its QR
    window 100 px off the code and the finders there give a code of 67 x 29 px; the
    blob is on the code). A blob is skipped when its centre lies in a read sheet's
    densest window (that code again). A window where ``forward`` found a square code
    but read nothing does not explain a blob: its finders can be wrong where the
    blob's are right (2 MP combined-9: the sheet's window cuts the code's top-left
    finder, its codes lie 74-84 px off; the blob's lies 0.2-0.4 px off and reads).
    Runs only on photos still unread after ``forward``; a blob of text is mostly
    turned away by its finder triples' quality (~0.05 s)."""
    import cv2

    quads: list[np.ndarray] = p.memo["densest_quads"]  # type: ignore[assignment]
    read = memo.read_sheets(p)
    windows = memo.blob_windows(p)
    centres: list[np.ndarray] = p.memo["blob_centres"]  # type: ignore[assignment]
    for window, quad, centre in zip(windows, memo.blob_quads(p), centres, strict=True):
        if p.expired():
            return
        point = (float(centre[0]), float(centre[1]))
        explained = [quads[sheet] for sheet in read]
        if any(cv2.pointPolygonTest(q.astype(np.float32), point, False) >= 0 for q in explained):
            continue
        if _deblur.anisotropy(window) > memo.STREAK_ANISOTROPY:
            sharp = next(_streaks.refined(window), None)
            texts = read_forward(p, window if sharp is None else sharp, quad, blob=True)
        else:
            texts = read_forward(p, window, quad, defocused=True, blob=True)
        yield from texts


def forward_wide_stage(p: Picture) -> Iterable[str]:
    """Each sheet still unread, solved under a streak after a defocus (as ``forward``
    and ``fwd_streak``) where the known modules fit the likeliest geometry and blur
    between ``_forward.MAX_RESIDUAL`` and ``WIDE_RESIDUAL`` (``read_forward`` with
    ``wide``): those were not solved. 2 MP combined-16 (noise sigma 24, window
    anisotropy 0.25, on the line between the two paths) fits 0.100 under a 6 px streak
    at 114 deg and sigma 0.4, and its first refinement round reads (with the frame's
    noise taken out, ``_forward.less_noise``, it fits under the bound and
    ``fwd_streak`` reads it now). Directional sheets on their stripes-deconvolved
    window, the others on the window itself.

    Then each sheet still unread whose blur is not directional, solved out of focus
    (as ``forward``) where its known modules fit a lens disk and Gaussian between the
    same two bounds, for modules of ``MIN_WIDE_FOCUSED_PX`` or more: 2 MP tuning
    combined-30 (1.08 px a module, a hard shadow across the code, no disk) fits 0.102
    at its finders' geometry and 0.085 at its true one (the light plane does not
    model the shadow's edge), and the out-of-focus solve there reads it."""
    quads: list[np.ndarray] = p.memo["densest_quads"]  # type: ignore[assignment]
    todo = []
    for sheet, window in [*memo.unread_streaked(p), *memo.unread_focused(p)]:
        sharp = memo.first_streak(p, sheet, window)
        todo.append((sheet, window if sharp is None else sharp))
    for sheet, window in todo:
        if p.expired() or sheet in memo.read_sheets(p):
            continue
        yield from _marked(p, sheet, read_forward(p, window, quads[sheet], wide=True))
    for sheet, window in list(memo.unread_focused(p)):
        if p.expired() or sheet in memo.read_sheets(p):
            continue
        yield from _marked(
            p, sheet, read_forward(p, window, quads[sheet], wide=True, defocused=True)
        )


def forward_windows_stage(p: Picture) -> Iterable[str]:
    """Each sheet still unread, its other windows that hold a dark-and-light patch
    (``_deblur.looks_like_code``) solved as ``forward`` solves its first: the first
    is not always the code's. 2 MP tuning combined-98 (noise 17, a shadow over the
    code's corner, 1.7 px modules): the code's window has the texture of 156, the
    opposite corner's print 1452, and both look like a code, so the print's came
    first, and no stage found a code in it; solved on the code's window, the first
    solve reads. A window without finders costs ~10 ms.

    A directional sheet's first window is solved on its own finders first: ``forward``
    took them from the window deconvolved with its likeliest streak, whose ringing can
    move them (2 MP tuning multi-244: a 5 px streak on 1.8 px modules; deconvolved,
    the finders give codes of 41-45 modules ~29 px off, none solvable; on the window
    the right 33 within 0.35 px, whose solve under the streak reads)."""
    read = memo.read_sheets(p)
    for sheet, window in list(memo.unread_streaked(p)):
        if p.expired():
            return
        if memo.first_streak(p, sheet, window) is not None:
            quad = memo.window_quads(p)[sheet][0]
            yield from _marked(p, sheet, read_forward(p, window, quad))
    for sheet, (windows, quads) in enumerate(
        zip(memo.sheet_windows(p), memo.window_quads(p), strict=True)
    ):
        for window, quad in zip(windows[1:], quads[1:], strict=True):
            if p.expired():
                return
            if sheet in read:
                break
            if not _deblur.looks_like_code(window):
                continue
            if _deblur.anisotropy(window) > memo.STREAK_ANISOTROPY:
                texts = read_forward(p, next(_streaks.refined(window), window), quad)
            else:
                texts = read_forward(p, window, quad, defocused=True)
            yield from _marked(p, sheet, texts)


MIN_WIDE_FOCUSED_PX = 1.0
"""The smallest modules (frame pixels) ``fwd_wide`` solves out of focus: the
smallest a sheet's code read from (2 MP tuning combined-30, 1.08 px); the codes of
0.8-1.0 px (perspective-11, -13) do not read even from the generator's geometry."""


def read_forward(
    p: Picture,
    window: np.ndarray,
    quad: np.ndarray,
    *,
    defocused: bool = False,
    blob: bool = False,
    large: bool = False,
    wide: bool = False,
    isotropic: bool = False,
    sheet: int | None = None,
) -> list[str]:
    """The texts ``read_module_grid`` reads from the module grids the forward model
    solves for the likeliest geometry and blur (``_forward``: a streak after a Gaussian
    defocus (``streaks_defocused``), or with ``defocused`` a lens disk and a
    Gaussian); [] when none reads. With ``blob`` (a blob's
    window, not rectified by a sheet): finder triples of quality
    ``MIN_BLOB_TRIPLE`` or more, modules of ``MIN_BLOB_MODULE_PX`` or more, the
    alignment pattern's homography, and the out-of-focus solve refined too. With
    ``large``, codes of more than ``MAX_MODULE_PX`` (up to ``MAX_SHRUNK_MODULE_PX``)
    are solved too, on the frame shrunk to ``SHRUNK_MODULE_PX`` a module. With
    ``wide``, only the geometries fitting between ``MAX_RESIDUAL`` and
    ``WIDE_RESIDUAL`` (those the other calls left), of ``MIN_BLOB_MODULE_PX`` or
    more (``MIN_WIDE_FOCUSED_PX`` out of focus), on the frame ``_solve_frame`` brings
    within ``MAX_CELLS`` as for the others (2 MP combined-290, turned 45 degrees,
    asks for more at full size and reads upright). With ``isotropic`` (a streak
    solved on a window that is not directional), a geometry whose likeliest streak is
    longer than ``MAX_ISOTROPIC_STREAK_MODULES`` is not solved. With ``defocused`` and
    ``sheet``, an out-of-focus solve that reads nothing is kept for ``_defocus_refits``.

    The module values are solved on the frame's own pixels; on a coarse JPEG
    (``_window_memo.coarse_jpeg``) then, when that reads nothing, on the smoothed
    ``frame``: under quantisation noise the known modules can fit no blur within
    the bound (2 MP combined-51, -67), while a code the raw pixels read is read
    sooner from them (jpeg-41, combined-22)."""
    frames = [p.full()]
    if memo.coarse_jpeg(p):
        frames.append(memo.frame(p))
    for i, gray in enumerate(frames):
        if i and p.expired():
            return []
        texts = _read_forward_on(
            p,
            gray,
            window,
            quad,
            defocused=defocused,
            blob=blob,
            large=large,
            wide=wide,
            isotropic=isotropic,
            sheet=sheet if defocused and not blob and i == 0 else None,
        )
        if texts:
            return texts
    return []


def _read_forward_on(
    p: Picture,
    gray: np.ndarray,
    window: np.ndarray,
    quad: np.ndarray,
    *,
    defocused: bool,
    blob: bool,
    large: bool,
    wide: bool,
    isotropic: bool = False,
    sheet: int | None = None,
) -> list[str]:
    """``read_forward`` on the pixels of ``gray``; ``sheet``: an unread solve kept for
    ``_defocus_refits``."""
    likely = []
    floor = _forward.MIN_BLOB_TRIPLE if blob else -np.inf
    low, high = -np.inf, _forward.MAX_RESIDUAL
    if wide:
        low, high = _forward.MAX_RESIDUAL, _forward.WIDE_RESIDUAL
    for n, hmf in _geometries(p, window, quad, alignment=blob, min_quality=floor):
        if p.expired():
            return []
        px = _forward.module_px(hmf, n)
        if not _forward.squarish(hmf, n) or px > (
            _forward.MAX_SHRUNK_MODULE_PX if large else _forward.MAX_MODULE_PX
        ):
            continue
        if large:  # only the large codes (the others were solved already)
            if px <= _forward.MAX_MODULE_PX:
                continue
        elif wide:
            smallest = MIN_WIDE_FOCUSED_PX if defocused else _forward.MIN_BLOB_MODULE_PX
            if px < smallest:
                continue
        elif blob and px < _forward.MIN_BLOB_MODULE_PX:
            continue
        solvable = _solve_frame(p, gray, hmf, n)
        if solvable is None:
            continue
        frame, to_frame = solvable
        found: list[tuple[float, tuple[float, ...] | None, list[np.ndarray]]]
        if defocused:
            start = (1.0, 0.0) if blob else None
            found = [(r, start, k) for r, _, _, k in defocus_fits(p, frame, to_frame, n)]
        else:
            found = list(_streaks_defocused(p, frame, to_frame, n))
            if found and not blob and found[0][1][0] >= _forward.LENGTHS[-1]:  # type: ignore[index]
                # the longest streak tried: it takes up a misplaced finder's misfit, so
                # the finders are moved first (``located``) and the blur found again
                moved = _once(
                    p,
                    "located",
                    (id(window), n, hmf.tobytes()),
                    window,
                    functools.partial(located, window, quad, n, hmf),
                )
                shift = np.abs(_forward.corners_of(moved, n) - _forward.corners_of(hmf, n)).max()
                again = _solve_frame(p, gray, moved, n) if shift > LOCATED_MIN_SHIFT_PX else None
                if again is not None:
                    frame, to_frame = again
                    found = list(_streaks_defocused(p, frame, to_frame, n))
            if isotropic and found:
                length = cast("tuple[float, float, float]", found[0][1])[0]
                if length > MAX_ISOTROPIC_STREAK_MODULES * _forward.module_px(to_frame, n):
                    continue
        if not found:
            continue
        residual = found[0][0]
        if residual > low:  # the frame's noise is no misfit of the geometry or blur
            found = _noise_ranked(frame, to_frame, n, found, _noise(p, frame))
            residual = found[0][0] if found else float("inf")
        if low < residual <= high:
            likely.append((residual, n, to_frame, frame, found[0][1:]))
    for _, n, hmf, frame, (streak, kernels) in sorted(likely, key=lambda c: c[0])[:1]:
        if p.expired():
            return []
        clean, to_clean = paper_outside(frame, hmf, n, kernels)
        grids = _forward.solve_soft(clean, to_clean, n, kernels)
        # then the geometry and blur refined from the last grid's binary modules
        # (out of focus later, ``_defocus_refits``: after every sheet's first solve)
        starts = [] if streak is None else [streak]
        if streak is not None and streak[0] >= _forward.LENGTHS[-1]:
            # the longest streak tried takes up a geometry's misfit, and from it the
            # length comes down ~1 px a round while the corners stay off: from half of
            # it too (2 MP combined-112: 1.3 px modules, a 4 px streak, corners ~1 px
            # off; from 10 px unread in five rounds, from 5 px read at the fourth)
            starts.append((streak[0] / 2, streak[1]))
        more = (
            g
            for start in starts
            for _, gs in _forward.refined(
                clean, to_clean, n, grids[-1], start, expired=p.expired, soft=True
            )
            for g in gs
        )
        for grid in itertools.chain(grids, more):
            texts = read_module_grid(grid)
            if texts:
                return texts
        if sheet is not None and streak is None:
            unread_solves(p)[sheet] = (frame, hmf, n, grids[-1] > 0.5)
    return []


LOCATED_MIN_SHIFT_PX = 0.3
"""How far (frame pixels) ``located`` must move a corner for ``_read_forward_on`` to
solve its geometry instead."""
LOCATED_STEPS_MODULES = (1.0, 0.5, 0.25, 0.125, 0.0625)
"""``located``'s steps (modules): ending at 0.25 it moved the right geometries of
2 MP perspective-13 and defocus-51 (0.04-0.15 px off) 0.2-0.7 px away."""


def located(window: np.ndarray, quad: np.ndarray, n: int, hmf: np.ndarray) -> np.ndarray:
    """``hmf`` (module -> frame, an affine map through the finders of ``window``,
    rectified from the frame's ``quad``) with its three finder centres moved on the
    window, one at a time by ``LOCATED_STEPS_MODULES``, to where the known modules
    split best (``_grid_model.split``, as ``_forward.geometries`` picks the module
    count), the code's affine map through them. ~7 ms (~60-130 splits).

    Under a streak several modules long the finder template's peak can sit a module
    or two off (2 MP multi-18's third code: 1.25 px modules, a 6 px streak, its
    bottom-left finder 8.6 window px (1.7 modules) high), and at that geometry the
    known modules fit the longest streak tried best (10 px against the true 6),
    from which the corner refinement drifts (``_forward.refined``: 2.2-2.5 px off,
    1.7 after three rounds, reading only at the seventh, 1.3 s). Moved, the split
    goes from 2.57 to 2.74, the corners are 0.6-1.5 px off, the known modules fit a
    7 px streak and the first solve's refinement reads. The known modules' fit
    (``streaks``) does not choose between the two (0.050 at the finders, 0.059
    moved: the long streak hides the misfit), and on a geometry that is right the
    window's split is no better a guide (it moved 2 MP combined-16's 0.4-1.2 px off
    corners 1.4-2.8 px away, which then read no more): ``_read_forward_on`` moves
    only the finders whose known modules fit the longest streak tried."""
    import cv2

    from ocr._finders import affine, to_image
    from ocr._grid_model import model_of, split

    g = np.ascontiguousarray(window, dtype=np.float32)
    side = g.shape[1] - 1
    dst = np.array([[0, 0], [side, 0], [side, side], [0, side]], np.float32)
    to_frame = cv2.getPerspectiveTransform(dst, quad.astype(np.float32)).astype(np.float64)
    to_window = np.linalg.inv(to_frame) @ hmf
    centres = np.array([[3.5, 3.5], [n - 3.5, 3.5], [3.5, n - 3.5]], np.float32)
    tri = to_image(to_window, centres).astype(np.float64)
    model = model_of(n)

    def score(t: np.ndarray) -> float:
        corners = to_image(affine(t.astype(np.float32), n), model.square)
        return split(model.sample(g, corners.ravel().astype(np.float64)), model.known, model.value)

    s = (np.hypot(*(tri[1] - tri[0])) + np.hypot(*(tri[2] - tri[0]))) / 2 / (n - 7)
    best = score(tri)
    for step in LOCATED_STEPS_MODULES:
        moved = True
        while moved:
            moved = False
            for k in range(3):
                for d in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                    t2 = tri.copy()
                    t2[k] += np.array(d) * step * s
                    v = score(t2)
                    if v > best:
                        tri, best, moved = t2, v, True
    corners = to_image(affine(tri.astype(np.float32), n), model.square).astype(np.float32)
    frame = cv2.perspectiveTransform(corners[None], to_frame)[0]
    square = np.array([[0, 0], [n, 0], [n, n], [0, n]], np.float32)
    return np.asarray(cv2.getPerspectiveTransform(square, frame), np.float64)


PAPER_CROP_PAD = 24
"""Frame pixels ``paper_outside`` keeps around the code's margin ring: more than the
solve, the blur fit and the corner refinement reach past it (``_forward``: 13 at
most)."""


def paper_outside(
    gray: np.ndarray, hmf: np.ndarray, n: int, kernels: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The frame around a code (``PAPER_CROP_PAD`` past its margin ring) and the module ->
    that crop homography, with every pixel farther outside the code than its margin
    ring and the blur's reach set to the paper's level (the median of the ring): the
    forward model draws nothing there but the light plane, so what lies there (the
    desk past the edge of the sheet, another sheet's print) only misleads the solve.
    The solve's box is upright, so a code turned 45 degrees near the sheet's edge has
    the desk in the box's corners: 2 MP tuning multi-11's first code (1.58 px
    modules, 10 px from the edge) solved at its finders' geometry and streak left
    57-69 modules wrong, and with the desk there replaced by paper 0 at the second
    round; its refinement's blur fit (relative residual 0.56 against 0.13) went
    astray with it."""
    import cv2

    m = _forward.MARGIN
    ring = np.array([[-m, -m], [n + m, -m], [n + m, n + m], [-m, n + m]], np.float64)
    outer = cv2.perspectiveTransform(ring[None], hmf.astype(np.float64))[0]
    x0, y0 = np.maximum(np.floor(outer.min(0)).astype(int) - PAPER_CROP_PAD, 0)
    x1 = min(int(np.ceil(outer[:, 0].max())) + PAPER_CROP_PAD, gray.shape[1])
    y1 = min(int(np.ceil(outer[:, 1].max())) + PAPER_CROP_PAD, gray.shape[0])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return gray, hmf
    crop = gray[y0:y1, x0:x1].copy()
    to_crop = np.array([[1.0, 0, -x0], [0, 1, -y0], [0, 0, 1]]) @ hmf
    inv = np.linalg.inv(to_crop)
    yy, xx = np.mgrid[0 : y1 - y0, 0 : x1 - x0].astype(np.float64)
    den = inv[2, 0] * xx + inv[2, 1] * yy + inv[2, 2]
    mx = (inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]) / den
    my = (inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]) / den
    out = np.maximum(np.maximum(-mx, mx - n), np.maximum(-my, my - n))  # modules outside
    reach = sum(max(k.shape) // 2 for k in kernels) / _forward.module_px(to_crop, n)
    in_ring = (out > 0.5) & (out < m)
    far = out > m + reach
    if in_ring.sum() < 20 or not far.any():
        return gray, hmf
    crop[far] = np.median(crop[in_ring])
    return crop, to_crop


def unread_solves(p: Picture) -> dict[int, tuple[np.ndarray, np.ndarray, int, np.ndarray]]:
    """Per sheet, the out-of-focus solve ``forward`` made and could not read: (frame,
    module -> frame homography, module count, the last round's binary modules)."""
    kept = p.memo.setdefault("unread_defocus_solves", {})
    return cast("dict[int, tuple[np.ndarray, np.ndarray, int, np.ndarray]]", kept)


def refit_defocus(
    frame: np.ndarray,
    hmf: np.ndarray,
    n: int,
    grid: np.ndarray,
    expired: Callable[[], bool] = lambda: False,
) -> Iterator[list[np.ndarray]]:
    """Rounds of module grids (``_forward.solve_soft``'s) solved again under the lens
    disk and Gaussian under which the binary modules ``grid`` best predict the frame,
    and the corners those modules fit under it, in turns (``_forward.refined`` from a
    disk): nothing when the code's box leaves the frame.

    ``_forward.defocus`` chooses the blur by the known modules alone, on a coarse
    grid (radii 0.5 px apart), and at 2 MP a disk of about a module leaves a code
    very sensitive to it: 2 MP tuning multi-72's first code (1.4 px a module, the
    generator's disk 1.4 px) fits sigma 0.5 and radius 1.5 there, 43 modules wrong
    after four rounds, unread; all the first solve's modules fit a disk of 1.6 px
    and no Gaussian, and the solve under it reads. multi-4's third code (1.35 px a
    module) likewise. A code of ~1.5 px modules under a disk of more than a module
    needs the corners within ~0.1-0.2 px and the disk within ~0.1 px at once: 2 MP
    combined-148, -152, -177 (defocus and lowres; the true corners moved 0.5 px) read
    after one to three rounds, none at the refitted blur alone. ~0.2 s a round; the
    residual does not end them (152's second round, the one that reads, fits worse
    than its first)."""
    start = (1.0, 0.0, 0.0, _forward.MIN_RADIUS)
    for _, grids in _forward.refined(
        frame, hmf, n, grid, start, expired=expired, soft=True, stalled=math.inf
    ):
        yield grids


def _defocus_refits(p: Picture, rounds: int) -> Iterable[str]:
    """Up to ``rounds`` more rounds of ``refit_defocus`` on each sheet still unread
    whose out-of-focus solve ``forward`` kept, each sheet's rounds resumed where the
    last call left them: after every sheet's first solve, so a code that will not
    read does not hold up the others' (a photo of three invoices), and its first
    round only before ``fwd_bent`` (a crumpled sheet out of focus: the bent solve
    reads it, and all of a flat one's rounds first cost 2 MP combined-25 its read
    within the budget)."""
    read = memo.read_sheets(p)
    going = cast("dict[int, Iterator[list[np.ndarray]]]", p.memo.setdefault("refits", {}))
    for sheet, (frame, hmf, n, grid) in list(unread_solves(p).items()):
        if p.expired():
            return
        if sheet in read:
            continue
        if sheet not in going:
            going[sheet] = refit_defocus(frame, hmf, n, grid, p.expired)
        for grids in itertools.islice(going[sheet], rounds):
            texts = next((t for t in map(read_module_grid, grids) if t), [])
            if texts:
                yield from _marked(p, sheet, texts)
                break


def defocus_refits_stage(p: Picture) -> Iterable[str]:
    """The rest of ``refit_defocus``'s rounds on the sheets still unread."""
    return _defocus_refits(p, _forward.REFINE_ROUNDS)


UPRIGHT_PAD = 4 * (int(_forward.LENGTHS[-1]) + 3)
"""Frame pixels kept around the code's box in ``upright``'s crop (``_forward.shrunk``'s
pad: the solve, the blur fit and the corner refinement all reach past the code),
the frame's border replicated where the crop leaves it."""


def upright(gray: np.ndarray, hmf: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The frame around the code turned so that the code's sides run along the pixel
    axes (a rotation, no scaling: a lens disk or a Gaussian is the same after it, a
    streak is measured on the turned frame), and the module -> turned-frame homography;
    None when the code and its quiet zone are not all in the frame or the turn does
    not bring its solve under ``_forward.MAX_CELLS``. The crop may leave the frame
    (``UPRIGHT_PAD``, its border replicated): a code ~50 px from the frame's edge was
    never solved (2 MP tuning multi-234, its finders' geometry 0.24 px off, read so).

    ``_forward.cells`` counts the pixels of the code's upright bounding box: a code
    turned 30-60 degrees has up to twice the pixels of the same code upright, so a
    2 MP code of 37 modules at 1.65 px a module turned 40 degrees (tuning multi-47:
    25 M cells) was over the bound, and too small to shrink (``SHRUNK_MODULE_PX``):
    it was never solved, though its finders' geometry and disk read it."""
    import cv2

    corners = _forward.corners_of(hmf, n)
    along = (corners[1] - corners[0]) + (corners[2] - corners[3])  # the module x axis
    angle = float(np.arctan2(along[1], along[0]))
    cos, sin = np.cos(angle), np.sin(angle)
    m = _forward.MARGIN
    ring = np.array([[-m, -m], [n + m, -m], [n + m, n + m], [-m, n + m]], np.float64)
    outer = cv2.perspectiveTransform(ring[None], hmf.astype(np.float64))[0]
    lo, hi = outer.min(0), outer.max(0)
    if lo.min() < 0 or hi[0] > gray.shape[1] or hi[1] > gray.shape[0]:
        return None
    centre = corners.mean(0)
    turned = (outer - centre) @ np.array([[cos, -sin], [sin, cos]])  # rows: R(-angle) x
    side = int(np.ceil(np.abs(turned).max() + UPRIGHT_PAD)) * 2
    # x' = R(-angle) (x - centre) + side / 2
    to_up = np.array(
        [
            [cos, sin, side / 2 - (cos * centre[0] + sin * centre[1])],
            [-sin, cos, side / 2 - (-sin * centre[0] + cos * centre[1])],
            [0.0, 0.0, 1.0],
        ]
    )
    turned_frame = cv2.warpAffine(
        gray, to_up[:2], (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    hmu = to_up @ hmf
    return (turned_frame, hmu) if _forward.cells(hmu, n) <= _forward.MAX_CELLS else None
