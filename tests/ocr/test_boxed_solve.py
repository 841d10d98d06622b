"""The forward model's rounds solve least squares with the module values bounded
(``_forward.boxed``): unbounded, a blurred code's solve rings past 0 and 1."""

from __future__ import annotations

import numpy as np


def test_boxed_is_the_bounded_minimiser():
    """On a random well-posed quadratic whose free minimiser lies far outside the box,
    ``boxed`` ends inside the box where no coordinate can improve: interior gradients
    near zero, at the lower bound pointing up, at the upper bound pointing down."""
    from ocr._forward import BOX, boxed

    rng = np.random.default_rng(7)
    basis = rng.normal(size=(400, 300))
    normal = basis.T @ basis / 400 + 0.5 * np.eye(300)
    rhs = normal @ rng.normal(0.5, 1.5, 300)  # the free minimiser: values in -4..5
    free = np.linalg.solve(normal, rhs)
    lo, hi = BOX
    assert (free < lo).sum() > 50
    assert (free > hi).sum() > 50
    x = boxed(normal, rhs, free)
    assert lo <= x.min()
    assert x.max() <= hi
    grad = normal @ x - rhs
    scale = np.abs(rhs).max()
    inside = (x > lo + 1e-4) & (x < hi - 1e-4)
    assert np.abs(grad[inside]).max() < 0.02 * scale
    assert grad[x <= lo + 1e-4].min() > -0.02 * scale
    assert grad[x >= hi - 1e-4].max() < 0.02 * scale
    objective = lambda v: v @ normal @ v / 2 - rhs @ v  # noqa: E731
    assert objective(x) < objective(np.clip(free, lo, hi))


def test_a_shaken_code_reads_from_its_true_geometry_only_when_bounded(cjk_font):
    """2 MP motion-26 (1.31 px modules under a streak): at the generator's true geometry
    and blur, the unbounded solve leaves 80-140 modules wrong in every round and reads
    nothing; bounded, a block decodes and the code reads."""
    import cv2

    from ocr import _forward
    from ocr._fits import read_module_grid
    from ocr.synth._probe import truth

    t = truth(26, "motion", "2mp")
    gray = np.asarray(cv2.imdecode(np.frombuffer(t.photo.data, np.uint8), cv2.IMREAD_GRAYSCALE))
    code, hmf, text = t.codes[0], t.homographies[0], t.photo.payloads[0]
    values = _forward.solve_soft(gray, hmf, code.shape[0], t.kernels)
    assert any(read_module_grid(v) == [text] for v in values)
    unbounded = _forward.BOX
    try:
        _forward.BOX = (-np.inf, np.inf)
        plain = _forward.solve_soft(gray, hmf, code.shape[0], t.kernels)
    finally:
        _forward.BOX = unbounded
    assert all(80 <= ((v > 0.5) != code).sum() <= 140 for v in plain)
    assert not any(read_module_grid(v) for v in plain)
