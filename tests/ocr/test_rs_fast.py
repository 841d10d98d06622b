"""``ocr._rs`` against ``reedsolo`` (whose decoder it repeats): random codewords of every
QR block size (versions 1-40, levels L/M/Q/H) with random errors and erasures up to
and past the code's capacity, the same decision and the same bytes; past it, where
reedsolo lands on a wrong codeword, that it is a codeword (syndromes by bitwise GF
arithmetic) and ``_rs`` lands on the same one. Then ``_qr_soft.corrected_block``
(its data codewords) against the loop of ``reedsolo`` decodes it replaced, on soft blocks."""

from __future__ import annotations

import functools
import random

import numpy as np
import pytest
import reedsolo

from ocr import _qr_soft as q
from ocr import _rs


@functools.cache
def _codec(ecc: int) -> reedsolo.RSCodec:
    return reedsolo.RSCodec(ecc, fcr=0, prim=0x11D, generator=2, c_exp=8)


def _block_sizes(versions: range) -> list[tuple[int, int]]:
    """The (codewords, ECC codewords) of every block of ``versions`` at every level."""
    return sorted(
        {(len(i), ecc) for v in versions for level in "LMQH" for i, ecc in q.block_layout(v, level)}
    )


def _gf_mul_bitwise(a: int, b: int) -> int:
    out = 0
    while b:
        if b & 1:
            out ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= 0x11D
    return out


def _is_codeword(word: bytes, nsym: int) -> bool:
    """All nsym syndromes zero: word(alpha^i) by Horner, without tables."""
    alpha_i = 1
    for _ in range(nsym):
        value = 0
        for c in word:
            value = _gf_mul_bitwise(value, alpha_i) ^ c
        if value:
            return False
        alpha_i = _gf_mul_bitwise(alpha_i, 2)
    return True


def _reedsolo(word: bytes, nsym: int, erase: list[int]) -> tuple[bytes, list[int]] | None:
    try:
        _, full, errata = _codec(nsym).decode(bytearray(word), erase_pos=list(erase))
    except reedsolo.ReedSolomonError:
        return None
    return bytes(full), list(errata)


def _garbled(rng: random.Random, n: int, nsym: int) -> tuple[bytes, bytes, list[int]]:
    """(codeword, received word, erasure positions): f erasures (0 to nsym + 1; an
    erased codeword right one time in ten) and e errors around (nsym - f) / 2, from
    none to past the capacity."""
    data = bytes(rng.randrange(256) for _ in range(n - nsym))
    code = bytes(_codec(nsym).encode(bytearray(data)))
    f = min(n, rng.choice([0, 0, rng.randrange(nsym + 2)]))
    half = max(0, nsym - f) // 2
    e = rng.choice([0, half - 1, half, half, half + 1, half + 3, rng.randrange(n)])
    e = min(n - f, max(0, e))
    where = rng.sample(range(n), f + e)
    word = bytearray(code)
    for i, p in enumerate(where):
        if i >= f or rng.random() < 0.9:
            word[p] ^= rng.randrange(1, 256)
    return code, bytes(word), sorted(where[:f])


def _errors(errata: list[int], erase: list[int]) -> int:
    return len(set(errata) - set(erase))


def _check(n: int, nsym: int, trials: int, seed: int) -> dict[str, int]:
    """``trials`` garbled codewords decoded by both; how many reedsolo read, failed
    on, decoded to a wrong codeword, or decoded with 2 e + f past ``nsym``."""
    rng = random.Random(seed)
    counts = {"read": 0, "failed": 0, "wrong": 0, "past": 0}
    for _ in range(trials):
        code, word, erase = _garbled(rng, n, nsym)
        want = _reedsolo(word, nsym, erase)
        # reedsolo's own bound
        got = _rs.decode(word, nsym, erase)
        assert (got and (got[0], sorted(got[1]))) == (want and (want[0], sorted(want[1])))
        if want is None:
            counts["failed"] += 1
            continue
        fixed, errata = want
        past = 2 * _errors(errata, erase) + len(erase) > nsym  # reedsolo's loose bound
        counts["past"] += past
        if fixed != code or past:  # a wrong codeword: a real one all the same
            counts["wrong"] += fixed != code
            assert _is_codeword(fixed, nsym)
        else:
            counts["read"] += 1
        # and with a budget, as corrected_block asks: reedsolo's decode when within it
        for budget in (nsym, nsym - 2):
            within = 2 * _errors(errata, erase) + len(erase) <= budget
            got = _rs.decode(word, nsym, erase, budget)
            assert (got and got[0]) == (fixed if within else None)
    return counts


@pytest.mark.parametrize(("n", "nsym"), _block_sizes(range(1, 41)))
def test_decode_is_reedsolos_on_every_qr_block_size(n, nsym):
    trials = 60 if (n, nsym) in _block_sizes(range(1, 11)) else 20
    _check(n, nsym, trials, seed=n * 1000 + nsym)


def test_the_cases_reach_past_the_capacity():
    """The garbled words hold reads, failures and wrong codewords (version 1 at level
    L: 7 ECC codewords, the likeliest to land on one)."""
    counts = _check(26, 7, 400, seed=1)
    assert counts["read"] > 100
    assert counts["failed"] > 100
    assert counts["wrong"] >= 5


def _reedsolo_correct_block(block: bytes, conf: np.ndarray, ecc: int, margin: int) -> bytes | None:
    """``corrected_block``'s data codewords as it was first written: a reedsolo decode a
    try."""
    order = [int(i) for i in np.argsort(conf, kind="stable")]
    for erased in range(0, ecc - margin + 1, q.ERASURE_STEP):
        erase = sorted(order[:erased])
        got = _reedsolo(block, ecc, erase)
        if got is not None and 2 * _errors(got[1], erase) + erased <= ecc - margin:
            return got[0][:-ecc]
    return None


@pytest.mark.parametrize(("n", "ecc"), _block_sizes(range(1, 11)))
def test_correct_block_is_the_reedsolo_loop_it_replaced(n, ecc):
    rng = random.Random(n * 1000 + ecc + 7)
    nrng = np.random.default_rng(n * 1000 + ecc)
    cases = 24 if (n, ecc) in {(70, 26), (50, 18), (67, 24)} else 8  # the invoice codes
    for i in range(cases):
        code = bytes(_codec(ecc).encode(bytearray(rng.randrange(256) for _ in range(n - ecc))))
        wrong = rng.sample(range(n), rng.randrange(min(n, ecc + 6)))
        word = bytearray(code)
        for p in wrong:
            word[p] ^= rng.randrange(1, 256)
        conf = nrng.random(n)
        unsure = [p for p in wrong if rng.random() < 0.8]  # most wrong ones least sure
        conf[unsure] *= 0.3
        if i % 4 == 0:
            conf = np.round(conf * 4) / 4  # ties: the stable order decides
        for margin in (0, q.MARGIN):
            want = _reedsolo_correct_block(bytes(word), conf, ecc, margin)
            got = q.corrected_block(bytes(word), conf, ecc, margin)
            assert (None if got is None else got[:-ecc]) == want
