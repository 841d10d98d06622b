"""The soft-decision QR decoder (``ocr._qr_soft``): its ISO 18004 tables against the
``qrcode`` encoder, real codes of every version and level, invoice codes with more
wrong codewords than Reed-Solomon corrects as errors (read when the wrong ones are
the least sure, not by zxing on the drawn grid), random grids (no read), a
generated photo's code that only the erasures read, and the modules the blocks that
decode vouch for."""

from __future__ import annotations

import random

import numpy as np
import pytest
import qrcode
import qrcode.base
import qrcode.util

from ocr import _qr_soft as q

_LEVEL = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}


def _matrix(text: str, version: int | None, level: str, mask: int | None = None) -> np.ndarray:
    qr = qrcode.QRCode(version=version, error_correction=_LEVEL[level], border=0)
    if mask is not None:
        qr.mask_pattern = mask
    qr.add_data(text)
    qr.make(fit=version is None)
    return np.array(qr.get_matrix(), dtype=bool)


def _invoice_line(seed: int) -> str:
    from ocr.synth._record import make_record

    return make_record(random.Random(seed)).qr_line


@pytest.mark.parametrize("version", range(1, 41))
def test_the_tables_are_the_encoders(version):
    assert q.alignment_centres(version) == qrcode.util.PATTERN_POSITION_TABLE[version - 1]
    for level, code in _LEVEL.items():
        blocks = qrcode.base.rs_blocks(version, code)
        ecc, count = q.ecc_blocks(version, level)
        assert count == len(blocks)
        assert {b.total_count - b.data_count for b in blocks} == {ecc}
        assert sum(b.total_count for b in blocks) == q.raw_codewords(version)
        layout = q.block_layout(version, level)
        assert [len(i) for i, _ in layout] == [b.total_count for b in blocks]
        assert sorted(np.concatenate([i for i, _ in layout])) == list(
            range(q.raw_codewords(version))
        )
    assert (~q.function_mask(version)).sum() == len(q.data_order(version)[0])
    assert len(q.data_order(version)[0]) // 8 == q.raw_codewords(version)


def test_every_version_level_and_mask_reads():
    rng = random.Random(1)
    for version in range(1, 41):
        for level in "LMQH":
            text = "".join(rng.choice("0123456789,.ABCabc") for _ in range(rng.randrange(3, 8)))
            grid = _matrix(text, version, level, mask=rng.randrange(8))
            assert q.decode(grid.astype(float)) == text, (version, level)


def test_segments_numeric_alphanumeric_byte_kanji_and_eci():
    for data, mode in [
        ("0123456789012", qrcode.util.MODE_NUMBER),
        ("HELLO WORLD $%*+-./:", qrcode.util.MODE_ALPHA_NUM),
        ("发票 01,04,", qrcode.util.MODE_8BIT_BYTE),
    ]:
        qr = qrcode.QRCode(error_correction=_LEVEL["M"], border=0)
        qr.add_data(qrcode.util.QRData(data.encode("utf-8"), mode=mode))
        qr.make(fit=True)
        assert q.decode(np.array(qr.get_matrix(), float)) == data
    # kanji: 点 is Shift JIS 0x935F -> 0x935F - 0x8140 = 0x121F -> 0x12 * 0xC0 + 0x1F
    bits = "1000" + f"{1:08b}" + f"{0x12 * 0xC0 + 0x1F:013b}" + "0000"
    assert q.parse_segments(_bytes(bits), 1) == "点"
    # ECI 26 (UTF-8), then a byte segment
    bits = "0111" + f"{26:08b}" + "0100" + f"{3:08b}" + "".join(f"{b:08b}" for b in "发".encode())
    assert q.parse_segments(_bytes(bits + "0000"), 1) == "发"
    assert q.parse_segments(_bytes("1111" + "0" * 20), 1) is None  # no such mode


def _bytes(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))


def _corrupted(code: np.ndarray, per_block: int, sure: bool, seed: int = 0) -> np.ndarray:
    """Soft values of ``code`` (0.9 dark, 0.1 light, a little noise) with ``per_block``
    codewords of every RS block wrong: half their bits flipped, at 0.45 / 0.55 (not
    sure) or 0.1 / 0.9 (``sure``)."""
    rng = np.random.default_rng(seed)
    size = code.shape[0]
    version = (size - 17) // 4
    values = np.where(code, 0.9, 0.1) + rng.normal(0, 0.03, code.shape)
    rows, cols = q.data_order(version)
    for index, _ in q.block_layout(version, "M"):
        for word in rng.choice(index, per_block, replace=False):
            for bit in rng.choice(8, 4, replace=False):
                r, c = rows[word * 8 + bit], cols[word * 8 + bit]
                values[r, c] = (0.1 if sure else 0.45) if code[r, c] else (0.9 if sure else 0.55)
    return values


@pytest.mark.parametrize("seed", [36, 3, 0])  # versions 3, 4 and 5 at level M
def test_an_invoice_code_with_unsure_wrong_codewords_reads_by_erasures(seed):
    from ocr._fits import read_module_grid
    from ocr._grid import draw
    from ocr._readers import read_zxing_fast

    text = _invoice_line(seed)
    code = _matrix(text, None, "M")
    ecc, _ = q.ecc_blocks((code.shape[0] - 17) // 4, "M")
    wrong = ecc // 2 + 3  # past what errors alone correct (ecc / 2 a block)
    values = _corrupted(code, wrong, sure=False)
    assert read_zxing_fast(draw(values > 0.5)) == []
    assert read_zxing_fast(draw(values.T > 0.5)) == []
    assert q.decode(values) == text
    assert q.decode(values.T) == text  # a mirrored window
    assert read_module_grid(values) == [text]
    # the same wrong codewords, sure of themselves: nothing to erase, nothing read
    assert q.decode(_corrupted(code, wrong, sure=True)) is None


def test_decoded_modules_are_the_blocks_that_decode_and_the_format() -> None:
    """Block 0 with sure wrong codewords past any correction, block 1 with a few: the
    modules vouched for are exactly block 1's (its wrong bits corrected) and the format
    copies, true to the code; block 0's are not among them. A mirrored grid gives the
    mirrored mask; a grid with no block that decodes, None."""
    text = _invoice_line(0)
    code = _matrix(text, None, "M")
    size = code.shape[0]
    version = (size - 17) // 4
    ecc, blocks = q.ecc_blocks(version, "M")
    assert blocks == 2
    rows, cols = q.data_order(version)
    rng = np.random.default_rng(1)
    values = np.where(code, 0.9, 0.1)
    (index0, _), (index1, _) = q.block_layout(version, "M")
    for index, wrong in ((index0, ecc), (index1, 3)):
        for word in rng.choice(index, wrong, replace=False):
            at = word * 8 + rng.choice(8, 4, replace=False)
            values[rows[at], cols[at]] = np.where(code[rows[at], cols[at]], 0.2, 0.8)
    assert q.decode(values) is None

    got = q.decoded_modules(values)
    assert got is not None
    mask, dark = got
    block = np.zeros_like(mask)
    for index in (index0, index1):
        at = (index[:, None] * 8 + np.arange(8)).ravel()
        block[rows[at], cols[at]] = index is index1
    formats = np.zeros_like(mask)
    for copy in q.format_positions(size):
        formats[tuple(np.array(copy).T)] = True
    assert (mask == (block | formats)).all()
    assert (dark[mask] == code[mask]).all()
    assert ((values > 0.5)[mask] != code[mask]).sum() >= 3  # corrected, not copied

    mirrored = q.decoded_modules(values.T)
    assert mirrored is not None
    assert (mirrored[0] == mask.T).all()
    assert (mirrored[1] == dark.T).all()
    assert q.decoded_modules(np.full((size, size), 0.5)) is None


def test_the_invoice_codes_are_versions_3_to_5_at_level_m():
    sizes = {_matrix(_invoice_line(s), None, "M").shape[0] for s in range(60)}
    assert sizes <= {29, 33, 37}  # the parametrised seeds above cover each
    assert q.decode(_matrix(_invoice_line(0), None, "M").astype(float)) == _invoice_line(0)


def test_random_grids_read_nothing():
    from ocr._fits import read_module_grid

    rng = np.random.default_rng(0)
    for i in range(300):
        size = (29, 33, 37)[i % 3]
        values = rng.random((size, size))
        assert q.decode(values) is None
        if i < 30:
            assert read_module_grid(values) == []


def test_random_data_under_a_true_format_and_function_patterns_reads_nothing():
    rng = np.random.default_rng(1)
    code = _matrix(_invoice_line(0), None, "M").astype(float)
    version = (code.shape[0] - 17) // 4
    data = ~q.function_mask(version)
    for _ in range(100):
        values = np.where(data, rng.random(code.shape), code)
        assert q.decode(values) is None


def test_the_grid_fit_soft_values_threshold_to_its_grid():
    from ocr._grid_model import model_of

    model = model_of(33)
    rng = np.random.default_rng(2)
    d = np.where(model.value > 0.5, 0.7, 0.2) + rng.normal(0, 0.15, model.value.shape)
    assert np.array_equal(model.soft(d) > 0.5, model.grid(d))


def test_a_photo_code_only_the_erasures_read(cjk_font):
    """2 MP lowres-14's code solved by the forward model under the generator's true
    geometry and blur: its first round has ~35 modules wrong, which zxing does not
    read and the erasures do. Its blocks then decode, so the solve fixes them
    (``_qr_soft.decoded_modules``): the next round is the code itself."""
    import cv2

    from ocr._forward import solve, solve_soft
    from ocr._grid import draw
    from ocr._readers import read_zxing_fast
    from ocr.synth._probe import truth

    t = truth(14, "lowres", "2mp")
    gray = np.asarray(cv2.imdecode(np.frombuffer(t.photo.data, np.uint8), cv2.IMREAD_GRAYSCALE))
    code, hmf, text = t.codes[0], t.homographies[0], t.photo.payloads[0]
    values = solve_soft(gray, hmf, code.shape[0], t.kernels)
    grids = solve(gray, hmf, code.shape[0], t.kernels)
    assert all(np.array_equal(v > 0.5, g) for v, g in zip(values, grids, strict=True))
    assert 25 <= (grids[0] != code).sum() <= 45
    assert read_zxing_fast(draw(grids[0])) == []
    assert q.decode(values[0]) == text
    assert np.array_equal(grids[1], code)


def _weighted_nearest_loop(dark, conf, copies, codes):
    """The format / version decision as a plain loop (what ``_weighted_nearest``
    replaced)."""
    out = []
    for i, code in enumerate(codes):
        cost = 0.0
        for copy in copies:
            for bit, (r, c) in enumerate(copy):
                if bool(code >> bit & 1) != bool(dark[r, c]):
                    cost += float(conf[r, c])
        out.append((cost, i))
    out.sort()
    return out


def test_the_format_and_version_costs_are_the_plain_loops_floats_and_order():
    rng = np.random.default_rng(3)
    versions = [q.VERSIONS[v] for v in range(7, 41)]
    for i in range(200):
        size = (29, 33, 45, 57)[i % 4]
        values = rng.random((size, size))
        if i % 3 == 0:
            values = np.round(values * 8) / 8  # equal confidences: ties, broken by index
        dark, conf = values > 0.5, np.abs(values - 0.5)
        for copies, codes in (
            (list(q.format_positions(size)), q.FORMATS),
            (list(q.version_positions(size)), versions),
        ):
            got = q._weighted_nearest(dark, conf, copies, codes)
            assert got == _weighted_nearest_loop(dark, conf, copies, codes)
