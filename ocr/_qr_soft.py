"""A QR decoder from a module grid with a confidence per module (soft decisions).

The cascade's module-by-module stages (``_grid``, ``_forward``) estimate each module
as a number, not a bit: a grey sample, a least-squares solution. zxing on the grid
drawn clean sees only the hard decisions, so Reed-Solomon corrects only *errors*
(2 e <= ecc codewords a block). Here the least confident codewords are marked as
*erasures* (2 e + f <= ecc), which corrects up to twice as many of them when they are
the wrong ones. Per block, increasing numbers of the least confident codewords (by
the likelihood that all eight bits are right, ``word_reliability``) are erased until
the block decodes with ``MARGIN`` ecc codewords to spare (a decode that uses the last
ones is as likely a wrong codeword as a right one).

The QR parts (ISO/IEC 18004): format information (BCH (15, 5), both copies, the
nearest of the 32 codes weighted by confidence), version information (v >= 7),
function patterns, masks, codeword placement, block de-interleaving and segments
(numeric, alphanumeric, byte, ECI, kanji). Reed-Solomon over GF(256) (primitive 0x11d,
generator 2, first root 0) is ``_rs``: ``reedsolo``'s decoder, made fast for this use.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np

from ocr import _rs

MARGIN = 2
"""ECC codewords a block must have left unused (2 e + f <= ecc - MARGIN): a block
decoded at the bound of its code is a wrong codeword about as often as a right one."""

_LEVELS = "MLHQ"
"""ECC level by the format's two bits (00 M, 01 L, 10 H, 11 Q)."""

# ISO/IEC 18004 table 9: ECC codewords per block and blocks, versions 1-40, by level.
_ECC_PER_BLOCK = {
    "L": "7 10 15 20 26 18 20 24 30 18 20 24 26 30 22 24 28 30 28 28 28 28 30 30 26 28 30 30 "
    "30 30 30 30 30 30 30 30 30 30 30 30",
    "M": "10 16 26 18 24 16 18 22 22 26 30 22 22 24 24 28 28 26 26 26 26 28 28 28 28 28 28 28 "
    "28 28 28 28 28 28 28 28 28 28 28 28",
    "Q": "13 22 18 26 18 24 18 22 20 24 28 26 24 20 30 24 28 28 26 30 28 30 30 30 30 28 30 30 "
    "30 30 30 30 30 30 30 30 30 30 30 30",
    "H": "17 28 22 16 22 28 26 26 24 28 24 28 22 24 24 30 28 28 26 28 30 24 30 30 30 30 30 30 "
    "30 30 30 30 30 30 30 30 30 30 30 30",
}
_BLOCKS = {
    "L": "1 1 1 1 1 2 2 2 2 4 4 4 4 4 6 6 6 6 7 8 8 9 9 10 12 12 12 13 14 15 16 17 18 19 19 20 "
    "21 22 24 25",
    "M": "1 1 1 2 2 4 4 4 5 5 5 8 9 9 10 10 11 13 14 16 17 17 18 20 21 23 25 26 28 29 31 33 35 "
    "37 38 40 43 45 47 49",
    "Q": "1 1 2 2 4 4 6 6 8 8 8 10 12 16 12 17 16 18 21 20 23 23 25 27 29 34 34 35 38 40 43 45 "
    "48 51 53 56 59 62 65 68",
    "H": "1 1 2 4 4 4 5 6 8 8 11 11 16 16 18 16 19 21 25 25 25 34 30 32 35 37 40 42 45 48 51 54 "
    "57 60 63 66 70 74 77 81",
}


def ecc_blocks(version: int, level: str) -> tuple[int, int]:
    """(ECC codewords per block, number of blocks) of ``version`` at ``level``."""
    return (
        int(_ECC_PER_BLOCK[level].split()[version - 1]),
        int(_BLOCKS[level].split()[version - 1]),
    )


def raw_codewords(version: int) -> int:
    """Codewords (data and ECC) a symbol of ``version`` holds."""
    bits = (16 * version + 128) * version + 64
    if version >= 2:
        k = version // 7 + 2
        bits -= (25 * k - 10) * k - 55
        if version >= 7:
            bits -= 36
    return bits // 8


def alignment_centres(version: int) -> list[int]:
    """Row / column centres of the alignment patterns (none for version 1)."""
    if version == 1:
        return []
    k = version // 7 + 2
    size = 4 * version + 17
    step = 26 if version == 32 else -(-(size - 13) // (2 * k - 2)) * 2
    return [6] + [size - 7 - step * i for i in range(k - 2, -1, -1)]


def _bch(data: int, poly: int, bits: int) -> int:
    """``data`` followed by the remainder of ``data << bits`` modulo ``poly``."""
    rem = data << bits
    top = poly.bit_length() - 1
    for shift in range(rem.bit_length() - 1, top - 1, -1):
        if rem >> shift & 1:
            rem ^= poly << (shift - top)
    return data << bits | rem


FORMATS = [_bch(d, 0x537, 10) ^ 0x5412 for d in range(32)]
"""The 15-bit format code of each (level bits << 3 | mask)."""
VERSIONS = {v: _bch(v, 0x1F25, 12) for v in range(7, 41)}
"""The 18-bit version code of each version >= 7."""


def format_positions(size: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(row, column) of format bits 0..14 (bit 0 the least significant), both copies."""
    first = [(i, 8) for i in range(6)] + [(7, 8), (8, 8), (8, 7)]
    first += [(8, 14 - i) for i in range(9, 15)]
    second = [(8, size - 1 - i) for i in range(8)] + [(size - 15 + i, 8) for i in range(8, 15)]
    return first, second


def version_positions(size: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(row, column) of version bits 0..17, both copies (versions >= 7)."""
    first = [(i // 3, size - 11 + i % 3) for i in range(18)]
    return first, [(c, r) for r, c in first]


@functools.cache
def function_mask(version: int) -> np.ndarray:
    """(size, size) bool: the modules that hold no data (finders, separators, timing,
    alignment, format and version areas, the dark module)."""
    size = 4 * version + 17
    f = np.zeros((size, size), bool)
    f[:9, :9] = f[:9, size - 8 :] = f[size - 8 :, :9] = True  # finders, separators, format
    f[6, :] = f[:, 6] = True  # timing
    centres = alignment_centres(version)
    corners = {(6, 6), (6, size - 7), (size - 7, 6)}  # the finders' places
    for r in centres:
        for c in centres:
            if (r, c) not in corners:
                f[r - 2 : r + 3, c - 2 : c + 3] = True
    if version >= 7:
        f[:6, size - 11 : size - 8] = f[size - 11 : size - 8, :6] = True
    return f


@functools.cache
def data_order(version: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the data modules in bit order: two-column strips from the
    right, up then down, skipping the vertical timing column."""
    size = 4 * version + 17
    f = function_mask(version)
    rows, cols = [], []
    right = size - 1
    while right >= 1:
        if right == 6:
            right = 5
        upward = (right + 1) & 2 == 0
        for vert in range(size):
            r = size - 1 - vert if upward else vert
            for c in (right, right - 1):
                if not f[r, c]:
                    rows.append(r)
                    cols.append(c)
        right -= 2
    return np.array(rows), np.array(cols)


@functools.cache
def mask_pattern(mask: int, size: int) -> np.ndarray:
    """(size, size) bool, read-only: where data mask ``mask`` flips a module."""
    i, j = np.mgrid[0:size, 0:size]
    pattern: np.ndarray = {
        0: (i + j) % 2 == 0,
        1: i % 2 == 0,
        2: j % 3 == 0,
        3: (i + j) % 3 == 0,
        4: (i // 2 + j // 3) % 2 == 0,
        5: (i * j) % 2 + (i * j) % 3 == 0,
        6: ((i * j) % 2 + (i * j) % 3) % 2 == 0,
        7: ((i + j) % 2 + (i * j) % 3) % 2 == 0,
    }[mask]
    pattern.flags.writeable = False
    return pattern


@functools.cache
def block_layout(version: int, level: str) -> list[tuple[np.ndarray, int]]:
    """Per block: the indices of its codewords (data, then ECC) in the symbol's
    codeword stream, and its number of ECC codewords. Short blocks first; data
    codewords are interleaved column by column, then the ECC codewords."""
    ecc, blocks = ecc_blocks(version, level)
    total = raw_codewords(version)
    short = blocks - total % blocks
    short_data = total // blocks - ecc
    data_len = [short_data + (b >= short) for b in range(blocks)]
    index: list[list[int]] = [[] for _ in range(blocks)]
    k = 0
    for col in range(short_data + 1):
        for b in range(blocks):
            if col < data_len[b]:
                index[b].append(k)
                k += 1
    for _ in range(ecc):
        for b in range(blocks):
            index[b].append(k)
            k += 1
    return [(np.array(i), ecc) for i in index]


def _weighted_nearest(
    dark: np.ndarray, conf: np.ndarray, copies: list[list[tuple[int, int]]], codes: list[int]
) -> list[tuple[float, int]]:
    """(confidence-weighted disagreement over both copies, index into ``codes``),
    nearest first. Each sum runs over the copies' bits in order (``np.add.accumulate``
    is sequential, and adding 0.0 for an agreeing bit changes nothing): the floats,
    ties included, are those of a plain loop."""
    rows = [r for copy in copies for r, _ in copy]
    cols = [c for copy in copies for _, c in copy]
    bits = _code_bits(tuple(codes), len(copies[0]))
    terms = np.where(np.tile(bits, len(copies)) != dark[rows, cols], conf[rows, cols], 0.0)
    costs = np.add.accumulate(terms, axis=1)[:, -1].tolist()
    return sorted(zip(costs, range(len(codes)), strict=True))


@functools.cache
def _code_bits(codes: tuple[int, ...], nbits: int) -> np.ndarray:
    """(codes, nbits) bool: bit b of each code."""
    return np.array([[bool(code >> b & 1) for b in range(nbits)] for code in codes])


def corrected_block(block: bytes, conf: np.ndarray, ecc: int, margin: int = MARGIN) -> bytes | None:
    """One RS block corrected (data and ECC codewords), or None: decoded with the 0, 2,
    4, ... (``ERASURE_STEP``) least confident codewords (``conf``, one a codeword)
    erased, the first decode that leaves ``margin`` ECC codewords unused
    (2 e + f <= ecc - margin)."""
    order = [int(i) for i in np.argsort(conf, kind="stable")]
    tries = range(0, ecc - margin + 1, ERASURE_STEP)
    got = _rs.correct(block, ecc, order, tries, budget=ecc - margin)
    return None if got is None else got[0]


_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.bits = "".join(f"{b:08b}" for b in data)
        self.at = 0

    def left(self) -> int:
        return len(self.bits) - self.at

    def take(self, n: int) -> int:
        if n > self.left():
            raise ValueError("out of bits")
        v = int(self.bits[self.at : self.at + n], 2) if n else 0
        self.at += n
        return v


def _count_bits(mode: int, version: int) -> int:
    group = 0 if version <= 9 else 1 if version <= 26 else 2
    return {1: (10, 12, 14), 2: (9, 11, 13), 4: (8, 16, 16), 8: (8, 10, 12)}[mode][group]


_ECI_CODECS = {3: "latin-1", 4: "iso8859-2", 20: "shift_jis", 26: "utf-8", 29: "gb18030"}


def parse_segments(data: bytes, version: int) -> str | None:
    """The text of the data codewords (numeric, alphanumeric, byte, ECI, kanji
    segments), None when they do not parse."""
    bits = _Bits(data)
    out: list[str] = []
    charset: str | None = None
    try:
        while bits.left() >= 4:
            mode = bits.take(4)
            if mode == 0:
                break
            if mode == 7:  # ECI: 1, 2 or 3 bytes
                first = bits.take(8)
                if first & 0x80 == 0:
                    eci = first
                elif first & 0xC0 == 0x80:
                    eci = (first & 0x3F) << 8 | bits.take(8)
                else:
                    eci = (first & 0x1F) << 16 | bits.take(16)
                charset = _ECI_CODECS.get(eci, charset)
                continue
            if mode in (3, 5, 9):  # structured append, FNC1: no text of their own
                bits.take({3: 16, 5: 0, 9: 8}[mode])
                continue
            if mode not in (1, 2, 4, 8):
                return None
            count = bits.take(_count_bits(mode, version))
            if mode == 1:
                digits = []
                for at in range(0, count, 3):
                    n = min(3, count - at)
                    v = bits.take({3: 10, 2: 7, 1: 4}[n])
                    if v >= 10**n:
                        return None
                    digits.append(f"{v:0{n}d}")
                out.append("".join(digits))
            elif mode == 2:
                chars = []
                for _ in range(count // 2):
                    v = bits.take(11)
                    if v >= 45 * 45:
                        return None
                    chars.append(_ALNUM[v // 45] + _ALNUM[v % 45])
                if count % 2:
                    v = bits.take(6)
                    if v >= 45:
                        return None
                    chars.append(_ALNUM[v])
                out.append("".join(chars))
            elif mode == 4:
                raw = bytes(bits.take(8) for _ in range(count))
                out.append(_text(raw, charset))
            else:
                sjis = bytearray()
                for _ in range(count):
                    v = bits.take(13)
                    w = (v // 0xC0) << 8 | v % 0xC0
                    w += 0x8140 if w < 0x1F00 else 0xC140
                    sjis += bytes((w >> 8, w & 0xFF))
                out.append(sjis.decode("shift_jis", errors="replace"))
    except ValueError:
        return None
    return "".join(out)


def _text(raw: bytes, charset: str | None) -> str:
    for codec in (charset, "utf-8", "gb18030") if charset else ("utf-8", "gb18030"):
        if codec is None:
            continue
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


ERASURE_STEP = 2
"""Erased codewords added between tries of a block (0, 2, 4, ...): of the 204 blocks
with wrong codewords in the truth solves of 2 MP tuning codes (``word_reliability``),
4 brings 96 within reach, 2 and 1 both 98 (the least sure bit's ranking: 91 at each)."""

NOISE_SHARE = 0.25
"""``word_reliability``'s bit log-likelihood slope over 1 / the block's mean squared
distance from 0 or 1: fitted on the truth solves of 2 MP tuning codes (0.25: 98 of
their 204 blocks with wrong codewords within reach, 0.5: 94, 1: 95, 2: 92)."""


def word_reliability(values: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Per codeword (``values``: codewords x 8 bits, > ``threshold`` dark), the log
    of the probability that all its bits are right, higher = surer: each bit wrong
    with probability 1 / (1 + exp(k |v - threshold|)), k = ``NOISE_SHARE`` / the
    block's mean squared distance from the nearer of 0 and 1 (its noise variance: a
    noisier block ranks more by the sum of its bits, a clean one by its least sure).
    A codeword of several unsure bits ranks below one with a single, slightly less
    sure bit. Of the 204 blocks with wrong codewords in the forward solves of 149 2 MP
    tuning codes at their true geometry and blur (all rounds), the least sure bit
    alone (the ranking before) brings 91 within reach of the erasures, this 98 (bits
    wrong: 41 % at |v - 0.5| < 0.05, 11 % at 0.15-0.2, 1 % at 0.35-0.4)."""
    noise = float(np.mean(np.minimum(np.abs(values), np.abs(values - 1.0)) ** 2))
    k = NOISE_SHARE / max(noise, 1e-9)
    out: np.ndarray = -np.logaddexp(0.0, -k * np.abs(values - threshold)).sum(axis=1)
    return out


def _orientations(values: np.ndarray, threshold: float) -> list[tuple[float, bool, int]]:
    """(weighted format disagreement, mirrored, format (level bits << 3 | mask)) of the
    grid and its mirror image (the transpose) under every format code, likeliest
    first."""
    out = []
    for mirrored, grid in ((False, values), (True, values.T)):
        dark, conf = grid > threshold, np.abs(grid - threshold)
        copies = list(format_positions(grid.shape[0]))
        out += [(c, mirrored, i) for c, i in _weighted_nearest(dark, conf, copies, FORMATS)]
    out.sort(key=lambda o: o[0])
    return out


def _version_agrees(grid: np.ndarray, threshold: float, version: int) -> bool:
    if version < 7:
        return True
    dark, conf = grid > threshold, np.abs(grid - threshold)
    codes = [VERSIONS[v] for v in range(7, 41)]
    (_, best), *_ = _weighted_nearest(dark, conf, list(version_positions(grid.shape[0])), codes)
    return best + 7 == version


def _blocks(grid: np.ndarray, threshold: float, fmt: int) -> list[tuple[np.ndarray, bytes | None]]:
    """Per RS block of ``grid`` read under format ``fmt``: its codewords' indices in the
    symbol's stream (``block_layout``) and the block corrected (``corrected_block``),
    or None where it does not decode."""
    size = grid.shape[0]
    version = (size - 17) // 4
    dark = grid > threshold
    level, mask = _LEVELS[fmt >> 3], fmt & 7
    rows, cols = data_order(version)
    total = raw_codewords(version)
    bits = (dark ^ mask_pattern(mask, size))[rows, cols][: total * 8]
    words = np.packbits(bits.astype(np.uint8))
    values = grid[rows, cols][: total * 8].reshape(total, 8)
    return [
        (
            index,
            corrected_block(bytes(words[index]), word_reliability(values[index], threshold), ecc),
        )
        for index, ecc in block_layout(version, level)
    ]


def _likely(values: np.ndarray, threshold: float, formats: int) -> Iterator[tuple[bool, int]]:
    """(mirrored, format) of the ``formats`` likeliest readings of a well-shaped grid
    whose version information (v >= 7) agrees with its size."""
    size = values.shape[0]
    version = (size - 17) // 4
    if values.shape != (size, size) or (size - 17) % 4 or not 1 <= version <= 40:
        return
    for _, mirrored, fmt in _orientations(values, threshold)[:formats]:
        if _version_agrees(values.T if mirrored else values, threshold, version):
            yield mirrored, fmt


def decode(values: np.ndarray, threshold: float = 0.5, *, formats: int = 2) -> str | None:
    """The text of the QR whose modules are ``values`` (size x size, no quiet zone;
    above ``threshold`` = dark, the distance from it the confidence) or of its mirror
    image (the transposed grid); None when neither decodes. The ``formats`` likeliest
    (orientation, format code) pairs are tried, by the confidence-weighted
    disagreement of both format copies."""
    values = np.asarray(values, dtype=np.float64)
    for mirrored, fmt in _likely(values, threshold, formats):
        grid = values.T if mirrored else values
        ecc = ecc_blocks((grid.shape[0] - 17) // 4, _LEVELS[fmt >> 3])[0]
        data = bytearray()
        for _, got in _blocks(grid, threshold, fmt):
            if got is None:
                break
            data += got[:-ecc]
        else:
            text = parse_segments(bytes(data), (grid.shape[0] - 17) // 4)
            if text:
                return text
    return None


def decoded_modules(
    values: np.ndarray, threshold: float = 0.5, *, formats: int = 2
) -> tuple[np.ndarray, np.ndarray] | None:
    """(mask, dark), both (size, size) bool: the modules the code itself vouches for.
    Those of every RS block that decodes (``corrected_block``, with ``MARGIN`` ECC
    codewords to spare: its corrected bits, data and ECC) and the format bits, under
    the first of the ``formats`` likeliest readings where a block decodes; None when
    none does. The forward model (``_forward.solve_design``) fixes them: a module
    wrong in a decoded block is then right, and its neighbours, which the blur mixes
    with it, are solved against the true values."""
    values = np.asarray(values, dtype=np.float64)
    for mirrored, fmt in _likely(values, threshold, formats):
        grid = values.T if mirrored else values
        size = grid.shape[0]
        rows, cols = data_order((size - 17) // 4)
        flip = mask_pattern(fmt & 7, size)
        mask, dark = np.zeros((size, size), bool), np.zeros((size, size), bool)
        for index, got in _blocks(grid, threshold, fmt):
            if got is None:
                continue
            at = (index[:, None] * 8 + np.arange(8)).ravel()
            r, c = rows[at], cols[at]
            mask[r, c] = True
            dark[r, c] = np.unpackbits(np.frombuffer(got, np.uint8)).astype(bool) ^ flip[r, c]
        if not mask.any():
            continue
        for copy in format_positions(size):
            for b, (row, col) in enumerate(copy):
                mask[row, col], dark[row, col] = True, bool(FORMATS[fmt] >> b & 1)
        return (mask.T, dark.T) if mirrored else (mask, dark)
    return None


def decodes(grids: Iterator[np.ndarray] | list[np.ndarray]) -> Iterator[str]:
    """The texts ``decode`` reads from soft grids in turn (values around 0.5)."""
    for g in grids:
        text = decode(g)
        if text:
            yield text
