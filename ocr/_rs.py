"""Reed-Solomon errors-and-erasures decoding of QR blocks: GF(256), primitive 0x11D,
generator 2, first consecutive root 0 (ISO/IEC 18004).

The steps of ``reedsolo`` 1.7's ``rs_correct_msg``, so its decisions and bytes, past
the code's capacity too (``tests/ocr/test_rs_fast.py`` holds the two side by side):
erased codewords set to 0, syndromes, Forney syndromes, its Berlekamp-Massey, a Chien
search over the block's positions, Forney's magnitudes, the result's syndromes
checked. ``correct`` tries growing erasure sets on one block, as
``_qr_soft.corrected_block`` does, for much less: the syndromes are one numpy lookup
and reduction, made once a block (erasing a codeword only removes its term); the
Forney syndromes grow with the erasure set (the first nsym - f do not depend on the
erased values nor on the order the erasures are applied in); the Chien search is
vectorised; and with a ``budget`` (count a decode only if 2 e + f <= budget) a try
stops as soon as Berlekamp-Massey's length passes (budget - f) / 2: that length never
shrinks, and a decode within the budget has an error locator of length e that
generates the Forney syndromes, which bounds the shortest one from above.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

import numpy as np

_EXP = [0] * 510
_LOG = [0] * 256
_x = 1
for _i in range(255):
    _EXP[_i] = _EXP[_i + 255] = _x
    _LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= 0x11D
_EXP_NP = np.array(_EXP, np.uint8)
_LOG_NP = np.array(_LOG, np.int64)


@functools.cache
def _syndrome_powers(n: int, nsym: int) -> np.ndarray:
    """(n, nsym): i (n - 1 - p) mod 255, the log of alpha^i at position p's degree."""
    degree = n - 1 - np.arange(n)
    return (degree[:, None] * np.arange(nsym)[None, :]) % 255


@functools.cache
def _chien_powers(n: int, degree: int) -> np.ndarray:
    """(n, degree + 1): i d mod 255 for the points alpha^i, i < n, and powers d."""
    return (np.arange(n)[:, None] * np.arange(degree + 1)[None, :]) % 255


def _terms(word: np.ndarray, nsym: int) -> np.ndarray:
    """(n, nsym): each codeword's term of each syndrome (0 for a zero codeword)."""
    terms: np.ndarray = _EXP_NP[_LOG_NP[word][:, None] + _syndrome_powers(len(word), nsym)]
    terms[word == 0] = 0
    return terms


def _locator(fsynd: list[int], steps: int, limit: int) -> list[int] | None:
    """reedsolo's Berlekamp-Massey on the first ``steps`` Forney syndromes: the error
    locator, highest degree first, with the leading zeros its lists keep; None once
    its length (the list's, less one) passes ``limit``. reedsolo's lists are kept here
    as fixed arrays, lowest degree first, with their lengths: ``err_loc`` is
    ``c[lc::-1]``, ``old_loc`` is ``b[lb::-1]`` followed by ``shift`` zeros."""
    exp, log = _EXP, _LOG
    c = [1] + [0] * steps
    b = [1] + [0] * steps
    lc = lb = shift = 0
    for k in range(steps):
        delta = fsynd[k]
        for j in range(1, lc + 1):
            cj, s = c[j], fsynd[k - j]
            if cj and s:
                delta ^= exp[log[cj] + log[s]]
        shift += 1
        if not delta:
            continue
        ld = log[delta]
        if lb + shift > lc:  # len(old_loc) > len(err_loc): the length grows
            if lb + shift > limit:
                return None
            old = c[: lc + 1]
            for j in range(lb + 1):
                bj = b[j]
                if bj:
                    c[j + shift] ^= exp[log[bj] + ld]
            b = [exp[log[t] + 255 - ld] if t else 0 for t in old]
            lc, lb, shift = lb + shift, lc, 0
        else:
            for j in range(lb + 1):
                bj = b[j]
                if bj:
                    c[j + shift] ^= exp[log[bj] + ld]
    return c[lc::-1]


def _errata_locator(coef_pos: list[int]) -> list[int]:
    """prod (1 + alpha^c x) over ``coef_pos``, highest degree first."""
    exp, log = _EXP, _LOG
    loc = [1]
    for c in coef_pos:
        # loc * [alpha^c, 1]
        out = [0] * (len(loc) + 1)
        for i, a in enumerate(loc):
            if a:
                out[i] ^= exp[log[a] + c % 255]
                out[i + 1] ^= a
        loc = out
    return loc


def _eval(poly: list[int], lx: int) -> int:
    """``poly`` (highest degree first) at the element of log ``lx`` (Horner)."""
    exp, log = _EXP, _LOG
    y = poly[0]
    for c in poly[1:]:
        y = (exp[log[y] + lx] if y else 0) ^ c
    return y


def _magnitudes(synd: list[int], errata: list[int], n: int) -> list[int] | None:
    """reedsolo's ``rs_correct_errata``: the value to add at each position of
    ``errata`` (Forney), None where the errata locator's derivative vanishes."""
    exp, log = _EXP, _LOG
    coef_pos = [n - 1 - p for p in errata]
    err_loc = _errata_locator(coef_pos)
    # omega = (synd reversed * err_loc) mod x^(len(err_loc)): the product's last terms
    rev = synd[::-1]
    prod = [0] * (len(rev) + len(err_loc) - 1)
    for j, b in enumerate(err_loc):
        if b:
            lb = log[b]
            for i, a in enumerate(rev):
                if a:
                    prod[i + j] ^= exp[log[a] + lb]
    omega = prod[-len(err_loc) :]
    logs = [c % 255 for c in coef_pos]  # log X_i
    out = []
    for i, lxi in enumerate(logs):
        inv = (255 - lxi) % 255  # log X_i^-1
        prime = 1
        for j, lxj in enumerate(logs):
            if j != i:
                term = 1 ^ exp[inv + lxj]
                prime = exp[log[prime] + log[term]] if prime and term else 0
        if prime == 0:
            return None
        y = _eval(omega, inv)
        if y:
            y = exp[log[y] + lxi]
        out.append(exp[log[y] + 255 - log[prime]] if y else 0)
    return out


def _chien(err_loc: list[int], n: int) -> list[int]:
    """Positions p < n (n - 1 - i) where the reversed locator vanishes at alpha^i."""
    degree = len(err_loc) - 1
    # the reversed locator at x: sum over m of err_loc[m] x^m
    coef = np.array(err_loc, np.int64)
    nz = coef != 0
    powers = _chien_powers(n, degree)[:, nz]
    values = np.bitwise_xor.reduce(_EXP_NP[_LOG_NP[coef[nz]][None, :] + powers], axis=1)
    return [n - 1 - int(i) for i in np.flatnonzero(values == 0)]


def correct(
    word: bytes, nsym: int, order: Sequence[int], tries: Iterable[int], budget: int | None = None
) -> tuple[bytes, list[int]] | None:
    """The first decode of ``word`` (a codeword of ``nsym`` ECC symbols, at most 255)
    with the first f of ``order`` erased, f in ``tries`` (increasing, at most
    ``len(order)``): the corrected codeword and its errata positions (the erasures
    sorted, then the errors), or None when none decodes.
    With ``budget``, a decode with e errors counts only if 2 e + f <= budget (else
    reedsolo's own bound, 2 (e - f) + f <= nsym)."""
    n = len(word)
    received = np.frombuffer(word, np.uint8)
    terms = _terms(received, nsym)
    synd = np.bitwise_xor.reduce(terms, axis=0)
    fsynd = [int(s) for s in synd]  # Forney syndromes; the first nsym - f are valid
    exp, log = _EXP, _LOG
    done = 0
    for f in tries:
        if f > nsym or (budget is not None and f > budget):
            continue
        for q in order[done:f]:
            lx = (n - 1 - q) % 255
            for j in range(nsym - 1 - done):
                a = fsynd[j]
                fsynd[j] = (exp[log[a] + lx] if a else 0) ^ fsynd[j + 1]
            done += 1
        erase = sorted(order[:f])
        zeroed = received.copy()
        zeroed[erase] = 0
        zsynd = synd ^ np.bitwise_xor.reduce(terms[erase], axis=0) if erase else synd
        # zero syndromes (a codeword once erased) have zero Forney syndromes: those first
        if not any(fsynd[: nsym - f]) and not zsynd.any():
            return zeroed.tobytes(), erase
        limit = nsym if budget is None else (budget - f) // 2
        err_loc = _locator(fsynd, nsym - f, limit)
        if err_loc is None:
            continue
        while err_loc[0] == 0:
            err_loc = err_loc[1:]
        errs = len(err_loc) - 1
        if (2 * (errs - f) + f > nsym) if budget is None else (2 * errs + f > budget):
            continue
        found = _chien(err_loc, n)
        if len(found) != errs:
            continue
        errata = erase + found
        values = _magnitudes([0, *(int(s) for s in zsynd)], errata, n)
        if values is None:
            continue
        fixed = zeroed.copy()
        for p, v in zip(errata, values, strict=True):
            fixed[p] ^= v
        if np.bitwise_xor.reduce(_terms(fixed, nsym), axis=0).any():
            continue
        return fixed.tobytes(), errata
    return None


def decode(
    word: bytes, nsym: int, erase: Sequence[int] = (), budget: int | None = None
) -> tuple[bytes, list[int]] | None:
    """``word`` decoded with ``erase`` erased: (the corrected codeword, its errata
    positions) or None; ``budget`` as in ``correct``."""
    return correct(word, nsym, list(erase), [len(erase)], budget)
