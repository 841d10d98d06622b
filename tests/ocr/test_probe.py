"""The forward-model probe (``ocr.synth._probe``): given the generator's true geometry
and blur, a 2 MP code under a streak of 4.7 modules, which the cascade misses, is in
the photo: its modules come back with a binary prior."""

from __future__ import annotations


def test_a_streak_of_five_modules_is_solved_given_the_true_geometry(cjk_font):
    from ocr.synth._probe import probe

    ((errors, reads),) = probe(8, "motion", "2mp")
    assert errors[0] > 10  # plain least squares: too many wrong modules for zxing
    assert not reads[0]
    assert max(errors[1:]) <= 8  # the binary prior
    assert all(reads[1:])
