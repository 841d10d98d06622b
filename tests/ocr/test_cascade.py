"""The cascade's heavy stages and its time bounds, on small images (fast)."""

from __future__ import annotations

import asyncio
import io
import math

import cv2
import numpy as np
import pytest
from PIL import Image

from ocr import DecodeError, _grid, _streaks, decode_bounded, decode_bytes
from ocr._cascade import read_qr
from ocr._deblur import candidates, cepstrum_streaks, disk_kernel, measured
from ocr._focus import disk_radius
from ocr._image import Picture
from ocr._readers import read_zxing, read_zxing_fast
from ocr._variants import line_kernel
from ocr.synth._render import qr_image

PAYLOAD = "01,32,,26427000000316294884,100.76,20260330,,5F98,"


def _window(kernel: np.ndarray) -> np.ndarray:
    """A QR window as the sheets stage cuts it (code ~5 px a module), blurred and noisy."""
    img = np.full((400, 400), 245, np.uint8)
    img[90:290, 90:290] = np.asarray(qr_image(PAYLOAD, 200))
    blurred = cv2.filter2D(img.astype(np.float32), -1, kernel)
    noise = np.random.default_rng(1).normal(0, 1.5, blurred.shape)
    return np.clip(blurred + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    "kernel",
    [line_kernel(14, math.radians(25)), disk_kernel(6.0)],
    ids=["motion-streak", "defocus-disk"],
)
def test_wiener_deblur_reads_what_no_reader_reads_blurred(kernel):
    window = _window(kernel)
    assert read_zxing(window) == []
    read = next((t for c in candidates(window) if (t := read_zxing_fast(c))), None)
    assert read == [PAYLOAD]


def test_the_cepstrum_measures_a_streak_and_its_first_filter_reads_it():
    window = _window(line_kernel(19, math.radians(-40)))
    assert read_zxing(window) == []
    # among the deepest three minima (the code's own module period can come first);
    # a streak has no sense: -40 degrees and 140 degrees are the same streak
    assert any(
        abs(length - 19) <= 1.5 and abs(math.sin(angle - math.radians(-40))) < 0.08
        for length, angle in cepstrum_streaks(window)
    )
    read = next((t for c in measured(window) if (t := read_zxing_fast(c))), None)
    assert read == [PAYLOAD]


@pytest.mark.parametrize(("length", "degrees"), [(20, 167), (17, 128), (28, 40), (14, 10)])
def test_the_spectrum_stripes_measure_a_streak(length, degrees):
    """The stripes of the half-size window's spectrum give the streak's angle (no sense:
    10 and 190 degrees are one streak) and length; its refined filter reads it."""
    window = _window(_streaks.streak_kernel(length, math.radians(degrees)))
    assert read_zxing(window) == []
    half = cv2.resize(window, (200, 200), interpolation=cv2.INTER_AREA)
    angle, lengths = _streaks.stripes(half)[0]
    assert abs(math.sin(angle - math.radians(degrees))) < math.sin(math.radians(4))
    assert abs(2 * lengths[0] - length) <= 1.5
    read = next((t for c in _streaks.refined(window) if (t := read_zxing_fast(c))), None)
    assert read == [PAYLOAD]


def test_a_sub_pixel_streak_kernel_keeps_its_length_and_sums_to_one():
    k = _streaks.streak_kernel(7.5, 0.0)
    assert math.isclose(float(k.sum()), 1.0, rel_tol=1e-5)
    row = k.sum(axis=0)
    assert 7.0 <= float((row > 0.01 * row.max()).sum()) <= 9.0
    assert k.sum(axis=1).argmax() == k.shape[0] // 2


def _bent_window(amplitude: float) -> np.ndarray:
    """A crisp code on paper bent in waves (the grid's rows and columns curve)."""
    img = np.full((400, 400), 240, np.uint8)
    img[90:290, 90:290] = np.asarray(qr_image(PAYLOAD, 200))
    yy, xx = np.mgrid[0:400, 0:400].astype(np.float32)
    map_x = xx + amplitude * np.sin(yy / 400 * 2 * math.pi + 0.4)
    map_y = yy + amplitude * np.sin(xx / 400 * 2 * math.pi * 1.1 + 1.1)
    return cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def test_a_bent_grid_reads_a_code_on_crumpled_paper():
    window = _bent_window(7.0)
    assert read_zxing(window) == []
    reads = [read_zxing_fast(_grid.draw(g)) for g in _grid.grids(window)]
    assert [PAYLOAD] in reads
    # the straight fit (first) does not read it; bending the grid does
    assert reads[0] == []


def test_the_grid_reader_reads_a_mirrored_window_as_its_transpose():
    window = np.ascontiguousarray(_bent_window(0.0)[:, ::-1])
    grid = next(_grid.grids(window))
    assert read_zxing_fast(_grid.draw(grid.T)) == [PAYLOAD]


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_a_spent_budget_stops_the_cascade_after_its_cheap_first_pass():
    blank = Picture(_png(Image.new("L", (800, 600), 128)), max_pixels=10**7)
    found = read_qr(blank, budget_s=0.0)
    assert list(found.timings) == ["work"]
    assert found.timed_out
    assert found.invoices == []


def test_the_cheap_pass_still_reads_a_clear_code_with_no_budget():
    img = Image.new("L", (800, 600), 255)
    img.paste(qr_image(PAYLOAD, 240), (60, 60))
    found = read_qr(Picture(_png(img), max_pixels=10**7), budget_s=0.0)
    assert found.payloads == [PAYLOAD]
    assert found.stage == "work"


def test_the_stage_is_the_one_that_found_the_last_invoice(photos):
    """A photo of three invoices with one read: the cascade goes on looking for the
    others, and the stages after, which find nothing new (one yields the same code
    again), do not take the credit."""
    photo = photos(1, "multi")
    picture = Picture(photo.data, max_pixels=60_000_000)
    first = photo.payloads[0]
    stages = [
        ("first", lambda p: iter([first])),
        ("again", lambda p: iter([first])),
        ("none", lambda p: iter(())),
    ]
    found = read_qr(picture, stages=stages)
    assert list(found.timings) == ["first", "again", "none"]  # it looked for the others
    assert found.payloads == [first]
    assert found.stage == "first"


def test_a_stage_that_raises_keeps_what_was_read_and_the_cascade_goes_on(photos, caplog):
    """A stage that reads one invoice and then raises (a numeric corner case): the
    invoice is kept and credited to it, the error logged with the stage's name, and
    the next stages still run and read the others."""
    photo = photos(1, "multi")
    picture = Picture(photo.data, max_pixels=60_000_000)
    first, *others = photo.payloads

    def breaks(p: Picture):
        yield first
        raise np.linalg.LinAlgError("Singular matrix")

    stages = [("breaks", breaks), ("rest", lambda p: iter(others))]
    with caplog.at_level("ERROR", logger="fapiao.ocr"):
        found = read_qr(picture, stages=stages)
    assert found.payloads == [first, *others]
    assert found.failed == ["breaks"]
    assert list(found.timings) == ["breaks", "rest"]
    assert found.stage == "rest"
    assert any("breaks" in r.getMessage() and r.exc_info for r in caplog.records)


def test_more_invoices_read_than_sheets_counted_keeps_the_cascade_looking(photos):
    """2 MP multi-175: three sheets whose outlines merge, counted as one; the first
    pass reads two codes. More read than counted proves the count wrong, so the
    cascade looks on and the next stage reads the third."""
    from ocr._cascade import count_sheets

    photo = photos(175, "multi")
    assert count_sheets(Picture(photo.data, max_pixels=60_000_000)) < 3
    found = read_qr(Picture(photo.data, max_pixels=60_000_000), budget_s=1.5)
    assert sorted(found.payloads) == sorted(photo.payloads)
    assert len(found.payloads) == 3


def test_ocr_without_time_left_is_ocr_timeout():
    with pytest.raises(DecodeError) as err:
        decode_bytes(_png(Image.new("L", (800, 600), 128)), qr_budget_s=0.0, ocr_budget_s=0.0)
    assert err.value.code == "ocr_timeout"


def test_foreign_codes_win_over_an_ocr_timeout():
    img = Image.new("L", (800, 600), 255)
    img.paste(qr_image("WIFI:S:cafe;T:WPA;P:secret;;", 240), (60, 60))
    with pytest.raises(DecodeError) as err:
        decode_bytes(_png(img), qr_budget_s=0.0, ocr_budget_s=0.0)
    assert err.value.code == "not_invoice_qr"
    assert err.value.non_invoice == ["WIFI:S:cafe;T:WPA;P:secret;;"]


def test_decode_bounded_runs_off_the_loop_and_frees_its_slot():
    img = Image.new("L", (800, 600), 255)
    img.paste(qr_image(PAYLOAD, 240), (60, 60))

    async def main() -> tuple[list[str], bool]:
        slots = asyncio.Semaphore(1)
        result = await decode_bounded(
            _png(img),
            semaphore=slots,
            max_bytes=10**7,
            max_pixels=10**7,
            qr_budget_s=1.0,
            ocr_budget_s=1.0,
        )
        await asyncio.sleep(0)  # the done-callback that frees the slot
        return result.payloads, slots.locked()

    payloads, locked = asyncio.run(main())
    assert payloads == [PAYLOAD]
    assert not locked


@pytest.mark.parametrize(
    "window",
    [
        np.full((400, 400), 200, np.uint8),
        np.random.default_rng(3).integers(0, 256, (400, 400), dtype=np.uint8),
        np.zeros((30, 40), np.uint8),
    ],
    ids=["blank", "noise", "tiny"],
)
def test_the_grid_reader_yields_nothing_readable_from_no_code(window):
    assert all(read_zxing_fast(_grid.draw(g)) == [] for g in _grid.grids(window))


@pytest.mark.parametrize("radius", [2.5, 3.8, 5.0])
def test_the_disk_radius_is_measured_from_the_spectrum(radius):
    """A random module pattern (4.6 px a module) blurred by a lens disk: the deepest
    dip of its radial log-spectrum gives the disk's radius within 10 %."""
    rng = np.random.default_rng(7)
    modules = rng.integers(0, 2, (70, 70)).astype(np.float32) * 200 + 30
    img = cv2.resize(modules, (322, 322), interpolation=cv2.INTER_AREA)
    img = cv2.filter2D(img, -1, disk_kernel(radius), borderType=cv2.BORDER_REFLECT)
    img += rng.normal(0, 2, img.shape).astype(np.float32)
    measured = disk_radius(np.clip(img, 0, 255).astype(np.uint8))
    assert measured is not None
    assert abs(measured - radius) < 0.1 * radius
