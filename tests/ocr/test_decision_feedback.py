"""The forward model's solve fixes the Reed-Solomon blocks that decode
(``_forward.solve_design`` with ``_qr_soft.decoded_modules``) and goes on past its
rounds while each round decodes more of them."""

from __future__ import annotations

import numpy as np


def test_a_block_that_decodes_in_the_last_round_brings_the_other(cjk_font):
    """2 MP combined-39 (1.71 px modules, several faults) at the generator's true
    geometry and blur: four rounds leave 30-120 modules wrong, one of the two blocks
    decodes only in round 4; fixed, it makes the other block readable: round 5 is
    within a few modules of the code and round 6 is the code, read."""
    import cv2

    from ocr._fits import read_module_grid
    from ocr._forward import EXTRA_ROUNDS, solve_soft
    from ocr.synth._probe import truth

    t = truth(39, "combined", "2mp")
    gray = np.asarray(cv2.imdecode(np.frombuffer(t.photo.data, np.uint8), cv2.IMREAD_GRAYSCALE))
    code, hmf, text = t.codes[0], t.homographies[0], t.photo.payloads[0]
    values = solve_soft(gray, hmf, code.shape[0], t.kernels)
    errors = [int(((v > 0.5) != code).sum()) for v in values]
    assert len(values) == 4 + EXTRA_ROUNDS
    assert all(30 <= e <= 120 for e in errors[:4])
    assert [read_module_grid(v) for v in values[:4]] == [[]] * 4
    assert errors[-1] == 0
    assert read_module_grid(values[-1]) == [text]
