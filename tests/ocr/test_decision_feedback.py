"""The forward model's solve fixes the Reed-Solomon blocks that decode
(``_forward.solve_design`` with ``_qr_soft.decoded_modules``) and goes on past its
rounds while each round decodes more of them."""

from __future__ import annotations

import numpy as np


def test_a_block_that_decodes_brings_the_other(cjk_font):
    """2 MP combined-39 (1.71 px modules, several faults) at the generator's true
    geometry and blur: the first round leaves ~85 modules wrong, the second ~30, and
    one of the two blocks decodes there (``_qr_soft.decoded_modules``, right); fixed,
    it makes the other block readable: round 3 is within a few modules of the code and
    reads, round 4 is the code. (Ranked by the least sure bit, as before
    ``_qr_soft.word_reliability``, the first block decoded only in round 4 and the
    code read in round 6, two rounds past ``rounds``: ``EXTRA_ROUNDS``.)"""
    import cv2

    from ocr import _qr_soft
    from ocr._fits import read_module_grid
    from ocr._forward import solve_soft
    from ocr.synth._probe import truth

    t = truth(39, "combined", "2mp")
    gray = np.asarray(cv2.imdecode(np.frombuffer(t.photo.data, np.uint8), cv2.IMREAD_GRAYSCALE))
    code, hmf, text = t.codes[0], t.homographies[0], t.photo.payloads[0]
    values = solve_soft(gray, hmf, code.shape[0], t.kernels)
    errors = [int(((v > 0.5) != code).sum()) for v in values]
    assert len(values) == 4
    assert 60 <= errors[0] <= 120
    assert 20 <= errors[1] <= 50
    assert 0 < errors[2] <= 15
    assert errors[3] == 0
    assert _qr_soft.decoded_modules(values[0]) is None
    mask, dark = _qr_soft.decoded_modules(values[1])
    assert np.array_equal(dark[mask], code[mask])
    assert [read_module_grid(v) for v in values[:2]] == [[]] * 2
    assert read_module_grid(values[2]) == [text]
    assert read_module_grid(values[-1]) == [text]


def test_the_solve_goes_past_its_rounds_while_blocks_decode(cjk_font):
    """2 MP motion-26 (1.31 px modules) at its true geometry and blur: the fourth round
    decodes a block the third did not, so a fifth follows (``EXTRA_ROUNDS``), which
    reads."""
    import cv2

    from ocr import _qr_soft
    from ocr._fits import read_module_grid
    from ocr._forward import solve_soft
    from ocr.synth._probe import truth

    t = truth(26, "motion", "2mp")
    gray = np.asarray(cv2.imdecode(np.frombuffer(t.photo.data, np.uint8), cv2.IMREAD_GRAYSCALE))
    code, hmf, text = t.codes[0], t.homographies[0], t.photo.payloads[0]
    values = solve_soft(gray, hmf, code.shape[0], t.kernels)
    vouched = [0 if (d := _qr_soft.decoded_modules(v)) is None else int(d[0].sum()) for v in values]
    assert len(values) == 5
    assert vouched[3] > vouched[2]
    assert [read_module_grid(v) for v in values[:4]] == [[]] * 4
    assert read_module_grid(values[-1]) == [text]
