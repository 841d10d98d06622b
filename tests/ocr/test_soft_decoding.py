"""The soft decoder ranks a block's codewords for erasure by the likelihood that all
eight bits are right (``_qr_soft.word_reliability``), not by its least sure bit alone."""

from __future__ import annotations

import numpy as np
import pytest

from ocr import _qr_soft as q


def _least_sure_bit(values: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The ranking before: a codeword as sure as its least sure bit."""
    out: np.ndarray = np.abs(values - threshold).min(axis=1)
    return out


def test_several_unsure_bits_rank_below_one_a_little_less_sure():
    """In a block whose bits lie 0.2 from 0 or 1 (the spread of the 2 MP truth solves'
    blocks with wrong codewords: 0.16-0.25), a codeword with three bits 0.12 from the
    threshold is likelier wrong than one with a single bit 0.10 from it: ranked first,
    where the least sure bit alone ranks it second."""
    rng = np.random.default_rng(0)
    values = np.where(rng.random((40, 8)) < 0.5, 0.8, 0.2)
    values[3, :3] = [0.62, 0.38, 0.62]
    values[7, 5] = 0.40
    assert np.argsort(q.word_reliability(values))[:2].tolist() == [3, 7]
    assert np.argsort(_least_sure_bit(values))[:2].tolist() == [7, 3]


def _first_round(cat: str, seed: int, k: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(the forward model's first round under the generator's true geometry and blur,
    the code, its text) of a 2 MP tuning photo's code ``k``: the first round is solved
    before any decoded block is fed back, so it is the same whatever the ranking."""
    import cv2

    from ocr._forward import solve_soft
    from ocr.synth._probe import truth

    t = truth(seed, cat, "2mp")
    gray = np.asarray(cv2.imdecode(np.frombuffer(t.photo.data, np.uint8), cv2.IMREAD_GRAYSCALE))
    code, hmf = t.codes[k], t.homographies[k]
    return solve_soft(gray, hmf, code.shape[0], t.kernels)[0], code, t.photo.payloads[k]


def test_a_first_round_only_the_likelihood_ranking_reads(cjk_font, monkeypatch):
    """2 MP jpeg-11 (v5-M, two blocks of 24 ECC codewords): its first round has ~30
    modules wrong. Ranked by the least sure bit, one block decodes; ranked by
    likelihood, both do, and the code reads, true to the code the generator drew."""
    values, code, text = _first_round("jpeg", 11, 0)
    assert 20 <= ((values > 0.5) != code).sum() <= 40
    assert q.decode(values) == text
    mask, dark = q.decoded_modules(values)
    assert np.array_equal(dark[mask], code[mask])
    vouched = int(mask.sum())
    monkeypatch.setattr(q, "word_reliability", _least_sure_bit)
    assert q.decode(values) is None
    before = q.decoded_modules(values)
    assert before is not None
    assert int(before[0].sum()) < vouched


@pytest.mark.parametrize(("cat", "seed", "k"), [("combined", 41, 0), ("multi", 4, 2)])
def test_a_first_round_block_only_the_likelihood_ranking_decodes(
    cjk_font, monkeypatch, cat, seed, k
):
    """2 MP combined-41 and multi-4's third code (v4-M, two blocks of 18): ~30-45
    modules wrong in the first round; one block decodes (right), which the solve then
    fixes; by the least sure bit, none does."""
    values, code, _ = _first_round(cat, seed, k)
    got = q.decoded_modules(values)
    assert got is not None
    mask, dark = got
    assert np.array_equal(dark[mask], code[mask])
    monkeypatch.setattr(q, "word_reliability", _least_sure_bit)
    assert q.decoded_modules(values) is None
