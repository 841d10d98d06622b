"""The forward-model probe (``ocr.synth._probe``): given the generator's true geometry
and blur, a 2 MP code under a streak of 4.7 modules, which the cascade misses, is in
the photo: its modules come back by least squares bounded near [0, 1], the rest
with the blocks that decode fixed."""

from __future__ import annotations


def test_a_streak_of_five_modules_is_solved_given_the_true_geometry(cjk_font):
    from ocr.synth._probe import probe

    ((errors, reads),) = probe(8, "motion", "2mp")
    assert 5 <= errors[0] <= 30  # bounded least squares: zxing reads through these
    assert errors[1:] == [0] * len(errors[1:])  # the decoded blocks fixed
    assert all(reads)
