"""The sparse-mask shortcuts of the checks' morphology give the same result as the plain filters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nii.inspection.checks._morphology import _close_filtered, _open_filtered, close_rect, open_rect


@st.composite
def sparse_masks(draw):
    rows, cols = draw(st.integers(4, 60)), draw(st.integers(4, 90))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mask = np.zeros((rows, cols), bool)
    for _ in range(draw(st.integers(0, 6))):
        r0, c0 = rng.integers(0, rows), rng.integers(0, cols)
        mask[r0:r0 + rng.integers(1, 15), c0:c0 + rng.integers(1, 20)] = True
    mask |= rng.random((rows, cols)) < draw(st.sampled_from([0.0, 0.01, 0.05, 0.3]))
    return mask, draw(st.integers(1, 8)), draw(st.integers(1, 8))


@pytest.mark.parametrize("operation, plain", [(open_rect, _open_filtered), (close_rect, _close_filtered)])
@settings(max_examples=300, deadline=None)
@given(case=sparse_masks())
def test_shortcuts_match_the_plain_filters(operation, plain, case):
    mask, rows, cols = case
    expected = plain(mask, rows, cols) if rows > 1 or cols > 1 else mask
    assert np.array_equal(operation(mask, rows, cols), expected)


def test_two_far_objects_are_opened_and_closed_apart():
    mask = np.zeros((40, 400), bool)
    mask[5:15, 10:30] = True
    mask[20:35, 300:340] = True
    mask[25, 320] = False          # a pinhole the closing fills
    assert np.array_equal(open_rect(mask, 3, 3), _open_filtered(mask, 3, 3))
    closed = close_rect(mask, 3, 3)
    assert closed[25, 320] and np.array_equal(closed, _close_filtered(mask, 3, 3))
