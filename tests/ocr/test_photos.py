"""Phone photos: any rotation, several invoices at once, degraded pictures."""

from __future__ import annotations

import pytest
from PIL import Image

from ocr import decode_bytes
from ocr._readers import zbar_available
from ocr.synth._photo import make_photo
from tests.ocr.conftest import encode


@pytest.mark.parametrize("angle", [0, 90, 180, 270, 33, 137, 222, 315])
def test_rotation_invariance(invoice_image, records, angle):
    img = invoice_image.rotate(angle, expand=True, fillcolor=(90, 110, 130))
    result = decode_bytes(encode(img, "JPEG", quality=85), allow_ocr=False)
    assert result.payloads == [records[0].qr_line]


def test_several_invoices_in_one_photo_are_all_returned(photos):
    photo = photos(0, "multi")
    assert len(photo.payloads) == 2
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert sorted(result.payloads) == sorted(photo.payloads)
    assert len({i.invoice_key for i in result.invoices}) == 2


def test_duplicate_codes_in_one_photo_are_reported_once(invoice_image, records):
    small = invoice_image.reduce(2)
    canvas = Image.new("RGB", (small.width * 2 + 40, small.height + 40), "gray")
    canvas.paste(small, (20, 20))
    canvas.paste(small, (small.width + 20, 20))
    result = decode_bytes(encode(canvas, "PNG"), allow_ocr=False)
    assert result.payloads == [records[0].qr_line]


def test_invoice_and_foreign_qr_in_one_photo(invoice_image, records):
    from ocr.synth._render import qr_image

    canvas = invoice_image.copy()
    canvas.paste(qr_image("WIFI:S:cafe;T:WPA;P:secret;;", 160).convert("RGB"), (1300, 900))
    result = decode_bytes(encode(canvas, "PNG"), allow_ocr=False)
    assert result.payloads == [records[0].qr_line]
    assert result.non_invoice == ["WIFI:S:cafe;T:WPA;P:secret;;"]


@pytest.mark.parametrize(
    ("category", "seed"),
    [
        ("perspective", 6),
        ("lighting", 0),
        ("glare", 7),
        ("crumpled", 0),
        ("defocus", 4),
        ("motion", 0),
    ],
)
def test_degraded_phone_photos(photos, category, seed):
    photo = photos(seed, category)
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads


@pytest.mark.parametrize(
    ("category", "seed", "stage"),
    [
        ("motion", 7, "measured"),
        ("crumpled", 7, "fit"),
        ("lighting", 3, "sheets"),  # the shaded paper found by its edges
        ("glare", 4, "regions"),  # zxing on a proposal's crop, before the fits
        ("lowres", 5, "sheets"),
        ("multi", 9, "full"),
        ("perspective", 6, "full"),
    ],
)
def test_the_cascade_reads_photos_zxing_alone_does_not(photos, category, seed, stage):
    import cv2
    import numpy as np

    from ocr._readers import read_zxing

    photo = photos(seed, category)
    gray = cv2.imdecode(np.frombuffer(photo.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert not set(photo.payloads) <= set(read_zxing(gray))
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert sorted(result.payloads) == sorted(photo.payloads)
    assert result.stage == stage


def test_photos_are_deterministic_by_seed(photos):
    a, b = make_photo(5, "noise", "2mp"), make_photo(5, "noise", "2mp")  # both made here
    assert a.data == b.data
    assert a.payloads == b.payloads
    assert photos(6, "noise").payloads != a.payloads


def test_pyzbar_is_part_of_the_cascade_when_libzbar_is_installed():
    if not zbar_available():
        pytest.skip("libzbar0 is not installed: the cascade runs without pyzbar")
    import numpy as np

    from ocr._readers import read_zbar
    from ocr.synth._render import qr_image

    img = Image.new("L", (300, 300), 255)
    img.paste(qr_image("01,32,,26427000000316294884,100.76,20260330,,5F98,", 200), (50, 50))
    assert read_zbar(np.asarray(img)) == ["01,32,,26427000000316294884,100.76,20260330,,5F98,"]


@pytest.mark.parametrize(("seed", "sheets"), [(1, 3), (8, 3)])
def test_touching_sheets_count_as_the_sheets_they_hold(photos, seed, sheets):
    """Two of three sheets lie on each other (seeds 1 and 8): one bright blob that is
    not invoice-shaped. The cascade must not stop before their codes are tried."""
    import cv2
    import numpy as np

    from ocr._sheet import count_invoices
    from ocr._variants import resize_long

    photo = photos(seed, "multi")
    assert len(photo.payloads) == sheets
    gray = cv2.imdecode(np.frombuffer(photo.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert count_invoices(resize_long(gray, 800)) == sheets


@pytest.mark.parametrize("seed", [6])
def test_crumpled_pieces_do_not_count_as_several_sheets(photos, seed):
    """Creases split one sheet into bright pieces, a small one invoice-shaped."""
    import cv2
    import numpy as np

    from ocr._sheet import count_invoices
    from ocr._variants import resize_long

    photo = photos(seed, "crumpled")
    gray = cv2.imdecode(np.frombuffer(photo.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert count_invoices(resize_long(gray, 800)) == 1


def test_a_streak_of_four_modules_is_read_module_by_module_after_deconvolution(photos):
    """12 MP motion-8: a 16 px streak on a code of 3.6 px a module. The likeliest
    stripe streak's deconvolution reads with neither zxing nor the plain grid fit;
    the grid fit of that deconvolved window does, within ``measured``."""
    from ocr import _fits, _window_memo
    from ocr._image import Picture
    from ocr._readers import read_zxing_fast

    photo = photos(8, "motion", "12mp")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "measured"
    picture = Picture(photo.data, max_pixels=60_000_000)
    window = _window_memo.sheet_windows(picture)[0][0]
    assert not _fits.read_grid(picture, window)  # the blurred window itself: no
    sharp = _window_memo.first_streak(picture, 0, window)
    assert sharp is not None
    assert not read_zxing_fast(sharp)
    assert _fits.read_grid(picture, sharp) == photo.payloads


def test_three_defocused_codes_are_read_with_the_disk_their_spectrum_measures(photos):
    """12 MP multi-4: three codes under a lens disk of 3.8 px (0.8-1.2 modules) and
    a 1.35 px Gaussian. No window-domain filter read more than one; the frame
    deconvolved around each window with the measured disk reads all three."""
    from ocr import _focus
    from ocr._image import Picture

    photo = photos(4, "multi", "12mp")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert sorted(result.payloads) == sorted(photo.payloads)
    assert len(result.payloads) == 3
    assert result.stage == "focus"
    # zxing alone reads two of the deconvolved windows (``focus_read``, before the
    # fits); the third needs the module-by-module fit (``focus``)
    cheap = set(_focus.focus_read_stage(Picture(photo.data, max_pixels=60_000_000)))
    assert len(cheap) == 2
    assert cheap < set(photo.payloads)


def _small_gray(data: bytes):
    import cv2
    import numpy as np

    from ocr._variants import resize_long

    return resize_long(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE), 800)


def test_a_sheet_under_a_hard_shadow_is_found_by_its_edges(photos):
    """12 MP combined-3: a hard shadow over the sheet, the lit desk brighter than the
    shaded paper (and a streak of 3 modules). A global threshold finds the desk, not
    the paper; the paper's sharp edges outline it, and its code is read there."""
    from ocr._sheet import find_sheets

    photo = photos(3, "combined", "12mp")
    small = _small_gray(photo.data)
    frame = small.shape[0] * small.shape[1]
    paper = 0.40 * (0.40 / 1.5) * small.shape[1] ** 2 / frame  # the sheet: 40 % wide
    by_level = find_sheets(small, invoice_shaped=True)
    by_edges = find_sheets(small, by_edges=True)
    assert all(abs(_area(q) / frame - paper) > 0.3 * paper for q in by_level)
    assert len(by_edges) == 1
    assert abs(_area(by_edges[0]) / frame - paper) < 0.15 * paper
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads


def _area(quad) -> float:
    import cv2

    return float(cv2.contourArea(quad))


def test_a_shaded_code_outranks_the_lit_text_around_it(photos):
    """2 MP combined-20: the shadow's edge runs past the code, so the lit print at the
    sheet's other corners has more gradient energy than the shaded code. The window
    holding a dark-and-light patch comes first, and the code is read there."""
    from ocr import _window_memo
    from ocr._deblur import looks_like_code
    from ocr._image import Picture

    photo = photos(20, "combined")
    picture = Picture(photo.data, max_pixels=60_000_000)
    first, *others = _window_memo.sheet_windows(picture)[0]
    assert looks_like_code(first)
    assert max(_window_memo.texture(w) for w in others) > _window_memo.texture(first)
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "fit"


def test_sheets_whose_corners_nearly_touch_are_counted_apart(photos):
    """2 MP multi-17: three sheets whose corners nearly touch are one bright blob at
    the threshold, and no whole sheet is found to measure it by. Eroded, the paper
    comes apart into the three sheets, so the cascade does not stop after the first
    codes it reads."""
    from ocr._sheet import count_apart, count_invoices, find_sheets

    photo = photos(17, "multi")
    assert len(photo.payloads) == 3
    small = _small_gray(photo.data)
    assert find_sheets(small, invoice_shaped=True) == []
    assert count_apart(small) == 3
    assert count_invoices(small) == 3
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert sorted(result.payloads) == sorted(photo.payloads)


def test_a_small_bright_patch_is_not_counted_as_a_sheet(photos):
    """2 MP glare-27: one sheet, and the glare's bright spot on the desk, a small
    invoice-shaped patch (4 % of the frame). Counted as a second sheet, the cascade
    ran on to the budget after reading the code (so did a crease's piece of 12 MP
    crumpled-3)."""
    from ocr._sheet import count_invoices, find_sheets

    photo = photos(27, "glare")
    small = _small_gray(photo.data)
    assert len(find_sheets(small, invoice_shaped=True)) == 2
    assert count_invoices(small) == 1


def test_the_lit_part_of_a_shaded_sheet_gives_way_to_the_whole_sheet(photos):
    """2 MP lighting-20: the threshold finds the lit part of the sheet, invoice-shaped
    too, whose corner windows miss the code. The edges outline the whole sheet (the
    lit part lies inside it), and its densest window is the code, read by zxing."""
    import cv2

    from ocr import _window_memo
    from ocr._image import Picture
    from ocr._readers import read_zxing_fast
    from ocr._sheet import find_sheets

    photo = photos(20, "lighting")
    small = _small_gray(photo.data)
    (lit,) = find_sheets(small)
    (whole,) = find_sheets(small, by_edges=True)
    assert cv2.contourArea(whole) > 1.3 * cv2.contourArea(lit)
    picture = Picture(photo.data, max_pixels=60_000_000)
    assert read_zxing_fast(_window_memo.sheet_windows(picture)[0][0]) == photo.payloads


def test_the_ocr_fallback_reads_the_whole_shaded_sheet(photos, monkeypatch):
    """2 MP lighting-20 again: the OCR fallback rectifies the sheet its edges outline,
    not the lit part the threshold finds (whose bands miss half the printed fields).
    The deadline has passed, so it stops before recognising anything."""
    import cv2
    import numpy as np

    from ocr import _ocr, _sheet
    from ocr._variants import resize_long

    photo = photos(20, "lighting")
    gray = cv2.imdecode(np.frombuffer(photo.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    small = resize_long(gray, 800)
    (lit,) = _sheet.find_sheets(small)
    (whole,) = _sheet.find_sheets(small, by_edges=True)
    rectified = []
    rectify = _sheet.rectify

    def spy(image, quad, **kwargs):
        rectified.append(quad)
        return rectify(image, quad, **kwargs)

    monkeypatch.setattr(_sheet, "rectify", spy)
    with pytest.raises(_ocr.OcrTimeoutError):
        _ocr.ocr_invoices(gray, deadline=0.0)
    f = gray.shape[1] / small.shape[1]
    assert len(rectified) == 1
    assert _area(rectified[0]) == pytest.approx(_area(whole * f), rel=1e-3)
    assert _area(rectified[0]) > 1.3 * _area(lit * f)


def test_a_streak_of_five_modules_is_read_through_the_forward_model(photos):
    """2 MP motion-8: a 7 px streak on a code of 1.5 px a module (4.7 modules). No
    filter nor grid fit reads it; the finders on the stripes-deconvolved window give
    the geometry, the known modules' pixels pick the streak, and the module values
    solved through the blurred frame read."""
    from ocr import _forward, _window_memo
    from ocr._image import Picture

    photo = photos(8, "motion")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "forward"
    picture = Picture(photo.data, max_pixels=60_000_000)
    window = _window_memo.sheet_windows(picture)[0][0]
    sharp = _window_memo.first_streak(picture, 0, window)
    ((n, hmf), *_) = _forward.geometries(sharp, picture.memo["densest_quads"][0])
    assert n == 33
    assert _forward.module_px(hmf, n) < 2.0
    (_, length, _, _), *_ = _forward.streaks(picture.full(), hmf, n)
    assert length == 7  # the generator's streak


def test_the_forward_model_leaves_large_modules_alone(photos):
    """12 MP motion-8 (3.6 px a module): the solve grows with the square of the
    code's pixels, so codes with modules over ``MAX_MODULE_PX`` are not solved."""
    from ocr import _fits, _window_memo
    from ocr._image import Picture

    photo = photos(8, "motion", "12mp")
    picture = Picture(photo.data, max_pixels=60_000_000)
    window = _window_memo.sheet_windows(picture)[0][0]
    sharp = _window_memo.first_streak(picture, 0, window)
    assert _fits.read_forward(picture, sharp, picture.memo["densest_quads"][0]) == []


def test_a_code_out_of_focus_is_read_through_the_forward_model(photos):
    """2 MP lowres-12: a lens disk of 1.7 px on a code of 1.74 px a module. The finders
    on the window itself give the geometry; the known modules' pixels pick a disk
    (not a streak, not none), and the module values solved through the blurred frame
    read, where no filter nor grid fit did."""
    from ocr import _forward, _window_memo
    from ocr._image import Picture

    photo = photos(12, "lowres")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "forward"
    picture = Picture(photo.data, max_pixels=60_000_000)
    ((sheet, window),) = _window_memo.unread_focused(picture)
    ((n, hmf), *_) = _forward.geometries(window, picture.memo["densest_quads"][sheet])
    assert n == 33
    assert 1.5 < _forward.module_px(hmf, n) < 2.0
    (residual, _, radius, _), *rest = _forward.defocus(picture.full(), hmf, n)
    assert residual < _forward.MAX_RESIDUAL
    assert 1.0 <= radius <= 2.0  # the generator's disk: 1.7 px
    assert rest[-1][0] > 2 * residual  # the blurs are told apart


def test_a_code_its_sheet_window_misses_is_read_through_the_forward_model_on_its_blob(photos):
    """2 MP combined-19 (perspective 0.33, crumpled, a 6 px streak): the textured
    blob on the code, where no ``forward`` window lies, is solved by the forward
    model on the blob's window, shrunk (its code asks for more than ``MAX_CELLS``),
    and reads. In the cascade the sheet's densest window was its mirrored corner
    (text), so ``fwd_blobs`` read it (~0.6-0.8 s); since the unmirrored windows rank
    first the code's own window is the densest and ``measured`` reads it (~0.25 s).
    (2 MP combined-12 was this test's photo until its sheet's windows were laid
    along the long edges: ``test_a_strongly_tilted_sheet_s_code_is_read_in_its_own_window``.)"""
    from ocr import _fits, _window_memo
    from ocr._image import Picture

    photo = photos(19, "combined")
    picture = Picture(photo.data, max_pixels=60_000_000)
    assert len(_window_memo.sheet_windows(picture)) == 1
    assert list(_fits.forward_blobs_stage(picture)) == photo.payloads
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "measured"


def test_a_strongly_tilted_sheet_s_code_is_read_in_its_own_window(photos, monkeypatch):
    """2 MP combined-12 (perspective 0.34): the far long edge is shorter than a short
    edge, so the QR window was laid along the short edges (215 x 100 px, part of the
    70 px code) and only ``fwd_blobs`` read it, at ~1 s CPU. With the long edges told
    by the sum of opposite edges the window holds the code (its finders place it
    0.1 px from the generator's corners) and ``forward`` reads it there (it was the
    photo of the ``fwd_blobs`` test)."""
    from ocr import _fits, _sheet, _window_memo
    from ocr._image import Picture

    photo = photos(12, "combined")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "forward"
    picture = Picture(photo.data, max_pixels=60_000_000)
    assert len(_window_memo.sheet_windows(picture)) == 1
    assert list(_fits.forward_stage(picture)) == photo.payloads
    monkeypatch.setattr(_sheet, "_long_first", lambda quad: quad)  # the old windows
    picture = Picture(photo.data, max_pixels=60_000_000)
    assert len(_window_memo.sheet_windows(picture)) == 1
    assert list(_fits.forward_stage(picture)) == []


def test_a_shaken_code_out_of_focus_is_solved_under_a_streak_and_a_defocus(photos):
    """2 MP combined-3: a 6 px streak after a Gaussian defocus (sigma 0.57). A defocus
    under the likeliest streaks fits its known modules better than the streaks alone
    and its solve gets fewer modules wrong. (With the streak drawn as a line without
    width the streaks alone fitted 7 px at a wrong angle, 116 modules wrong, and the
    defocused solve read at its fourth round, 20 wrong; with the streak spread over
    the pixels around its line, ``_streaks.spread_streak_kernel``, they fit 6 px at
    30 degrees, 42 wrong, the defocused solve 29 wrong and unread: the generator's
    own kernel does not read it from the true corners either, and the photo reads
    at ``fwd_blobs``, ~1.3 s CPU.)"""
    from ocr import _forward, _window_memo
    from ocr._image import Picture
    from ocr.synth._probe import truth

    photo = photos(3, "combined")
    picture = Picture(photo.data, max_pixels=60_000_000)
    window = _window_memo.sheet_windows(picture)[0][0]
    sharp = _window_memo.first_streak(picture, 0, window)
    ((n, hmf), *_) = _forward.geometries(sharp, picture.memo["densest_quads"][0])
    gray = picture.full()
    code = truth(3, "combined", "2mp").codes[0]

    def wrong(kernels: list) -> int:
        return min(int((g != code).sum()) for g in _forward.solve(gray, hmf, n, kernels))

    (streak_fit, _, _, kernel), *_ = _forward.streaks(gray, hmf, n)
    (fit, (_, _, sigma), kernels), *_ = _forward.streaks_defocused(gray, hmf, n)
    assert sigma > 0
    assert fit < streak_fit
    assert wrong(kernels) < wrong([kernel])


def test_an_unmirrored_window_outranks_blurred_text_in_the_mirrored_one(photos):
    """2 MP perspective-54: blurred text lines in the sheet's top-right corner (its
    mirrored reading order) look like a code and have more gradient energy than the
    code. The unmirrored windows come first among those that look like a code, so
    the code's window is the densest and reads at `measured` (at `fwd_blobs`, about
    1.2 s CPU, when the mirrored window came first)."""
    import numpy as np

    from ocr import _sheet, _window_memo
    from ocr._deblur import looks_like_code
    from ocr._image import Picture
    from ocr._variants import resize_long

    photo = photos(54, "perspective")
    picture = Picture(photo.data, max_pixels=60_000_000)
    windows = _window_memo.sheet_windows(picture)[0]
    small = resize_long(picture.work(), 800)
    sheet = _sheet.find_sheets(small, by_edges=True)[0] * (picture.full().shape[1] / small.shape[1])
    densest = picture.memo["densest_quads"][0]  # type: ignore[index]
    first = next(i for i, q in enumerate(_sheet.qr_windows(sheet)) if np.allclose(q, densest))
    assert first % 2 == 0  # the sheet as seen or turned, not a mirrored reading order
    others = [w for w in windows[1:] if looks_like_code(w)]
    assert others
    assert max(map(_window_memo.texture, others)) > _window_memo.texture(windows[0])
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None)
    assert result.payloads == photo.payloads
    assert result.stage == "measured"


@pytest.mark.parametrize("seed", [16, 62])
def test_touching_sheets_are_counted_apart(photos, seed):
    """Two of three sheets touch, so the paper shows two blobs and the cascade stopped
    at `work` with two codes of three. 12 MP multi-16: the touching pair makes one
    blob of 1.94 times the largest invoice-shaped sheet (the unit is the largest
    sheet; the two are smaller), so the blob counted one. 12 MP multi-62: the pair's
    outline is invoice-shaped, twice the third sheet, and counted 2 for 3; a sheet 1.5
    times another has the paper eroded apart counted too. The eroded paper shows the
    three sheets; the third code reads at `full`."""
    import cv2
    import numpy as np

    from ocr._sheet import count_invoices
    from ocr._variants import resize_long

    photo = photos(seed, "multi", "12mp")
    assert len(photo.payloads) == 3
    gray = cv2.imdecode(np.frombuffer(photo.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert count_invoices(resize_long(gray, 800)) == 3
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None, max_pixels=60_000_000)
    assert sorted(result.payloads) == sorted(photo.payloads)
    assert result.stage == "full"


def test_a_sheet_in_strong_perspective_has_its_qr_window_along_its_long_edges(photos):
    """12 MP perspective-13 (the far edge shrunk 37 %): the far long edge is shorter
    than a short edge, so the window was laid along the short edges (a strip across
    the code) and the finders gave no geometry. With the long edges told by the sum
    of opposite edges, the densest window holds the code whole and its finders
    place it."""
    import numpy as np

    from ocr import _forward, _window_memo
    from ocr._image import Picture

    photo = photos(13, "perspective", "12mp")
    picture = Picture(photo.data, max_pixels=60_000_000)
    window = _window_memo.sheet_windows(picture)[0][0]
    quad = picture.memo["densest_quads"][0]
    sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
    assert max(sides) < 1.5 * min(sides)  # a square on the sheet, not a strip
    ((n, hmf), *_) = _forward.geometries(window, quad)
    assert n == 37
    assert 2.0 < _forward.module_px(hmf, n) < 3.0


def test_a_large_code_of_small_modules_is_solved_on_the_frame_shrunk(photos):
    """12 MP perspective-13: 2.4 px a module under a 4 px streak; its solve would take
    34 M cells (bound 24 M), so ``forward`` skipped it and nothing read. Solved on its
    part of the frame shrunk to 1.8 px a module, it reads at `forward`."""
    from ocr import _fits, _forward, _window_memo
    from ocr._image import Picture

    photo = photos(13, "perspective", "12mp")
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None, max_pixels=60_000_000)
    assert result.payloads == photo.payloads
    assert result.stage == "forward"
    picture = Picture(photo.data, max_pixels=60_000_000)
    window = _window_memo.sheet_windows(picture)[0][0]
    quad = picture.memo["densest_quads"][0]
    ((n, hmf), *_) = _forward.geometries(window, quad)
    assert _forward.cells(hmf, n) > _forward.MAX_CELLS
    small = _forward.shrunk(picture.full(), hmf, n)
    assert small is not None
    assert _forward.module_px(small[1], n) == pytest.approx(_forward.SHRUNK_MODULE_PX, rel=0.02)
    assert _fits.read_forward(picture, window, quad, defocused=True) == photo.payloads


def test_a_streak_of_several_modules_on_a_large_code_is_solved_shrunk(photos):
    """12 MP combined-16: a 16 px streak on a code of 4.6 px a module (3.5 modules),
    noise sigma 24. No filter reads it and its modules are too large for ``forward``
    (over ``MAX_MODULE_PX``); on its part of the frame shrunk to 1.8 px a module (the
    noise averaged down with it) the streak and the modules are solved and read."""
    from ocr import _fits, _forward, _window_memo
    from ocr._image import Picture

    photo = photos(16, "combined", "12mp")
    picture = Picture(photo.data, max_pixels=60_000_000)
    window = _window_memo.sheet_windows(picture)[0][0]
    quad = picture.memo["densest_quads"][0]
    sharp = _window_memo.first_streak(picture, 0, window)
    assert sharp is not None
    ((n, hmf), *_) = _forward.geometries(sharp, quad)
    assert _forward.MAX_MODULE_PX < _forward.module_px(hmf, n) < _forward.MAX_SHRUNK_MODULE_PX
    assert _fits.read_forward(picture, sharp, quad) == []
    assert _fits.read_forward(picture, sharp, quad, large=True) == photo.payloads
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None, max_pixels=60_000_000)
    assert result.payloads == photo.payloads
    assert result.stage == "forward"


def test_a_crumpled_sheet_is_outlined_whole_by_its_broken_edges(photos):
    """12 MP crumpled-84: the creases' bright and dark bands split the paper at any
    threshold into diagonal pieces (none holds the code whole), and the
    paper's outline is broken where a dark band meets the desk's grey, so the edges
    found the table frame printed inside the sheet. The outline's pieces bridged
    into one contour outline the whole sheet, added after the others; its densest
    window holds the code whole (read at `grid` after 1.5 s CPU before)."""
    import cv2
    import numpy as np

    from ocr import _sheet, _window_memo
    from ocr._image import Picture
    from ocr._variants import resize_long
    from ocr.synth import _probe

    photo = photos(84, "crumpled", "12mp")
    picture = Picture(photo.data, max_pixels=60_000_000)
    small = resize_long(picture.work(), 800)  # as ``sheet_windows`` finds the sheets
    sheets = _sheet.find_sheets(small, by_edges=True)
    assert _area(sheets[-1]) > 1.2 * max(_area(q) for q in sheets[:-1])
    assert _area(sheets[-1]) > _sheet.MIN_UNIT * small.shape[0] * small.shape[1]
    _window_memo.sheet_windows(picture)
    truth = _probe.truth(84, "crumpled", "12mp")
    ((code, h),) = zip(truth.codes, truth.homographies, strict=True)
    n = code.shape[0]
    corners = cv2.perspectiveTransform(np.array([[[0, 0], [n, 0], [n, n], [0, n]]], np.float64), h)
    whole = [
        all(
            cv2.pointPolygonTest(q.astype(np.float32), (float(x), float(y)), False) >= 0
            for x, y in corners[0]
        )
        for q in picture.memo["densest_quads"]  # type: ignore[union-attr]
    ]
    assert whole[-1]
    assert not any(whole[:-1])
    result = decode_bytes(photo.data, allow_ocr=False, qr_budget_s=None, max_pixels=60_000_000)
    assert result.payloads == photo.payloads
    assert result.stage == "fit"
