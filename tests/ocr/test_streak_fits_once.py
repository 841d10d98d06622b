"""``forward``, ``fwd_streak`` and ``fwd_wide`` fit streaks to the same geometries: the
fit (``_forward.streaks_defocused``, ~270 blurred known-module fits a geometry) is made
once a picture (``_fits._streaks_defocused``)."""

from __future__ import annotations


def test_a_geometry_is_fitted_once_under_streaks(photos, monkeypatch) -> None:
    """``forward`` and then ``fwd_wide`` look at the same stripes-deconvolved window of a
    directional sheet ``forward`` could not read (2 MP motion-26: 1.31 px modules under a
    streak; ``fwd_wide`` looks again at 4 of the 8 geometries ``forward`` fitted): the
    streaks are fitted to each geometry once a picture (``_fits._streaks_defocused``), not
    again by ``fwd_wide`` (~0.05 s each)."""
    from ocr import _fits, _forward, _window_memo
    from ocr._image import Picture

    seen: list[tuple[int, bytes, int]] = []
    real = _forward.streaks_defocused

    def counted(gray, hmf, n):
        seen.append((id(gray), hmf.tobytes(), n))
        return real(gray, hmf, n)

    monkeypatch.setattr(_forward, "streaks_defocused", counted)
    photo = photos(26, "motion")
    picture = Picture(photo.data, max_pixels=60_000_000)
    _window_memo.sheet_windows(picture)
    forward = list(_fits.forward_stage(picture))
    assert seen
    assert len(forward) < len(photo.payloads)  # a code left for fwd_wide
    list(_fits.forward_wide_stage(picture))
    assert len(set(seen)) == len(seen)
